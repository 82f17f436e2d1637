"""Clocks as values: a pause costs nothing, however long and wherever it falls; each
alert is raised once; the case is due at its earliest running clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.service_levels.book import Target
from threadline.service_levels.calendars import BusinessCalendar, business_seconds_between
from threadline.service_levels.clocks import (
    Alert,
    ClockState,
    case_due,
    check_times,
    pause,
    resume,
    start,
    stop,
)
from threadline.service_levels.policies import DEFAULT_CALENDARS
from threadline.vocabulary import Channel, ClockKind

CALENDARS = [DEFAULT_CALENDARS["Contact centre"], DEFAULT_CALENDARS["Shop"]] + [
    BusinessCalendar.parse(
        f"{zone} office",
        zone,
        {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays_country=country,
    )
    for zone, country in (("America/New_York", "US"), ("Australia/Sydney", "AU-NSW"))
]
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

instants = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis adds the zone
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def target(
    calendar: BusinessCalendar, seconds: int, kind: ClockKind = ClockKind.FIRST_REPLY
) -> Target:
    return Target(
        kind=kind,
        seconds=seconds,
        warn_share=0.8,
        calendar=calendar,
        calendar_name=calendar.name,
        policy_id=None,
    )


@given(
    st.sampled_from(CALENDARS),
    instants,
    st.integers(60, 40 * 3600),
    st.integers(0, 30 * 86_400),
    st.integers(0, 30 * 86_400),
)
def test_a_pause_costs_nothing(
    calendar: BusinessCalendar, started: datetime, seconds: int, run: int, paused_for: int
) -> None:
    clock = start(
        target(calendar, seconds), case_id=1, channel=Channel.EMAIL, at=started, now=started
    )
    paused_at = started + timedelta(seconds=run)
    resumed_at = paused_at + timedelta(seconds=paused_for)
    later = resume(pause(clock, calendar, paused_at), calendar, resumed_at)
    assert later.due_at is not None
    used = business_seconds_between(calendar, started, paused_at)
    if used >= seconds:
        assert later.due_at == resumed_at  # already overdue: due at once
    else:
        left = business_seconds_between(calendar, resumed_at, later.due_at)
        assert abs(used + left - seconds) < 1e-3


def check(clock: ClockState, now: datetime) -> tuple[ClockState, tuple[Alert, ...]]:
    """What the sweep does to one clock: check its times and keep what it found."""
    found = check_times(
        running=clock.running,
        warns_at=clock.warns_at,
        due_at=clock.due_at,
        warned_at=clock.warned_at,
        breached_at=clock.breached_at,
        now=now,
    )
    kept = replace(
        clock,
        warned_at=found.warned_at,
        breached_at=found.breached_at,
        next_check_at=found.next_check_at,
    )
    return kept, found.alerts


def test_warning_then_breach_each_once() -> None:
    calendar = BusinessCalendar.always_open()
    clock = start(target(calendar, 3600), case_id=1, channel=Channel.SMS, at=MONDAY, now=MONDAY)
    assert clock.next_check_at == MONDAY + timedelta(minutes=48)
    clock, alerts = check(clock, MONDAY + timedelta(minutes=47))
    assert alerts == ()
    clock, alerts = check(clock, MONDAY + timedelta(minutes=48))
    assert alerts == (Alert.WARNING,)
    assert clock.next_check_at == MONDAY + timedelta(hours=1)
    clock, alerts = check(clock, MONDAY + timedelta(minutes=59))
    assert alerts == ()
    clock, alerts = check(clock, MONDAY + timedelta(hours=5))
    assert alerts == (Alert.BREACH,)
    assert clock.breached_at == MONDAY + timedelta(hours=1)  # when it broke, not when seen
    assert clock.next_check_at is None
    assert check(clock, MONDAY + timedelta(hours=6))[1] == ()


def test_a_late_sweep_raises_both_and_a_met_clock_nothing() -> None:
    calendar = BusinessCalendar.always_open()
    clock = start(target(calendar, 600), case_id=1, channel=Channel.CHAT, at=MONDAY, now=MONDAY)
    assert check(clock, MONDAY + timedelta(hours=1))[1] == (Alert.WARNING, Alert.BREACH)
    met = stop(clock, calendar, MONDAY + timedelta(minutes=5), met=True)
    assert (met.met_at, met.breached_at, met.next_check_at) == (
        MONDAY + timedelta(minutes=5),
        None,
        None,
    )
    assert check(met, MONDAY + timedelta(hours=1))[1] == ()
    late = stop(clock, calendar, MONDAY + timedelta(minutes=15), met=True)
    assert late.breached_at == MONDAY + timedelta(minutes=10)


@pytest.mark.parametrize("later_minutes", [5, 90])
def test_the_case_is_due_at_its_earliest_running_clock(later_minutes: int) -> None:
    calendar = BusinessCalendar.always_open()
    mail = start(
        target(calendar, 4 * 3600), case_id=1, channel=Channel.EMAIL, at=MONDAY, now=MONDAY
    )
    text_at = MONDAY + timedelta(minutes=later_minutes)
    text = start(target(calendar, 3600), case_id=1, channel=Channel.SMS, at=text_at, now=text_at)
    due, warns = case_due([mail, text])
    assert due == min(MONDAY + timedelta(hours=4), text_at + timedelta(hours=1))
    assert warns == min(mail.warns_at, text.warns_at)  # type: ignore[type-var]
    assert case_due([pause(mail, calendar, text_at), stop(text, calendar, text_at, met=True)]) == (
        None,
        None,
    )
