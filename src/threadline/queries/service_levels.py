"""Service levels as the admin API shows them: the business calendars, each with how many
policies count in it, and the policies with their calendar's name and their escalation
written out whole. Pages ordered by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import Calendar, ServicePolicy
from threadline.service_levels.book import Escalation
from threadline.vocabulary import Channel, ClockKind, Priority


@dataclass(frozen=True)
class CalendarView:
    id: int
    name: str
    time_zone: str
    hours: dict[str, list[list[str]]]
    holidays_country: str | None
    closures: list[str]
    policies: int  # how many policies count in it
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PolicyView:
    id: int
    channel: Channel | None
    segment: str | None
    priority: Priority | None
    calendar_id: int | None
    calendar_name: str | None
    targets: dict[str, int]
    warn_at: float
    escalation: dict[str, object]
    created_at: datetime
    updated_at: datetime


def list_calendars(
    db: Session, *, limit: int, after_id: int | None = None
) -> tuple[list[CalendarView], bool]:
    """At most `limit` calendars with ids above `after_id`, and whether more follow."""
    query = select(Calendar)
    if after_id is not None:
        query = query.where(Calendar.id > after_id)
    rows = list(db.scalars(query.order_by(Calendar.id).limit(limit + 1)))
    page = rows[:limit]
    users = _policies_per_calendar(db, [row.id for row in page])
    return [_calendar(row, users.get(row.id, 0)) for row in page], len(rows) > limit


def calendar_view(db: Session, calendar_id: int) -> CalendarView:
    row = db.get(Calendar, calendar_id)
    if row is None:
        raise NotFound(f"calendar {calendar_id} does not exist")
    return _calendar(row, _policies_per_calendar(db, [row.id]).get(row.id, 0))


def list_policies(
    db: Session, *, limit: int, after_id: int | None = None
) -> tuple[list[PolicyView], bool]:
    """At most `limit` policies with ids above `after_id`, and whether more follow."""
    query = select(ServicePolicy, Calendar.name).outerjoin(
        Calendar, Calendar.id == ServicePolicy.calendar_id
    )
    if after_id is not None:
        query = query.where(ServicePolicy.id > after_id)
    rows = db.execute(query.order_by(ServicePolicy.id).limit(limit + 1)).all()
    return [_policy(row, name) for row, name in rows[:limit]], len(rows) > limit


def policy_view(db: Session, policy_id: int) -> PolicyView:
    found = db.execute(
        select(ServicePolicy, Calendar.name)
        .outerjoin(Calendar, Calendar.id == ServicePolicy.calendar_id)
        .where(ServicePolicy.id == policy_id)
    ).first()
    if found is None:
        raise NotFound(f"service-level policy {policy_id} does not exist")
    return _policy(found[0], found[1])


def _policies_per_calendar(db: Session, calendar_ids: Sequence[int]) -> dict[int, int]:
    if not calendar_ids:
        return {}
    counted = db.execute(
        select(ServicePolicy.calendar_id, func.count())
        .where(ServicePolicy.calendar_id.in_(calendar_ids))
        .group_by(ServicePolicy.calendar_id)
    )
    return {calendar_id: count for calendar_id, count in counted if calendar_id is not None}


def _calendar(row: Calendar, policies: int) -> CalendarView:
    return CalendarView(
        id=row.id,
        name=row.name,
        time_zone=row.time_zone,
        hours={day: [list(span) for span in spans] for day, spans in row.hours.items()},
        holidays_country=row.holidays_country,
        closures=list(row.closures),
        policies=policies,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _policy(row: ServicePolicy, calendar_name: str | None) -> PolicyView:
    return PolicyView(
        id=row.id,
        channel=row.channel,
        segment=row.segment,
        priority=row.priority,
        calendar_id=row.calendar_id,
        calendar_name=calendar_name,
        # Clock kinds in their declared order, whatever order the JSON column kept.
        targets={
            kind.value: row.targets[kind.value] for kind in ClockKind if kind.value in row.targets
        },
        warn_at=row.warn_at,
        escalation=Escalation.from_json(row.escalation or {}).to_json(),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
