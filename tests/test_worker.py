"""The worker delivering the outbox into a real SMTP server: replies arrive threaded,
exactly once however many workers drain the outbox at the same time, survive a relay
that is down for a while, and fail visibly when the relay refuses them for good. Also
/readyz and /metrics watching the outbox, periodic jobs on one worker at a time, and
`threadline worker` stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import TypeVar

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.factories import agent, inbound
from tests.mail_support import CUSTOMER_MAIL_ID, SmtpSink, drain, email_case, free_port
from tests.tcp_proxy import TcpProxy
from threadline.actions import Actor, Env, receive, reply, set_status
from threadline.actions.outbox import RetryPolicy
from threadline.api.app import create_app
from threadline.channels.base import DeliveryResult, Outbound, Sender
from threadline.channels.email.outgoing import SmtpSender
from threadline.channels.twilio.calling import TwilioCallSender
from threadline.clock import FrozenClock, SystemClock
from threadline.config import Settings
from threadline.models import Case, OutboxMessage, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    OutboxState,
    TouchKind,
)
from threadline.worker import Job, Worker, build_worker, senders_from_settings

T = TypeVar("T")

THREADLINE = Path(sys.executable).with_name("threadline")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def email_worker(runtime: Runtime, sink: SmtpSink, name: str = "w1", **options: object) -> Worker:
    sender = SmtpSender(sink.url(), mail_domain=runtime.settings.mail_domain, timeout=10)
    return Worker(runtime, name, {Channel.EMAIL: sender}, **options)  # type: ignore[arg-type]


# What the tests look at is read in sessions of its own, ended at once: on SQLite a
# transaction left open by the test would hold the write lock the worker needs.


def rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.db.reading() as read:
        return list(read.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def out_touches(runtime: Runtime) -> list[Touch]:
    with runtime.db.reading() as read:
        return list(read.scalars(select(Touch).where(Touch.direction == Direction.OUT)))


def get(runtime: Runtime, model: type[T], key: int) -> T:
    with runtime.db.reading() as read:
        found = read.get(model, key)
    assert found is not None
    return found


def replies(db: Session, env: Env, count: int, case_id: int | None = None) -> list[int]:
    amy = agent(db, env)
    case_id = case_id or email_case(db, env).case_id
    return [
        reply(db, env, Actor.agent(amy.id), case_id, f"Reply number {i}").outbox_id
        for i in range(count)
    ]


def test_a_reply_arrives_threaded_with_the_customers_mail(
    db: Session, runtime: Runtime, sink: SmtpSink
) -> None:
    env = runtime.env
    amy = agent(db, env)
    case = email_case(db, env, subject="Where is order 1001?")
    result = reply(db, env, Actor.agent(amy.id), case.case_id, "Your parcel ships today. — Amy")

    assert email_worker(runtime, sink).run_once() == 1

    (got,) = sink.received
    message = got.message
    ref = f"TL-{case.case_id + 1000}"
    assert message["Message-ID"].endswith("@threadline.localhost>")
    assert message["In-Reply-To"] == f"<{CUSTOMER_MAIL_ID}>"
    assert message["References"] == (
        f"<root-1@example.com> <cust-1@example.com> <{CUSTOMER_MAIL_ID}>"
    )
    assert message["Subject"] == f"Re: Where is order 1001? [{ref}]"
    assert message["X-Threadline-Ref"] == ref
    assert message["From"] == "help@shop.example" and message["To"] == "ann@example.com"
    assert "Auto-Submitted" not in message
    assert message.get_content().strip() == "Your parcel ships today. — Amy"
    (row,) = rows(runtime)
    assert row.state is OutboxState.SENT and row.provider_ref == message["Message-ID"]
    assert get(runtime, Touch, result.touch_id).delivery is Delivery.SENT


@pytest.mark.parametrize("workers", [4])
def test_concurrent_workers_deliver_every_message_exactly_once(
    db: Session,
    env: Env,
    runtime: Runtime,
    settings: Settings,
    clock: FrozenClock,
    sink: SmtpSink,
    workers: int,
) -> None:
    expected = set(replies(db, env, 200))
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def drain_outbox(name: str) -> None:
        runtime = Runtime.start(settings, clock=clock)  # an engine of its own
        try:
            worker = email_worker(runtime, sink, name, batch_size=5)
            start.wait()
            while worker.run_once():
                pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            runtime.close()

    threads = [threading.Thread(target=drain_outbox, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors

    received = sink.received
    ids = Counter(m.message["Message-ID"] for m in received)
    assert len(received) == 200 and set(ids.values()) == {1}  # every one once, none twice
    texts = Counter(m.message.get_content().strip() for m in received)
    assert texts == Counter(f"Reply number {i}" for i in range(200))
    outbox = rows(runtime)
    assert {r.id for r in outbox} == expected
    assert all(r.state is OutboxState.SENT and r.attempts == 1 for r in outbox)
    assert {r.provider_ref for r in outbox} == set(ids)


def test_a_relay_down_for_a_while_delays_replies_but_loses_none(
    db: Session, runtime: Runtime, clock: FrozenClock, sink: SmtpSink
) -> None:
    env = runtime.env
    replies(db, env, 6)
    worker = email_worker(runtime, sink)
    sink.answer("451 4.3.0 Relay temporarily unavailable")

    assert worker.run_once() == 6
    assert all(r.attempts == 1 and r.state is OutboxState.PENDING for r in rows(runtime))
    first_waits = [r.next_attempt_at - clock.now() for r in rows(runtime)]
    assert all(timedelta(0) <= wait <= timedelta(seconds=30) for wait in first_waits)
    touches = out_touches(runtime)
    assert all(t.delivery is Delivery.QUEUED and "451" in (t.delivery_error or "") for t in touches)

    clock.advance(timedelta(seconds=30))
    assert worker.run_once() == 6  # all due again, all refused again
    assert all(r.attempts == 2 for r in rows(runtime))
    assert all(r.next_attempt_at - clock.now() <= timedelta(seconds=60) for r in rows(runtime))
    assert sink.received == []

    sink.answer(None)  # the relay is back
    clock.advance(timedelta(hours=1))
    while worker.run_once():
        pass
    received = sink.received
    assert len(received) == 6
    assert len({m.message["Message-ID"] for m in received}) == 6
    assert all(r.state is OutboxState.SENT for r in rows(runtime))
    touches = out_touches(runtime)
    assert all(t.delivery is Delivery.SENT and t.delivery_error is None for t in touches)
    clock.advance(timedelta(hours=5))
    assert worker.run_once() == 0
    assert len(sink.received) == 6


def test_a_refused_reply_comes_back_to_the_owner(
    db: Session, runtime: Runtime, sink: SmtpSink
) -> None:
    env = runtime.env
    amy = agent(db, env)
    case = email_case(db, env)
    result = reply(db, env, Actor.agent(amy.id), case.case_id, "Here you are")
    set_status(db, env, Actor.agent(amy.id), case.case_id, CaseStatus.PENDING)
    sink.answer("550 5.1.1 <ann@example.com>: Recipient address rejected", at="RCPT")
    events = env.bus.subscribe()

    email_worker(runtime, sink).run_once()

    failed = get(runtime, Touch, result.touch_id)
    assert failed.delivery is Delivery.FAILED
    assert failed.delivery_error == "550 5.1.1 <ann@example.com>: Recipient address rejected"
    with runtime.db.reading() as read:
        note = read.scalars(
            select(Touch).where(Touch.case_id == case.case_id, Touch.kind == TouchKind.NOTE)
        ).one()
    assert note.direction is Direction.INTERNAL and not note.public
    assert note.text == (
        "The reply of 2026-11-23 09:00 UTC to ann@example.com could not be delivered: "
        "550 5.1.1 <ann@example.com>: Recipient address rejected"
    )
    back = get(runtime, Case, case.case_id)
    assert back.status is CaseStatus.OPEN and back.owner_id == amy.id
    types = [e.type for e in drain(events)]
    assert "delivery.updated" in types and "case.status_changed" in types
    assert "touch.created" in types
    (row,) = rows(runtime)
    assert row.state is OutboxState.FAILED and row.attempts == 1


class Recording:
    """An in-memory Sender (the seam's test implementation)."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    def send(self, outbound: Outbound) -> DeliveryResult:
        self.sent.append(outbound)
        return DeliveryResult(status=Delivery.SENT, external_id=f"SM{outbound.outbox_id}")


def test_a_channel_without_a_provider_holds_its_replies_visibly(
    db: Session, runtime: Runtime
) -> None:
    env = runtime.env
    amy = agent(db, env)
    first = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "hi"))
    result = reply(db, env, Actor.agent(amy.id), first.case_id, "Hello by text")

    assert Worker(runtime, "w1", {}).run_once() == 1

    (row,) = rows(runtime)
    assert (row.state, row.last_error) == (OutboxState.HELD, "sms is not configured")
    held = get(runtime, Touch, result.touch_id)
    assert (held.delivery, held.delivery_error) == (Delivery.QUEUED, "sms is not configured")
    client_shows = TestClient(create_app(runtime)).get("/readyz").json()
    assert client_shows["outbox"]["held"] == 1

    # A worker that can send texts starts: the held reply goes.
    texts = Recording()
    worker = Worker(runtime, "w2", {Channel.SMS: texts})
    assert worker.release_held() == 1
    assert worker.run_once() == 1
    assert [o.text for o in texts.sent] == ["Hello by text"]
    assert texts.sent[0].to.value == "+447700900123"
    (row,) = rows(runtime)
    assert (row.state, row.provider_ref) == (OutboxState.SENT, f"SM{row.id}")


def test_a_sender_that_crashes_is_retried_not_lost(
    db: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    class Broken:
        def send(self, outbound: Outbound) -> DeliveryResult:
            raise RuntimeError("provider answered nonsense")

    replies(db, runtime.env, 1)
    broken: Sender = Broken()
    Worker(runtime, "w1", {Channel.EMAIL: broken}).run_once()
    (row,) = rows(runtime)
    assert row.state is OutboxState.PENDING and row.attempts == 1
    assert row.last_error == "the email sender failed: RuntimeError: provider answered nonsense"
    texts = Recording()
    clock.advance(timedelta(minutes=1))
    Worker(runtime, "w2", {Channel.EMAIL: texts}).run_once()
    assert len(texts.sent) == 1 and rows(runtime)[0].state is OutboxState.SENT


def test_retries_that_run_out_fail_the_reply(
    db: Session, runtime: Runtime, clock: FrozenClock, sink: SmtpSink
) -> None:
    replies(db, runtime.env, 1)
    sink.answer("421 4.4.2 Try later")
    worker = email_worker(
        runtime, sink, retry=RetryPolicy(base_seconds=1, cap_seconds=1, max_attempts=3)
    )
    for _ in range(3):
        worker.run_once()
        clock.advance(timedelta(seconds=2))
    (row,) = rows(runtime)
    assert row.state is OutboxState.FAILED and row.attempts == 3
    assert row.last_error == "421 4.4.2 Try later (gave up after 3 attempts)"


def test_a_claim_about_to_lapse_is_left_for_later_not_sent(
    db: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    class Slow(Recording):
        def send(self, outbound: Outbound) -> DeliveryResult:
            clock.advance(timedelta(seconds=10))  # a slow provider
            return super().send(outbound)

    first, second = replies(db, runtime.env, 2)
    slow = Slow()
    worker = Worker(runtime, "w1", {Channel.EMAIL: slow}, lease_seconds=30, send_margin_seconds=25)
    assert worker.run_once() == 2
    # After the first send only 20 s of the claim were left: too little to start another.
    assert [o.outbox_id for o in slow.sent] == [first]
    assert [r.state for r in rows(runtime)] == [OutboxState.SENT, OutboxState.PENDING]
    # When the claim has lapsed, the message is claimed again and sent, once.
    clock.advance(timedelta(seconds=30))
    assert worker.run_once() == 1
    assert [o.outbox_id for o in slow.sent] == [first, second]


def test_run_forever_wakes_for_a_new_reply_and_stops_when_told(
    db: Session, runtime: Runtime, sink: SmtpSink
) -> None:
    env = runtime.env
    amy = agent(db, env)
    case = email_case(db, env)
    # A long poll interval: only the reply's event can wake the worker in time.
    worker = email_worker(runtime, sink, poll_seconds=60)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        time.sleep(0.3)  # the worker is waiting now
        reply(db, env, Actor.agent(amy.id), case.case_id, "Woken up")
        (got,) = sink.wait_for(1, timeout=5)
        assert got.message.get_content().strip() == "Woken up"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def _run_together(workers: list[Worker], *, seconds: float) -> None:
    """Run the workers side by side, each on a thread, for `seconds`, then stop them."""
    stop = threading.Event()
    threads = [threading.Thread(target=w.run_forever, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(5)


def test_a_periodic_job_runs_on_one_worker_at_a_time(runtime: Runtime, settings: Settings) -> None:
    runs: list[str] = []
    lock = threading.Lock()

    def job_for(name: str) -> Job:
        def run(_runtime: Runtime) -> None:
            with lock:
                runs.append(name)

        return Job("sweep", every_seconds=0.05, run=run)

    other = Runtime.start(settings, clock=runtime.env.clock)
    try:
        workers = [
            Worker(runtime, "w1", {}, poll_seconds=0.05, jobs=[job_for("w1")]),
            Worker(other, "w2", {}, poll_seconds=0.05, jobs=[job_for("w2")]),
        ]
        _run_together(workers, seconds=1.0)
    finally:
        other.close()
    # The clock stands still, so the lease never runs out: whoever took it keeps it.
    assert runs and len(set(runs)) == 1


def test_a_job_that_outlasts_its_period_is_not_started_again_beside_itself(
    settings: Settings,
) -> None:
    # Real time, two workers of their own runtimes: a run lasts 1.2 s, its period and
    # lease 0.5 s. The lease is renewed while the run goes on, so no other worker takes
    # it over and starts the job a second time beside the first.
    runs: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def job_for(name: str) -> Job:
        def run(_runtime: Runtime) -> None:
            started = time.monotonic()
            time.sleep(1.2)
            with lock:
                runs.append((name, started, time.monotonic()))

        return Job("slow", every_seconds=0.5, run=run)

    runtimes = [Runtime.start(settings, clock=SystemClock()) for _ in range(2)]
    try:
        workers = [
            Worker(rt, f"w{i}", {}, poll_seconds=0.05, jobs=[job_for(f"w{i}")])
            for i, rt in enumerate(runtimes)
        ]
        _run_together(workers, seconds=3.0)
    finally:
        for rt in runtimes:
            rt.close()
    assert len(runs) >= 2
    ordered = sorted(runs, key=lambda run: run[1])
    for before, after in pairwise(ordered):
        assert after[1] >= before[2], f"{after[0]} started while {before[0]} still ran"


def test_senders_from_settings(tmp_path: Path) -> None:
    assert senders_from_settings(Settings(env="test", data_dir=tmp_path)) == {}
    configured = senders_from_settings(
        Settings(env="test", data_dir=tmp_path, smtp_relay_url="smtp://u:p@relay.example:2525")
    )
    email = configured[Channel.EMAIL]
    assert isinstance(email, SmtpSender)
    assert (email.relay.host, email.relay.port, email.relay.user) == ("relay.example", 2525, "u")
    twilio = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "token",
        "twilio_from_number": "+442071838750",
    }
    phone_and_sms = senders_from_settings(Settings(env="test", data_dir=tmp_path, **twilio))
    assert set(phone_and_sms) == {Channel.SMS, Channel.PHONE}
    assert isinstance(phone_and_sms[Channel.PHONE], TwilioCallSender)
    no_number = {**twilio, "twilio_from_number": None}
    assert senders_from_settings(Settings(env="test", data_dir=tmp_path, **no_number)) == {}


# Watching the outbox


def test_readyz_and_metrics_show_the_outbox(
    db: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    client = TestClient(create_app(runtime))
    empty = client.get("/readyz")
    assert empty.status_code == 200
    assert empty.json() == {
        "status": "ready",
        "outbox": {"depth": 0, "oldest_seconds": 0.0, "overdue_seconds": 0.0, "held": 0},
    }
    replies(db, runtime.env, 2)
    clock.advance(timedelta(minutes=3))
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["outbox"] == {
        "depth": 2,
        "oldest_seconds": 180.0,
        "overdue_seconds": 180.0,
        "held": 0,
    }
    metrics = client.get("/metrics").text
    assert "threadline_outbox_depth 2.0" in metrics
    assert "threadline_outbox_oldest_age_seconds 180.0" in metrics
    assert "threadline_outbox_overdue_seconds 180.0" in metrics
    assert "threadline_outbox_held 0.0" in metrics


def test_readyz_warns_when_the_outbox_is_stale(
    db: Session, runtime: Runtime, clock: FrozenClock, sink: SmtpSink
) -> None:
    client = TestClient(create_app(runtime))
    replies(db, runtime.env, 1)
    clock.advance(timedelta(seconds=runtime.settings.outbox_stale_seconds + 1))
    stale = client.get("/readyz")
    # Still ready (the process serves fine), but it says what is wrong.
    assert stale.status_code == 200
    body = stale.json()
    [warning] = body["warnings"]
    assert "the outbox is stale" in warning and "is a worker running?" in warning
    assert body["outbox"]["depth"] == 1
    assert "threadline_outbox_overdue_seconds 601.0" in client.get("/metrics").text
    # A worker catches up: no warning.
    email_worker(runtime, sink).run_once()
    assert "warnings" not in client.get("/readyz").json()


def test_messages_backing_off_do_not_make_readyz_fail(
    db: Session, runtime: Runtime, clock: FrozenClock, sink: SmtpSink
) -> None:
    client = TestClient(create_app(runtime))
    replies(db, runtime.env, 1)
    sink.answer("451 4.3.0 down")
    worker = email_worker(
        runtime, sink, retry=RetryPolicy(base_seconds=3600, cap_seconds=3600, max_attempts=5)
    )
    worker.run_once()
    (row,) = rows(runtime)
    clock.set(row.next_attempt_at - timedelta(seconds=1))  # long queued, not yet due
    assert "warnings" not in client.get("/readyz").json()


# The command


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_threadline_worker_delivers_and_stops_on_sigterm(
    database_url: str, tmp_path: Path, sink: SmtpSink
) -> None:
    environment = {
        **os.environ,
        "THREADLINE_ENV": "test",
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_DATA_DIR": str(tmp_path / "data"),
        "THREADLINE_SMTP_RELAY_URL": sink.url(),
    }
    settings = Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path / "data",
        smtp_relay_url=sink.url(),
    )
    runtime = Runtime.start(settings)  # the real clock, as the command's
    try:
        with runtime.db.session() as db:
            replies(db, runtime.env, 2)
    finally:
        runtime.close()
    log = tmp_path / "worker.log"
    metrics = f"127.0.0.1:{free_port()}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(THREADLINE), "worker", "--metrics", metrics],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            sink.wait_for(2, timeout=20)
            # What the worker did is on its own /metrics, with the outbox it watches.
            figures = _scrape_until(f"http://{metrics}/metrics", SENT_TWO)
            assert "threadline_outbox_depth 0.0" in figures
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(10)
    assert code == 0, log.read_text()
    assert len(sink.received) == 2
    engine_check = Runtime.start(settings)
    try:
        with engine_check.db.reading() as read:
            sent = read.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state == OutboxState.SENT)
            )
        assert sent == 2
    finally:
        engine_check.close()


SENT_TWO = 'threadline_outbox_deliveries_total{channel="email",outcome="sent"} 2.0'


def _scrape_until(url: str, line: str, seconds: float = 10.0) -> str:
    """The page at `url` once it holds `line` (the bookkeeping follows the send)."""
    deadline = time.monotonic() + seconds
    page = ""
    while time.monotonic() < deadline:
        try:
            page = httpx.get(url, timeout=5).text
        except httpx.TransportError:
            page = ""  # not listening yet
        if line in page.splitlines():
            return page
        time.sleep(0.1)
    raise AssertionError(f"{line!r} not in {url} within {seconds} s:\n{page}")


class _Died(BaseException):
    """The process dying in the middle of a send: nothing after it runs."""


def test_the_configured_claim_is_how_long_a_killed_workers_message_waits(
    db: Session, settings: Settings, clock: FrozenClock, sink: SmtpSink
) -> None:
    """THREADLINE_OUTBOX_CLAIM_SECONDS: a worker that dies holding a claim delays the
    message that long; then another worker sends it, once."""

    class DiesMidSend:
        def send(self, outbound: Outbound) -> DeliveryResult:
            raise _Died

    configured = settings.model_copy(
        update={"outbox_claim_seconds": 120, "smtp_relay_url": sink.url()}
    )
    runtime = Runtime.start(configured, clock=clock)
    try:
        replies(db, runtime.env, 1)
        doomed = build_worker(runtime)
        doomed.senders = {Channel.EMAIL: DiesMidSend()}  # type: ignore[dict-item]
        with pytest.raises(_Died):
            doomed.run_once()
        survivor = build_worker(runtime)
        clock.advance(timedelta(seconds=119))
        assert survivor.run_once() == 0 and sink.received == []
        clock.advance(timedelta(seconds=2))
        assert survivor.run_once() == 1
        assert len(sink.received) == 1 and rows(runtime)[0].state is OutboxState.SENT
    finally:
        runtime.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_away_while_a_send_is_recorded_does_not_send_it_twice(
    db: Session, settings: Settings, clock: FrozenClock, sink: SmtpSink
) -> None:
    """PostgreSQL restarting just after the relay took a reply: the worker keeps trying
    to record the send until the database answers again, so when the claim lapses there
    is nothing left to send a second time."""
    target = make_url(settings.database_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        through_proxy = target.set(host="127.0.0.1", port=proxy.port)
        runtime = Runtime.start(
            settings.model_copy(
                update={"database_url": through_proxy.render_as_string(hide_password=False)}
            ),
            clock=clock,
        )
        try:
            replies(db, runtime.env, 1)
            relay = SmtpSender(sink.url(), mail_domain=settings.mail_domain, timeout=10)

            class DatabaseGoesAway:
                def send(self, outbound: Outbound) -> DeliveryResult:
                    result = relay.send(outbound)
                    proxy.cut()
                    threading.Timer(1.5, proxy.restore).start()
                    return result

            worker = Worker(runtime, "w1", {Channel.EMAIL: DatabaseGoesAway()})  # type: ignore[dict-item]
            assert worker.run_once() == 1
            assert [row.state for row in rows(runtime)] == [OutboxState.SENT]
            clock.advance(timedelta(seconds=worker.lease_seconds + 1))
            assert email_worker(runtime, sink, "w2").run_once() == 0
            assert len(sink.received) == 1
        finally:
            runtime.close()
