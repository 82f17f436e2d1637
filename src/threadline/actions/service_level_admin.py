"""Administering service levels: the business calendars that clocks count in and the
policies that set their targets, and storing the built-in defaults so that admins see
and change what is in force.

Each change is checked inside its one transaction against everything it could disturb
(a calendar name taken, a scope another policy covers, a calendar still in use) and,
once committed, drops this process's copy of the policy book so that the next contact
follows it; other processes follow within the book's few seconds.

The 24/7 calendar is never stored: a policy without a calendar counts plain elapsed time,
which is what "24/7" means, so storing it too would give one meaning two spellings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import Calendar, Clock, Segment, ServicePolicy
from threadline.service_levels.book import Escalation
from threadline.service_levels.calendars import BusinessCalendar
from threadline.service_levels.policies import (
    ALWAYS_OPEN,
    DEFAULT_CALENDARS,
    DEFAULT_POLICIES,
    Policy,
)
from threadline.vocabulary import ClockKind

# The widths of the columns; BusinessCalendar itself would take longer names.
MAX_CALENDAR_NAME = 80
MAX_TIME_ZONE = 64
MAX_COUNTRY = 16
MAX_CLOSURES = 1000
NOTIFY = ("owner", "supervisors")
_ESCALATION_FIELDS = ("notify", "raise_priority", "reassign_offline_owner")
# The key of the PostgreSQL advisory lock that admin writes take turns on ("TLSLA").
_ADMIN_LOCK = 0x544C534C41


@dataclass(frozen=True)
class CalendarInput:
    """A calendar in the API's JSON shape: `hours` like `{"mon": [["09:00", "17:30"]]}`,
    closures as ISO dates."""

    name: str
    time_zone: str
    hours: Mapping[str, Sequence[Sequence[str]]]
    holidays_country: str | None = None
    closures: Sequence[str] = ()


@dataclass(frozen=True)
class PolicyInput:
    """A policy in the API's JSON shape: targets in seconds by clock kind; channel,
    segment and priority left out match anything; no calendar counts elapsed time (24/7);
    no escalation takes the default (notify owner and supervisors, reassign an offline
    owner's case, keep the priority)."""

    targets: Mapping[str, object]
    channel: str | None = None
    segment: str | None = None
    priority: str | None = None
    calendar_id: int | None = None
    warn_at: float = 0.8
    escalation: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Seeded:
    """What seed_default_service_levels() stored: nothing when policies existed."""

    calendars: int
    policies: int


@action
def create_calendar(db: Session, env: Env, actor: Actor, new: CalendarInput) -> Calendar:
    """A business calendar. 409 when another calendar has the name (in any case)."""
    calendar = _parse_calendar(new)

    def work() -> Calendar:
        with unit_of_work(db, env, actor) as unit:
            _take_turn(unit)
            _check_name_free(db, calendar.name, except_id=None)
            row = Calendar(**_calendar_columns(calendar), created_at=unit.now, updated_at=unit.now)
            db.add(row)
            db.flush()
            unit.audit("calendar.created", "calendar", row.id, **calendar.to_json())
            return row

    # A concurrent twin loses on the unique name; the retry answers it with a conflict.
    row = with_retry(work)
    env.book.invalidate()
    return row


@action
def update_calendar(
    db: Session, env: Env, actor: Actor, calendar_id: int, new: CalendarInput
) -> Calendar:
    """Replace a calendar whole. Clocks count in the new hours from their next start or
    resume; a rename carries along the clocks that count in it (they name their calendar)."""
    calendar = _parse_calendar(new)

    def work() -> Calendar:
        with unit_of_work(db, env, actor) as unit:
            _take_turn(unit)
            row = db.get(Calendar, calendar_id, with_for_update=True, populate_existing=True)
            if row is None:
                raise NotFound(f"calendar {calendar_id} does not exist")
            _check_name_free(db, calendar.name, except_id=row.id)
            before = _calendar_json(row)
            if row.name != calendar.name:
                db.execute(
                    update(Clock).where(Clock.calendar == row.name).values(calendar=calendar.name)
                )
            for column, value in _calendar_columns(calendar).items():
                setattr(row, column, value)
            row.updated_at = unit.now
            unit.audit(
                "calendar.updated", "calendar", row.id, before=before, after=calendar.to_json()
            )
            return row

    row = with_retry(work)
    env.book.invalidate()
    return row


@action
def delete_calendar(db: Session, env: Env, actor: Actor, calendar_id: int) -> None:
    """Remove a calendar that nothing counts in any more. 409 while a policy names it
    (point the policy elsewhere first) or a clock still runs or waits in it."""
    with unit_of_work(db, env, actor) as unit:
        _take_turn(unit)
        row = db.get(Calendar, calendar_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise NotFound(f"calendar {calendar_id} does not exist")
        users = db.scalars(
            select(ServicePolicy.id)
            .where(ServicePolicy.calendar_id == row.id)
            .order_by(ServicePolicy.id)
        ).all()
        if users:
            listed = ", ".join(f"#{policy_id}" for policy_id in users)
            raise Conflict(
                f"calendar {row.name!r} is used by service-level policies {listed}; give "
                "them another calendar or delete them first"
            )
        unfinished = db.scalar(
            select(func.count())
            .select_from(Clock)
            .where(Clock.calendar == row.name, Clock.stopped_at.is_(None))
        )
        if unfinished:
            raise Conflict(
                f"{unfinished} service-level clocks still count in calendar {row.name!r}; "
                "it can be deleted once they have stopped"
            )
        unit.audit("calendar.deleted", "calendar", row.id, **_calendar_json(row))
        db.delete(row)
    env.book.invalidate()


@action
def create_policy(db: Session, env: Env, actor: Actor, new: PolicyInput) -> ServicePolicy:
    """A service-level policy. 409 when another policy has the same channel, segment and
    priority (change that one instead); 422 for an unknown segment or calendar.

    `threadline init` stores the built-in defaults; on a database where it never ran,
    the first policy stored replaces the defaults in force."""
    policy = _parse_policy(new)
    escalation = _escalation(new.escalation)
    with unit_of_work(db, env, actor) as unit:
        _take_turn(unit)
        _check_references(db, policy, new.calendar_id)
        _check_scope_free(db, policy, except_id=None)
        row = ServicePolicy(
            **_policy_columns(policy, new.calendar_id, escalation),
            created_at=unit.now,
            updated_at=unit.now,
        )
        db.add(row)
        db.flush()
        unit.audit("service_policy.created", "service_policy", row.id, **_policy_json(row))
    env.book.invalidate()
    return row


@action
def update_policy(
    db: Session, env: Env, actor: Actor, policy_id: int, new: PolicyInput
) -> ServicePolicy:
    """Replace a policy whole. A clock keeps the target it started with, so the change
    governs clocks started after it."""
    policy = _parse_policy(new)
    escalation = _escalation(new.escalation)
    with unit_of_work(db, env, actor) as unit:
        _take_turn(unit)
        row = db.get(ServicePolicy, policy_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise NotFound(f"service-level policy {policy_id} does not exist")
        _check_references(db, policy, new.calendar_id)
        _check_scope_free(db, policy, except_id=row.id)
        before = _policy_json(row)
        for column, value in _policy_columns(policy, new.calendar_id, escalation).items():
            setattr(row, column, value)
        row.updated_at = unit.now
        unit.audit(
            "service_policy.updated",
            "service_policy",
            row.id,
            before=before,
            after=_policy_json(row),
        )
    env.book.invalidate()
    return row


@action
def delete_policy(db: Session, env: Env, actor: Actor, policy_id: int) -> None:
    """Remove a policy. Clocks it started keep their target, warning share and calendar
    (all they need to run) and are detached from it, so a breach of one escalates the
    default way; the audit row keeps the whole policy. The last policy stays (409): with
    none stored the built-in defaults would silently come back."""
    with unit_of_work(db, env, actor) as unit:
        _take_turn(unit)
        row = db.get(ServicePolicy, policy_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise NotFound(f"service-level policy {policy_id} does not exist")
        if db.scalar(select(func.count()).select_from(ServicePolicy)) == 1:
            raise Conflict(
                f"service-level policy {policy_id} is the last one; with none stored the "
                "built-in defaults apply, so change it instead of deleting it"
            )
        detached = unit.conn.execute(
            update(Clock).where(Clock.policy_id == row.id).values(policy_id=None)
        ).rowcount
        unit.audit(
            "service_policy.deleted",
            "service_policy",
            row.id,
            detached_clocks=detached,
            **_policy_json(row),
        )
        db.delete(row)
    env.book.invalidate()


@action
def seed_default_service_levels(db: Session, env: Env) -> Seeded:
    """Store the built-in calendars and policies, so that admins see and change what is in
    force; nothing when any policy is stored (so running it again, or after an admin's
    changes, changes nothing). A stored calendar that has a default's name is kept as the
    admin left it and the default policies count in it."""

    def work() -> Seeded:
        with unit_of_work(db, env, Actor.system()) as unit:
            _take_turn(unit)
            if db.scalar(select(ServicePolicy.id).limit(1)) is not None:
                return Seeded(calendars=0, policies=0)
            return _store_defaults(unit)

    seeded = with_retry(work)
    env.book.invalidate()
    return seeded


def _store_defaults(unit: Unit) -> Seeded:
    db = unit.db
    ids = {name: id_ for id_, name in db.execute(select(Calendar.id, Calendar.name))}
    stored = 0
    for calendar in DEFAULT_CALENDARS.values():
        if calendar.name == ALWAYS_OPEN.name or calendar.name in ids:
            continue
        row = Calendar(**_calendar_columns(calendar), created_at=unit.now, updated_at=unit.now)
        db.add(row)
        db.flush()
        unit.audit("calendar.created", "calendar", row.id, **calendar.to_json())
        ids[calendar.name] = row.id
        stored += 1
    escalation = Escalation().to_json()
    for policy in DEFAULT_POLICIES:
        calendar_id = None if policy.calendar is None else ids[policy.calendar]
        policy_row = ServicePolicy(
            **_policy_columns(policy, calendar_id, escalation),
            created_at=unit.now,
            updated_at=unit.now,
        )
        db.add(policy_row)
        db.flush()
        unit.audit(
            "service_policy.created", "service_policy", policy_row.id, **_policy_json(policy_row)
        )
    return Seeded(calendars=stored, policies=len(DEFAULT_POLICIES))


def _take_turn(unit: Unit) -> None:
    """Admin writes take turns, so that two at once cannot both find a scope free: no
    unique index can hold a scope whose parts may be NULL. SQLite's BEGIN IMMEDIATE
    already makes writers take turns; PostgreSQL takes a lock held to the commit."""
    if unit.conn.dialect.name == "postgresql":
        unit.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADMIN_LOCK})


def _parse_calendar(new: CalendarInput) -> BusinessCalendar:
    name = new.name.strip() if isinstance(new.name, str) else new.name
    if isinstance(name, str) and len(name) > MAX_CALENDAR_NAME:
        raise InvalidInput(f"a calendar name has at most {MAX_CALENDAR_NAME} characters")
    if isinstance(new.time_zone, str) and len(new.time_zone) > MAX_TIME_ZONE:
        raise InvalidInput(
            f"time_zone has at most {MAX_TIME_ZONE} characters: use an IANA name such as "
            "Europe/London"
        )
    country = new.holidays_country
    if isinstance(country, str) and len(country) > MAX_COUNTRY:
        raise InvalidInput(
            f"holidays_country has at most {MAX_COUNTRY} characters, e.g. GB or GB-ENG"
        )
    if not isinstance(new.closures, str) and len(new.closures) > MAX_CLOSURES:
        raise InvalidInput(f"a calendar lists at most {MAX_CLOSURES} closures")
    return BusinessCalendar.parse(
        name, new.time_zone, new.hours, holidays_country=country, closures=new.closures
    )


def _calendar_columns(calendar: BusinessCalendar) -> dict[str, Any]:
    """The stored form is the calendar's own JSON: days in order, closures sorted once."""
    data = calendar.to_json()
    return {
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "hours": data["hours"],
        "holidays_country": calendar.holidays_country,
        "closures": data["closures"],
    }


def _calendar_json(row: Calendar) -> dict[str, Any]:
    return {
        "name": row.name,
        "time_zone": row.time_zone,
        "hours": row.hours,
        "holidays_country": row.holidays_country,
        "closures": row.closures,
    }


def _check_name_free(db: Session, name: str, *, except_id: int | None) -> None:
    """Names differing only in case would read as one calendar on every screen. The
    calendars are few, so they are compared here rather than by the database's lower(),
    which on SQLite folds ASCII letters only."""
    wanted = name.casefold()
    for calendar_id, taken in db.execute(select(Calendar.id, Calendar.name)):
        if calendar_id != except_id and taken.casefold() == wanted:
            raise Conflict(f"calendar {calendar_id} is already called {taken!r}")


def _parse_policy(new: PolicyInput) -> Policy:
    return Policy.parse(
        new.targets,
        channel=new.channel,
        segment=new.segment,
        priority=new.priority,
        warn_at=new.warn_at,
    )


def _escalation(data: Mapping[str, object] | None) -> dict[str, object]:
    """The escalation checked and written out whole, defaults filled in."""
    if data is None:
        return Escalation().to_json()
    if not isinstance(data, Mapping):
        raise InvalidInput('escalation must be an object like {"notify": ["owner"]}')
    unknown = sorted(str(key) for key in data if key not in _ESCALATION_FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown escalation field {unknown[0]!r}: use {', '.join(_ESCALATION_FIELDS)}"
        )
    notify = data.get("notify", list(NOTIFY))
    if (
        isinstance(notify, str)
        or not isinstance(notify, Sequence)
        or any(who not in NOTIFY for who in notify)
    ):
        raise InvalidInput(
            "escalation.notify lists who hears of a breach: owner, supervisors, or neither ([])"
        )
    for flag in ("raise_priority", "reassign_offline_owner"):
        if flag in data and not isinstance(data[flag], bool):
            raise InvalidInput(f"escalation.{flag} must be true or false")
    return Escalation.from_json({**data, "notify": list(notify)}).to_json()


def _check_references(db: Session, policy: Policy, calendar_id: int | None) -> None:
    if policy.segment is not None and db.get(Segment, policy.segment) is None:
        known = ", ".join(db.scalars(select(Segment.key).order_by(Segment.rank.desc())))
        raise InvalidInput(f"unknown segment {policy.segment!r}: use {known}")
    if calendar_id is not None and db.get(Calendar, calendar_id) is None:
        raise InvalidInput(
            f"calendar {calendar_id} does not exist; leave calendar_id out to count 24/7"
        )


def _check_scope_free(db: Session, policy: Policy, *, except_id: int | None) -> None:
    query = select(ServicePolicy.id).where(
        _matches(ServicePolicy.channel, policy.channel),
        _matches(ServicePolicy.segment, policy.segment),
        _matches(ServicePolicy.priority, policy.priority),
    )
    if except_id is not None:
        query = query.where(ServicePolicy.id != except_id)
    taken = db.scalar(query.order_by(ServicePolicy.id).limit(1))
    if taken is not None:
        raise Conflict(
            f"service-level policy {taken} already covers {_scope(policy)}; change that one instead"
        )


def _matches(column: InstrumentedAttribute[Any], value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _scope(policy: Policy) -> str:
    return ", ".join(
        f"{what} {value or 'any'}"
        for what, value in (
            ("channel", policy.channel),
            ("segment", policy.segment),
            ("priority", policy.priority),
        )
    )


def _policy_columns(
    policy: Policy, calendar_id: int | None, escalation: dict[str, object]
) -> dict[str, Any]:
    return {
        "channel": policy.channel,
        "segment": policy.segment,
        "priority": policy.priority,
        "calendar_id": calendar_id,
        "targets": {kind.value: seconds for kind, seconds in policy.targets.items()},
        "warn_at": float(policy.warn_at),
        "escalation": escalation,
    }


def _policy_json(row: ServicePolicy) -> dict[str, Any]:
    return {
        "channel": None if row.channel is None else row.channel.value,
        "segment": row.segment,
        "priority": None if row.priority is None else row.priority.value,
        "calendar_id": row.calendar_id,
        "targets": {
            kind.value: row.targets[kind.value] for kind in ClockKind if kind.value in row.targets
        },
        "warn_at": row.warn_at,
        "escalation": row.escalation,
    }


__all__ = [
    "CalendarInput",
    "PolicyInput",
    "Seeded",
    "create_calendar",
    "create_policy",
    "delete_calendar",
    "delete_policy",
    "seed_default_service_levels",
    "update_calendar",
    "update_policy",
]
