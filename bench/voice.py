"""The phone line under load: BENCH_VOICE_CALLS (2,000; 300 with --quick) call
lifecycles posted as signed Twilio voice webhooks to a `threadline serve` process on a
loopback port by BENCH_VOICE_SENDERS (20) concurrent senders, each posting whole
lifecycles back to back (a closed loop), on a fresh database of each kind (SQLite
always, PostgreSQL when one answers).

One lifecycle, in order, as the provider would post it for a caller answered by agent A:

1. `POST /webhooks/twilio/voice`: the call rings in; the answer queues the caller
   (`<Enqueue>agent-A</Enqueue>`). Its time is the headline figure: the caller hears
   nothing until it arrives. Target: p99 <= 50 ms.
2. `/voice/wait`: the wait message (reads no database).
3. `/voice`: agent A's softphone (`client:agent-A`) asks for its next caller.
4. `/voice/bridged?agent=A`: A took the caller off the queue.
5. `/voice/status`: participant-hold; 6. participant-unhold; 7. completed.
8. `/voice/queue`: QueueResult=bridged, sent when the bridged call has ended.

Every request is signed like the provider's (X-Twilio-Signature over PUBLIC_URL, which
is not the loopback address the bench posts to). Any answer but the expected one
(status and TwiML) is a failure: failures are counted, reported, and fail the workload.
Afterwards the database must hold every call completed, answered by its agent, with
its touch's figures filled: the status callbacks' Timestamps are set as if each call
ran 120 s (held from 20 s to 50 s), so hold and talk seconds are known values.

Setting-up choices, so that every call takes the full path:
- the phone line keeps the `24/7` calendar (THREADLINE_PHONE_HOURS), else callers out
  of the contact centre's hours would get voicemail;
- BENCH_VOICE_AGENTS (20, more when needed) online agents with a voice capacity of 100
  (the most allowed), standing in for agents who wrap each case up after the call:
  every caller is a new customer with a new case, and with the default capacity of one
  all but the first callers would wait in the general queue;
- BENCH_VOICE_SENDERS lifecycles first warm the server up, not counted in the figures;
  then 50 lifecycles from one sender alone give `incoming_alone_p50_ms` and
  `webhook_alone_p50_ms`, the time the server needs for one webhook (under load the
  figures are mostly the queue in front of a saturated server);
- then a rush: one call from each sender, all ringing in the same instant, gives
  `incoming_twiml_burst_p50_ms` and `_max_ms`. Those callers are answered one after
  the other (one SQLite writer, one interpreter), so the last waits for all the others;
- the closed loop's senders start one after the other, evenly over
  BENCH_VOICE_RAMP_SECONDS (1), as callers do, and then post back to back. Started all
  in the same instant, their first calls were such a rush, repeated: 20 of the 2,000
  calls, exactly the 1% that the p99 reads, which then measured the rush (reported
  apart, above) rather than the line under steady load;
- after the closed loop, BENCH_VOICE_PACED_CALLS (600; 150 with --quick) calls arrive
  on a fixed schedule, BENCH_VOICE_RATE (5) a second, whether or not the earlier ones
  are done, each call's webhooks back to back: `incoming_twiml_paced_p50/p99_ms` and
  `webhook_paced_p99_ms`, what a caller waits on a very busy line (5 calls a second is
  18,000 an hour) rather than on a server kept saturated.
Client and server share the machine's cores, so the senders' CPU time is in the figures."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx2 as httpx
from sqlalchemy import func, select

from bench.common import (
    DbKind,
    Report,
    env_int,
    free_port,
    fresh_database,
    percentile,
    started,
    threadline_command,
)
from threadline.actions import Actor, NewAgent, create_agent, set_presence
from threadline.channels.twilio.signature import compute_signature
from threadline.channels.twilio.voice import BASE, BRIDGED_PATH, QUEUE_PATH, STATUS_PATH, WAIT_PATH
from threadline.models import Call, CallEvent, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import CallStatus, Presence, Role

TARGET_P99_MS = 50.0
PUBLIC_URL = "https://desk.bench.example"
OUR_NUMBER = "+441134960000"
VOICE_CAPACITY = 100  # the most create_agent allows
START_SECONDS = 60
MAX_FAILURES = 20  # senders stop starting lifecycles past this many failed requests
SHOWN_FAILURES = 5  # failed requests written to the log
FIRST_TRACEBACK_LINES = 40
ALONE_CALLS = 50  # lifecycles from one sender alone, before the load
PACED_CONNECTIONS = 50  # the paced callers' pool: more than are ever in flight at once

# The call as the status callbacks tell it: held from 20 s to 50 s, ended at 120 s.
HOLD_AT, UNHOLD_AT, CALL_SECONDS = 20, 50, 120
QUEUE_SECONDS = 12
# What step 8 and the touch's figures must then say.
EXPECTED_HOLD = UNHOLD_AT - HOLD_AT
EVENTS_PER_CALL = 6  # incoming, bridged, hold, unhold, completed, queue (wait: none)

STEPS = ("incoming", "wait", "softphone", "bridged", "hold", "unhold", "completed", "queue")
_QUEUE_NAME = re.compile(r"<Enqueue\b[^>]*>([^<]+)</Enqueue>")


@dataclass(frozen=True)
class Line:
    """The phone channel's settings, shared by the server and the senders."""

    token: str
    account_sid: str

    def environment(self) -> dict[str, str]:
        return {
            "THREADLINE_TWILIO_AUTH_TOKEN": self.token,
            "THREADLINE_TWILIO_ACCOUNT_SID": self.account_sid,
            "THREADLINE_TWILIO_FROM_NUMBER": OUR_NUMBER,
            "THREADLINE_PUBLIC_URL": PUBLIC_URL,
            "THREADLINE_PHONE_HOURS": "24/7",
        }

    def headers(self, path: str, params: Sequence[tuple[str, str]]) -> dict[str, str]:
        """Headers as the provider sends them: signed over the public URL, not ours."""
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": compute_signature(self.token, PUBLIC_URL + path, params),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }


@dataclass
class Tally:
    """What the senders measured: ms per successful request, by step."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    sent: int = 0
    failures: int = 0
    failed_calls: int = 0
    lifecycles: int = 0

    def all_latencies(self) -> list[float]:
        return sorted(ms for values in self.latencies.values() for ms in values)


# --- the server -------------------------------------------------------------------------


@contextmanager
def serving(url: str, line: Line, data_dir: Path, log: Path) -> Iterator[str]:
    """`threadline serve` on a free loopback port with the phone channel on, without
    worker or SMTP listener; its base URL once it answers. Always stopped."""
    port = free_port()
    command = threadline_command()
    environment = {
        **os.environ,
        "THREADLINE_ENV": "test",
        "THREADLINE_DATABASE_URL": url,
        "THREADLINE_DATA_DIR": str(data_dir),
        "THREADLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        **line.environment(),
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
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


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


def _server_problems(log: Path) -> str:
    """What the server logged besides start-up chatter and access lines: how often each
    error or warning line occurred, then the first traceback in full (the later ones
    are often only its consequences). Empty when there was nothing."""
    lines = log.read_text(errors="replace").splitlines()
    counts: Counter[str] = Counter(
        line for line in lines if line.strip() and not line.startswith(("INFO:", " ", "Traceback"))
    )
    if not counts:
        return ""
    summary = [f"{n:6,} x {line[:300]}" for line, n in counts.most_common(12)]
    first: list[str] = []
    if "Traceback (most recent call last):" in lines:
        at = lines.index("Traceback (most recent call last):")
        for line in lines[at : at + 400]:
            first.append(line)
            if len(first) > 1 and line and not line.startswith(" "):
                break  # the exception's own line ends the traceback
        first = ["the first traceback:", *first[-FIRST_TRACEBACK_LINES:]]
    return "\n".join([*summary, *first]) + "\n"


# --- the senders ------------------------------------------------------------------------


def _rfc2822(at: datetime) -> str:
    return format_datetime(at.replace(microsecond=0))


async def _post(
    http: httpx.AsyncClient,
    line: Line,
    tally: Tally,
    step: str,
    path: str,
    params: list[tuple[str, str]],
    *,
    want: str | None,
) -> str | None:
    """Post one signed webhook. `want` is the TwiML element the answer must hold (200
    text/xml); None expects 204. Answers the TwiML, or None when the request failed."""
    headers = line.headers(path, params)
    body = urlencode(params)
    tally.sent += 1
    began = time.perf_counter()
    try:
        answer = await http.post(path, content=body, headers=headers)
    except httpx.TransportError as exc:
        problem = f"{type(exc).__name__} {exc}"
    else:
        elapsed_ms = (time.perf_counter() - began) * 1000
        text = answer.text
        if want is None:
            ok = answer.status_code == 204
        else:
            ok = (
                answer.status_code == 200
                and answer.headers.get("content-type", "").startswith("text/xml")
                and want in text
            )
        if ok:
            tally.latencies[step].append(elapsed_ms)
            return text
        problem = f"{answer.status_code} {text[:300]!r}"
    tally.failures += 1
    if tally.failures <= SHOWN_FAILURES:
        sys.stderr.write(f"[voice] {step} POST {path}: {problem}\n")
    return None


async def _lifecycle(
    http: httpx.AsyncClient, line: Line, tally: Tally, number: int, agents: Sequence[int]
) -> bool:
    """One call from ringing to its queue's final report; False at the first failure
    (the rest of the call would only report on a call the server does not know)."""
    sid = "CA" + uuid.uuid4().hex
    leg = "CA" + uuid.uuid4().hex  # the agent's softphone call
    caller = f"+4477009{number % 100_000:05d}"
    account = ("AccountSid", line.account_sid)
    began = datetime.now(UTC)

    async def post(
        step: str, path: str, params: list[tuple[str, str]], want: str | None
    ) -> str | None:
        return await _post(http, line, tally, step, path, params, want=want)

    queued = await post(
        "incoming",
        BASE,
        [
            ("CallSid", sid),
            account,
            ("From", caller),
            ("To", OUR_NUMBER),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ],
        "<Enqueue",
    )
    if queued is None:
        return False
    found = _QUEUE_NAME.search(queued)
    queue = found.group(1) if found else ""
    agent = (
        int(queue.removeprefix("agent-"))
        if queue.startswith("agent-")
        else agents[number % len(agents)]
    )

    def status(
        sequence: int, call_status: str, event: str | None, at: int
    ) -> list[tuple[str, str]]:
        params = [
            ("CallSid", sid),
            account,
            ("CallStatus", call_status),
            ("Timestamp", _rfc2822(began + timedelta(seconds=at))),
            ("SequenceNumber", str(sequence)),
            ("CallbackSource", "call-progress-events"),
        ]
        if event is not None:
            params.append(("StatusCallbackEvent", event))
        else:
            params.append(("CallDuration", str(CALL_SECONDS)))
        return params

    steps: list[tuple[str, str, list[tuple[str, str]], str | None]] = [
        (
            "wait",
            WAIT_PATH,
            [
                ("CallSid", sid),
                account,
                ("QueuePosition", "1"),
                ("QueueTime", "5"),
                ("AvgQueueTime", "5"),
                ("CurrentQueueSize", "1"),
                ("MaxQueueSize", "100"),
            ],
            "<Say>",
        ),
        (
            "softphone",
            BASE,
            [
                ("CallSid", leg),
                account,
                ("From", f"client:agent-{agent}"),
                ("To", OUR_NUMBER),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
                ("ApiVersion", "2010-04-01"),
            ],
            "<Response",  # the caller at the front of A's queues, or nobody waiting
        ),
        (
            "bridged",
            f"{BRIDGED_PATH}?agent={agent}",
            [
                ("CallSid", sid),
                account,
                ("QueueTime", str(QUEUE_SECONDS)),
                ("DequeingCallSid", leg),
            ],
            "<Response",
        ),
        ("hold", STATUS_PATH, status(1, "in-progress", "participant-hold", HOLD_AT), None),
        ("unhold", STATUS_PATH, status(2, "in-progress", "participant-unhold", UNHOLD_AT), None),
        ("completed", STATUS_PATH, status(3, "completed", None, CALL_SECONDS), None),
        (
            "queue",
            QUEUE_PATH,
            [
                ("CallSid", sid),
                account,
                ("QueueResult", "bridged"),
                ("QueueTime", str(QUEUE_SECONDS)),
            ],
            "<Response",
        ),
    ]
    for step, path, params, want in steps:
        if await post(step, path, params, want) is None:
            return False
    return True


async def _drive(
    base: str,
    line: Line,
    agents: Sequence[int],
    calls: int,
    senders: int,
    first: int,
    ramp_seconds: float = 0.0,
) -> tuple[Tally, float]:
    """`calls` lifecycles from `senders` senders over one pool of as many connections,
    numbered from `first` (the caller's number); the tally and the seconds taken. With
    `ramp_seconds`, the senders start one after the other, evenly over that time; else
    all at once."""
    tally = Tally()
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    issued = 0
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def sender(index: int) -> None:
            nonlocal issued
            await asyncio.sleep(index * ramp_seconds / senders)
            while issued < calls and tally.failures <= MAX_FAILURES:
                number = first + issued
                issued += 1
                tally.lifecycles += 1
                if not await _lifecycle(http, line, tally, number, agents):
                    tally.failed_calls += 1

        began = time.perf_counter()
        await asyncio.gather(*(sender(index) for index in range(senders)))
        seconds = time.perf_counter() - began
    return tally, seconds


async def _drive_paced(
    base: str, line: Line, agents: Sequence[int], calls: int, rate: float, first: int
) -> tuple[Tally, float]:
    """`calls` lifecycles arriving on a fixed schedule, `rate` a second, whether or not
    the earlier ones are done (an open loop: callers do not wait for each other), each
    call's webhooks posted back to back; the tally and the seconds taken."""
    tally = Tally()
    limits = httpx.Limits(max_connections=PACED_CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        began = time.perf_counter()

        async def caller(index: int) -> None:
            await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
            tally.lifecycles += 1
            if not await _lifecycle(http, line, tally, first + index, agents):
                tally.failed_calls += 1

        await asyncio.gather(*(caller(index) for index in range(calls)))
        seconds = time.perf_counter() - began
    return tally, seconds


# --- seeding and checking ---------------------------------------------------------------


def _hire(runtime: Runtime, count: int) -> list[int]:
    """Online agents, through the actions."""
    ids = []
    with runtime.db.session() as db:
        for n in range(count):
            made = create_agent(
                db,
                runtime.env,
                Actor.system(),
                NewAgent(
                    email=f"agent{n}@bench.example",
                    name=f"Agent {n}",
                    role=Role.AGENT,
                    capacity={"voice": VOICE_CAPACITY},
                ),
            )
            set_presence(db, runtime.env, Actor.agent(made.id), made.id, Presence.ONLINE)
            ids.append(made.id)
    return ids


@dataclass(frozen=True)
class Stored:
    calls: int
    completed: int
    answered_with_figures: int
    events: int


def _stored(runtime: Runtime) -> Stored:
    """What the database says of the calls: how many, completed, and completed by an
    agent with the figures the webhooks imply on the call's touch."""
    with runtime.db.reading() as read:
        calls = read.scalar(select(func.count()).select_from(Call)) or 0
        completed = (
            read.scalar(
                select(func.count()).select_from(Call).where(Call.status == CallStatus.COMPLETED)
            )
            or 0
        )
        answered = (
            read.scalar(
                select(func.count())
                .select_from(Call)
                .join(Touch, Touch.id == Call.touch_id)
                .where(
                    Call.status == CallStatus.COMPLETED,
                    Call.agent_id.is_not(None),
                    Call.answered_at.is_not(None),
                    Touch.outcome == "answered",
                    Touch.call_wait_seconds == QUEUE_SECONDS,
                    Touch.call_hold_seconds == EXPECTED_HOLD,
                    Touch.call_talk_seconds > 0,
                    Touch.call_ring_seconds.is_not(None),
                )
            )
            or 0
        )
        events = read.scalar(select(func.count()).select_from(CallEvent)) or 0
    return Stored(calls, completed, answered, events)


# --- the workload -----------------------------------------------------------------------


def _log_steps(report: Report, kind: DbKind, tally: Tally) -> None:
    parts = []
    for step in STEPS:
        values = sorted(tally.latencies[step])
        if values:
            parts.append(f"{step} {percentile(values, 50):.1f}/{percentile(values, 99):.1f}")
    report.log(f"{kind}: p50/p99 ms by step: " + ", ".join(parts))


def _emit(
    report: Report,
    kind: DbKind,
    tally: Tally,
    seconds: float,
    senders: int,
    ramp_seconds: float,
    stored: Stored,
) -> None:
    how = (
        f"{tally.lifecycles:,} calls, {senders} senders each posting whole calls back to "
        f"back, started evenly over {ramp_seconds:g} s"
    )
    report.emit("calls", tally.lifecycles, "calls", db=kind, note=how)
    report.emit(
        "failures",
        tally.failures,
        "requests",
        db=kind,
        note="answered other than expected (status or TwiML), or dropped",
    )
    if seconds > 0:
        report.emit("webhooks_per_s", tally.sent / seconds, "webhooks/s", db=kind, note=how)
    _emit_incoming(report, kind, tally, "incoming_twiml", how)
    every = tally.all_latencies()
    if every:
        note = f"all {len(every):,} webhooks answered as expected; {how}"
        report.emit("webhook_p50_ms", percentile(every, 50), "ms", db=kind, note=note)
        report.emit("webhook_p99_ms", percentile(every, 99), "ms", db=kind, note=note)
    waits = sorted(tally.latencies["wait"])
    if waits:
        report.emit(
            "wait_twiml_p99_ms",
            percentile(waits, 99),
            "ms",
            db=kind,
            note="the wait message, which reads no database",
        )
    report.emit(
        "calls_completed",
        stored.completed,
        "calls",
        db=kind,
        note=f"of {stored.calls:,} stored (the warm-up and one-sender calls included); "
        f"{stored.answered_with_figures:,} answered with their touch's figures filled",
    )


def _emit_incoming(report: Report, kind: DbKind, tally: Tally, name: str, how: str) -> None:
    """`<name>_p50_ms` and `<name>_p99_ms` of the TwiML answers to ringing calls, the
    p99 against the target."""
    incoming = sorted(tally.latencies["incoming"])
    if not incoming:
        return
    p99 = percentile(incoming, 99)
    verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
    note = f"the TwiML answer to a ringing call; {how}"
    report.emit(f"{name}_p50_ms", percentile(incoming, 50), "ms", db=kind, note=note)
    report.emit(
        f"{name}_p99_ms",
        p99,
        "ms",
        db=kind,
        note=f"{note}; target <= {TARGET_P99_MS:.0f} ms {verdict}",
    )


def _emit_alone(report: Report, kind: DbKind, alone: Tally) -> None:
    """One sender, nothing else running: the time the server needs for a webhook, where
    the figures under load are mostly the queue in front of a saturated server."""
    note = f"{alone.lifecycles} calls from one sender, nothing else running"
    incoming = sorted(alone.latencies["incoming"])
    if incoming:
        report.emit("incoming_alone_p50_ms", percentile(incoming, 50), "ms", db=kind, note=note)
    every = alone.all_latencies()
    if every:
        report.emit("webhook_alone_p50_ms", percentile(every, 50), "ms", db=kind, note=note)


def _emit_burst(report: Report, kind: DbKind, burst: Tally) -> None:
    """Calls ringing in the same instant, one from each sender: how long the last
    caller of a sudden rush waits, which the closed loop's ramp leaves out."""
    incoming = sorted(burst.latencies["incoming"])
    if not incoming:
        return
    note = f"{len(incoming)} calls ringing in the same instant, nothing else running"
    report.emit("incoming_twiml_burst_p50_ms", percentile(incoming, 50), "ms", db=kind, note=note)
    report.emit("incoming_twiml_burst_max_ms", incoming[-1], "ms", db=kind, note=note)


def _emit_paced(report: Report, kind: DbKind, paced: Tally, calls: int, rate: float) -> None:
    """Calls arriving at a steady rate rather than as fast as the server answers: the
    wait a caller has on a busy line, where the closed loop shows a saturated server."""
    webhooks = calls * len(STEPS)
    how = (
        f"{calls:,} calls arriving at {rate:g} a second ({rate * len(STEPS):g} webhooks/s, "
        f"{rate * 3600:,.0f} calls an hour), each call's webhooks back to back"
    )
    _emit_incoming(report, kind, paced, "incoming_twiml_paced", how)
    every = paced.all_latencies()
    if every:
        note = f"{len(every):,} of {webhooks:,} webhooks answered as expected; {how}"
        report.emit("webhook_paced_p99_ms", percentile(every, 99), "ms", db=kind, note=note)


def _one_database(
    report: Report,
    kind: DbKind,
    calls: int,
    senders: int,
    agents: int,
    paced_calls: int,
    rate: float,
    ramp_seconds: float,
) -> None:
    line = Line(token=uuid.uuid4().hex, account_sid="AC" + uuid.uuid4().hex)
    warm_up = senders
    alone_calls = min(ALONE_CALLS, calls)
    expected = warm_up + alone_calls + senders + calls + paced_calls
    agents = max(agents, math.ceil(expected / VOICE_CAPACITY))
    with (
        fresh_database(kind) as url,
        tempfile.TemporaryDirectory(prefix="threadline-bench-voice-") as tmp,
    ):
        with started(url) as runtime:
            agent_ids = _hire(runtime, agents)
        report.log(f"{kind}: {agents} online agents")
        log = Path(tmp) / "serve.log"
        with serving(url, line, Path(tmp) / "data", log) as base:
            report.log(f"{kind}: serving on {base}")
            # A phase that failed stops the run: a wedged server answers each request
            # only after its pool's 30 s timeout.
            warmed, _ = asyncio.run(_drive(base, line, agent_ids, warm_up, senders, 0))
            alone, burst, tally, paced, seconds = Tally(), Tally(), Tally(), Tally(), 0.0
            if not warmed.failures:
                alone, _ = asyncio.run(_drive(base, line, agent_ids, alone_calls, 1, warm_up))
            if not warmed.failures and not alone.failures:
                first = warm_up + alone_calls
                burst, _ = asyncio.run(_drive(base, line, agent_ids, senders, senders, first))
            if not (warmed.failures or alone.failures or burst.failures):
                first = warm_up + alone_calls + senders
                tally, seconds = asyncio.run(
                    _drive(base, line, agent_ids, calls, senders, first, ramp_seconds)
                )
            failed_before = warmed.failures or alone.failures or burst.failures
            if not (failed_before or tally.failures) and paced_calls:
                first = warm_up + alone_calls + senders + calls
                paced, paced_seconds = asyncio.run(
                    _drive_paced(base, line, agent_ids, paced_calls, rate, first)
                )
                report.log(
                    f"{kind}: paced, {paced.sent:,} webhooks in {paced_seconds:.1f} s, "
                    f"{paced.failures} failed"
                )
        for other in (warmed, alone, burst, paced):
            tally.failures += other.failures
            tally.failed_calls += other.failed_calls
        report.log(f"{kind}: {tally.sent:,} webhooks in {seconds:.1f} s, {tally.failures} failed")
        _log_steps(report, kind, tally)
        with started(url) as runtime:
            stored = _stored(runtime)
        _emit(report, kind, tally, seconds, senders, ramp_seconds, stored)
        _emit_alone(report, kind, alone)
        _emit_burst(report, kind, burst)
        _emit_paced(report, kind, paced, paced_calls, rate)
        problems = _server_problems(log)
        if problems:
            report.log(f"{kind}: the server logged errors or warnings:")
            sys.stderr.write(problems)
        wrong = []
        if tally.failures:
            wrong.append(f"{tally.failures} webhooks failed ({tally.failed_calls} calls)")
        if tally.lifecycles != calls:
            wrong.append(f"{tally.lifecycles} of {calls} calls were posted")
        if paced.lifecycles != paced_calls:
            wrong.append(f"{paced.lifecycles} of {paced_calls} paced calls were posted")
        if stored.calls != expected or stored.completed != expected:
            wrong.append(
                f"{stored.completed} of {expected} calls completed ({stored.calls} stored)"
            )
        if stored.answered_with_figures != expected:
            wrong.append(
                f"{stored.answered_with_figures} of {expected} calls answered with figures"
            )
        if stored.events != expected * EVENTS_PER_CALL:
            wrong.append(f"{stored.events} call events, not {expected * EVENTS_PER_CALL}")
        if wrong:
            raise RuntimeError(f"{kind}: " + "; ".join(wrong))


def run(report: Report) -> None:
    calls = env_int("BENCH_VOICE_CALLS", 300 if report.quick else 2_000)
    senders = env_int("BENCH_VOICE_SENDERS", 20)
    agents = env_int("BENCH_VOICE_AGENTS", 20)
    paced_calls = env_int("BENCH_VOICE_PACED_CALLS", 150 if report.quick else 600)
    rate = float(os.environ.get("BENCH_VOICE_RATE", "5"))
    ramp = float(os.environ.get("BENCH_VOICE_RAMP_SECONDS", "1"))
    # A database that fails does not keep the others from being measured.
    failed: list[str] = []
    for kind in report.databases():
        try:
            _one_database(report, kind, calls, senders, agents, paced_calls, rate, ramp)
        except Exception as exc:
            report.log(f"{kind}: FAILED: {exc}")
            failed.append(f"{exc}")
    if failed:
        raise RuntimeError("; ".join(failed))
