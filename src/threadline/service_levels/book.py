"""The service levels in force: the stored calendars and policies, read into plain
`BusinessCalendar` and `Policy` values and kept for a few seconds per process.

Every contact consults the policies, so reading them per message would put two queries
on the busiest path. A process keeps what it read for `TTL_SECONDS`; an admin's change in
this process takes effect at once (the admin actions call `invalidate()`), in another
process within the TTL. A clock keeps the target it started with, so a policy change
applies to clocks started after it.

With no stored policy at all (a database made by the migrations alone) the built-in
defaults apply; `threadline init` stores them, so that admins see and change them."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import monotonic
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, select

from threadline.models import Calendar, ServicePolicy
from threadline.service_levels.calendars import BusinessCalendar
from threadline.service_levels.policies import (
    ALWAYS_OPEN,
    DEFAULT_CALENDARS,
    DEFAULT_POLICIES,
    Policy,
    most_specific,
)
from threadline.vocabulary import Channel, ClockKind, Priority

TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Escalation:
    """What a breach of a policy's clock sets off."""

    notify_owner: bool = True
    notify_supervisors: bool = True
    raise_priority: bool = False
    reassign_offline_owner: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Escalation:
        notify = data.get("notify", ["owner", "supervisors"])
        names = set(notify) if isinstance(notify, list | tuple) else set()
        return cls(
            notify_owner="owner" in names,
            notify_supervisors="supervisors" in names,
            raise_priority=bool(data.get("raise_priority", False)),
            reassign_offline_owner=bool(data.get("reassign_offline_owner", True)),
        )

    def to_json(self) -> dict[str, object]:
        notify = [
            name
            for name, wanted in (
                ("owner", self.notify_owner),
                ("supervisors", self.notify_supervisors),
            )
            if wanted
        ]
        return {
            "notify": notify,
            "raise_priority": self.raise_priority,
            "reassign_offline_owner": self.reassign_offline_owner,
        }


@dataclass(frozen=True)
class Target:
    """What governs one clock: its target, when it warns, and the calendar it counts in."""

    kind: ClockKind
    seconds: int
    warn_share: float
    calendar: BusinessCalendar
    calendar_name: str | None
    policy_id: int | None


@dataclass(frozen=True)
class Book:
    policies: tuple[Policy, ...]
    calendars: Mapping[str, BusinessCalendar]
    escalations: Mapping[int, Escalation] = field(default_factory=dict)

    def target(
        self, kind: ClockKind, *, channel: Channel, segment: str | None, priority: Priority
    ) -> Target | None:
        """The target for a `kind` clock on a case of this channel, segment and priority,
        or None when no policy sets one."""
        policy = most_specific(
            self.policies, channel=channel, segment=segment, priority=priority, kind=kind
        )
        if policy is None:
            return None
        return Target(
            kind=kind,
            seconds=policy.targets[kind],
            warn_share=policy.warn_at,
            calendar=self.calendar(policy.calendar),
            calendar_name=policy.calendar,
            policy_id=policy.id,
        )

    def calendar(self, name: str | None) -> BusinessCalendar:
        """The named calendar; elapsed time (24/7) for None or one since removed."""
        if name is None:
            return ALWAYS_OPEN
        return self.calendars.get(name, ALWAYS_OPEN)

    def escalation(self, policy_id: int | None) -> Escalation:
        if policy_id is None:
            return Escalation()
        return self.escalations.get(policy_id, Escalation())


DEFAULT_BOOK = Book(policies=DEFAULT_POLICIES, calendars=DEFAULT_CALENDARS)


def load_book(conn: Connection) -> Book:
    """The stored calendars and policies; the built-in defaults when none is stored."""
    calendar_rows = conn.execute(select(*Calendar.__table__.columns)).all()
    calendars = {row.name: calendar_from_row(row) for row in calendar_rows}
    names = {row.id: row.name for row in calendar_rows}
    policy_rows = conn.execute(
        select(*ServicePolicy.__table__.columns).order_by(ServicePolicy.id)
    ).all()
    if not policy_rows:
        return Book(
            policies=DEFAULT_POLICIES,
            calendars=MappingProxyType({**DEFAULT_CALENDARS, **calendars}),
        )
    policies = tuple(
        Policy.parse(
            row.targets,
            id=row.id,
            channel=row.channel,
            segment=row.segment,
            priority=row.priority,
            calendar=None if row.calendar_id is None else names.get(row.calendar_id),
            warn_at=row.warn_at,
        )
        for row in policy_rows
    )
    escalations = {row.id: Escalation.from_json(row.escalation or {}) for row in policy_rows}
    return Book(
        policies=policies,
        calendars=MappingProxyType(calendars),
        escalations=MappingProxyType(escalations),
    )


def calendar_from_row(row: Any) -> BusinessCalendar:
    """A stored calendar (an ORM object or a row of its columns) as a BusinessCalendar."""
    return BusinessCalendar.parse(
        row.name,
        row.time_zone,
        row.hours,
        holidays_country=row.holidays_country,
        closures=row.closures,
    )


class BookCache:
    """One process's copy of the book, re-read after `ttl` seconds or an invalidation."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._book: Book | None = None
        self._read_at = 0.0

    def get(self, conn: Connection) -> Book:
        with self._lock:
            book, fresh = self._book, monotonic() - self._read_at < self._ttl
        if book is not None and fresh:
            return book
        book = load_book(conn)
        with self._lock:
            self._book, self._read_at = book, monotonic()
        return book

    def invalidate(self) -> None:
        with self._lock:
            self._book = None
