"""The outbox's life: workers claim due messages, and record what the provider answered:
sent, worth another try later (exponential back-off with full jitter), or failed for
good. A failure is never silent: the touch says so, an internal note on the case says
so, and the case comes back to its owner's attention. Later reports from the provider
(delivered, read, a bounce) find their message by the provider's id.

Claiming is bookkeeping, not a change anyone needs to read about later, so it writes no
audit row; every outcome does."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work
from threadline.actions.cases import _move_status
from threadline.channels.base import DeliveryResult, IdentityRef, Outbound
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import Case, OutboxMessage, Touch
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    OutboxState,
    TouchKind,
)

# Longest provider error kept on a row, a touch or a note.
MAX_ERROR = 1000
# Statuses that bring a case whose reply failed back to its owner.
_BACK_TO_OWNER = frozenset({CaseStatus.PENDING, CaseStatus.RESOLVED})
# Payload keys that become Outbound fields; everything else travels in Outbound.meta.
_OUTBOUND_FIELDS = frozenset({"to", "text", "subject", "public"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a message is tried. The n-th retry waits a random
    time between 0 and min(cap, base * 2^(n-1)) ("full jitter"): retries spread out
    instead of hammering a provider that just came back all at the same second.

    With the defaults a message is tried 12 times over roughly 2.5 hours on average
    (5 at most) before it fails for good: long enough to ride out a relay's restart or
    an afternoon's outage, short enough that the agent learns of a dead address today."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    max_attempts: int = 12

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError("back-off needs 0 < base_seconds <= cap_seconds")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def ceiling(self, attempts: int) -> float:
        """The longest wait after the `attempts`-th failed try."""
        exponent = min(max(attempts - 1, 0), 62)
        return float(min(self.cap_seconds, self.base_seconds * 2**exponent))

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        return timedelta(seconds=(rng or random).uniform(0, self.ceiling(attempts)))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class Claimed:
    """A message a worker now holds until `claimed_until`, to send outside any
    transaction and then record."""

    outbox_id: int
    touch_id: int
    channel: Channel
    attempts: int
    claimed_until: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    def outbound(self) -> Outbound:
        """What the channel's sender gets. Raises KeyError/ValueError on a malformed
        payload, which the worker records as a final failure."""
        to = self.payload["to"]
        return Outbound(
            outbox_id=self.outbox_id,
            touch_id=self.touch_id,
            channel=self.channel,
            to=IdentityRef(IdentityKind(to["kind"]), str(to["value"]), to.get("name")),
            text=str(self.payload["text"]),
            subject=self.payload.get("subject") or None,
            public=bool(self.payload.get("public", False)),
            meta={k: v for k, v in self.payload.items() if k not in _OUTBOUND_FIELDS},
        )


@dataclass(frozen=True)
class Recorded:
    """What became of a message after an attempt or a report."""

    outbox_id: int
    touch_id: int
    state: OutboxState
    delivery: Delivery
    attempts: int
    next_attempt_at: datetime | None = None
    error: str | None = None


def _worker_actor(worker_id: str) -> Actor:
    return Actor(label=f"worker:{worker_id}"[:80])


def _error_text(error: str | None, fallback: str) -> str:
    text = " ".join((error or "").split()) or fallback
    return text[:MAX_ERROR]


@action
def claim_outbox(
    db: Session, env: Env, worker_id: str, *, limit: int, lease_seconds: int
) -> list[Claimed]:
    """Claim up to `limit` messages that are due (pending, next attempt reached, not
    claimed or their claim lapsed) for `lease_seconds`, in one transaction.

    On PostgreSQL rows another worker is claiming right now are skipped (FOR UPDATE SKIP
    LOCKED), so workers never wait on each other and never get the same row; on SQLite
    the writing session's BEGIN IMMEDIATE makes claimers take turns. A worker that died
    holding a claim only delays its messages until the lease runs out."""
    if not worker_id or len(worker_id) > 80:
        raise InvalidInput("a worker id is 1 to 80 characters")
    if limit < 1 or lease_seconds < 1:
        raise InvalidInput("limit and lease_seconds must be positive")
    with unit_of_work(db, env, _worker_actor(worker_id)) as unit:
        now = unit.now
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.state == OutboxState.PENDING,
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if db.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        until = now + timedelta(seconds=lease_seconds)
        claimed = []
        for row in db.scalars(query):
            row.claimed_by = worker_id
            row.claimed_until = until
            claimed.append(
                Claimed(
                    outbox_id=row.id,
                    touch_id=row.touch_id,
                    channel=row.channel,
                    attempts=row.attempts,
                    claimed_until=until,
                    payload=dict(row.payload),
                )
            )
        return claimed


def _held_by(
    unit: Unit, outbox_id: int, worker_id: str, *, lock_case: bool = False
) -> tuple[OutboxMessage, Touch, Case]:
    """The message, its touch and its case, locked, if `worker_id` still holds the claim.
    A claim that lapsed but that nobody took over is still this worker's: recording it
    is what keeps the message from being sent again."""
    db = unit.db
    row = db.get(OutboxMessage, outbox_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(f"outbox message {outbox_id} does not exist")
    if row.state is not OutboxState.PENDING or row.claimed_by != worker_id:
        holder = row.claimed_by or "nobody"
        raise Conflict(
            f"outbox message {outbox_id} is not claimed by {worker_id} "
            f"(state {row.state.value}, claimed by {holder})"
        )
    touch, case = _touch_and_case(unit, row, lock_case=lock_case)
    return row, touch, case


def _touch_and_case(
    unit: Unit, row: OutboxMessage, *, lock_case: bool = False
) -> tuple[Touch, Case]:
    """The message's touch, locked, and its case, locked only where it may change (a
    failure moves its status): many replies on one case are recorded side by side."""
    touch = unit.db.get(Touch, row.touch_id, with_for_update=True, populate_existing=True)
    if touch is None:
        raise NotFound(f"touch {row.touch_id} does not exist")
    case = unit.db.get(Case, touch.case_id, with_for_update=lock_case, populate_existing=True)
    if case is None:
        raise NotFound(f"case {touch.case_id} does not exist")
    return touch, case


def _emit_delivery(unit: Unit, case: Case, touch: Touch, row: OutboxMessage, **data: Any) -> None:
    unit.emit(
        "delivery.updated",
        case_id=case.id,
        customer_id=case.customer_id,
        touch_id=touch.id,
        outbox_id=row.id,
        channel=row.channel.value,
        delivery=(touch.delivery or Delivery.QUEUED).value,
        error=touch.delivery_error,
        **data,
    )


def _recipient(row: OutboxMessage) -> str:
    to = row.payload.get("to") if isinstance(row.payload, dict) else None
    return str(to.get("value")) if isinstance(to, dict) and to.get("value") else "the customer"


def _fail_touch(unit: Unit, case: Case, touch: Touch, row: OutboxMessage, error: str) -> None:
    """A reply that will not arrive: the touch says failed, an internal note says what
    happened, and a case that was waiting on the customer or done goes back to open, in
    front of its owner. `delivery.updated` and the note's `touch.created` tell the desk."""
    touch.delivery = Delivery.FAILED
    touch.delivery_error = error
    written = touch.occurred_at.strftime("%Y-%m-%d %H:%M UTC")
    note = Touch(
        case_id=case.id,
        channel=touch.channel,
        direction=Direction.INTERNAL,
        kind=TouchKind.NOTE,
        public=False,
        text=(f"The reply of {written} to {_recipient(row)} could not be delivered: {error}")[
            : MAX_ERROR + 200
        ],
        occurred_at=unit.now,
        created_at=unit.now,
        meta={"failed_touch_id": touch.id, "outbox_id": row.id},
    )
    unit.db.add(note)
    unit.db.flush()
    if case.status in _BACK_TO_OWNER:
        _move_status(unit, case, CaseStatus.OPEN)
    case.updated_at = unit.now
    unit.audit(
        "delivery.failed",
        "case",
        case.id,
        touch_id=touch.id,
        outbox_id=row.id,
        note_id=note.id,
        error=error,
    )
    _emit_delivery(unit, case, touch, row)
    unit.emit(
        "touch.created",
        case_id=case.id,
        customer_id=case.customer_id,
        touch_id=note.id,
        channel=note.channel.value,
        direction=Direction.INTERNAL.value,
        private=True,
    )


def _raise_delivery(touch: Touch, status: Delivery) -> bool:
    """Provider statuses arrive out of order; a touch's status only moves up the ladder
    (queued, sent, delivered, read, failed). Answers whether it moved."""
    current = touch.delivery or Delivery.QUEUED
    if status.rank <= current.rank:
        return False
    touch.delivery = status
    return True


def _recorded(row: OutboxMessage, touch: Touch) -> Recorded:
    return Recorded(
        outbox_id=row.id,
        touch_id=touch.id,
        state=row.state,
        delivery=touch.delivery or Delivery.QUEUED,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.state is OutboxState.PENDING else None,
        error=row.last_error,
    )


@action
def record_delivery(
    db: Session,
    env: Env,
    outbox_id: int,
    result: DeliveryResult,
    *,
    worker_id: str,
    retry: RetryPolicy = DEFAULT_RETRY,
    rng: random.Random | None = None,
) -> Recorded:
    """What the provider answered for a message this worker claimed.

    Accepted (any status but failed): the message is sent, the touch takes the status
    and the provider's id is kept for later reports. A failure worth retrying waits for
    its back-off; after `retry.max_attempts` tries, or at once for a final failure, the
    message has failed, with the note and the case's return to its owner. Only the
    holder of the claim may record (Conflict otherwise)."""
    with unit_of_work(db, env, _worker_actor(worker_id)) as unit:
        failing = result.status is Delivery.FAILED
        row, touch, case = _held_by(unit, outbox_id, worker_id, lock_case=failing)
        row.claimed_by = None
        row.claimed_until = None
        row.attempts += 1
        if not failing:
            row.state = OutboxState.SENT
            row.sent_at = unit.now
            row.provider_ref = (result.external_id or "")[:255] or None
            row.last_error = None
            _raise_delivery(touch, result.status)
            touch.delivery_error = None
            unit.audit(
                "delivery.sent",
                "case",
                case.id,
                touch_id=touch.id,
                outbox_id=row.id,
                provider_ref=row.provider_ref,
                attempts=row.attempts,
            )
            _emit_delivery(unit, case, touch, row)
            outcome = "sent"
        elif result.retry and row.attempts < retry.max_attempts:
            error = _error_text(result.error, "the provider refused the message for now")
            row.last_error = error
            row.next_attempt_at = unit.now + retry.delay(row.attempts, rng)
            # Still queued, but the desk shows why it has not gone yet.
            touch.delivery_error = f"not sent yet, trying again: {error}"
            unit.audit(
                "delivery.deferred",
                "case",
                case.id,
                touch_id=touch.id,
                outbox_id=row.id,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at.isoformat(),
                error=error,
            )
            _emit_delivery(
                unit,
                case,
                touch,
                row,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at.isoformat(),
            )
            outcome = "retry"
        else:
            error = _error_text(result.error, "the provider refused the message")
            if result.retry:
                error = f"{error} (gave up after {row.attempts} attempts)"
            row.state = OutboxState.FAILED
            row.last_error = error
            _fail_touch(unit, case, touch, row, error)
            outcome = "failed"
        recorded = _recorded(row, touch)
    env.metrics.deliveries.labels(row.channel.value, outcome).inc()
    return recorded


@action
def hold_outbox(db: Session, env: Env, outbox_id: int, *, worker_id: str, reason: str) -> Recorded:
    """Park a claimed message that cannot be sent as things are (its channel has no
    provider configured): state held, the reason on the row and on the touch, which
    stays queued. release_held() puts it back once the channel works."""
    with unit_of_work(db, env, _worker_actor(worker_id)) as unit:
        row, touch, case = _held_by(unit, outbox_id, worker_id)
        error = _error_text(reason, "held")
        row.claimed_by = None
        row.claimed_until = None
        row.state = OutboxState.HELD
        row.last_error = error
        touch.delivery_error = error
        unit.audit(
            "delivery.held", "case", case.id, touch_id=touch.id, outbox_id=row.id, error=error
        )
        _emit_delivery(unit, case, touch, row, held=True)
        recorded = _recorded(row, touch)
    env.metrics.deliveries.labels(row.channel.value, "held").inc()
    return recorded


@action
def release_held(db: Session, env: Env, channels: Iterable[Channel], *, limit: int = 500) -> int:
    """Held messages of `channels` (now configured) become due again, oldest first, up to
    `limit` per call; answers how many."""
    wanted = [Channel(c) for c in channels]
    if not wanted:
        return 0
    with unit_of_work(db, env, Actor.system()) as unit:
        rows = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.HELD, OutboxMessage.channel.in_(wanted))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        for row in rows:
            touch, case = _touch_and_case(unit, row)
            row.state = OutboxState.PENDING
            row.next_attempt_at = unit.now
            row.last_error = None
            touch.delivery_error = None
            unit.audit("delivery.released", "case", case.id, touch_id=touch.id, outbox_id=row.id)
            _emit_delivery(unit, case, touch, row)
        return len(rows)


def _ref_variants(provider_ref: str) -> list[str]:
    """A Message-ID may be quoted with or without its angle brackets."""
    text = provider_ref.strip()
    bare = text.strip("<>").strip()
    return list(dict.fromkeys([text, bare, f"<{bare}>"]))


@action
def record_delivery_report(
    db: Session,
    env: Env,
    *,
    provider_ref: str,
    status: Delivery,
    error: str | None,
    actor: Actor | None = None,
) -> Recorded:
    """A later word from the provider about a sent message (a status callback, a bounce,
    a read receipt), found by the provider's id. Statuses only move up the ladder, so a
    late "sent" never overwrites "delivered"; a failure after the message was sent (a
    bounce) fails the touch with the same note as a failed send, once."""
    if not provider_ref.strip():
        raise InvalidInput("a delivery report needs the provider's message id")
    status = Delivery(status)
    with unit_of_work(db, env, actor or Actor.system()) as unit:
        row = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.provider_ref.in_(_ref_variants(provider_ref)))
            .order_by(OutboxMessage.id.desc())
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise NotFound(f"no sent message has the provider id {provider_ref!r}")
        touch, case = _touch_and_case(unit, row, lock_case=status is Delivery.FAILED)
        if status is Delivery.FAILED:
            if touch.delivery is not Delivery.FAILED:
                reason = _error_text(error, "the provider reported the message undeliverable")
                row.state = OutboxState.FAILED
                row.last_error = reason
                _fail_touch(unit, case, touch, row, reason)
        elif _raise_delivery(touch, status):
            unit.audit(
                "delivery.reported",
                "case",
                case.id,
                touch_id=touch.id,
                outbox_id=row.id,
                delivery=status.value,
            )
            _emit_delivery(unit, case, touch, row)
        return _recorded(row, touch)
