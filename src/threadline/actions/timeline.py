"""Writing customer-facing touches onto a case, with the channel switch that a change of
channel (or from a public post to a private message) makes. Shared by receive(),
reply() and the shop counter; not a public action itself."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from threadline.actions.base import Unit
from threadline.models import ChannelSwitch, Touch
from threadline.prepared import Prepared
from threadline.vocabulary import Channel, Direction, SwitchReason, TouchKind


class Facing(NamedTuple):
    id: int
    channel: Channel
    public: bool


class NewTouch(NamedTuple):
    id: int
    case_id: int
    channel: Channel
    public: bool
    occurred_at: datetime
    agent_id: int | None


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
_ANNOUNCED = (
    select(ChannelSwitch)
    .where(ChannelSwitch.case_id == bindparam("case_id"), ChannelSwitch.to_touch_id.is_(None))
    .order_by(ChannelSwitch.id.desc())
    .limit(1)
)


def previous_facing(db: Session, case_id: int, at: datetime | None = None) -> Facing | None:
    """The case's latest customer-facing touch (at or before `at`)."""
    if at is None:
        row = _FACING.first(db.connection(), {"case_id": case_id})
    else:
        row = _FACING_BEFORE.first(db.connection(), {"case_id": case_id, "at": at})
    return Facing(*row) if row else None


def announced_switch(db: Session, case_id: int) -> ChannelSwitch | None:
    """An agent's announced move that no touch on the new channel has followed yet."""
    return db.scalars(_ANNOUNCED, {"case_id": case_id}).first()


def link_switch(
    unit: Unit,
    touch: NewTouch,
    previous: Facing | None,
    reason: SwitchReason,
) -> ChannelSwitch | None:
    """Record the switch that `touch` makes, if any. A move an agent announced with
    switch_channel() is completed by the first touch on its channel, keeping the reason
    the agent gave."""
    # The first touch of a case, or one on the same medium as the last, moves nothing:
    # an announced move would have been completed by that earlier touch already.
    if previous is None or (previous.channel, previous.public) == (touch.channel, touch.public):
        return None
    db = unit.db
    announced = announced_switch(db, touch.case_id)
    if (
        announced is not None
        and announced.to_channel is touch.channel
        and announced.to_public == touch.public
    ):
        announced.to_touch_id = touch.id
        _audit_switch(unit, announced, touch)
        return announced
    switch = ChannelSwitch(
        case_id=touch.case_id,
        from_channel=previous.channel,
        to_channel=touch.channel,
        from_public=previous.public,
        to_public=touch.public,
        reason=reason,
        at=touch.occurred_at,
        from_touch_id=previous.id,
        to_touch_id=touch.id,
        agent_id=touch.agent_id,
    )
    db.add(switch)
    db.flush()
    _audit_switch(unit, switch, touch)
    return switch


def _audit_switch(unit: Unit, switch: ChannelSwitch, touch: NewTouch) -> None:
    unit.audit(
        "case.channel_switched",
        "case",
        touch.case_id,
        switch_id=switch.id,
        from_channel=switch.from_channel.value,
        to_channel=switch.to_channel.value,
        reason=switch.reason.value,
    )
