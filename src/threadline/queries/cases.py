"""Cases as the desk lists them, and one case's header. The list is three queries for a
whole page (cases, their channels, their last touches), never one per row."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import Agent, Case, CaseTag, Customer, Segment, Touch, format_ref
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Direction,
    JourneyStage,
    Priority,
    TouchKind,
)

MAX_CASES = 200
PREVIEW_CHARS = 160


@dataclass(frozen=True)
class LastTouch:
    channel: Channel
    direction: Direction
    kind: TouchKind
    preview: str
    occurred_at: datetime


@dataclass(frozen=True)
class CaseRow:
    id: int
    ref: str
    customer_id: int
    customer_name: str
    segment_key: str
    segment_name: str
    channels: tuple[Channel, ...]  # customer-facing channels, in the order first used
    status: CaseStatus
    priority: Priority
    owner_name: str | None
    subject: str
    topic: str | None
    updated_at: datetime
    last_touch: LastTouch | None


def recent_cases(
    db: Session,
    *,
    status: CaseStatus | None = None,
    customer_id: int | None = None,
    limit: int = 100,
) -> list[CaseRow]:
    """The most recently updated cases, newest first."""
    if not 0 < limit <= MAX_CASES:
        raise ValueError(f"limit must be 1-{MAX_CASES}")
    query = (
        select(
            Case.id,
            Case.customer_id,
            Case.status,
            Case.priority,
            Case.subject,
            Case.topic,
            Case.updated_at,
            Customer.name.label("customer_name"),
            Segment.key.label("segment_key"),
            Segment.name.label("segment_name"),
            Agent.name.label("owner_name"),
        )
        .join(Customer, Customer.id == Case.customer_id)
        .join(Segment, Segment.key == Customer.segment_key)
        .outerjoin(Agent, Agent.id == Case.owner_id)
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Case.status == status)
    if customer_id is not None:
        query = query.where(Case.customer_id == customer_id)
    rows = db.execute(query).all()
    ids = [row.id for row in rows]
    channels = channels_by_case(db, ids)
    last = last_touches(db, ids)
    return [
        CaseRow(
            id=row.id,
            ref=format_ref(row.id),
            customer_id=row.customer_id,
            customer_name=row.customer_name,
            segment_key=row.segment_key,
            segment_name=row.segment_name,
            channels=channels.get(row.id, ()),
            status=row.status,
            priority=row.priority,
            owner_name=row.owner_name,
            subject=row.subject,
            topic=row.topic,
            updated_at=row.updated_at,
            last_touch=last.get(row.id),
        )
        for row in rows
    ]


def channels_by_case(db: Session, case_ids: list[int]) -> dict[int, tuple[Channel, ...]]:
    """The customer-facing channels of each case, in the order they were first used, in
    one query for the whole list. Notes and system events carry a channel too, but the
    customer never met us there."""
    if not case_ids:
        return {}
    rows = db.execute(
        select(
            Touch.case_id,
            Touch.channel,
            func.min(Touch.occurred_at).label("first_at"),
            func.min(Touch.id).label("first_id"),
        )
        .where(Touch.case_id.in_(case_ids), *customer_facing())
        .group_by(Touch.case_id, Touch.channel)
    ).all()
    ordered: dict[int, list[tuple[datetime, int, Channel]]] = defaultdict(list)
    for row in rows:
        ordered[row.case_id].append((row.first_at, row.first_id, row.channel))
    return {
        case_id: tuple(channel for _, _, channel in sorted(used))
        for case_id, used in ordered.items()
    }


def last_touches(db: Session, case_ids: list[int], *, private: bool = True) -> dict[int, LastTouch]:
    """Each case's latest touch in one query (a window function, which SQLite has had
    since 3.25): notes included when `private`, else only the customer-facing touches."""
    if not case_ids:
        return {}
    visible = () if private else customer_facing()
    ranked = (
        select(
            Touch.case_id,
            Touch.channel,
            Touch.direction,
            Touch.kind,
            Touch.outcome,
            Touch.occurred_at,
            # Only the start of the text: a pasted email can be a megabyte.
            func.substr(Touch.text, 1, PREVIEW_CHARS * 2).label("head"),
            func.row_number()
            .over(
                partition_by=Touch.case_id,
                order_by=(Touch.occurred_at.desc(), Touch.id.desc()),
            )
            .label("position"),
        )
        .where(Touch.case_id.in_(case_ids), *visible)
        .subquery()
    )
    rows = db.execute(select(ranked).where(ranked.c.position == 1)).all()
    return {
        row.case_id: LastTouch(
            channel=row.channel,
            direction=row.direction,
            kind=row.kind,
            preview=preview(row.head or row.outcome or ""),
            occurred_at=row.occurred_at,
        )
        for row in rows
    }


def customer_facing() -> tuple[ColumnElement[bool], ...]:
    """What a caller without READ_PRIVATE may see: the customer-facing touches."""
    return (Touch.direction != Direction.INTERNAL, Touch.kind != TouchKind.EVENT)


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of at most `limit` characters, whitespace collapsed."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class CaseHeader:
    id: int
    ref: str
    customer_id: int
    subject: str
    status: CaseStatus
    priority: Priority
    topic: str | None
    journey_stage: JourneyStage | None
    owner_id: int | None
    owner_name: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    satisfaction: int | None
    tags: tuple[str, ...]
    previous_case_id: int | None

    @property
    def previous_case_ref(self) -> str | None:
        return format_ref(self.previous_case_id) if self.previous_case_id else None


def case_header(db: Session, case_id: int) -> CaseHeader:
    row = db.execute(
        select(Case, Agent.name.label("owner_name"))
        .outerjoin(Agent, Agent.id == Case.owner_id)
        .where(Case.id == case_id)
    ).first()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    case = row[0]
    return CaseHeader(
        id=case.id,
        ref=case.ref,
        customer_id=case.customer_id,
        subject=case.subject,
        status=case.status,
        priority=case.priority,
        topic=case.topic,
        journey_stage=case.journey_stage,
        owner_id=case.owner_id,
        owner_name=row.owner_name,
        created_at=case.created_at,
        updated_at=case.updated_at,
        resolved_at=case.resolved_at,
        satisfaction=case.satisfaction,
        tags=case_tags(db, case_id),
        previous_case_id=case.previous_case_id,
    )


def case_tags(db: Session, case_id: int) -> tuple[str, ...]:
    """A case's tags, alphabetically."""
    return tuple(
        db.scalars(select(CaseTag.tag).where(CaseTag.case_id == case_id).order_by(CaseTag.tag))
    )
