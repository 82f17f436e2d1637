"""Writing customer-facing touches onto a case, with the channel switch that a change of
channel (or from a public post to a private message) makes. Shared by receive(),
reply() and the shop counter; not a public action itself."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm.util import identity_key

from threadline.actions.base import Unit
from threadline.models import ChannelSwitch
from threadline.prepared import Prepared, returned_id
from threadline.queries.replies import Facing
from threadline.vocabulary import Channel, SwitchReason


class NewTouch(NamedTuple):
    id: int
    case_id: int
    channel: Channel
    public: bool
    occurred_at: datetime
    agent_id: int | None


class Switch(NamedTuple):
    """A channel switch as recorded: what the actions answer and audit."""

    id: int
    from_channel: Channel
    to_channel: Channel
    reason: SwitchReason


# Each customer-facing touch may make a switch, so these are plain statements rather
# than ORM work (bench/ingest.py: ~190 us a switch through the ORM).
_ANNOUNCED = Prepared(
    select(
        ChannelSwitch.id,
        ChannelSwitch.from_channel,
        ChannelSwitch.to_channel,
        ChannelSwitch.to_public,
        ChannelSwitch.reason,
    )
    .where(ChannelSwitch.case_id == bindparam("case_id"), ChannelSwitch.to_touch_id.is_(None))
    .order_by(ChannelSwitch.id.desc())
    .limit(1)
)
_COMPLETE = Prepared(
    update(ChannelSwitch)
    .where(ChannelSwitch.id == bindparam("b_id"))
    .values(to_touch_id=bindparam("b_touch_id"))
)
_INSERT_SWITCH = Prepared(
    insert(ChannelSwitch).returning(ChannelSwitch.id),
    (
        "case_id",
        "from_channel",
        "to_channel",
        "from_public",
        "to_public",
        "reason",
        "at",
        "from_touch_id",
        "to_touch_id",
        "agent_id",
    ),
)


def link_switch(
    unit: Unit,
    touch: NewTouch,
    previous: Facing | None,
    reason: SwitchReason,
) -> Switch | None:
    """Record the switch that `touch` makes, if any. A move an agent announced with
    switch_channel() is completed by the first touch on its channel, keeping the reason
    the agent gave."""
    # The first touch of a case, or one on the same medium as the last, moves nothing:
    # an announced move would have been completed by that earlier touch already.
    if previous is None or (previous.channel, previous.public) == (touch.channel, touch.public):
        return None
    conn = unit.conn
    announced = _ANNOUNCED.first(conn, {"case_id": touch.case_id})
    if announced is not None and (announced[2], announced[3]) == (touch.channel, touch.public):
        switch = Switch(announced[0], announced[1], announced[2], announced[4])
        _COMPLETE.execute(conn, {"b_id": switch.id, "b_touch_id": touch.id})
        # The session may hold the switch from the action that announced it.
        held = unit.db.identity_map.get(identity_key(ChannelSwitch, switch.id))
        if held is not None:
            unit.db.expire(held, ["to_touch_id"])
    else:
        row = _INSERT_SWITCH.first(
            conn,
            {
                "case_id": touch.case_id,
                "from_channel": previous.channel,
                "to_channel": touch.channel,
                "from_public": previous.public,
                "to_public": touch.public,
                "reason": reason,
                "at": touch.occurred_at,
                "from_touch_id": previous.id,
                "to_touch_id": touch.id,
                "agent_id": touch.agent_id,
            },
        )
        switch = Switch(returned_id(row), previous.channel, touch.channel, reason)
    unit.audit(
        "case.channel_switched",
        "case",
        touch.case_id,
        switch_id=switch.id,
        from_channel=switch.from_channel.value,
        to_channel=switch.to_channel.value,
        reason=switch.reason.value,
    )
    return switch
