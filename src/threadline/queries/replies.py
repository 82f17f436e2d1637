"""Where a reply goes when the agent does not say: the customer's last written channel, to
the identity they wrote from. Read by the reply action and by the desk's composer, so that
what the composer offers first is what the action would do."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from threadline.identities import takes_messages
from threadline.models import Identity, Touch
from threadline.prepared import Prepared
from threadline.vocabulary import REACHABLE_BY, Channel, Direction, IdentityKind, TouchKind

# How far back the default channel looks for a written touch.
RECENT_TOUCHES = 20


class Facing(NamedTuple):
    id: int
    channel: Channel
    public: bool


_LATEST_FACING = (
    select(Touch.id, Touch.channel, Touch.public)
    .where(
        Touch.case_id == bindparam("case_id"),
        Touch.direction != Direction.INTERNAL,
        Touch.kind != TouchKind.EVENT,
    )
    .order_by(Touch.occurred_at.desc(), Touch.id.desc())
    .limit(1)
)
_FACING_BEFORE = Prepared(_LATEST_FACING.where(Touch.occurred_at <= bindparam("at")))
_FACING = Prepared(_LATEST_FACING)


def previous_facing(db: Session, case_id: int, at: datetime | None = None) -> Facing | None:
    """The case's latest customer-facing touch (at or before `at`)."""
    if at is None:
        row = _FACING.first(db.connection(), {"case_id": case_id})
    else:
        row = _FACING_BEFORE.first(db.connection(), {"case_id": case_id, "at": at})
    return Facing(*row) if row else None


def default_reply_channel(db: Session, case_id: int) -> Channel | None:
    """The channel of the customer's last written message on this case; failing that, of
    the last written touch either way; None when the case has no written conversation."""
    for direction in ((Direction.IN,), (Direction.IN, Direction.OUT)):
        for channel in db.scalars(
            select(Touch.channel)
            .where(Touch.case_id == case_id, Touch.direction.in_(direction))
            .order_by(Touch.occurred_at.desc(), Touch.id.desc())
            .limit(RECENT_TOUCHES)
        ):
            if channel.written:
                return channel
    return None


def default_recipient(
    db: Session, case_id: int, customer_id: int, channel: Channel
) -> Identity | None:
    """Whom a reply on `channel` goes to: the identity the customer last wrote from on
    that channel, else their newest identity that the channel reaches (for a text message,
    a number that takes messages before a landline); None when none reaches it."""
    kinds = REACHABLE_BY.get(channel, ())
    last_from = db.scalar(
        select(Touch.identity_id)
        .where(
            Touch.case_id == case_id,
            Touch.channel == channel,
            Touch.direction == Direction.IN,
            Touch.identity_id.is_not(None),
        )
        .order_by(Touch.occurred_at.desc(), Touch.id.desc())
        .limit(1)
    )
    if last_from is not None:
        identity = db.get(Identity, last_from)
        if identity is not None and identity.customer_id == customer_id and identity.kind in kinds:
            return identity
    for kind in kinds:
        candidates = db.scalars(
            select(Identity)
            .where(Identity.customer_id == customer_id, Identity.kind == kind)
            .order_by(Identity.id.desc())
        ).all()
        if kind is IdentityKind.PHONE and channel is not Channel.PHONE:
            # A text message to a landline is lost: prefer numbers that take messages.
            candidates = sorted(candidates, key=lambda i: not takes_messages(i.value))
        if candidates:
            return candidates[0]
    return None
