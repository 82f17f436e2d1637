"""Writing customer-facing touches onto a case, with the channel switch that a change of
channel (or from a public post to a private message) makes. Shared by receive(),
reply() and the shop counter; not a public action itself."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from threadline.actions.base import Unit
from threadline.models import ChannelSwitch
from threadline.queries.replies import Facing
from threadline.vocabulary import Channel, SwitchReason


class NewTouch(NamedTuple):
    id: int
    case_id: int
    channel: Channel
    public: bool
    occurred_at: datetime
    agent_id: int | None


_ANNOUNCED = (
    select(ChannelSwitch)
    .where(ChannelSwitch.case_id == bindparam("case_id"), ChannelSwitch.to_touch_id.is_(None))
    .order_by(ChannelSwitch.id.desc())
    .limit(1)
)


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
