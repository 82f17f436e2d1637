"""Cases as the JSON API answers them: the inbox, one case, and what an assignment is
decided on. Lists are keyset-paginated (the sort key of the last row goes back as the
cursor) and each page is a fixed number of queries however many rows it holds; the
touch lists in api_touches.py page the same way.

`private` says whether the caller may read internal notes and system events
(Permission.READ_PRIVATE); without it previews show only customer-facing touches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar, cast

from sqlalchemy import ColumnElement, Row, Select, SQLColumnExpression, and_, or_, select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import (
    Agent,
    Case,
    ChannelSwitch,
    Customer,
    Touch,
)
from threadline.models.people import agent_teams
from threadline.queries.cases import (
    LastTouch,
    case_tags,
    channels_by_case,
    customer_facing,
    last_touches,
)
from threadline.queries.clocks import ServiceLevelView, service_levels
from threadline.queries.timeline import SwitchView, channel_switches
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    JourneyStage,
    Priority,
)

T = TypeVar("T")

# The sort key of a row: (time, id). The id breaks ties, so the order is total.
Key = tuple[datetime, int]


@dataclass(frozen=True)
class Slice(Generic[T]):
    """One page of a list, and the key to continue after it (None on the last page)."""

    items: tuple[T, ...]
    next_key: Key | None


class InboxSort(StrEnum):
    UPDATED = "updated"  # most recently changed first
    # Earliest due first (the case's earliest running clock, whatever its channel); cases
    # with no running clock follow, oldest first.
    DUE = "due"


# The sort key of a case with no running clock in the `due` order: after every due time.
NOT_DUE = datetime.max.replace(tzinfo=UTC)


class SlaState(StrEnum):
    BREACHED = "breached"
    DUE_SOON = "due_soon"


NOBODY: Literal["none"] = "none"


@dataclass(frozen=True)
class InboxFilter:
    statuses: tuple[CaseStatus, ...] = ()  # any of these; empty means every status
    owner: int | Literal["none"] | None = None  # an agent id, NOBODY, or anyone
    channel: Channel | None = None  # a customer-facing touch on this channel
    segment: str | None = None  # the customer's segment key
    sla: SlaState | None = None
    sort: InboxSort = InboxSort.UPDATED
    # The desk's views (queries/inbox.py): cases owned by a member of, or routed to, any
    # of these teams; and cases whose clock has passed its warning time, breached or not.
    teams: tuple[int, ...] = ()
    at_risk: bool = False


@dataclass(frozen=True)
class CaseItem:
    id: int
    ref: str
    customer_id: int
    customer_name: str
    segment: str
    owner_id: int | None
    owner_name: str | None
    status: CaseStatus
    priority: Priority
    topic: str | None
    subject: str
    channels: tuple[Channel, ...]
    last_touch: LastTouch | None
    version: int
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None
    service_levels: tuple[ServiceLevelView, ...]


def inbox(
    db: Session,
    filters: InboxFilter,
    *,
    private: bool,
    after: Key | None,
    limit: int,
    now: datetime,
) -> Slice[CaseItem]:
    """The cases matching `filters`, one page of them: four queries (cases, their
    channels, their last visible touches, their clocks), five when a `due` page runs from
    the cases with a due time into those without one."""
    query = (
        select(Case, Customer.name, Customer.segment_key, Agent.name)
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(Agent, Agent.id == Case.owner_id)
        .where(*inbox_conditions(filters, now))
    )
    if filters.sort is InboxSort.DUE:
        rows = _by_due(db, query, filters, after, limit)
    else:
        if after is not None:
            query = query.where(after_key(Case.updated_at, Case.id, after, ascending=False))
        order = (Case.updated_at.desc(), Case.id.desc())
        rows = list(db.execute(query.order_by(*order).limit(limit + 1)).all())
    page, more = rows[:limit], len(rows) > limit
    ids = [case.id for case, *_ in page]
    channels = channels_by_case(db, ids)
    last = last_touches(db, ids, private=private)
    clocks = service_levels(db, ids, now, live_only=True)
    items = tuple(
        CaseItem(
            id=case.id,
            ref=case.ref,
            customer_id=case.customer_id,
            customer_name=customer_name,
            segment=segment,
            owner_id=case.owner_id,
            owner_name=owner_name,
            status=case.status,
            priority=case.priority,
            topic=case.topic,
            subject=case.subject,
            channels=channels.get(case.id, ()),
            last_touch=last.get(case.id),
            version=case.version,
            created_at=case.created_at,
            updated_at=case.updated_at,
            due_at=case.due_at,
            service_levels=clocks.get(case.id, ()),
        )
        for case, customer_name, segment, owner_name in page
    )
    next_key = _sort_key(items[-1], filters.sort) if more and items else None
    return Slice(items, next_key)


def _sort_key(item: CaseItem, sort: InboxSort) -> Key:
    if sort is InboxSort.DUE:
        return (item.due_at or NOT_DUE, item.id)
    return (item.updated_at, item.id)


_InboxQuery = Select[Case, str, str, str]
_InboxRow = Row[Case, str, str, str]


def _by_due(
    db: Session, query: _InboxQuery, filters: InboxFilter, after: Key | None, limit: int
) -> list[_InboxRow]:
    """Earliest due first, then the cases with no running clock by id. Two range reads
    of the (owner, due_at, id) indexes rather than one sort, because the databases put
    NULLs at opposite ends and neither would read `NULLS LAST` from the index."""
    rows: list[_InboxRow] = []
    if after is None or after[0] != NOT_DUE:
        timed = query.where(Case.due_at.is_not(None))
        if after is not None:
            due_at = cast("SQLColumnExpression[datetime]", Case.due_at)
            timed = timed.where(after_key(due_at, Case.id, after, ascending=True))
        rows = list(
            db.execute(timed.order_by(Case.due_at.asc(), Case.id.asc()).limit(limit + 1)).all()
        )
    if len(rows) > limit or filters.sla is not None or filters.at_risk:
        return rows
    untimed = query.where(Case.due_at.is_(None))
    if after is not None and after[0] == NOT_DUE:
        untimed = untimed.where(Case.id > after[1])
    rest = db.execute(untimed.order_by(Case.id.asc()).limit(limit + 1 - len(rows))).all()
    return rows + list(rest)


def inbox_conditions(filters: InboxFilter, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.sla is SlaState.BREACHED:
        conditions.append(Case.due_at <= now)
    elif filters.sla is SlaState.DUE_SOON:
        conditions.extend((Case.warns_at <= now, Case.due_at > now))
    if filters.at_risk:
        conditions.append(Case.warns_at <= now)
    if filters.statuses:
        conditions.append(Case.status.in_(filters.statuses))
    if filters.owner == NOBODY:
        conditions.append(Case.owner_id.is_(None))
    elif filters.owner is not None:
        conditions.append(Case.owner_id == filters.owner)
    if filters.teams:
        members = select(agent_teams.c.agent_id).where(agent_teams.c.team_id.in_(filters.teams))
        conditions.append(or_(Case.team_id.in_(filters.teams), Case.owner_id.in_(members)))
    if filters.segment is not None:
        conditions.append(Customer.segment_key == filters.segment)
    if filters.channel is not None:
        conditions.append(
            select(Touch.id)
            .where(Touch.case_id == Case.id, Touch.channel == filters.channel, *customer_facing())
            .exists()
        )
    return conditions


def after_key(
    at: SQLColumnExpression[datetime],
    id_: SQLColumnExpression[int],
    key: Key,
    *,
    ascending: bool,
) -> ColumnElement[bool]:
    """Rows strictly after `key` in (at, id) order. Spelled out rather than as a row
    value comparison so that both databases use the (…, at, id) indexes the same way."""
    when, last_id = key
    if ascending:
        return or_(at > when, and_(at == when, id_ > last_id))
    return or_(at < when, and_(at == when, id_ < last_id))


@dataclass(frozen=True)
class CaseDetail:
    id: int
    ref: str
    customer_id: int
    owner_id: int | None
    status: CaseStatus
    priority: Priority
    topic: str | None
    subject: str
    journey_stage: JourneyStage | None
    channels: tuple[Channel, ...]
    switches: tuple[SwitchView, ...]
    tags: tuple[str, ...]
    satisfaction: int | None
    previous_case_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    due_at: datetime | None
    service_levels: tuple[ServiceLevelView, ...]


def case_detail(db: Session, case_id: int, now: datetime) -> CaseDetail:
    """One case with its channels, switches, tags and clocks: five queries."""
    case = db.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return CaseDetail(
        id=case.id,
        ref=case.ref,
        customer_id=case.customer_id,
        owner_id=case.owner_id,
        status=case.status,
        priority=case.priority,
        topic=case.topic,
        subject=case.subject,
        journey_stage=case.journey_stage,
        channels=channels_by_case(db, [case.id]).get(case.id, ()),
        switches=tuple(channel_switches(db, ChannelSwitch.case_id == case_id)),
        tags=case_tags(db, case_id),
        satisfaction=case.satisfaction,
        previous_case_id=case.previous_case_id,
        version=case.version,
        created_at=case.created_at,
        updated_at=case.updated_at,
        resolved_at=case.resolved_at,
        due_at=case.due_at,
        service_levels=service_levels(db, [case.id], now).get(case.id, ()),
    )


@dataclass(frozen=True)
class CaseState:
    id: int
    owner_id: int | None
    version: int


def case_state(db: Session, case_id: int) -> CaseState:
    """Who owns a case and its version: what an assignment is decided on."""
    row = db.execute(select(Case.owner_id, Case.version).where(Case.id == case_id)).first()
    if row is None:
        raise NotFound(f"case {case_id} does not exist")
    return CaseState(id=case_id, owner_id=row.owner_id, version=row.version)
