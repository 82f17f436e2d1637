"""One touch as every reader shows it, computed in one place: who wrote it (and who
logged it for them), the identity it came from or went to, its call figures, its case's
ref and its files. The JSON API (api_touches.py) answers these rows as they are; the
page timeline (timeline.py) shows the same facts with names in place of people."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, select
from sqlalchemy.orm import Session

from threadline.models import Agent, Attachment, Case, Customer, Identity, Touch, format_ref
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
class CallFigures:
    ring_seconds: int | None
    wait_seconds: int | None
    hold_seconds: int | None
    talk_seconds: int | None
    answered_by: int | None = None  # the agent who picked up (or placed the call)
    holds: int | None = None
    recording_url: str | None = None


@dataclass(frozen=True)
class AttachmentView:
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool


@dataclass(frozen=True, kw_only=True)
class TouchFacts:
    """What every reader shows of a touch, whoever it names as its author."""

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
    occurred_at: datetime
    delivery: Delivery | None
    delivery_error: str | None
    call: CallFigures | None
    outcome: str | None
    attachments: tuple[AttachmentView, ...]
    quoted: str | None = None  # an email's quoted history and signature, cut off its text
    has_raw: bool = False  # the message as it arrived can be downloaded


@dataclass(frozen=True, kw_only=True)
class TouchRow(TouchFacts):
    author: Person
    identity: IdentityRow | None  # whom the customer wrote from, or whom a reply went to
    logged_by: Person | None  # the clerk who logged a shop visit


def touch_select(scope: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """The touches in `scope` with what touch_rows needs of their case, customer, agent
    and identity; the caller adds the order and the limit."""
    return (
        select(
            Touch.id,
            Touch.case_id,
            Touch.channel,
            Touch.direction,
            Touch.kind,
            Touch.public,
            Touch.subject,
            Touch.text,
            Touch.html,
            Touch.occurred_at,
            Touch.delivery,
            Touch.delivery_error,
            Touch.call_ring_seconds,
            Touch.call_wait_seconds,
            Touch.call_hold_seconds,
            Touch.call_talk_seconds,
            Touch.outcome,
            Touch.meta,
            Touch.agent_id,
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


def touch_rows(db: Session, rows: Sequence[Row[*tuple[Any, ...]]]) -> list[TouchRow]:
    """Rows of touch_select as TouchRows, in the same order, with their files (one more
    query, an IN list of the touch ids: callers keep a page well under SQLite's
    bound-parameter limit)."""
    files = _attachments(db, [row.id for row in rows])
    return [_touch_row(row, files.get(row.id, ())) for row in rows]


def _touch_row(row: Row[*tuple[Any, ...]], attachments: Sequence[AttachmentView]) -> TouchRow:
    customer = Person("customer", row.customer_id, row.customer_name)
    agent = Person("agent", row.agent_id, row.agent_name or "") if row.agent_id else None
    if row.direction is Direction.IN:
        # The customer's own contact; at the shop a clerk may have logged it for them.
        author, logged_by = customer, agent
    else:
        # Replies and notes are an agent's; a touch with no agent is Threadline's own.
        author, logged_by = agent or Person("system", None, "Threadline"), None
    figures = (
        row.call_ring_seconds,
        row.call_wait_seconds,
        row.call_hold_seconds,
        row.call_talk_seconds,
    )
    is_call = row.kind is TouchKind.CALL or any(f is not None for f in figures)
    meta = row.meta if isinstance(row.meta, dict) else {}
    return TouchRow(
        id=row.id,
        case_id=row.case_id,
        case_ref=format_ref(row.case_id),
        channel=row.channel,
        direction=row.direction,
        kind=row.kind,
        public=row.public,
        subject=row.subject,
        text=row.text,
        html=row.html,
        author=author,
        identity=(
            IdentityRow(row.identity_kind, row.identity_display)
            if row.identity_kind is not None
            else None
        ),
        logged_by=logged_by,
        occurred_at=row.occurred_at,
        delivery=row.delivery,
        delivery_error=row.delivery_error,
        call=CallFigures(
            *figures,
            answered_by=_int_or_none(meta.get("answered_by")),
            holds=_int_or_none(meta.get("holds")),
            recording_url=_text_or_none(meta.get("recording_url")),
        )
        if is_call
        else None,
        outcome=row.outcome,
        attachments=tuple(attachments),
        quoted=_text_or_none(meta.get("quoted")),
        has_raw="mail_id" in meta and row.kind is not TouchKind.EVENT,
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


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
            Attachment.inline,
        )
        .where(Attachment.touch_id.in_(touch_ids))
        .order_by(Attachment.id)
    ):
        found[row.touch_id].append(
            AttachmentView(
                id=row.id,
                filename=row.filename,
                content_type=row.content_type,
                size=row.size,
                inline=row.inline,
            )
        )
    return found
