"""Touches as the JSON API answers them: one case's, or every case's of one customer,
oldest first, a page at a time, in three queries a page (touches with their authors,
their attachments, and the existence check of the case or customer).

`private` says whether the caller may read internal notes and system events
(Permission.READ_PRIVATE); without it only customer-facing touches are listed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import Agent, Attachment, Case, Customer, Identity, Touch, format_ref
from threadline.queries.api_cases import Key, Slice, after_key, customer_facing
from threadline.vocabulary import Channel, Delivery, Direction, IdentityKind, TouchKind


@dataclass(frozen=True)
class Person:
    type: Literal["customer", "agent", "system"]
    id: int | None
    name: str


@dataclass(frozen=True)
class IdentityRow:
    kind: IdentityKind
    value: str  # as the customer gave it


@dataclass(frozen=True)
class CallRow:
    ring_seconds: int | None
    wait_seconds: int | None
    hold_seconds: int | None
    talk_seconds: int | None


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool


@dataclass(frozen=True)
class TouchRow:
    id: int
    case_id: int
    case_ref: str
    channel: Channel
    direction: Direction
    kind: TouchKind
    public: bool
    subject: str | None
    text: str
    html: str | None  # sanitised when it was received
    author: Person
    identity: IdentityRow | None  # whom the customer wrote from, or whom a reply went to
    logged_by: Person | None  # the clerk who logged a shop visit
    occurred_at: datetime
    delivery: Delivery | None
    delivery_error: str | None
    call: CallRow | None
    outcome: str | None
    attachments: tuple[AttachmentRow, ...]


def case_touches(
    db: Session, case_id: int, *, private: bool, after: Key | None, limit: int
) -> Slice[TouchRow]:
    """A case's touches, oldest first: three queries."""
    if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFound(f"case {case_id} does not exist")
    return _touches(db, Touch.case_id == case_id, private=private, after=after, limit=limit)


def customer_touches(
    db: Session, customer_id: int, *, private: bool, after: Key | None, limit: int
) -> Slice[TouchRow]:
    """Every touch of every case of one customer, all channels, oldest first."""
    if db.scalar(select(Customer.id).where(Customer.id == customer_id)) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return _touches(db, Case.customer_id == customer_id, private=private, after=after, limit=limit)


def _touches(
    db: Session,
    scope: ColumnElement[bool],
    *,
    private: bool,
    after: Key | None,
    limit: int,
) -> Slice[TouchRow]:
    query = (
        select(
            Touch,
            Case.customer_id,
            Customer.name.label("customer_name"),
            Agent.name.label("agent_name"),
            Identity.kind.label("identity_kind"),
            Identity.display.label("identity_display"),
        )
        .join(Case, Case.id == Touch.case_id)
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(Agent, Agent.id == Touch.agent_id)
        .outerjoin(Identity, Identity.id == Touch.identity_id)
        .where(scope)
    )
    if not private:
        query = query.where(*customer_facing())
    if after is not None:
        query = query.where(after_key(Touch.occurred_at, Touch.id, after, ascending=True))
    rows = db.execute(query.order_by(Touch.occurred_at, Touch.id).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    files = _attachments(db, [row.Touch.id for row in page])
    items = tuple(
        _touch_row(
            row.Touch,
            customer=Person("customer", row.customer_id, row.customer_name),
            agent_name=row.agent_name,
            identity=(
                IdentityRow(row.identity_kind, row.identity_display)
                if row.identity_kind is not None
                else None
            ),
            attachments=files.get(row.Touch.id, ()),
        )
        for row in page
    )
    next_key = (items[-1].occurred_at, items[-1].id) if more and items else None
    return Slice(items, next_key)


def _touch_row(
    touch: Touch,
    *,
    customer: Person,
    agent_name: str | None,
    identity: IdentityRow | None,
    attachments: Sequence[AttachmentRow],
) -> TouchRow:
    agent = Person("agent", touch.agent_id, agent_name or "") if touch.agent_id else None
    if touch.direction is Direction.IN:
        # The customer's own contact; at the shop a clerk may have logged it for them.
        author, logged_by = customer, agent
    else:
        # Replies and notes are an agent's; a touch with no agent is Threadline's own.
        author, logged_by = agent or Person("system", None, "Threadline"), None
    figures = (
        touch.call_ring_seconds,
        touch.call_wait_seconds,
        touch.call_hold_seconds,
        touch.call_talk_seconds,
    )
    is_call = touch.kind is TouchKind.CALL or any(f is not None for f in figures)
    return TouchRow(
        id=touch.id,
        case_id=touch.case_id,
        case_ref=format_ref(touch.case_id),
        channel=touch.channel,
        direction=touch.direction,
        kind=touch.kind,
        public=touch.public,
        subject=touch.subject,
        text=touch.text,
        html=touch.html,
        author=author,
        identity=identity,
        logged_by=logged_by,
        occurred_at=touch.occurred_at,
        delivery=touch.delivery,
        delivery_error=touch.delivery_error,
        call=CallRow(*figures) if is_call else None,
        outcome=touch.outcome,
        attachments=tuple(attachments),
    )


def _attachments(db: Session, touch_ids: list[int]) -> dict[int, list[AttachmentRow]]:
    """The files of a page of touches in one query (a page is at most 200 touches, well
    under SQLite's bound-parameter limit)."""
    found: dict[int, list[AttachmentRow]] = defaultdict(list)
    if not touch_ids:
        return found
    for file in db.scalars(
        select(Attachment).where(Attachment.touch_id.in_(touch_ids)).order_by(Attachment.id)
    ):
        found[file.touch_id].append(
            AttachmentRow(
                id=file.id,
                filename=file.filename,
                content_type=file.content_type,
                size=file.size,
                inline=file.inline,
            )
        )
    return found
