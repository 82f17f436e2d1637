"""Ingestion: how many inbound messages per second one process lands through
`actions.receive()`, on SQLite and (when one answers) PostgreSQL, next to the ceiling
of a bare two-insert transaction on the same SQLite set-up.

The traffic: BENCH_INGEST_N messages (20,000; 2,000 with --quick), 60% from new
customers starting a thread, 40% from an identity that already wrote, spread evenly over
email, sms, chat, x and whatsapp. Emails carry a Message-ID and answer the previous one
(In-Reply-To), as the email adapter hands them over; an X customer's first contact is a
public post and the follow-ups are direct messages, so their second message records a
channel switch. Every Inbound is built before the clock starts.

Each message gets its own session, as an API request would (`with db.session()`);
BENCH_INGEST_SESSIONS=shared (or both) measures one long-lived session with
`expunge_all()` after each message instead. Each run starts on a fresh, migrated
database; the figure is the median of BENCH_INGEST_RUNS runs (3). With --profile DIR a
last, profiled pass over the first 5,000 messages writes DIR/ingest-receive-sqlite.prof.
BENCH_INGEST_EXPERIMENTS=1 adds runs with SQLite's automatic WAL checkpoint off, to size
what moving checkpoints out of the request path would gain, and runs on a database at
migration 0005, whose triggers indexed every row for search as it was inserted (0006
moved that to threadline.search_index): the rate before and after, in one run. On SQLite
the indexing itself is measured apart: its rate, and its longest batch."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from sqlalchemy import event, func, select

from bench import _ceiling
from bench.common import (
    DbKind,
    Report,
    env_int,
    fresh_runtime,
    median,
    percentile,
    scratch_sqlite,
    started,
    timed_loop,
)
from threadline.actions import receive
from threadline.channels.base import IdentityRef, Inbound
from threadline.identities import normalise
from threadline.migrate import upgrade
from threadline.models import Touch
from threadline.runtime import Runtime
from threadline.search_index import BATCH, catch_up
from threadline.vocabulary import Channel, IdentityKind

SEED = 20_261_123
NEW_SHARE = 0.60
TARGET_PER_SECOND = 2_500
# BENCH_INGEST_SESSIONS: "request" (the default), "shared" or "both". The two differed
# by under 10% when measured, so the default measures the path the API takes only.
SESSION_MODES = ("request", "shared", "both")
CHANNELS: tuple[tuple[Channel, IdentityKind], ...] = (
    (Channel.EMAIL, IdentityKind.EMAIL),
    (Channel.SMS, IdentityKind.PHONE),
    (Channel.CHAT, IdentityKind.CHAT),
    (Channel.X, IdentityKind.X),
    (Channel.WHATSAPP, IdentityKind.WHATSAPP),
)
FIRST_NAMES = ("Ada", "Bola", "Chen", "Dara", "Eli", "Femi", "Gita", "Hana", "Ivo", "Jun")
LAST_NAMES = ("Okafor", "Silva", "Novak", "Haddad", "Kowalski", "Tanaka", "Byrne", "Rossi")
OPENINGS = (
    "Hi, my order {order} hasn't arrived yet and the tracking page has not moved in days.",
    "Hello! The jacket I bought in the Leeds shop has a broken zip, can I swap it?",
    "Can you tell me whether the blue kettle is back in stock? Order {order} was cancelled.",
    "I was charged twice for order {order}. Please refund one of the payments.",
    "Do you deliver to Jersey? I could not pick it at checkout.",
    "The discount code from your newsletter says it has expired but the email says "
    "it is valid until Sunday.",
)
FOLLOW_UPS = (
    "Any news on this?",
    "Thanks. The reference on my bank statement is {order}.",
    "I've attached a photo of the label, it says {order}.",
    "Still waiting, it has been three days now. Could someone call me back please?",
    "Great, that worked. One more thing: can I change the delivery address as well?",
)
FILLER = (
    " I am at home most afternoons, and a neighbour at number 12 can take parcels too."
    " I have been a customer for years and this is the first time anything went wrong."
)


# --- the traffic ------------------------------------------------------------------------


@dataclass
class _Sender:
    channel: Channel
    ref: IdentityRef
    last_message_id: str | None = None


def _identity(kind: IdentityKind, number: int, rng: random.Random) -> str:
    """A distinct, valid identity value of `kind` for customer `number`."""
    match kind:
        case IdentityKind.EMAIL:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            return f"{first}.{last}.{number}@example.org"
        case IdentityKind.PHONE:
            # Ofcom's drama range 07700 900000-900999 is too small for 20,000 customers;
            # any 07700 mobile number is "possible", which is what receive() checks.
            return f"+44 7700 {number:06d}"
        case IdentityKind.WHATSAPP:
            # A wa_id: the number's digits without `+`; US 555 numbers, 10 national digits.
            return f"1555{number:07d}"
        case IdentityKind.X:
            return f"cust_{number:x}"[:15]
        case _:
            return f"visitor-{number:08x}-{rng.getrandbits(32):08x}"


def _text(rng: random.Random, choices: tuple[str, ...]) -> str:
    text = rng.choice(choices).format(order=f"#{rng.randrange(100_000, 999_999)}")
    return text + FILLER * rng.randrange(0, 4)


def build_traffic(count: int, seed: int = SEED) -> list[Inbound]:
    """`count` inbound messages: NEW_SHARE from new customers, the rest from one who
    already wrote (picked at random), channels evenly spread."""
    rng = random.Random(seed)
    continuing = [True] * round(count * (1 - NEW_SHARE)) + [False] * (
        count - round(count * (1 - NEW_SHARE))
    )
    rng.shuffle(continuing)
    if continuing and continuing[0]:  # the first message cannot continue anything
        continuing[continuing.index(False)] = True
        continuing[0] = False
    senders: list[_Sender] = []
    messages: list[Inbound] = []
    for i, continues in enumerate(continuing):
        if continues:
            sender = rng.choice(senders)
        else:
            channel, kind = CHANNELS[rng.randrange(len(CHANNELS))]
            value = _identity(kind, len(senders), rng)
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            sender = _Sender(channel, IdentityRef(kind, value, name=name))
            senders.append(sender)
        message_id = None
        references: tuple[str, ...] = ()
        subject = None
        if sender.channel is Channel.EMAIL:
            message_id = f"email:<{seed:x}.{i}@mail.example.org>"
            references = (sender.last_message_id,) if sender.last_message_id else ()
            subject = ("Re: " if continues else "") + "Question about my order"
            sender.last_message_id = message_id
        messages.append(
            Inbound(
                channel=sender.channel,
                external_id=f"{sender.channel.value}-{seed:x}-{i}",
                sender=sender.ref,
                text=_text(rng, FOLLOW_UPS if continues else OPENINGS),
                subject=subject,
                # On X a customer first posts in public, then carries on by DM.
                public=sender.channel is Channel.X and not continues,
                thread_key=message_id,
                references=references,
            )
        )
    _check_identities(senders)
    return messages


def _check_identities(senders: list[_Sender]) -> None:
    """Every generated identity must pass the core's own normalisation, and stay
    distinct after it: a bad generator would otherwise skew the mix silently."""
    seen: set[tuple[IdentityKind, str]] = set()
    for sender in senders:
        key = (sender.ref.kind, normalise(sender.ref.kind, sender.ref.value))
        if key in seen:
            raise AssertionError(f"generated the same identity twice: {key}")
        seen.add(key)


# --- receive() ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float
    latencies_ns: list[int]

    @property
    def per_second(self) -> float:
        return len(self.latencies_ns) / self.seconds


def _per_request(runtime: Runtime, messages: list[Inbound]) -> Run:
    """One session per message, opened and closed around it, as an API request does."""
    database, env = runtime.db, runtime.env

    def one(i: int) -> None:
        with database.session() as session:
            receive(session, env, messages[i])

    seconds, latencies = timed_loop(len(messages), one)
    return Run(seconds, latencies)


def _shared_session(runtime: Runtime, messages: list[Inbound]) -> Run:
    """One long-lived session; expunge_all() after each message, so that every message
    starts from an empty identity map as a request would."""
    env = runtime.env
    with runtime.db.session() as session:

        def one(i: int) -> None:
            receive(session, env, messages[i])
            session.expunge_all()

        seconds, latencies = timed_loop(len(messages), one)
    return Run(seconds, latencies)


def _checkpoints_off_path(runtime: Runtime, messages: list[Inbound]) -> Run:
    """An experiment, not Threadline's set-up: per-request sessions with SQLite's
    automatic WAL checkpoint switched off, which is what moving checkpoints to a
    background task would take out of the request path. (Without such a task the WAL
    grows without bound; here it only lives for one run.)"""

    def no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    # Before the first connection: db.py's own pragmas run first, then this one.
    event.listen(runtime.db.engine, "connect", no_autocheckpoint)
    return _per_request(runtime, messages)


@contextmanager
def _search_triggers_on(kind: DbKind) -> Iterator[Runtime]:
    """An experiment, for comparison: a fresh SQLite database migrated to 0005 only, so
    that 0004's triggers index every row as it is inserted, as before 0006."""
    if kind != "sqlite":
        raise ValueError("the search triggers are SQLite's")
    with scratch_sqlite() as url:
        upgrade(url, "0005")
        with started(url) as runtime:
            yield runtime


def _check_landed(runtime: Runtime, messages: list[Inbound]) -> None:
    with runtime.db.reading() as session:
        landed = session.scalar(select(func.count()).select_from(Touch))
    if landed != len(messages):
        raise AssertionError(f"{landed} touches for {len(messages)} messages")


def _measure(
    report: Report,
    kind: DbKind,
    messages: list[Inbound],
    runs: int,
    mode: str,
    body: Callable[[Runtime, list[Inbound]], Run],
    fresh: Callable[[DbKind], AbstractContextManager[Runtime]] = fresh_runtime,
) -> float:
    results: list[Run] = []
    for attempt in range(runs):
        with fresh(kind) as runtime:
            result = body(runtime, messages)
            _check_landed(runtime, messages)
        results.append(result)
        report.log(f"{kind} {mode} run {attempt + 1}/{runs}: {result.per_second:,.0f} messages/s")
    rates = [r.per_second for r in results]
    rate = median(rates)
    note = f"{len(messages):,} messages, median of {runs} runs, fresh database each"
    if kind == "sqlite" and mode == "per-request session":
        verdict = "met" if rate >= TARGET_PER_SECOND else "NOT met"
        note += f"; target >= {TARGET_PER_SECOND:,}/s {verdict}"
    report.emit(f"receive, {mode}", rate, "messages/s", db=kind, runs=rates, note=note)
    ordered = [sorted(r.latencies_ns) for r in results]
    for p in (50, 99):
        per_run = [percentile(latencies, p) / 1e6 for latencies in ordered]
        report.emit(
            f"receive latency p{p}, {mode}",
            median(per_run),
            "ms",
            db=kind,
            runs=per_run,
            note="per message, session open to close; median over the runs",
        )
    return rate


def _per_request_once(messages: list[Inbound]) -> float:
    """The per-request rate, for the ceiling ratio when only the shared mode was asked."""
    with fresh_runtime("sqlite") as runtime:
        return _per_request(runtime, messages).per_second


# --- what each message costs in statements ------------------------------------------------


@contextmanager
def _counting(runtime: Runtime) -> Iterator[Counter[str]]:
    """Count the statements SQLite itself runs, by their first word, through the
    driver's trace hook: it sees what SQLAlchemy sends, what the hot path sends straight
    to the cursor (threadline/prepared.py) and db.py's BEGIN IMMEDIATE alike, and the
    statements triggers run (0004's search triggers ran about 5.7 INSERTs a message; 0006
    took them off the write path)."""
    counts: Counter[str] = Counter()

    def trace(statement: str) -> None:
        word = statement.split(None, 1)[0].upper() if statement.strip() else ""
        if word and not word.startswith("--"):
            counts[word] += 1

    def hook(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(trace)

    engine = runtime.db.engine
    engine.dispose()  # so that every connection from here on is traced
    event.listen(engine, "connect", hook)
    try:
        yield counts
    finally:
        event.remove(engine, "connect", hook)
        engine.dispose()


def _statements(report: Report, messages: list[Inbound]) -> None:
    with fresh_runtime("sqlite") as runtime, _counting(runtime) as counts:
        _per_request(runtime, messages)
    total = sum(counts.values())
    breakdown = ", ".join(f"{k} {v / len(messages):.2f}" for k, v in counts.most_common())
    report.emit(
        "SQL statements per message",
        total / len(messages),
        "statements",
        db="sqlite",
        note=breakdown,
    )


# --- the search index -------------------------------------------------------------------


def _index_backlog(report: Report, messages: list[Inbound]) -> None:
    """What receive() no longer does on SQLite: index the rows of `messages` afterwards,
    in the batches the worker's job and a search use. Each batch holds SQLite's write
    lock, so its length is what a message received meanwhile may wait."""
    with fresh_runtime("sqlite") as runtime:
        ingest = _per_request(runtime, messages)
        batches: list[int] = []
        rows = 0
        while True:
            started_ns = perf_counter_ns()
            with runtime.db.session() as db:
                indexed = catch_up(db.connection(), BATCH)
                db.commit()
            batches.append(perf_counter_ns() - started_ns)
            rows += indexed
            if indexed < BATCH:
                break
    seconds = sum(batches) / 1e9
    report.emit(
        "search index catch-up",
        len(messages) / seconds,
        "messages/s",
        db="sqlite",
        note=f"{rows:,} customers, cases and touches of {len(messages):,} messages "
        f"({rows / seconds:,.0f} rows/s), in batches of {BATCH}",
    )
    report.emit(
        "search index batch, longest",
        max(batches) / 1e6,
        "ms",
        db="sqlite",
        note=f"median {median(batches) / 1e6:.1f} ms; one write transaction each",
    )
    report.emit(
        "receive, then index",
        len(messages) / (ingest.seconds + seconds),
        "messages/s",
        db="sqlite",
        note=f"receive {ingest.per_second:,.0f}/s and the indexing, one after the other",
    )


# --- the workload --------------------------------------------------------------------------


def run(report: Report) -> None:
    count = env_int("BENCH_INGEST_N", 2_000 if report.quick else 20_000)
    runs = env_int("BENCH_INGEST_RUNS", 3)
    report.log(f"building {count:,} inbound messages")
    messages = build_traffic(count)
    mix = Counter(m.channel.value for m in messages)
    report.log("channels: " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items())))

    sessions = os.environ.get("BENCH_INGEST_SESSIONS", "request")
    experiments = os.environ.get("BENCH_INGEST_EXPERIMENTS", "") not in ("", "0")
    if sessions not in SESSION_MODES:
        raise ValueError(f"BENCH_INGEST_SESSIONS must be one of {', '.join(SESSION_MODES)}")
    kinds = report.databases()
    rates: dict[DbKind, float] = {}
    for kind in kinds:
        if sessions in ("request", "both"):
            rates[kind] = _measure(
                report, kind, messages, runs, "per-request session", _per_request
            )
        if sessions in ("shared", "both"):
            _measure(report, kind, messages, runs, "shared session + expunge_all", _shared_session)
    if experiments and "sqlite" in kinds:
        _measure(
            report,
            "sqlite",
            messages,
            runs,
            "experiment: wal_autocheckpoint=0",
            _checkpoints_off_path,
        )
        _measure(
            report,
            "sqlite",
            messages,
            runs,
            "experiment: search triggers on the write path (0005)",
            _per_request,
            fresh=_search_triggers_on,
        )

    if "sqlite" not in kinds:
        return
    ceilings = _ceiling.ceilings(report, count, runs)
    sqlite_rate = rates.get("sqlite") or _per_request_once(messages)
    for label in ("raw sqlite3", "SQLAlchemy Core"):
        ceiling = ceilings[label]
        report.emit(
            f"receive / ceiling ({label})",
            100 * sqlite_rate / ceiling,
            "%",
            db="sqlite",
            note=f"receive {sqlite_rate:,.0f}/s vs {ceiling:,.0f} transactions/s: "
            f"{ceiling / sqlite_rate:.1f}x slower",
        )
    _statements(report, messages[: min(len(messages), 2_000)])
    _index_backlog(report, messages)

    if report.profile_dir is not None:
        profiled = messages[: min(len(messages), 5_000)]
        with fresh_runtime("sqlite") as runtime, report.profiled("receive-sqlite"):
            _per_request(runtime, profiled)
