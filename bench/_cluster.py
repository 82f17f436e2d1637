"""Many Threadline processes on one PostgreSQL and one Redis, driven over real HTTP on
loopback, and the checks that nothing was lost or done twice. Shared by bench/scale.py
(the throughput of 3 API processes and 2 workers against one process) and
bench/faults.py (the same load while processes are killed and PostgreSQL restarts).

The parts, each real:
- `Cluster`: `threadline serve --no-worker --no-smtp` and `threadline worker`
  processes, each with its log file; any of them can be killed with SIGKILL and started
  again on the same port.
- `MailSink`: an SMTP server (aiosmtpd) that the workers deliver replies to; it counts
  every Message-ID it accepts, so a message sent twice shows.
- `EventTap`: a process of its own per API process, reading `GET /api/v1/events` and
  writing down the id of every event; it reconnects with Last-Event-ID when its stream
  breaks, as a browser does.
- `drive`: concurrent senders that post inbound messages and replies, spread over the
  API processes. Like a provider, a sender that gets no answer (or a 5xx) sends the
  same request again, to the next process: inbound messages carry their provider id
  and replies an Idempotency-Key, so a repeat is answered, not done twice.
- `verify`: touches against messages sent, deliveries against replies, and the events
  each tap saw against the events in the Redis stream."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httpx2 as httpx
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bench.common import Report, env_int, free_port, percentile, threadline_command
from threadline.actions import Actor, NewAgent, create_agent, create_token
from threadline.config import Settings
from threadline.runtime import Runtime
from threadline.vocabulary import Role

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
REDIS_ENV = "THREADLINE_BENCH_REDIS_URL"
START_SECONDS = 60
# A request that got no usable answer is sent again for this long before it counts as
# lost (it never should: that is what the checks are for).
GIVE_UP_SECONDS = 180.0


def redis_url() -> str | None:
    """The Redis to use, or None when none answers (the workload is then skipped)."""
    url = os.environ.get(REDIS_ENV, DEFAULT_REDIS)
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            client.ping()
    except redis.RedisError:
        return None
    return url


# --- the mail sink ---------------------------------------------------------------------


class _Counting:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.message_ids: Counter[str] = Counter()
        self._headers = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self._headers.parsebytes(envelope.original_content or envelope.content)
        with self.lock:
            self.message_ids[str(headers.get("Message-ID", "")).strip()] += 1
        return "250 2.0.0 OK"


class MailSink:
    """An SMTP server on loopback that accepts everything and counts Message-IDs."""

    def __init__(self) -> None:
        self._handler = _Counting()
        self.port = free_port()
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, server_hostname="sink.bench"
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()

    def counts(self) -> Counter[str]:
        with self._handler.lock:
            return Counter(self._handler.message_ids)


# --- processes --------------------------------------------------------------------------


@dataclass
class Process:
    """One Threadline process: `serve` (with a port) or `worker`."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"--- start {self.starts} at {time.time():.3f}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv, env=self.environment, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine loses power."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_until_ready(self, deadline: float) -> None:
        if self.port is None:
            return
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start:\n{tail}")


@dataclass
class Cluster:
    """The processes of one run, all sharing a database URL, a Redis prefix, a data
    directory and the mail sink."""

    environment: dict[str, str]
    log_dir: Path
    apis: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    @classmethod
    def configure(
        cls,
        *,
        database_url: str,
        redis: str,
        prefix: str,
        data_dir: Path,
        relay: str,
        log_dir: Path,
        claim_seconds: int = 300,
    ) -> Cluster:
        environment = {
            **os.environ,
            "THREADLINE_ENV": "test",
            "THREADLINE_DATABASE_URL": database_url,
            "THREADLINE_REDIS_URL": redis,
            "THREADLINE_REDIS_PREFIX": prefix,
            "THREADLINE_EVENT_RETENTION": "1000000",
            "THREADLINE_DATA_DIR": str(data_dir),
            "THREADLINE_SECRET_KEY": uuid.uuid4().hex * 2,
            "THREADLINE_SMTP_RELAY_URL": relay,
            "THREADLINE_OUTBOX_CLAIM_SECONDS": str(claim_seconds),
        }
        log_dir.mkdir(parents=True, exist_ok=True)
        return cls(environment, log_dir)

    def settings(self) -> Settings:
        env = self.environment
        return Settings(
            env="test",
            database_url=env["THREADLINE_DATABASE_URL"],
            redis_url=env["THREADLINE_REDIS_URL"],
            redis_prefix=env["THREADLINE_REDIS_PREFIX"],
            event_retention=int(env["THREADLINE_EVENT_RETENTION"]),
            data_dir=Path(env["THREADLINE_DATA_DIR"]),
        )

    def add_api(self, *, with_worker: bool = False) -> Process:
        port = free_port()
        argv = [*threadline_command(), "serve", "--no-smtp", "--port", str(port)]
        if not with_worker:
            argv.insert(-2, "--no-worker")
        name = f"api{len(self.apis) + 1}"
        process = Process(name, argv, self.environment, self.log_dir / f"{name}.log", port)
        self.apis.append(process)
        return process

    def add_worker(self) -> Process:
        name = f"worker{len(self.workers) + 1}"
        argv = [*threadline_command(), "worker"]
        process = Process(name, argv, self.environment, self.log_dir / f"{name}.log")
        self.workers.append(process)
        return process

    def start(self) -> None:
        for process in (*self.apis, *self.workers):
            process.start()
        deadline = time.monotonic() + START_SECONDS
        for process in self.apis:
            process.wait_until_ready(deadline)

    def stop(self) -> None:
        for process in (*self.apis, *self.workers):
            process.stop()

    @property
    def bases(self) -> list[str]:
        return [api.base for api in self.apis]


def admin_token(settings: Settings) -> str:
    """An admin and an API token for it, made directly in the database."""
    runtime = Runtime.start(settings)
    try:
        with runtime.db.session() as db:
            create_agent(
                db,
                runtime.env,
                Actor.system(),
                NewAgent(email="bench@shop.example", name="Bench Admin", role=Role.ADMIN),
            )
            return create_token(
                db, runtime.env, Actor.system(), "bench@shop.example", "bench"
            ).token
    finally:
        runtime.close()


# --- event taps -----------------------------------------------------------------------


def stream_key(prefix: str) -> str:
    return f"{prefix}:events"


def newest_event_id(url: str, key: str) -> str:
    with redis.Redis.from_url(url) as client:
        last = client.xrevrange(key, count=1)
    return last[0][0].decode() if last else "0-0"


def published_since(url: str, key: str, after: str) -> set[str]:
    """Ids of the events (not loss markers) in the stream after `after`."""
    seen: set[str] = set()
    start = f"({after}"
    with redis.Redis.from_url(url) as client:
        while True:
            chunk = client.xrange(key, min=start, max="+", count=10_000)
            if not chunk:
                return seen
            for entry_id, fields in chunk:
                if b"event" in fields:
                    seen.add(entry_id.decode())
            start = f"({chunk[-1][0].decode()}"


@dataclass
class EventTap:
    """`python -m bench._tap` reading one API process's event stream in a process of
    its own (so that reading 100,000s of events does not slow the senders)."""

    base: str
    token: str
    after: str
    out: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bench._tap", self.base, self.token, self.after, str(self.out)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )

    def seen(self) -> tuple[set[str], int]:
        """What the tap has written so far: the event ids and how often it reconnected."""
        try:
            data = json.loads(self.out.read_text())
        except (OSError, ValueError):
            return set(), 0
        return set(data["ids"]), int(data["reconnects"])

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()


# --- load -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    inbound: int
    replies: int
    senders: int
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @classmethod
    def from_env(cls, prefix: str, *, quick: bool, inbound: int, replies: int) -> Plan:
        """<PREFIX>_INBOUND, _REPLIES and _SENDERS (24), with the given full-size
        defaults; a tenth of those with --quick."""
        scale = 10 if quick else 1
        return cls(
            inbound=env_int(f"{prefix}_INBOUND", inbound // scale),
            replies=env_int(f"{prefix}_REPLIES", replies // scale),
            senders=env_int(f"{prefix}_SENDERS", 24),
        )

    @property
    def customers(self) -> int:
        # 60 % of the messages open a thread, 40 % carry one on.
        return max(1, round(self.inbound * 0.6))


@dataclass
class Outcome:
    """What the senders observed."""

    created: int = 0  # inbound answered 201
    duplicates: int = 0  # inbound answered 200 duplicate (a repeat that got through)
    replies: set[int] = field(default_factory=set)  # touch ids of replies answered 202
    retries: int = 0  # requests sent again after no usable answer
    lost: int = 0  # requests that never got an answer within GIVE_UP_SECONDS
    rejected: list[str] = field(default_factory=list)  # 4xx answers: a bug in the plan
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return self.created + self.duplicates + len(self.replies)


# (fraction of the plan done, what to do then): faults scheduled mid-run.
Fault = tuple[float, Callable[[], None]]


def _inbound_body(plan: Plan, n: int) -> dict[str, Any]:
    customer = n % plan.customers
    return {
        "channel": "email",
        "external_id": f"bench-{plan.run_id}-in-{n}",
        "from": {
            "kind": "email",
            "value": f"c{customer}.{plan.run_id}@customers.example",
            "name": f"Customer {customer}",
        },
        "subject": f"Order {100000 + customer}",
        "text": f"Hello, about order {100000 + customer}: message {n}. Where is my parcel?",
    }


async def drive(
    bases: Sequence[str], token: str, plan: Plan, faults: Sequence[Fault] = ()
) -> Outcome:
    """Every inbound message of the plan, and its replies interleaved (one reply after
    every inbound/replies messages, to a case already answered), from plan.senders
    concurrent senders over the API processes in turn."""
    outcome = Outcome()
    cases: list[int] = []
    rng = random.Random(7)
    every = max(1, plan.inbound // max(1, plan.replies))
    operations: list[tuple[str, int]] = []
    made_replies = 0
    for n in range(plan.inbound):
        operations.append(("in", n))
        if (n + 1) % every == 0 and made_replies < plan.replies:
            operations.append(("reply", made_replies))
            made_replies += 1
    while made_replies < plan.replies:
        operations.append(("reply", made_replies))
        made_replies += 1
    total = len(operations)
    position = 0
    done = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=plan.senders, max_keepalive_connections=plan.senders)
    clients = [
        httpx.AsyncClient(base_url=base, limits=limits, timeout=httpx.Timeout(30, connect=5))
        for base in bases
    ]

    async def send(index: int, kind: str, number: int) -> None:
        nonlocal done
        if kind == "in":
            path, body, extra = "/api/v1/inbound", _inbound_body(plan, number), {}
        else:
            while not cases:
                await asyncio.sleep(0.01)
            case_id = cases[rng.randrange(len(cases))]
            path = f"/api/v1/cases/{case_id}/replies"
            body = {"text": f"Thanks for writing: your parcel left the depot today ({number})."}
            extra = {"Idempotency-Key": f"bench-{plan.run_id}-reply-{number}"}
        started = time.perf_counter()
        attempt = 0
        while True:
            client = clients[(index + attempt) % len(clients)]
            try:
                answer = await client.post(path, json=body, headers={**headers, **extra})
            except httpx.TransportError:
                status = 0
            else:
                status = answer.status_code
            if status in (200, 201, 202):
                break
            if 400 <= status < 500 and status not in (408, 429):
                outcome.rejected.append(f"{path}: {status} {answer.text[:200]}")
                return
            if time.perf_counter() - started > GIVE_UP_SECONDS:
                outcome.lost += 1
                return
            attempt += 1
            outcome.retries += 1
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        outcome.latencies_ms.append((time.perf_counter() - started) * 1000)
        data = answer.json()
        if kind == "in":
            if data["duplicate"]:
                outcome.duplicates += 1
            else:
                outcome.created += 1
                cases.append(int(data["case_id"]))
        else:
            outcome.replies.add(int(data["touch_id"]))
        done += 1

    async def sender() -> None:
        nonlocal position
        while position < total:
            index = position
            position += 1
            await send(index, *operations[index])

    async def schedule() -> None:
        for fraction, fault in sorted(faults, key=lambda f: f[0]):
            while done < fraction * total:
                await asyncio.sleep(0.05)
            await asyncio.to_thread(fault)

    started = time.perf_counter()
    try:
        senders = [asyncio.create_task(sender()) for _ in range(plan.senders)]
        faulting = asyncio.create_task(schedule())
        await asyncio.gather(*senders)
        outcome.seconds = time.perf_counter() - started
        await faulting
    finally:
        for client in clients:
            await client.aclose()
    outcome.latencies_ms.sort()
    return outcome


# --- checks ---------------------------------------------------------------------------


@dataclass
class Counts:
    """What the database says after the run."""

    inbound_touches: int
    outbound_touches: int
    outbox_sent: int
    outbox_other: dict[str, int]


def database_counts(runtime: Runtime) -> Counts:
    with runtime.db.reading() as read:
        inbound = read.scalar(text("SELECT count(*) FROM touches WHERE direction = 'in'"))
        outbound = read.scalar(text("SELECT count(*) FROM touches WHERE direction = 'out'"))
        rows = read.execute(text("SELECT state, count(*) FROM outbox GROUP BY state"))
        states: dict[str, int] = {str(state): int(n) for state, n in rows}
    sent = int(states.pop("sent", 0))
    return Counts(int(inbound or 0), int(outbound or 0), sent, states)


def wait_for_delivery(runtime: Runtime, expected: int, timeout: float) -> float:
    """Seconds until the outbox has `expected` messages sent (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with suppress(OperationalError):  # the database restarting: look again
            if database_counts(runtime).outbox_sent >= expected:
                break
        time.sleep(0.5)
    return time.monotonic() - started


@contextmanager
def taps_on(
    bases: Sequence[str], token: str, after: str, out_dir: Path
) -> Iterator[list[EventTap]]:
    taps = [
        EventTap(base, token, after, out_dir / f"tap{i + 1}.json") for i, base in enumerate(bases)
    ]
    for tap in taps:
        tap.start()
    try:
        yield taps
    finally:
        for tap in taps:
            tap.stop()


def wait_for_taps(taps: Sequence[EventTap], published: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(published <= tap.seen()[0] for tap in taps):
            return
        time.sleep(0.5)


def verify(
    report: Report,
    plan: Plan,
    outcome: Outcome,
    counts: Counts,
    mail: Counter[str],
    taps: Sequence[EventTap],
    published: set[str],
    *,
    label: str,
) -> list[str]:
    """Emit the checks as figures; answer the failed ones (empty when all hold)."""
    failed: list[str] = []

    def check(figure: str, value: float, unit: str, holds: bool, note: str) -> None:
        report.emit(
            f"{label}_{figure}",
            value,
            unit,
            db="postgresql",
            note=("holds: " if holds else "FAILED: ") + note,
        )
        if not holds:
            failed.append(f"{figure}: {note}")

    check(
        "touches_in",
        counts.inbound_touches,
        "touches",
        counts.inbound_touches == plan.inbound
        and outcome.created + outcome.duplicates == plan.inbound,
        f"{plan.inbound:,} unique inbound messages sent; {outcome.created:,} answered 201, "
        f"{outcome.duplicates:,} answered 'duplicate' (sent again after the first copy was "
        "stored but its answer lost)",
    )
    unique_mail = len([m for m in mail if m])
    resent = sum(n - 1 for n in mail.values() if n > 1)
    check(
        "deliveries",
        unique_mail,
        "messages",
        len(outcome.replies) == plan.replies
        and counts.outbound_touches == plan.replies
        and counts.outbox_sent == plan.replies
        and unique_mail == plan.replies,
        f"{plan.replies:,} replies asked for; {len(outcome.replies):,} accepted, "
        f"{counts.outbound_touches:,} reply touches, {counts.outbox_sent:,} outbox rows sent"
        + (f" ({counts.outbox_other} not sent)" if counts.outbox_other else "")
        + f", {unique_mail:,} distinct Message-IDs at the relay",
    )
    report.emit(
        f"{label}_mail_sent_again",
        resent,
        "messages",
        db="postgresql",
        note="copies the relay got of a Message-ID it already had (a worker that died "
        "after sending, before recording it; receivers drop such copies by Message-ID)",
    )
    for number, tap in enumerate(taps, start=1):
        seen, reconnects = tap.seen()
        missing = len(published - seen)
        check(
            f"events_api{number}",
            len(seen & published),
            "events",
            missing == 0,
            f"{len(published):,} events published to Redis; this process's stream "
            f"delivered all but {missing:,}"
            + (f", after {reconnects} reconnects with Last-Event-ID" if reconnects else ""),
        )
    check(
        "requests_lost",
        outcome.lost + len(outcome.rejected),
        "requests",
        outcome.lost == 0 and not outcome.rejected,
        f"{outcome.retries:,} sent again after no answer or a 5xx"
        + (f"; rejected: {outcome.rejected[:3]}" if outcome.rejected else ""),
    )
    if outcome.latencies_ms:
        report.emit(
            f"{label}_request_p99_ms",
            percentile(outcome.latencies_ms, 99),
            "ms",
            db="postgresql",
            note="from first send to a usable answer, retries included",
        )
    return failed


# --- one run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """How many processes of each kind: `apis` API processes without a worker and
    `workers` worker processes; or, with `single`, one `threadline serve` that runs its
    worker in-process."""

    apis: int
    workers: int
    single: bool = False

    @classmethod
    def from_env(cls, prefix: str) -> Shape:
        """<PREFIX>_APIS (3) API processes and <PREFIX>_WORKERS (2) workers."""
        return cls(apis=env_int(f"{prefix}_APIS", 3), workers=env_int(f"{prefix}_WORKERS", 2))

    @property
    def label(self) -> str:
        if self.single:
            return "one process (serve with its worker)"
        return f"{self.apis} API processes + {self.workers} workers"


@dataclass
class Run:
    """A started cluster on a fresh database, with its token and event taps."""

    cluster: Cluster
    settings: Settings
    token: str
    redis: str
    key: str
    after: str
    taps: list[EventTap]


@contextmanager
def running(
    database_url: str,
    redis: str,
    shape: Shape,
    work_dir: Path,
    sink: MailSink,
    *,
    claim_seconds: int = 300,
) -> Iterator[Run]:
    """The processes of `shape` started on `database_url`, a Redis prefix of their own,
    an admin token and one event tap per API process; all stopped afterwards."""
    prefix = f"bench-{uuid.uuid4().hex[:10]}"
    cluster = Cluster.configure(
        database_url=database_url,
        redis=redis,
        prefix=prefix,
        data_dir=work_dir / "data",
        relay=sink.url,
        log_dir=work_dir / "logs",
        claim_seconds=claim_seconds,
    )
    settings = cluster.settings()
    token = admin_token(settings)
    if shape.single:
        cluster.add_api(with_worker=True)
    else:
        for _ in range(shape.apis):
            cluster.add_api()
        for _ in range(shape.workers):
            cluster.add_worker()
    key = stream_key(prefix)
    try:
        cluster.start()
        after = newest_event_id(redis, key)
        with taps_on(cluster.bases, token, after, work_dir) as taps:
            yield Run(cluster, settings, token, redis, key, after, taps)
    finally:
        cluster.stop()
        with redis_client(redis) as client:
            client.delete(key)


@contextmanager
def redis_client(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()


def finish(
    report: Report,
    run: Run,
    plan: Plan,
    outcome: Outcome,
    sink: MailSink,
    *,
    label: str,
    delivery_timeout: float,
) -> list[str]:
    """After the load: wait for the replies to be delivered and the taps to catch up,
    then check everything and emit the figures. Answers the failed checks."""
    runtime = Runtime.start(run.settings)
    try:
        drain = wait_for_delivery(runtime, plan.replies, delivery_timeout)
        counts = database_counts(runtime)
    finally:
        runtime.close()
    report.emit(
        f"{label}_delivery_drain_s",
        drain,
        "s",
        db="postgresql",
        note="from the end of the load until every reply was sent",
    )
    published = published_since(run.redis, run.key, run.after)
    wait_for_taps(run.taps, published, 60)
    return verify(report, plan, outcome, counts, sink.counts(), run.taps, published, label=label)
