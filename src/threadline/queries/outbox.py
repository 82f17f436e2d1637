"""How the outbox stands, for /readyz and /metrics: how much waits, how old the oldest
message is, and how long the most overdue one has waited past its time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from threadline.models import OutboxMessage
from threadline.vocabulary import OutboxState


@dataclass(frozen=True)
class OutboxFigures:
    # Messages waiting to be sent, whether due now or backing off.
    depth: int
    # Age of the oldest waiting message (since it was queued); 0 when none waits.
    oldest_seconds: float
    # How long the most overdue message has been due without being sent: a worker that
    # stopped shows here within seconds, while a provider outage (messages backing off,
    # not yet due) does not.
    overdue_seconds: float
    # Messages parked because their channel has no provider configured.
    held: int


def outbox_figures(db: Session, now: datetime) -> OutboxFigures:
    """Two index-backed aggregates over the waiting and held rows only: sent and failed
    rows, which grow forever, are never counted."""
    depth, oldest, earliest_due = db.execute(
        select(
            func.count(),
            func.min(OutboxMessage.created_at),
            func.min(OutboxMessage.next_attempt_at),
        ).where(OutboxMessage.state == OutboxState.PENDING)
    ).one()
    held = db.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state == OutboxState.HELD)
    )
    return OutboxFigures(
        depth=int(depth or 0),
        oldest_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        overdue_seconds=max((now - earliest_due).total_seconds(), 0.0) if earliest_due else 0.0,
        held=int(held or 0),
    )


def any_due(db: Session, now: datetime) -> bool:
    """Whether a claim would find anything: a read, so that an idle worker's polls never
    take SQLite's write lock."""
    due = db.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == OutboxState.PENDING,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
        )
        .limit(1)
    )
    return due is not None
