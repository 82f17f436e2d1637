"""The one timeline: touches oldest first, with a marker wherever the conversation moved
to another channel. Serves the case page (one case) and the customer page (every case of
one customer)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from threadline.models import (
    Agent,
    Attachment,
    Case,
    ChannelSwitch,
    Customer,
    Identity,
    Touch,
    format_ref,
)
from threadline.vocabulary import Channel, Delivery, Direction, SwitchReason, TouchKind

# At most this many touches on one page; it also keeps the attachment look-up (one IN
# list of touch ids) under the 999 bound parameters that older SQLite builds allow.
MAX_TOUCHES = 500


@dataclass(frozen=True)
class CallFigures:
    ring_seconds: int | None
    wait_seconds: int | None
    hold_seconds: int | None
    talk_seconds: int | None


@dataclass(frozen=True)
class AttachmentView:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class TouchView:
    is_switch: ClassVar[bool] = False

    id: int
    case_id: int
    case_ref: str
    channel: Channel
    direction: Direction
    kind: TouchKind
    public: bool
    text: str
    html: str | None  # sanitised when it was received
    subject: str | None
    author: str  # the agent's name, else the customer's identity as they gave it
    logged_by: str | None  # the clerk who logged a shop visit on the customer's behalf
    occurred_at: datetime
    delivery: Delivery | None
    delivery_error: str | None
    call: CallFigures | None
    outcome: str | None
    attachments: tuple[AttachmentView, ...]

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


def case_timeline(db: Session, case_id: int, *, limit: int = MAX_TOUCHES) -> Timeline:
    return _timeline(db, Touch.case_id == case_id, ChannelSwitch.case_id == case_id, limit)


def customer_timeline(db: Session, customer_id: int, *, limit: int = MAX_TOUCHES) -> Timeline:
    """Every touch of every case of the customer, across channels, oldest first."""
    return _timeline(db, Case.customer_id == customer_id, Case.customer_id == customer_id, limit)


def _timeline(
    db: Session,
    touch_filter: ColumnElement[bool],
    switch_filter: ColumnElement[bool],
    limit: int,
) -> Timeline:
    if not 0 < limit <= MAX_TOUCHES:
        raise ValueError(f"limit must be 1-{MAX_TOUCHES}")
    touches, truncated = _touches(db, touch_filter, limit)
    switches = _switches(db, switch_filter)
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
        select(
            Touch.id,
            Touch.case_id,
            Touch.channel,
            Touch.direction,
            Touch.kind,
            Touch.public,
            Touch.text,
            Touch.html,
            Touch.subject,
            Touch.occurred_at,
            Touch.delivery,
            Touch.delivery_error,
            Touch.call_ring_seconds,
            Touch.call_wait_seconds,
            Touch.call_hold_seconds,
            Touch.call_talk_seconds,
            Touch.outcome,
            Agent.name.label("agent_name"),
            Identity.display.label("identity_display"),
            Customer.name.label("customer_name"),
        )
        .join(Case, Case.id == Touch.case_id)
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(Agent, Agent.id == Touch.agent_id)
        .outerjoin(Identity, Identity.id == Touch.identity_id)
        .where(touch_filter)
        # Newest first so that the limit keeps the latest part of a long story.
        .order_by(Touch.occurred_at.desc(), Touch.id.desc())
        .limit(limit + 1)
    ).all()
    truncated = len(rows) > limit
    rows = list(reversed(rows[:limit]))
    files = _attachments(db, [row.id for row in rows])
    views = []
    for row in rows:
        from_customer = row.direction is Direction.IN
        if from_customer:
            author = row.identity_display or row.customer_name
        else:
            # System events have no agent; they are Threadline's own doing.
            author = row.agent_name or "Threadline"
        figures = (
            row.call_ring_seconds,
            row.call_wait_seconds,
            row.call_hold_seconds,
            row.call_talk_seconds,
        )
        has_call = row.kind is TouchKind.CALL or any(f is not None for f in figures)
        views.append(
            TouchView(
                id=row.id,
                case_id=row.case_id,
                case_ref=format_ref(row.case_id),
                channel=row.channel,
                direction=row.direction,
                kind=row.kind,
                public=row.public,
                text=row.text,
                html=row.html,
                subject=row.subject,
                author=author,
                logged_by=row.agent_name if from_customer else None,
                occurred_at=row.occurred_at,
                delivery=row.delivery,
                delivery_error=row.delivery_error,
                call=CallFigures(*figures) if has_call else None,
                outcome=row.outcome,
                attachments=tuple(files.get(row.id, ())),
            )
        )
    return views, truncated


def _attachments(db: Session, touch_ids: list[int]) -> dict[int, list[AttachmentView]]:
    found: dict[int, list[AttachmentView]] = defaultdict(list)
    if not touch_ids:
        return found
    for row in db.execute(
        select(
            Attachment.touch_id,
            Attachment.id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
        )
        .where(Attachment.touch_id.in_(touch_ids))
        .order_by(Attachment.id)
    ):
        found[row.touch_id].append(
            AttachmentView(
                id=row.id, filename=row.filename, content_type=row.content_type, size=row.size
            )
        )
    return found


def _switches(db: Session, switch_filter: ColumnElement[bool]) -> list[SwitchView]:
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
