"""The API under load, over real HTTP: a `threadline serve` process on a loopback port,
driven by BENCH_API_CLIENTS (50) concurrent clients, against a database holding
BENCH_API_CASES (100,000; 10,000 with --quick) open cases and one customer with a case
of 500 touches.

The workloads:
- inbox: `GET /api/v1/cases?owner=none&sort=due`, the first page (50 cases);
- touches: `GET /api/v1/cases/{id}/touches` of the 500-touch case, the first page;
- search: `GET /api/v1/search?q=` over a rotation of queries (a rare word, a common
  word, two words, a case ref, an email address, a surname);
- reply: `POST /api/v1/cases/{id}/replies`, on cases the client's agent owns.
The clients act as BENCH_API_AGENTS (10) agents, each with its own API token.
Each is measured three ways after a warm-up:
- `<name>_alone_p50_ms`: one client alone, 100 requests: the time the server needs;
- `<name>_p50/p95/p99_ms` and `<name>_rps`: BENCH_API_REQUESTS requests (5,000; 500 with
  --quick) from all the clients, each sending its next request the moment the last one
  is answered: a closed loop, the harshest reading of "50 concurrent clients", where
  the latency is mostly the queue in front of a saturated server;
- `<name>_paced_p50/p95/p99_ms`: BENCH_API_PACED_REQUESTS (1,500; 250) requests from
  the same clients, each at BENCH_API_PACE (1) request a second on a fixed schedule,
  timed from when each was due: a desk of 50 people working, not a flood;
- for the inbox, `inbox_writing_p50/p95/p99_ms` and `inbox_writing_rps`: the closed loop
  again while one more client posts BENCH_API_WRITES (10) inbound messages a second,
  each a new case at the top of the inbox.
The server sends the inbox, touches and search again unchanged while nothing was
written (threadline/api/page_cache.py). An unchanging database is that cache's best
case, so each figure's note says what share of its answers was sent again, and the
writing run shows the inbox with the cache made old ten times a second.

Event delivery: an SSE client reads `/api/v1/events` while one client posts
BENCH_API_EVENTS (300; 60 with --quick) messages to `POST /api/v1/inbound`, one at a
time; the figure is the time from just before each POST is sent to the arrival of its
`touch.created` event.

The database is seeded with bulk inserts (SQLAlchemy Core executemany) on a fresh
database of each kind (SQLite always, PostgreSQL when one answers); agents and API
tokens are made through the actions. PostgreSQL is vacuumed and analysed after the
load, as autovacuum would soon do; SQLite is not analysed, as nothing in Threadline runs
ANALYZE there.
Client and server share the machine's cores, so the client's own CPU time is in the
figures.

The tokens' last use is stamped a week ahead before the run, so that no request records
it (normally one write a token a minute) and the read figures are reads alone.
BENCH_API_TOKEN_WRITES=1 leaves the stamps alone. That once stalled PostgreSQL: a
request kept its pooled connections until its answer was serialised, and with every
connection held that way, requests due to record a use waited 30 s for one and failed.
Requests now give their connections back as their handler returns
(threadline/api/threads.py), and a run with BENCH_API_TOKEN_WRITES=1 on PostgreSQL
(2026-11-24, --quick) answered every request."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
from sqlalchemy import Connection, func, select, text, update

from bench._loadgen import HttpConnection, LoadError
from bench.common import (
    DbKind,
    Report,
    env_int,
    free_port,
    fresh_database,
    insert_rows,
    percentile,
    started,
    threadline_command,
)
from threadline.actions import Actor, NewAgent, create_agent, create_token
from threadline.models import ApiToken, Case, Customer, Identity, Touch, format_ref
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    JourneyStage,
    Role,
    TouchKind,
)

SEED = 20_261_124
TARGET_READ_P95_MS = 50.0
TARGET_EVENT_P99_MS = 100.0
UNOWNED_SHARE = 0.3  # of the open cases; the rest belong to the benchmark's agents
BIG_CASE_TOUCHES = 500
START_SECONDS = 60
MAX_ERRORS = 20  # a workload stops after this many failed requests
OPEN = (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.ON_HOLD)

FIRST_NAMES = ("Ada", "Bola", "Chen", "Dara", "Eli", "Femi", "Gita", "Hana", "Ivo", "Jun")
LAST_NAMES = ("Okafor", "Silva", "Novak", "Haddad", "Kowalski", "Tanaka", "Byrne", "Rossi")
SUBJECTS = (
    "Where is my order",
    "Broken zip on my jacket",
    "Refund for a double charge",
    "Delivery to Jersey",
    "Discount code expired",
    "Kettle out of stock",
)
TEXTS = (
    "Hi, my order {n} hasn't arrived yet and the tracking page has not moved in days.",
    "Hello! The jacket I bought in the Leeds shop has a broken zip, can I swap it?",
    "I was charged twice for order {n}. Please refund one of the payments.",
    "Do you deliver to Jersey? I could not pick it at checkout.",
    "The discount code from your newsletter says it has expired.",
    "Can you tell me whether the blue kettle is back in stock?",
)
RARE_WORD = "zeppelin"  # in about one text in a thousand


@dataclass(frozen=True)
class World:
    """What the workloads need to know of the seeded database."""

    tokens: tuple[str, ...]  # one per agent; client n acts as agent n % len(tokens)
    owned: tuple[tuple[int, ...], ...]  # per agent: the cases it owns
    big_case_id: int
    searches: tuple[str, ...]


# --- seeding -------------------------------------------------------------------------------


def seed(runtime: Runtime, cases: int, agents: int, rng: random.Random) -> World:
    """Agents and tokens through the actions; customers, identities, cases and touches by
    bulk insert, with explicit ids (PostgreSQL's sequences are moved past them)."""
    env = runtime.env
    agent_ids: list[int] = []
    tokens: list[str] = []
    with runtime.db.session() as db:
        for i in range(agents):
            email = f"agent{i}@bench.example"
            made = create_agent(
                db,
                env,
                Actor.system(),
                NewAgent(email=email, name=f"Agent {i}", role=Role.AGENT),
            )
            agent_ids.append(made.id)
            tokens.append(create_token(db, env, Actor.system(), email, "bench").token)

    now = datetime.now(UTC)
    if not os.environ.get("BENCH_API_TOKEN_WRITES"):
        # See the module docstring: stamped in the future, no token is due to have its
        # use recorded during the run.
        with runtime.db.engine.begin() as conn:
            conn.execute(update(ApiToken).values(last_used_at=now + timedelta(days=7)))
    owned: list[list[int]] = [[] for _ in range(agents)]
    with runtime.db.engine.begin() as conn:
        # Customer 1 is the long-standing one; cases 1..N are the open cases, one per
        # customer 2..N+1; case N+1 is customer 1's, with its 500 touches.
        seed_customers(conn, cases + 1, now, rng)
        case_rows = []
        for case_id in range(1, cases + 1):
            owner = None
            if rng.random() >= UNOWNED_SHARE:
                slot = rng.randrange(agents)
                owner = agent_ids[slot]
                owned[slot].append(case_id)
            case_rows.append(
                case_row(
                    case_id, case_id + 1, owner, now - timedelta(minutes=rng.randrange(43_200))
                )
            )
        big_case_id = cases + 1
        case_rows.append(case_row(big_case_id, 1, agent_ids[0], now, status=CaseStatus.OPEN))
        insert_rows(conn, Case, case_rows)
        _touches(conn, cases, big_case_id, agent_ids[0], now, rng)
        if conn.dialect.name == "postgresql":
            for table in ("customers", "identities", "cases", "touches"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if runtime.db.dialect == "postgresql":
        # What autovacuum soon does after a load this size: statistics for the planner,
        # and the GIN indexes' pending entries merged (every search reads them until then).
        with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    searches = (
        RARE_WORD,
        "order",
        "refund payments",
        format_ref(rng.randrange(1, cases + 1)),
        f"customer{rng.randrange(2, cases + 2)}@example.org",
        rng.choice(LAST_NAMES).lower(),
    )
    return World(
        tokens=tuple(tokens),
        owned=tuple(tuple(c) for c in owned),
        big_case_id=big_case_id,
        searches=searches,
    )


def seed_customers(conn: Connection, count: int, now: datetime, rng: random.Random) -> None:
    customers = []
    identities = []
    for customer_id in range(1, count + 1):
        customers.append(
            {
                "id": customer_id,
                "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "segment_key": "vip" if customer_id % 20 == 0 else "standard",
                "journey_stage": JourneyStage.REPEAT,
                "lifetime_value": Decimal(rng.randrange(0, 500_000)) / 100,
                "merged_into_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        address = f"customer{customer_id}@example.org"
        identities.append(
            {
                "id": customer_id,
                "customer_id": customer_id,
                "kind": IdentityKind.EMAIL,
                "value": address,
                "display": address,
                "created_at": now,
            }
        )
    insert_rows(conn, Customer, customers)
    insert_rows(conn, Identity, identities)


def case_row(
    case_id: int,
    customer_id: int,
    owner_id: int | None,
    updated_at: datetime,
    status: CaseStatus | None = None,
) -> dict[str, Any]:
    return {
        "id": case_id,
        "customer_id": customer_id,
        "owner_id": owner_id,
        "team_id": None,
        "status": status or OPEN[case_id % len(OPEN)],
        "subject": SUBJECTS[case_id % len(SUBJECTS)],
        "created_at": updated_at - timedelta(hours=1),
        "updated_at": updated_at,
    }


def touch_row(
    touch_id: int,
    case_id: int,
    text_: str,
    at: datetime,
    *,
    direction: Direction = Direction.IN,
    identity_id: int | None = None,
    agent_id: int | None = None,
) -> dict[str, Any]:
    return {
        "id": touch_id,
        "case_id": case_id,
        "channel": Channel.EMAIL,
        "direction": direction,
        "kind": TouchKind.NOTE if direction is Direction.INTERNAL else TouchKind.MESSAGE,
        "public": False,
        "text": text_,
        "identity_id": identity_id,
        "agent_id": agent_id,
        "external_id": f"bench-{touch_id}" if direction is Direction.IN else None,
        "occurred_at": at,
        "created_at": at,
        "delivery": Delivery.DELIVERED if direction is Direction.OUT else None,
    }


def _touches(
    conn: Connection,
    cases: int,
    big_case_id: int,
    agent_id: int,
    now: datetime,
    rng: random.Random,
) -> None:
    rows = []
    for case_id in range(1, cases + 1):
        words = rng.choice(TEXTS).format(n=f"#{rng.randrange(100_000, 999_999)}")
        if rng.random() < 0.001:
            words += f" It came by {RARE_WORD}, apparently."
        # Customer c+1 wrote from identity c+1.
        rows.append(touch_row(case_id, case_id, words, now, identity_id=case_id + 1))
    rows += conversation_rows(
        cases + 1,
        big_case_id,
        agent_id,
        now - timedelta(days=400),
        timedelta(hours=19),
        [
            f"Message {i} about order #{100_000 + i}: " + rng.choice(TEXTS).format(n=i)
            for i in range(BIG_CASE_TOUCHES)
        ],
    )
    insert_rows(conn, Touch, rows)


def conversation_rows(
    first_id: int,
    case_id: int,
    agent_id: int,
    start: datetime,
    every: timedelta,
    texts: Sequence[str],
) -> list[dict[str, Any]]:
    """A long case's touches: the customer (identity 1) writes, the agent answers, the
    customer again, then an internal note, over and over, `every` apart."""
    rows = []
    for i, words in enumerate(texts):
        direction = (Direction.IN, Direction.OUT, Direction.IN, Direction.INTERNAL)[i % 4]
        rows.append(
            touch_row(
                first_id + i,
                case_id,
                words,
                start + every * i,
                direction=direction,
                identity_id=1 if direction is not Direction.INTERNAL else None,
                agent_id=agent_id if direction is not Direction.IN else None,
            )
        )
    return rows


# --- the server ---------------------------------------------------------------------------


@contextmanager
def serving(url: str, data_dir: Path, log: Path) -> Iterator[str]:
    """`threadline serve` on a free loopback port, without worker or SMTP listener; its
    base URL once it answers. Always stopped."""
    port = free_port()
    command = threadline_command()
    environment = {
        **os.environ,
        "THREADLINE_ENV": "test",
        "THREADLINE_DATABASE_URL": url,
        "THREADLINE_DATA_DIR": str(data_dir),
        "THREADLINE_SECRET_KEY": uuid.uuid4().hex * 2,
    }
    environment.pop("THREADLINE_REDIS_URL", None)
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--no-worker", "--no-smtp", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(base, process, log)
            yield base
        except BaseException:
            # What the server said about it, then the failure itself.
            sys.stderr.write(_errors_in(log))
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _errors_in(log: Path, limit: int = 6000) -> str:
    """The server's log without its access lines: tracebacks and warnings."""
    lines = log.read_text(errors="replace").splitlines()
    kept = [line for line in lines if '" 2' not in line and '" 4' not in line]
    return "\n".join(kept)[-limit:] + "\n"


def _wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"threadline serve did not start:\n{tail}")


# --- load ---------------------------------------------------------------------------------

# A request a client makes: (method, path, JSON body or None), from the client's number
# and the request's number.
MakeRequest = Callable[[int, int], tuple[str, str, dict[str, Any] | None]]


@dataclass(frozen=True)
class Measured:
    latencies_ms: list[float]  # sorted
    seconds: float
    errors: int
    kept: float | None = None  # the share of answers the server sent again unchanged
    built: float | None = None  # the share it built (the rest waited for another's build)
    writes: int = 0  # inbound messages posted beside the load
    write_ms: tuple[float, ...] = ()  # each one's time to its answer, sorted

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def summary(self) -> str:
        failed = f", {self.errors} failed" if self.errors else ""
        if not self.latencies_ms:
            return f"no request succeeded{failed}"
        kept = (
            f", {self.kept:.0%} sent again, {self.built:.0%} built"
            if self.kept is not None and self.built is not None
            else ""
        )
        written = (
            f", {self.writes} messages posted meanwhile ({self.writes / self.seconds:.1f}/s, "
            f"p50 {percentile(list(self.write_ms), 50):.0f} ms each)"
            if self.writes
            else ""
        )
        return (
            f"p50 {percentile(self.latencies_ms, 50):.1f} ms, "
            f"p95 {percentile(self.latencies_ms, 95):.1f} ms, "
            f"{self.per_second:,.0f}/s{failed}{kept}{written}"
        )


async def _drive(
    base: str,
    tokens: Sequence[str],
    make: MakeRequest,
    total: int,
    clients: int,
    *,
    pace: float | None = None,
) -> Measured:
    """`total` requests from `clients` concurrent clients, each on a keep-alive connection
    of its own (bench/_loadgen.py, a client light enough not to take the server's CPU
    time). Without `pace` each client sends its next request as soon as its last
    one answered (a closed loop: the server is saturated). With `pace` each client sends
    `pace` requests a second on a fixed schedule, and a request's time counts from when
    it was due, so that a server falling behind is not hidden by requests sent late.

    A request that fails (an answer >= 400, or the connection dropped) counts as an
    error and its time is left out; past MAX_ERRORS errors the run stops early."""
    latencies: list[float] = []
    errors = 0
    issued = 0

    async def client(number: int) -> None:
        nonlocal issued, errors
        connection = HttpConnection(
            base, {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
        )
        # Paced clients start spread over one interval, not all at once.
        due = time.perf_counter() + (number / clients / pace if pace else 0.0)
        try:
            while issued < total and errors <= MAX_ERRORS:
                sequence = issued
                issued += 1
                method, path, body = make(number, sequence)
                if pace:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    started_at = due
                    due += 1 / pace
                else:
                    started_at = time.perf_counter()
                try:
                    answer = await connection.request(method, path, body)
                except LoadError as exc:
                    failure = str(exc)
                else:
                    if answer.status < 400:
                        latencies.append((time.perf_counter() - started_at) * 1000)
                        continue
                    failure = f"{answer.status} {answer.text[:200]}"
                errors += 1
                if errors <= 3:
                    sys.stderr.write(f"{method} {path}: {failure}\n")
        finally:
            await connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    seconds = time.perf_counter() - start
    return Measured(sorted(latencies), seconds, errors)


async def _drive_while_writing(
    base: str, tokens: Sequence[str], make: MakeRequest, total: int, clients: int, rate: float
) -> Measured:
    """`_drive`'s closed loop while one more client posts inbound messages (new chats,
    each a new unowned case due soon: the top of the inbox by due time) at `rate` a
    second, so that the pages the server keeps go old as they would on a working desk."""
    stop = asyncio.Event()
    writes = 0
    times: list[float] = []
    run_id = uuid.uuid4().hex[:8]

    async def writer() -> None:
        nonlocal writes
        connection = HttpConnection(base, {"Authorization": f"Bearer {tokens[0]}"})
        due = time.perf_counter()
        try:
            while not stop.is_set():
                body = {
                    "channel": "chat",
                    "external_id": f"bench-write-{run_id}-{writes}",
                    "from": {"kind": "email", "value": f"w{writes}.{run_id}@example.org"},
                    "text": "Hi, my order has not arrived yet. Can you check?",
                }
                sent = time.perf_counter()
                answer = await connection.request("POST", "/api/v1/inbound", body)
                times.append((time.perf_counter() - sent) * 1000)
                if answer.status != 201:
                    raise RuntimeError(f"inbound answered {answer.status}: {answer.text}")
                writes += 1
                due += 1 / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
        finally:
            await connection.close()

    task = asyncio.create_task(writer())
    try:
        measured = await _drive(base, tokens, make, total, clients)
    finally:
        stop.set()
        await task
    return replace(measured, writes=writes, write_ms=tuple(sorted(times)))


def _page_answers(base: str) -> dict[str, float]:
    """The server's threadline_page_answers_total, by outcome."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("threadline_page_answers_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = float(line.rsplit(" ", 1)[1])
    return found


def _counting_kept(base: str, run: Callable[[], Measured]) -> Measured:
    """`run`, with the shares of its answers that the server sent again unchanged and
    that it built (the others waited for a build another request had begun)."""
    before = _page_answers(base)
    measured = run()
    after = _page_answers(base)
    made = {outcome: after[outcome] - before.get(outcome, 0.0) for outcome in after}
    total = sum(made.values())
    if not total:
        return measured
    return replace(
        measured, kept=made.get("kept", 0.0) / total, built=made.get("built", 0.0) / total
    )


def _workloads(world: World, rng: random.Random) -> dict[str, MakeRequest]:
    def inbox(_client: int, _n: int) -> tuple[str, str, dict[str, Any] | None]:
        return "GET", "/api/v1/cases?owner=none&sort=due", None

    def touches(_client: int, _n: int) -> tuple[str, str, dict[str, Any] | None]:
        return "GET", f"/api/v1/cases/{world.big_case_id}/touches", None

    def search(_client: int, n: int) -> tuple[str, str, dict[str, Any] | None]:
        q = quote(world.searches[n % len(world.searches)])
        return "GET", f"/api/v1/search?q={q}", None

    def reply(client: int, n: int) -> tuple[str, str, dict[str, Any] | None]:
        mine = world.owned[client % len(world.owned)]
        case_id = mine[rng.randrange(len(mine))] if mine else world.big_case_id
        body = {"text": f"Thanks for waiting: reply {n}. Your parcel left the depot today."}
        return "POST", f"/api/v1/cases/{case_id}/replies", body

    return {"inbox": inbox, "touches": touches, "search": search, "reply": reply}


def _emit_load(
    report: Report, kind: DbKind, name: str, runs: dict[str, Measured], clients: int, pace: float
) -> None:
    target = name in ("inbox", "touches", "search")
    for mode, measured in runs.items():
        if mode == "alone":
            if measured.latencies_ms:
                report.emit(
                    f"{name}_alone_p50_ms",
                    percentile(measured.latencies_ms, 50),
                    "ms",
                    db=kind,
                    note=f"{len(measured.latencies_ms)} requests from one client, nothing "
                    "else running: the time the server needs for one",
                )
            continue
        label = {"closed": f"{name}_", "paced": f"{name}_paced_"}.get(mode, f"{name}_{mode}_")
        if measured.errors:
            report.emit(
                f"{label}errors",
                measured.errors,
                "requests",
                db=kind,
                note="answered >= 400 or dropped; the run stopped early past "
                f"{MAX_ERRORS} (see the log)",
            )
        if not measured.latencies_ms:
            continue
        how = f"{clients} clients, each sending as soon as answered"
        if mode == "paced":
            how = f"{clients} clients at {pace:g} request/s each"
        elif mode == "writing":
            how += (
                f", while {measured.writes:,} inbound messages were posted "
                f"({measured.writes / measured.seconds:.1f}/s, each answered in a median "
                f"{percentile(list(measured.write_ms), 50):.0f} ms)"
            )
        note = f"{len(measured.latencies_ms):,} requests, {how}"
        if measured.kept is not None and measured.built is not None:
            note += (
                f"; {measured.kept:.0%} of answers sent again unchanged, {measured.built:.0%} built"
            )
        if measured.errors:
            note += f"; {measured.errors} failed, left out"
        for p in (50, 95, 99):
            value = percentile(measured.latencies_ms, p)
            extra = ""
            if p == 95 and target and mode != "writing":
                verdict = "met" if value <= TARGET_READ_P95_MS else "NOT met"
                extra = f"; target <= {TARGET_READ_P95_MS:.0f} ms {verdict}"
            report.emit(f"{label}p{p}_ms", value, "ms", db=kind, note=note + extra)
        if mode != "paced":
            report.emit(f"{label}rps", measured.per_second, "requests/s", db=kind, note=note)


# --- events ---------------------------------------------------------------------------------


async def _event_delays(base: str, token: str, count: int) -> list[float]:
    """ms from just before each POST /api/v1/inbound is sent to the arrival, on an open
    event stream, of the touch.created event naming its touch."""
    headers = {"Authorization": f"Bearer {token}"}
    arrived: dict[int, float] = {}
    news = asyncio.Event()
    subscribed = asyncio.Event()
    run_id = uuid.uuid4().hex[:8]

    async def listen(stream: httpx.Response) -> None:
        kind = None
        async for line in stream.aiter_lines():
            subscribed.set()
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:") and kind == "touch.created":
                at = time.perf_counter()
                data = json.loads(line.partition(":")[2])
                arrived[int(data["data"]["touch_id"])] = at
                news.set()
            elif not line:
                kind = None

    delays: list[float] = []
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as sse,
        httpx.AsyncClient(base_url=base, timeout=30) as poster,
        sse.stream("GET", "/api/v1/events", headers=headers) as stream,
    ):
        if stream.status_code != 200:
            raise RuntimeError(f"the event stream answered {stream.status_code}")
        listener = asyncio.create_task(listen(stream))
        await asyncio.wait_for(subscribed.wait(), 10)
        try:
            for i in range(count):
                body = {
                    "channel": "chat",
                    "external_id": f"bench-event-{run_id}-{i}",
                    "from": {"kind": "email", "value": f"event{i}.{run_id}@example.org"},
                    "text": f"Hello, is anyone there? ({i})",
                }
                sent = time.perf_counter()
                answer = await poster.post("/api/v1/inbound", json=body, headers=headers)
                if answer.status_code != 201:
                    raise RuntimeError(f"inbound answered {answer.status_code}: {answer.text}")
                touch_id = int(answer.json()["touch_id"])
                deadline = time.monotonic() + 10
                while touch_id not in arrived:
                    news.clear()
                    if touch_id in arrived:
                        break
                    await asyncio.wait_for(news.wait(), max(0.0, deadline - time.monotonic()))
                delays.append((arrived[touch_id] - sent) * 1000)
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener
    return sorted(delays)


# --- the workload ---------------------------------------------------------------------------


def _explain_inbox(runtime: Runtime) -> str:
    """The plan of the inbox query, for the log: an index must serve `owner_id IS NULL`
    in `updated_at` order, or every request sorts all the unowned cases."""
    query = (
        select(Case.id)
        .where(Case.owner_id.is_(None))
        .order_by(Case.updated_at.asc(), Case.id.asc())
        .limit(51)
    )
    with runtime.db.reading() as read:
        compiled = query.compile(read.get_bind(), compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if runtime.db.dialect == "sqlite" else "EXPLAIN "
        rows = read.execute(text(prefix + str(compiled))).all()
    return " | ".join(str(row[-1]) for row in rows)


def _one_database(
    report: Report,
    kind: DbKind,
    cases: int,
    requests: int,
    clients: int,
    agents: int,
    events: int,
    pace: float,
    paced: int,
    writes: float,
) -> None:
    rng = random.Random(SEED)
    with (
        fresh_database(kind) as url,
        tempfile.TemporaryDirectory(prefix="threadline-bench-api-") as tmp,
    ):
        with started(url) as runtime:
            report.log(f"{kind}: seeding {cases:,} open cases")
            began = time.perf_counter()
            world = seed(runtime, cases, agents, rng)
            seeded = time.perf_counter() - began
            with runtime.db.reading() as read:
                touches = read.scalar(select(func.count()).select_from(Touch)) or 0
            report.emit(
                "seed_seconds",
                seeded,
                "s",
                db=kind,
                note=f"{cases + 1:,} customers, {cases + 1:,} cases, {touches:,} touches",
            )
            report.log(f"{kind}: inbox plan: {_explain_inbox(runtime)}")
        log = Path(tmp) / "serve.log"
        with serving(url, Path(tmp) / "data", log) as base:
            report.log(f"{kind}: serving on {base}")
            workloads = _workloads(world, rng)
            warm_up = max(clients * 2, requests // 10)
            tokens = world.tokens
            for name, make in workloads.items():
                asyncio.run(_drive(base, tokens, make, warm_up, clients))
                # Coroutines, each run in turn on an event loop of its own.
                loads: list[tuple[str, Coroutine[Any, Any, Measured]]] = [
                    ("alone", _drive(base, tokens, make, min(100, requests), 1)),
                    ("closed", _drive(base, tokens, make, requests, clients)),
                    ("paced", _drive(base, tokens, make, paced, clients, pace=pace)),
                ]
                if name == "inbox":
                    writing = _drive_while_writing(base, tokens, make, requests, clients, writes)
                    loads.append(("writing", writing))
                runs = {
                    mode: _counting_kept(base, functools.partial(asyncio.run, load))
                    for mode, load in loads
                }
                for mode, measured in runs.items():
                    report.log(f"{kind}: {name} {mode}: {measured.summary()}")
                _emit_load(report, kind, name, runs, clients, pace)
            delays = asyncio.run(_event_delays(base, world.tokens[0], events))
            note = f"{len(delays)} messages posted one at a time, one SSE client"
            report.emit("event_p50_ms", percentile(delays, 50), "ms", db=kind, note=note)
            p99 = percentile(delays, 99)
            verdict = "met" if p99 <= TARGET_EVENT_P99_MS else "NOT met"
            report.emit(
                "event_p99_ms",
                p99,
                "ms",
                db=kind,
                note=f"{note}; target <= {TARGET_EVENT_P99_MS:.0f} ms {verdict}",
            )


def run(report: Report) -> None:
    cases = env_int("BENCH_API_CASES", 10_000 if report.quick else 100_000)
    requests = env_int("BENCH_API_REQUESTS", 500 if report.quick else 5_000)
    clients = env_int("BENCH_API_CLIENTS", 50)
    agents = env_int("BENCH_API_AGENTS", 10)
    events = env_int("BENCH_API_EVENTS", 60 if report.quick else 300)
    pace = float(os.environ.get("BENCH_API_PACE") or 1.0)
    if pace <= 0:
        raise ValueError("BENCH_API_PACE must be a positive number of requests a second")
    paced = env_int("BENCH_API_PACED_REQUESTS", 250 if report.quick else 1_500)
    writes = float(os.environ.get("BENCH_API_WRITES") or 10.0)
    if writes <= 0:
        raise ValueError("BENCH_API_WRITES must be a positive number of messages a second")
    for kind in report.databases():
        _one_database(report, kind, cases, requests, clients, agents, events, pace, paced, writes)
