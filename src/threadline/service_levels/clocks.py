"""Service-level clocks as plain values: starting, pausing, resuming, stopping and
checking one clock, and the due time of a case that has several.

A clock runs in spans: `resumed_at` is the start of the current span and
`consumed_seconds` what earlier spans used, counted in its calendar's business time. So a
pause costs nothing while it lasts, and a resume continues where the clock stopped. While
a clock runs it knows when it warns (`warns_at`) and breaches (`due_at`); `next_check_at`
is the first of those that has not happened yet, which is what the sweep's index is on.

Nothing here reads the time or the database: callers pass the instant and the calendar."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from threadline.service_levels.book import Target
from threadline.service_levels.calendars import (
    BusinessCalendar,
    add_business_time,
    business_seconds_between,
)
from threadline.vocabulary import Channel, ClockKind

REPLY_KINDS = frozenset({ClockKind.FIRST_REPLY, ClockKind.NEXT_REPLY})


@dataclass(frozen=True, kw_only=True)
class ClockState:
    id: int | None = None
    case_id: int
    kind: ClockKind
    channel: Channel
    policy_id: int | None
    calendar: str | None
    target_seconds: int
    warn_share: float
    started_at: datetime
    resumed_at: datetime | None
    consumed_seconds: float = 0.0
    due_at: datetime | None = None
    warns_at: datetime | None = None
    next_check_at: datetime | None = None
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    met_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None and self.paused_at is None

    @property
    def paused(self) -> bool:
        return self.stopped_at is None and self.paused_at is not None

    @property
    def live(self) -> bool:
        """Not stopped: running or paused."""
        return self.stopped_at is None


def is_breached(
    *, running: bool, due_at: datetime | None, breached_at: datetime | None, now: datetime
) -> bool:
    """Whether a promise was broken: recorded by the sweep, met late, or running past its
    due time now (before the sweep got to it)."""
    if breached_at is not None:
        return True
    return running and due_at is not None and due_at <= now


def next_check_time(
    *,
    running: bool,
    warns_at: datetime | None,
    due_at: datetime | None,
    warned_at: datetime | None,
    breached_at: datetime | None,
) -> datetime | None:
    """The next moment the sweep has work for a clock: its warning, then its breach."""
    if not running:
        return None
    if warned_at is None and warns_at is not None:
        return warns_at
    if breached_at is None:
        return due_at
    return None


class Alert(StrEnum):
    WARNING = "sla.warning"
    BREACH = "sla.breached"


def start(
    target: Target, *, case_id: int, channel: Channel, at: datetime, now: datetime
) -> ClockState:
    """A clock started by a contact at `at` (which may lie in the past: a message that
    arrived late is clocked from when it was sent)."""
    at = min(at, now)
    calendar = target.calendar
    due = add_business_time(calendar, at, target.seconds)
    warns = add_business_time(calendar, at, target.seconds * target.warn_share)
    # Built in one go rather than through _schedule(): every new case starts two or three.
    return ClockState(
        case_id=case_id,
        kind=target.kind,
        channel=channel,
        policy_id=target.policy_id,
        calendar=target.calendar_name,
        target_seconds=target.seconds,
        warn_share=target.warn_share,
        started_at=at,
        resumed_at=at,
        due_at=due,
        warns_at=warns,
        next_check_at=warns,
    )


def measured(
    target: Target, *, case_id: int, channel: Channel, at: datetime, seconds: float
) -> ClockState:
    """A clock whose whole span is already known, such as the wait before a call was
    answered or its longest hold: it starts at `at` and is met `seconds` later, in plain
    elapsed time (a caller on hold waits in real seconds, open or not)."""
    due = at + timedelta(seconds=target.seconds)
    met = at + timedelta(seconds=max(0.0, seconds))
    return ClockState(
        case_id=case_id,
        kind=target.kind,
        channel=channel,
        policy_id=target.policy_id,
        calendar=None,
        target_seconds=target.seconds,
        warn_share=target.warn_share,
        started_at=at,
        resumed_at=None,
        consumed_seconds=max(0.0, seconds),
        due_at=due,
        warns_at=at + timedelta(seconds=target.seconds * target.warn_share),
        stopped_at=met,
        met_at=met,
        breached_at=due if met > due else None,
    )


def pause(clock: ClockState, calendar: BusinessCalendar, at: datetime) -> ClockState:
    """Stop counting (the case waits on the customer, or is on hold); keeps what was used."""
    if not clock.running:
        return clock
    return replace(
        clock,
        consumed_seconds=_consumed(clock, calendar, at),
        resumed_at=None,
        paused_at=at,
        due_at=None,
        warns_at=None,
        next_check_at=None,
    )


def resume(clock: ClockState, calendar: BusinessCalendar, at: datetime) -> ClockState:
    """Count again from `at`: a paused clock, or a stopped one brought back (a resolved
    case reopened resumes its resolution clock, no longer met)."""
    if clock.running:
        return clock
    resumed = replace(clock, paused_at=None, stopped_at=None, met_at=None, resumed_at=at)
    return _schedule(resumed, calendar, at)


def stop(clock: ClockState, calendar: BusinessCalendar, at: datetime, *, met: bool) -> ClockState:
    """Finish a clock: `met` when what it waited for happened (a reply, a resolution);
    otherwise it is simply no longer owed (the case was closed without one). A clock met
    after its due time is recorded as breached at its due time."""
    if not clock.live:
        return clock
    consumed = _consumed(clock, calendar, at) if clock.running else clock.consumed_seconds
    breached_at = clock.breached_at
    late = clock.running and clock.due_at is not None and at > clock.due_at
    if met and breached_at is None and late:
        breached_at = clock.due_at
    return replace(
        clock,
        consumed_seconds=consumed,
        resumed_at=None,
        paused_at=None,
        stopped_at=at,
        met_at=at if met else None,
        next_check_at=None,
        breached_at=breached_at,
    )


@dataclass(frozen=True, slots=True)
class Checked:
    """What a check found: the clock's new warning, breach and next-check times."""

    warned_at: datetime | None
    breached_at: datetime | None
    next_check_at: datetime | None
    alerts: tuple[Alert, ...]


def check_times(
    *,
    running: bool,
    warns_at: datetime | None,
    due_at: datetime | None,
    warned_at: datetime | None,
    breached_at: datetime | None,
    now: datetime,
) -> Checked:
    """What has happened to a clock by `now`, from its times alone: its warning, its
    breach, or both when the sweep comes late. Each is raised once. (The sweep calls this
    for a thousand clocks at a time, so it builds no clock values.)"""
    if not running:
        return Checked(warned_at, breached_at, None, ())
    alerts: tuple[Alert, ...] = ()
    if warned_at is None and warns_at is not None and warns_at <= now:
        warned_at = now
        alerts = (Alert.WARNING,)
    if breached_at is None and due_at is not None and due_at <= now:
        breached_at = due_at
        alerts = (*alerts, Alert.BREACH)
        warned_at = warned_at or now
    next_check = next_check_time(
        running=True,
        warns_at=warns_at,
        due_at=due_at,
        warned_at=warned_at,
        breached_at=breached_at,
    )
    return Checked(warned_at, breached_at, next_check, alerts)


def case_due(clocks: Iterable[ClockState]) -> tuple[datetime | None, datetime | None]:
    """A case's due and warning time: the earliest among its running clocks, so the
    customer's most urgent expectation wins whatever channel it came from."""
    running = [clock for clock in clocks if clock.running and clock.due_at is not None]
    if not running:
        return None, None
    due = min(clock.due_at for clock in running if clock.due_at is not None)
    warns = [clock.warns_at for clock in running if clock.warns_at is not None]
    return due, min(warns, default=due)


def _consumed(clock: ClockState, calendar: BusinessCalendar, at: datetime) -> float:
    if clock.resumed_at is None:
        return clock.consumed_seconds
    return clock.consumed_seconds + business_seconds_between(calendar, clock.resumed_at, at)


def _schedule(clock: ClockState, calendar: BusinessCalendar, at: datetime) -> ClockState:
    left = max(0.0, clock.target_seconds - clock.consumed_seconds)
    warn_left = max(0.0, clock.target_seconds * clock.warn_share - clock.consumed_seconds)
    due = add_business_time(calendar, at, left)
    warns = add_business_time(calendar, at, warn_left)
    scheduled = replace(clock, due_at=due, warns_at=warns)
    return replace(scheduled, next_check_at=_next_check(scheduled))


def _next_check(clock: ClockState) -> datetime | None:
    return next_check_time(
        running=clock.running,
        warns_at=clock.warns_at,
        due_at=clock.due_at,
        warned_at=clock.warned_at,
        breached_at=clock.breached_at,
    )
