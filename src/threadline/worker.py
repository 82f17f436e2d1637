"""Background work: delivering the outbox, and periodic jobs that one process at a time
runs. Any number of workers may run against one PostgreSQL database.

A round: claim a batch of due messages (one short transaction), send each through its
channel's Sender outside any transaction, and record each answer at once (one short
transaction each). A message whose channel has no provider configured is held, with the
reason on its touch, until a worker that has one starts."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from threadline import leases
from threadline.actions.base import with_retry
from threadline.actions.outbox import (
    DEFAULT_RETRY,
    Claimed,
    RetryPolicy,
    claim_outbox,
    hold_outbox,
    record_delivery,
    release_held,
)
from threadline.channels.base import DeliveryResult, Sender
from threadline.config import Settings
from threadline.errors import Conflict
from threadline.events import EventsLost, Subscription
from threadline.queries.outbox import any_due
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, Delivery, Direction

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_SIZE = 10
# A claim lasts this long; a worker that dies holding one delays its messages this much.
LEASE_SECONDS = 300
# A claimed message is only sent while at least this much of its claim is left, so a
# send (bounded by the sender's own timeout, 30 s for SMTP) ends before the claim does
# and no other worker can have taken the message over meanwhile.
SEND_MARGIN_SECONDS = 60
POLL_SECONDS = 2.0
# Recording a provider's answer while the database is away is tried again, with pauses
# doubling up to the longest, until this long before the claim lapses.
RECORD_MARGIN_SECONDS = 5
RECORD_FIRST_PAUSE = 0.2
RECORD_LONGEST_PAUSE = 2.0
# How often a waiting worker looks at its stop flag and at new events.
_TICK = 0.25


MAIL_POLL_SECONDS = 20.0
# Service-level warnings and breaches are raised within this many seconds of their time.
SWEEP_SECONDS = 5.0
SWEEP_BATCH = 1000
MAIL_RETRY_SECONDS = 60.0


def new_worker_id() -> str:
    """Unique per process and start: host, pid and a random suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def senders_from_settings(settings: Settings) -> dict[Channel, Sender]:
    """A Sender for every channel whose provider is configured; the others are off."""
    senders: dict[Channel, Sender] = {}
    if settings.smtp_relay_url:
        from threadline.channels.email.outgoing import SmtpSender

        senders[Channel.EMAIL] = SmtpSender(
            settings.smtp_relay_url, mail_domain=settings.mail_domain
        )
    from threadline.channels.twilio.sms import TwilioSmsSender

    if (sms := TwilioSmsSender.from_settings(settings)) is not None:
        senders[Channel.SMS] = sms
    from threadline.channels.twilio.calling import TwilioCallSender

    if (calls := TwilioCallSender.from_settings(settings)) is not None:
        senders[Channel.PHONE] = calls
    return senders


def poll_mailboxes(runtime: Runtime) -> int:
    """One pass over every mailbox with an IMAP URL; a mailbox that fails is recorded
    on it (imap_error) and the others go on. Answers how many messages were stored."""
    from threadline.channels.email.imap_poll import poll_mailbox
    from threadline.queries.mail import polled_mailbox_ids

    with runtime.db.reading() as read:
        mailbox_ids = polled_mailbox_ids(read)
    stored = 0
    for mailbox_id in mailbox_ids:
        try:
            stored += poll_mailbox(runtime, mailbox_id)
        except Exception:
            log.warning("mailbox %s: poll failed", mailbox_id, exc_info=True)
    return stored


def retry_stored_mail(runtime: Runtime) -> int:
    """Mail stored but not processed (a process stopped in between) or failed, again."""
    from threadline.channels.email.intake import retry_stored

    return retry_stored(runtime)


def sweep_service_levels(runtime: Runtime) -> int:
    """Warnings and breaches whose time has come, batch after batch until none is left
    (a worker that was down catches up at once). Answers how many clocks it checked."""
    from threadline.actions.clocks import sweep_clocks

    checked = 0
    while True:
        with runtime.db.session() as db:
            result = sweep_clocks(db, runtime.env, limit=SWEEP_BATCH)
        checked += result.checked
        if result.checked < SWEEP_BATCH:
            return checked


def standard_jobs() -> tuple[Job, ...]:
    """What every worker does besides delivering, one worker at a time per job."""
    # Both import Job from here.
    from threadline.routing.jobs import routing_job
    from threadline.search_index import search_index_job

    return (
        Job("mail:poll", MAIL_POLL_SECONDS, poll_mailboxes),
        Job("mail:retry", MAIL_RETRY_SECONDS, retry_stored_mail),
        Job("sla:sweep", SWEEP_SECONDS, sweep_service_levels),
        routing_job(),
        search_index_job(),
    )


@dataclass(frozen=True)
class Job:
    """Something to do every `every_seconds`, in one process at a time: the worker that
    takes the lease `job:<name>` for the period runs it; the others skip it."""

    name: str
    every_seconds: float
    run: Callable[[Runtime], object]


class Worker:
    def __init__(
        self,
        runtime: Runtime,
        worker_id: str,
        senders: Mapping[Channel, Sender],
        *,
        batch_size: int = BATCH_SIZE,
        lease_seconds: int = LEASE_SECONDS,
        send_margin_seconds: float = SEND_MARGIN_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        retry: RetryPolicy = DEFAULT_RETRY,
        jobs: Sequence[Job] = (),
    ) -> None:
        if send_margin_seconds >= lease_seconds:
            raise ValueError("the send margin must be shorter than the claim's lease")
        self.runtime = runtime
        self.worker_id = worker_id
        self.senders = dict(senders)
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.send_margin_seconds = send_margin_seconds
        self.poll_seconds = poll_seconds
        self.retry = retry
        self.jobs = tuple(jobs)
        self._next_run = dict.fromkeys((job.name for job in self.jobs), 0.0)
        # Set while run_forever is asked to stop: a record that cannot be written then
        # gives up at once instead of waiting for the database.
        self._stopping = threading.Event()

    def run_once(self) -> int:
        """Claim one batch of due messages and deliver it; answers how many were claimed."""
        env = self.runtime.env
        with self.runtime.db.reading() as read:
            if not any_due(read, env.clock.now()):
                return 0
        with self.runtime.db.session() as db:
            claimed = claim_outbox(
                db,
                env,
                self.worker_id,
                limit=self.batch_size,
                lease_seconds=self.lease_seconds,
            )
        for item in claimed:
            left = (item.claimed_until - env.clock.now()).total_seconds()
            if left < self.send_margin_seconds:
                # Sending now could outlast the claim; leave it to lapse and be claimed
                # again rather than risk two workers sending it.
                log.warning("outbox %s: claim nearly lapsed, left for later", item.outbox_id)
                continue
            self._deliver(item)
        return len(claimed)

    def release_held(self) -> int:
        """Messages held for want of a provider go back in line for the channels this
        worker can send on."""
        if not self.senders:
            return 0
        with self.runtime.db.session() as db:
            count = release_held(db, self.runtime.env, self.senders)
        if count:
            log.info("released %d held messages for %s", count, ", ".join(self.senders))
        return count

    def run_forever(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set: a batch, the due periodic jobs, then a short wait
        that ends early when an agent's reply is queued."""
        log.info(
            "worker %s delivering on: %s",
            self.worker_id,
            ", ".join(sorted(self.senders)) or "nothing (no provider configured)",
        )
        self._stopping = stop
        self._guard("releasing held messages", self.release_held)
        subscription = self._subscribe()
        try:
            while not stop.is_set():
                claimed = self._guard("delivering the outbox", self.run_once) or 0
                self._run_jobs()
                if claimed < self.batch_size:
                    subscription = self._wait(stop, subscription)
        finally:
            if subscription is not None:
                subscription.close()
        log.info("worker %s stopped", self.worker_id)

    def _deliver(self, item: Claimed) -> None:
        env = self.runtime.env
        sender = self.senders.get(item.channel)
        if sender is None:
            reason = f"{item.channel.value} is not configured"

            def hold(db: Session) -> object:
                return hold_outbox(db, env, item.outbox_id, worker_id=self.worker_id, reason=reason)

            self._record(item, hold)
            return
        result = self._send(sender, item)

        def record(db: Session) -> object:
            return record_delivery(
                db, env, item.outbox_id, result, worker_id=self.worker_id, retry=self.retry
            )

        recorded = self._record(item, record)
        if recorded is not None:
            log.info("outbox %s (%s): %s", item.outbox_id, item.channel.value, recorded)

    def _send(self, sender: Sender, item: Claimed) -> DeliveryResult:
        try:
            outbound = item.outbound()
        except (KeyError, ValueError, TypeError) as exc:
            return DeliveryResult(
                status=Delivery.FAILED,
                error=f"the outbox message is malformed: {type(exc).__name__}: {exc}",
            )
        try:
            return sender.send(outbound)
        except Exception as exc:
            # A bug or an unexpected answer in an adapter: tried again with back-off, and
            # in the end failed visibly, rather than lost or retried in a tight loop.
            log.exception("outbox %s: the %s sender raised", item.outbox_id, item.channel.value)
            return DeliveryResult(
                status=Delivery.FAILED,
                error=f"the {item.channel.value} sender failed: {type(exc).__name__}: {exc}",
                retry=True,
            )

    def _record(self, item: Claimed, work: Callable[[Session], T]) -> T | None:
        """Bookkeeping right after the provider answered. The message has gone, so losing
        this record would send it twice: while the database is unreachable (a restart, a
        fail-over) the record is tried again until shortly before the claim lapses. Only if
        the database stays away that long is the message sent again later, with the same
        Message-ID for email, so that nothing is lost."""

        def attempt() -> T:
            with self.runtime.db.session() as db:
                return work(db)

        deadline = item.claimed_until - timedelta(seconds=RECORD_MARGIN_SECONDS)
        pause = RECORD_FIRST_PAUSE
        while True:
            try:
                return with_retry(attempt)
            except Conflict as exc:
                log.warning("outbox %s: %s", item.outbox_id, exc.message)
                return None
            except (OperationalError, InterfaceError, PoolTimeout) as exc:
                left = (deadline - self.runtime.env.clock.now()).total_seconds()
                if left <= 0 or self._stopping.is_set():
                    log.error(
                        "outbox %s: the database stayed unreachable; the message will be "
                        "sent again when its claim lapses: %s",
                        item.outbox_id,
                        exc,
                    )
                    return None
                log.warning(
                    "outbox %s: could not record the provider's answer yet, trying again: %s",
                    item.outbox_id,
                    type(exc).__name__,
                )
                self._stopping.wait(min(pause, left))
                pause = min(pause * 2, RECORD_LONGEST_PAUSE)
            except Exception:
                log.exception("outbox %s: could not record the provider's answer", item.outbox_id)
                return None

    def _run_jobs(self) -> None:
        now = time.monotonic()
        for job in self.jobs:
            if now < self._next_run[job.name]:
                continue
            self._next_run[job.name] = now + job.every_seconds

            def run(job: Job = job) -> None:
                with self.runtime.db.session() as db:
                    mine = leases.acquire(
                        db, self.runtime.env, f"job:{job.name}", self.worker_id, job.every_seconds
                    )
                if mine:
                    with leases.kept(
                        self.runtime.db.session,
                        self.runtime.env,
                        f"job:{job.name}",
                        self.worker_id,
                        job.every_seconds,
                    ):
                        job.run(self.runtime)

            self._guard(f"job {job.name}", run)

    def _subscribe(self) -> Subscription | None:
        try:
            return self.runtime.env.bus.subscribe()
        except Exception:
            log.warning("no event subscription; polling only", exc_info=True)
            return None

    def _wait(
        self, stop: threading.Event, subscription: Subscription | None
    ) -> Subscription | None:
        """Up to `poll_seconds`, ending early on stop or on an outgoing touch."""
        deadline = time.monotonic() + self.poll_seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if subscription is None:
                stop.wait(min(_TICK, left))
                continue
            try:
                event = subscription.get(timeout=min(_TICK, left))
            except EventsLost:
                return subscription  # something happened; look at the outbox now
            except Exception:
                log.warning("event subscription failed; polling only", exc_info=True)
                subscription.close()
                subscription = None
                continue
            if (
                event is not None
                and event.type == "touch.created"
                and event.data.get("direction") == Direction.OUT.value
            ):
                break
        return subscription

    def _guard(self, what: str, work: Callable[[], T]) -> T | None:
        """A failure of one round is logged and the worker carries on: the next round
        retries, and nothing claimed is lost (claims lapse)."""
        try:
            return work()
        except Exception:
            log.exception("worker %s: %s failed", self.worker_id, what)
            return None


def build_worker(runtime: Runtime) -> Worker:
    """The worker a `threadline serve` or `threadline worker` process runs: a fresh id,
    the senders its settings configure, the standard jobs and the configured claim."""
    return Worker(
        runtime,
        new_worker_id(),
        senders_from_settings(runtime.settings),
        lease_seconds=runtime.settings.outbox_claim_seconds,
        jobs=standard_jobs(),
    )


class BackgroundWorker:
    """A Worker on a daemon thread of this process, for `threadline serve`."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run_forever, args=(self._stop,), name="threadline-worker", daemon=True
        )

    def start(self) -> BackgroundWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
