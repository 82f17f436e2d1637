"""The one timeline: touches oldest first, with a marker wherever the conversation moved
to another channel. Serves the case page (one case) and the customer page (every case of
one customer)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime
from typing import ClassVar

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from threadline.models import Agent, Case, ChannelSwitch, Touch, format_ref
from threadline.queries.cases import customer_facing
from threadline.queries.touches import CallFigures as CallFigures  # a TouchView's call
from threadline.queries.touches import (
    TouchFacts,
    TouchRow,
    touch_rows,
    touch_select,
)
from threadline.vocabulary import Channel, Direction, SwitchReason

# At most this many touches on one page; it also keeps the attachment look-up (one IN
# list of touch ids) under the 999 bound parameters that older SQLite builds allow.
MAX_TOUCHES = 500


@dataclass(frozen=True, kw_only=True)
class TouchView(TouchFacts):
    """A touch as the page shows it: the facts of touches.py, with names for people."""

    is_switch: ClassVar[bool] = False

    author: str  # the agent's name, else the customer's identity as they gave it
    logged_by: str | None  # the clerk who logged a shop visit on the customer's behalf

    @property
    def internal(self) -> bool:
        return self.direction is Direction.INTERNAL


@dataclass(frozen=True)
class SwitchView:
    is_switch: ClassVar[bool] = True

    id: int
    case_id: int
    case_ref: str
    from_channel: Channel
    to_channel: Channel
    from_public: bool
    to_public: bool
    reason: SwitchReason
    at: datetime
    agent_name: str | None
    # The first touch on the new channel; None while an agent's announced move waits.
    to_touch_id: int | None

    @property
    def pending(self) -> bool:
        return self.to_touch_id is None


TimelineEntry = TouchView | SwitchView


@dataclass(frozen=True)
class Timeline:
    entries: tuple[TimelineEntry, ...]
    touch_count: int
    # True when older touches were left out to keep the page to MAX_TOUCHES.
    truncated: bool


def case_timeline(
    db: Session, case_id: int, *, private: bool = True, limit: int = MAX_TOUCHES
) -> Timeline:
    """One case's story. Without `private` (a role that may not read internal notes)
    only the customer-facing touches are on it."""
    return _timeline(db, Touch.case_id == case_id, ChannelSwitch.case_id == case_id, limit, private)


def customer_timeline(
    db: Session, customer_id: int, *, private: bool = True, limit: int = MAX_TOUCHES
) -> Timeline:
    """Every touch of every case of the customer, across channels, oldest first."""
    return _timeline(
        db, Case.customer_id == customer_id, Case.customer_id == customer_id, limit, private
    )


def _timeline(
    db: Session,
    touch_filter: ColumnElement[bool],
    switch_filter: ColumnElement[bool],
    limit: int,
    private: bool,
) -> Timeline:
    if not 0 < limit <= MAX_TOUCHES:
        raise ValueError(f"limit must be 1-{MAX_TOUCHES}")
    if not private:
        touch_filter = and_(touch_filter, *customer_facing())
    touches, truncated = _touches(db, touch_filter, limit)
    switches = channel_switches(db, switch_filter)
    shown = {touch.id for touch in touches}
    oldest = touches[0].occurred_at if touches else None
    if truncated:
        # Keep only the markers that belong to the part of the story on the page.
        switches = [
            s
            for s in switches
            if s.to_touch_id in shown or (s.pending and oldest is not None and s.at >= oldest)
        ]
    return Timeline(
        entries=tuple(_interleave(touches, switches)),
        touch_count=len(touches),
        truncated=truncated,
    )


def _touches(
    db: Session, touch_filter: ColumnElement[bool], limit: int
) -> tuple[list[TouchView], bool]:
    rows = db.execute(
        touch_select(touch_filter)
        # Newest first so that the limit keeps the latest part of a long story.
        .order_by(Touch.occurred_at.desc(), Touch.id.desc())
        .limit(limit + 1)
    ).all()
    truncated = len(rows) > limit
    rows = list(reversed(rows[:limit]))
    return [_page_view(touch) for touch in touch_rows(db, rows)], truncated


def _page_view(touch: TouchRow) -> TouchView:
    if touch.direction is Direction.IN:
        # The identity the customer wrote from, as they gave it, else their name.
        author = (touch.identity.value if touch.identity else "") or touch.author.name
    else:
        # System events have no agent; they are Threadline's own doing.
        author = touch.author.name or "Threadline"
    facts = {f.name: getattr(touch, f.name) for f in fields(TouchFacts)}
    return TouchView(
        **facts,
        author=author,
        logged_by=touch.logged_by.name if touch.logged_by else None,
    )


def channel_switches(db: Session, switch_filter: ColumnElement[bool]) -> list[SwitchView]:
    """The channel switches in `switch_filter`, oldest first (the page's markers, and the
    switches of a case as the API answers it)."""
    rows = db.execute(
        select(ChannelSwitch, Agent.name)
        .join(Case, Case.id == ChannelSwitch.case_id)
        .outerjoin(Agent, Agent.id == ChannelSwitch.agent_id)
        .where(switch_filter)
        .order_by(ChannelSwitch.at, ChannelSwitch.id)
    ).all()
    return [
        SwitchView(
            id=switch.id,
            case_id=switch.case_id,
            case_ref=format_ref(switch.case_id),
            from_channel=switch.from_channel,
            to_channel=switch.to_channel,
            from_public=switch.from_public,
            to_public=switch.to_public,
            reason=switch.reason,
            at=switch.at,
            agent_name=agent_name,
            to_touch_id=switch.to_touch_id,
        )
        for switch, agent_name in rows
    ]


def _interleave(touches: list[TouchView], switches: list[SwitchView]) -> list[TimelineEntry]:
    """A completed switch goes right before the touch that made it (an announced move
    keeps the time it was announced, which may be well before); one still waiting goes
    where its time puts it."""
    before: dict[int, list[SwitchView]] = defaultdict(list)
    pending: list[SwitchView] = []
    for switch in switches:
        if switch.to_touch_id is None:
            pending.append(switch)
        else:
            before[switch.to_touch_id].append(switch)
    entries: list[TimelineEntry] = []
    waiting = iter(sorted(pending, key=lambda s: (s.at, s.id)))
    next_pending = next(waiting, None)
    for touch in touches:
        while next_pending is not None and next_pending.at < touch.occurred_at:
            entries.append(next_pending)
            next_pending = next(waiting, None)
        entries.extend(before.pop(touch.id, []))
        entries.append(touch)
    if next_pending is not None:
        entries.append(next_pending)
        entries.extend(waiting)
    return entries
