"""Business calendars: the answers a supervisor would check by hand (a Friday email, a
Christmas start, both 2026 clock changes in London), properties that must hold for any
calendar, and every bad input refused with a message that says what to fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.errors import InvalidInput
from threadline.service_levels.calendars import (
    WEEKDAYS,
    BusinessCalendar,
    add_business_time,
    business_seconds_between,
    is_open,
    next_opening,
    public_holidays,
)

HOUR = 3600
LONDON = ZoneInfo("Europe/London")
WEEKDAYS_ONLY = ("mon", "tue", "wed", "thu", "fri")

CONTACT_CENTRE = BusinessCalendar.parse(
    "Contact centre",
    "Europe/London",
    {**{day: [["08:00", "20:00"]] for day in WEEKDAYS_ONLY}, "sat": [["09:00", "17:00"]]},
    holidays_country="GB-ENG",
)
SHOP = BusinessCalendar.parse(
    "Shop",
    "Europe/London",
    {**{day: [["09:00", "17:30"]] for day in (*WEEKDAYS_ONLY, "sat")}, "sun": [["10:00", "16:00"]]},
    holidays_country="GB-ENG",
)
# Open through the small hours of Saturday night, when both 2026 clock changes happen.
NIGHT_DESK = BusinessCalendar.parse(
    "Night desk", "Europe/London", {"sat": [["20:00", "24:00"]], "sun": [["00:00", "06:00"]]}
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A London wall-clock time (never one the clocks skip or repeat) as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


# --- what a supervisor would check ---------------------------------------------------


def test_friday_afternoon_email_is_due_saturday_morning() -> None:
    # 3.5 h left on Friday (16:30-20:00), the last half hour from Saturday's 09:00 opening.
    due = add_business_time(CONTACT_CENTRE, london(2026, 11, 20, 16, 30), 4 * HOUR)
    assert due == london(2026, 11, 21, 9, 30)
    assert due.tzinfo is UTC


def test_shop_counts_its_shorter_friday() -> None:
    # One hour left on Friday (16:30-17:30), three more from Saturday's 09:00.
    assert add_business_time(SHOP, london(2026, 11, 20, 16, 30), 4 * HOUR) == london(
        2026, 11, 21, 12, 0
    )


def test_friday_evening_email_before_a_bank_holiday_monday() -> None:
    """Friday 28 August 2026, 17:30, before the summer bank holiday on Monday the 31st.
    An office open on weekdays 09:00-17:30 has just closed: nothing counts on Friday, the
    weekend or the Monday, and four hours from Tuesday's 09:00 make 13:00. The contact
    centre, open until 20:00 and on Saturdays, owes the answer on Saturday at 10:30."""
    office = BusinessCalendar.parse(
        "Office",
        "Europe/London",
        {day: [["09:00", "17:30"]] for day in WEEKDAYS_ONLY},
        holidays_country="GB-ENG",
    )
    assert date(2026, 8, 31) in public_holidays("GB-ENG", 2026)
    friday_evening = london(2026, 8, 28, 17, 30)
    assert add_business_time(office, friday_evening, 4 * HOUR) == london(2026, 9, 1, 13, 0)
    assert add_business_time(CONTACT_CENTRE, friday_evening, 4 * HOUR) == london(
        2026, 8, 29, 10, 30
    )


def test_christmas_counts_from_the_first_day_not_a_bank_holiday() -> None:
    # 2026: Christmas Friday, Boxing Day Saturday, observed on Monday the 28th.
    assert {date(2026, 12, 25), date(2026, 12, 26), date(2026, 12, 28)} <= public_holidays(
        "GB-ENG", 2026
    )
    start = london(2026, 12, 25, 10, 0)
    assert next_opening(CONTACT_CENTRE, start) == london(2026, 12, 29, 8, 0)
    assert add_business_time(CONTACT_CENTRE, start, 4 * HOUR) == london(2026, 12, 29, 12, 0)
    # The shop opens on Sunday the 27th, which is no holiday.
    assert next_opening(SHOP, start) == london(2026, 12, 27, 10, 0)
    assert add_business_time(SHOP, start, HOUR) == london(2026, 12, 27, 11, 0)


def test_spring_forward_night_is_an_hour_shorter() -> None:
    # 29 March 2026: 01:00 GMT becomes 02:00 BST; Saturday 20:00 to Sunday 06:00 is 9 hours.
    assert business_seconds_between(NIGHT_DESK, utc(2026, 3, 28), utc(2026, 3, 30)) == 9 * HOUR
    assert add_business_time(NIGHT_DESK, london(2026, 3, 28, 20, 0), 8 * HOUR) == london(
        2026, 3, 29, 5, 0
    )
    assert add_business_time(NIGHT_DESK, london(2026, 3, 28, 20, 0), 9 * HOUR) == london(
        2026, 3, 29, 6, 0
    )


def test_fall_back_night_is_an_hour_longer() -> None:
    # 25 October 2026: 02:00 BST becomes 01:00 GMT; the same night holds 11 hours.
    assert business_seconds_between(NIGHT_DESK, utc(2026, 10, 24), utc(2026, 10, 26)) == 11 * HOUR
    assert add_business_time(NIGHT_DESK, london(2026, 10, 24, 20, 0), 11 * HOUR) == london(
        2026, 10, 25, 6, 0
    )


def test_opening_hours_follow_the_wall_clock_across_both_changes() -> None:
    # Saturday 16:00 GMT: one hour on Saturday, the next from Monday 08:00, now BST.
    due = add_business_time(CONTACT_CENTRE, london(2026, 3, 28, 16, 0), 2 * HOUR)
    assert due == london(2026, 3, 30, 9, 0) == utc(2026, 3, 30, 8, 0)
    # From Saturday's closing the shop's next hour is Sunday 10:00-11:00 local time, which
    # is 09:00 UTC in March and 10:00 UTC in October.
    assert add_business_time(SHOP, london(2026, 3, 28, 17, 30), HOUR) == utc(2026, 3, 29, 10, 0)
    assert add_business_time(SHOP, london(2026, 10, 24, 17, 30), HOUR) == utc(2026, 10, 25, 11, 0)


def test_a_wall_time_the_clocks_skip_opens_when_they_jump() -> None:
    early = BusinessCalendar.parse("Early", "Europe/London", {"sun": [["01:30", "03:00"]]})
    assert next_opening(early, utc(2026, 3, 28)) == utc(2026, 3, 29, 1, 0)
    assert business_seconds_between(early, utc(2026, 3, 28), utc(2026, 3, 30)) == HOUR
    # When the clocks go back, a repeated wall time means its first showing.
    assert next_opening(early, utc(2026, 10, 24)) == utc(2026, 10, 25, 0, 30)
    assert business_seconds_between(early, utc(2026, 10, 24), utc(2026, 10, 26)) == 2.5 * HOUR


def test_a_span_wholly_inside_the_skipped_hour_is_no_time() -> None:
    lost = BusinessCalendar.parse(
        "Lost", "Europe/London", {"sun": [["01:00", "01:45"], ["12:00", "13:00"]]}
    )
    assert business_seconds_between(lost, utc(2026, 3, 28), utc(2026, 3, 30)) == HOUR


def test_a_day_whose_midnight_never_shows_opens_when_the_clocks_jump() -> None:
    # Chile springs forward at midnight: on 6 September 2026 00:00 -04 becomes 01:00 -03.
    santiago = BusinessCalendar.parse("Santiago", "America/Santiago", {"sun": [["00:00", "03:00"]]})
    assert next_opening(santiago, utc(2026, 9, 5)) == utc(2026, 9, 6, 4, 0)
    assert business_seconds_between(santiago, utc(2026, 9, 5), utc(2026, 9, 7)) == 2 * HOUR


def test_midnight_spanning_hours_count_without_a_break() -> None:
    late = BusinessCalendar.parse(
        "Late", "Europe/London", {"fri": [["18:00", "24:00"]], "sat": [["00:00", "02:00"]]}
    )
    assert add_business_time(late, london(2026, 11, 20, 18, 0), 7 * HOUR) == london(
        2026, 11, 21, 1, 0
    )
    assert is_open(late, london(2026, 11, 21, 0, 0))
    assert not is_open(late, london(2026, 11, 21, 2, 0))


def test_lunch_closed_is_skipped() -> None:
    lunch = BusinessCalendar.parse(
        "Branch", "Europe/London", {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}
    )
    assert add_business_time(lunch, london(2026, 11, 23, 11, 30), HOUR) == london(
        2026, 11, 23, 13, 30
    )
    assert not is_open(lunch, london(2026, 11, 23, 12, 30))
    assert next_opening(lunch, london(2026, 11, 23, 12, 30)) == london(2026, 11, 23, 13, 0)


def test_five_business_days_lands_on_friday_evening() -> None:
    start = london(2026, 11, 23, 8, 0)  # a Monday, no holiday that week
    assert add_business_time(CONTACT_CENTRE, start, 60 * HOUR) == london(2026, 11, 27, 20, 0)


def test_a_year_of_business_time_is_quick_and_exact() -> None:
    start = london(2026, 1, 5, 8, 0)
    due = add_business_time(CONTACT_CENTRE, start, 365 * 24 * HOUR)
    assert business_seconds_between(CONTACT_CENTRE, start, due) == 365 * 24 * HOUR


def test_closures_close_the_whole_day() -> None:
    closed = BusinessCalendar.parse(
        "Stocktake",
        "Europe/London",
        {day: [["09:00", "17:00"]] for day in WEEKDAYS_ONLY},
        closures=["2026-11-24"],
    )
    assert closed.closed_on(date(2026, 11, 24))
    assert not is_open(closed, london(2026, 11, 24, 10, 0))
    assert add_business_time(closed, london(2026, 11, 23, 16, 0), 2 * HOUR) == london(
        2026, 11, 25, 10, 0
    )


def test_start_in_closed_time_counts_from_the_next_opening() -> None:
    sunday = london(2026, 11, 22, 14, 0)
    assert not is_open(CONTACT_CENTRE, sunday)
    assert next_opening(CONTACT_CENTRE, sunday) == london(2026, 11, 23, 8, 0)
    assert add_business_time(CONTACT_CENTRE, sunday, HOUR) == london(2026, 11, 23, 9, 0)
    assert business_seconds_between(CONTACT_CENTRE, sunday, london(2026, 11, 23, 9, 0)) == HOUR


def test_edges_of_a_span() -> None:
    opening, closing = london(2026, 11, 23, 8, 0), london(2026, 11, 23, 20, 0)
    assert is_open(CONTACT_CENTRE, opening)
    assert not is_open(CONTACT_CENTRE, closing)
    assert next_opening(CONTACT_CENTRE, opening) == opening
    # A target that runs out exactly at closing is due at closing, not next morning.
    assert add_business_time(CONTACT_CENTRE, opening, 12 * HOUR) == closing
    assert add_business_time(CONTACT_CENTRE, closing, 0) == closing
    assert business_seconds_between(CONTACT_CENTRE, closing, opening) == 0


def test_always_open_is_plain_elapsed_time() -> None:
    always = BusinessCalendar.always_open()
    assert always.name == "24/7"
    assert always.is_always_open
    start = utc(2026, 3, 28, 23, 0)
    assert add_business_time(always, start, 5 * 24 * HOUR) == start + timedelta(days=5)
    assert business_seconds_between(always, start, start + timedelta(hours=3)) == 3 * HOUR
    assert is_open(always, start)
    assert next_opening(always, start) == start


def test_whole_days_in_a_time_zone_with_holidays_are_not_always_open() -> None:
    every_day = {day: [["00:00", "24:00"]] for day in WEEKDAYS}
    assert BusinessCalendar.parse("All hours", "Europe/London", every_day).is_always_open
    with_holidays = BusinessCalendar.parse("All hours", "Europe/London", every_day, "GB-ENG")
    assert not with_holidays.is_always_open
    assert not is_open(with_holidays, london(2026, 12, 25, 12, 0))


def test_instants_in_any_zone_are_accepted_and_answers_are_utc() -> None:
    tokyo = datetime(2026, 11, 21, 1, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # Fri 16:30 London
    due = add_business_time(CONTACT_CENTRE, tokyo, 4 * HOUR)
    assert due == london(2026, 11, 21, 9, 30)
    assert due.tzinfo is UTC


def test_json_round_trip_and_equality() -> None:
    shape = CONTACT_CENTRE.to_json()
    assert shape["hours"] == {
        **{day: [["08:00", "20:00"]] for day in WEEKDAYS_ONLY},
        "sat": [["09:00", "17:00"]],
    }
    assert BusinessCalendar.parse(**shape) == CONTACT_CENTRE  # type: ignore[arg-type]
    late = BusinessCalendar.parse(
        "Late", "UTC", {"fri": [["18:00", "24:00"]]}, None, ["2026-12-24"]
    )
    assert late.to_json()["hours"] == {"fri": [["18:00", "24:00"]]}
    assert late.to_json()["closures"] == ["2026-12-24"]
    assert BusinessCalendar.parse("Late", "UTC", {"fri": [["18:00", "24:00"]]}, None, None) == (
        BusinessCalendar.parse("Late", "UTC", {"fri": [["18:00", "24:00"]]})
    )
    # Closed days may be written or left out; a calendar is a hashable value.
    assert BusinessCalendar.parse("Late", "UTC", {"fri": [["18:00", "24:00"]], "sat": []}) == (
        BusinessCalendar.parse("Late", "UTC", {"fri": [["18:00", "24:00"]]})
    )
    assert len({CONTACT_CENTRE, BusinessCalendar.parse(**shape)}) == 1  # type: ignore[arg-type]


def test_touching_spans_merge() -> None:
    split = BusinessCalendar.parse(
        "Split", "UTC", {"mon": [["09:00", "12:00"], ["12:00", "17:00"]]}
    )
    assert add_business_time(split, utc(2026, 11, 23, 11, 0), 2 * HOUR) == utc(2026, 11, 23, 13, 0)


def test_holiday_tables_are_memoised() -> None:
    assert public_holidays("GB-ENG", 2027) is public_holidays("GB-ENG", 2027)
    assert date(2027, 8, 30) in public_holidays("GB-ENG", 2027)  # England only
    assert date(2027, 8, 30) not in public_holidays("GB-SCT", 2027)


# --- bad input -----------------------------------------------------------------------

DAY_HOURS: dict[str, list[list[str]]] = {"mon": [["09:00", "17:00"]]}
NAIVE = datetime(2026, 11, 23, 9, 0)  # noqa: DTZ001 - refusing it is the point


@pytest.mark.parametrize(
    ("name", "time_zone", "hours", "country", "closures", "message"),
    [
        ("", "UTC", DAY_HOURS, None, [], "needs a name"),
        ("  ", "UTC", DAY_HOURS, None, [], "needs a name"),
        (" Shop", "UTC", DAY_HOURS, None, [], "no outer spaces"),
        ("x" * 101, "UTC", DAY_HOURS, None, [], "at most 100"),
        ("Shop", "Mars/Olympus", DAY_HOURS, None, [], "unknown time zone 'Mars/Olympus'"),
        ("Shop", "../etc/passwd", DAY_HOURS, None, [], "unknown time zone"),
        ("Shop", "zone.tab", DAY_HOURS, None, [], "unknown time zone"),
        ("Shop", "", DAY_HOURS, None, [], "IANA name"),
        ("Shop", "UTC", [], None, [], "hours must be an object"),
        ("Shop", "UTC", {"monday": [["09:00", "17:00"]]}, None, [], "unknown weekday 'monday'"),
        ("Shop", "UTC", {"mon": "09:00-17:00"}, None, [], "hours.mon must be a list"),
        ("Shop", "UTC", {"mon": [["09:00"]]}, None, [], r"hours.mon\[0\] must be two times"),
        ("Shop", "UTC", {"mon": ["0900-1700"]}, None, [], r"hours.mon\[0\] must be two times"),
        ("Shop", "UTC", {"mon": [["09:00", "12:00", "13:00"]]}, None, [], "must be two times"),
        ("Shop", "UTC", {"mon": [["9:00", "17:00"]]}, None, [], "'9:00' is not a time"),
        ("Shop", "UTC", {"mon": [["09:00", "25:00"]]}, None, [], "'25:00' is not a time"),
        ("Shop", "UTC", {"mon": [["09:60", "17:00"]]}, None, [], "'09:60' is not a time"),
        ("Shop", "UTC", {"mon": [["24:00", "24:00"]]}, None, [], "00:00 to 23:59"),
        ("Shop", "UTC", {"mon": [[900, "17:00"]]}, None, [], "900 is not a time"),
        ("Shop", "UTC", {"mon": [["20:00", "00:00"]]}, None, [], "ends at 24:00, not 00:00"),
        ("Shop", "UTC", {"mon": [["09:00", "09:00"]]}, None, [], "ends before it starts"),
        ("Shop", "UTC", {"mon": [["17:30", "09:00"]]}, None, [], "mon 17:30-09:00 ends before"),
        (
            "Shop",
            "UTC",
            {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]},
            None,
            [],
            "mon 12:00-17:00 overlaps",
        ),
        (
            "Shop",
            "UTC",
            {"mon": [["13:00", "17:00"], ["09:00", "12:00"]]},
            None,
            [],
            "comes before the span before it",
        ),
        ("Shop", "UTC", {}, None, [], "open at least once a week"),
        ("Shop", "UTC", {"mon": [], "sun": []}, None, [], "open at least once a week"),
        ("Shop", "UTC", DAY_HOURS, "ZZ", [], "no public holidays known for 'ZZ'"),
        ("Shop", "UTC", DAY_HOURS, "GB-XX", [], "no public holidays known for 'GB-XX'"),
        ("Shop", "UTC", DAY_HOURS, "", [], "country code such as GB"),
        ("Shop", "UTC", DAY_HOURS, None, "2026-12-24", "closures must be a list"),
        ("Shop", "UTC", DAY_HOURS, None, 20261224, "closures must be a list"),
        ("Shop", "UTC", DAY_HOURS, None, ["24/12/2026"], "'24/12/2026' is not a date"),
        ("Shop", "UTC", DAY_HOURS, None, [20261224], "20261224 is not a date"),
        ("Shop", "UTC", DAY_HOURS, None, ["2026-02-30"], "not a real date"),
    ],
)
def test_parse_refuses_bad_input(
    name: str,
    time_zone: str,
    hours: Mapping[str, Sequence[Sequence[str]]],
    country: str | None,
    closures: list[str],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        BusinessCalendar.parse(name, time_zone, hours, country, closures)


@pytest.mark.parametrize(
    ("hours", "closures", "message"),
    [
        ({"mon": ((time(9, tzinfo=UTC), time(17)),)}, frozenset(), "without a time zone"),
        ({"mon": ((time(9, 0, 0, 5), time(17)),)}, frozenset(), "whole seconds"),
        ({"mon": (("09:00", "17:00"),)}, frozenset(), "wall-clock times"),
        ({"mon": ((time(9),),)}, frozenset(), r"\(start, end\) pair"),
        ({"mon": "09:00"}, frozenset(), "list of \\(start, end\\) spans"),
        ({"mon": ((time(9), time(17)),)}, frozenset({NAIVE}), "must be dates"),
        ({"mon": ((time(9), time(17)),)}, "2026-12-24", "set of dates"),
    ],
)
def test_constructor_refuses_bad_input(hours: object, closures: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BusinessCalendar("Shop", "UTC", hours, closures=closures)  # type: ignore[arg-type]


def test_refuses_naive_instants_and_bad_durations() -> None:
    naive, aware = NAIVE, utc(2026, 11, 23, 9, 0)
    for call in (
        lambda: add_business_time(CONTACT_CENTRE, naive, 60),
        lambda: business_seconds_between(CONTACT_CENTRE, aware, naive),
        lambda: is_open(CONTACT_CENTRE, naive),
        lambda: next_opening(CONTACT_CENTRE, naive),
    ):
        with pytest.raises(InvalidInput, match="has no time zone"):
            call()
    for seconds in (-1, float("nan"), float("inf"), True, "60"):
        with pytest.raises(InvalidInput, match="duration"):
            add_business_time(CONTACT_CENTRE, aware, seconds)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="expected a datetime"):
        is_open(CONTACT_CENTRE, date(2026, 11, 23))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="past the year 9999"):
        add_business_time(CONTACT_CENTRE, utc(9999, 12, 1), 400 * HOUR)
    with pytest.raises(InvalidInput, match="past the year 9999"):
        add_business_time(BusinessCalendar.always_open(), utc(9999, 12, 31), 2 * 86_400)


# --- properties ----------------------------------------------------------------------

ZONES = (
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",  # a half-hour daylight-saving shift
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",
    "UTC",
)
# Starts near the 2026 changes in those zones, and anywhere in 2026-2027.
CHANGES = (
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
    datetime(2026, 9, 6, tzinfo=UTC),
)
starts = st.one_of(
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(CHANGES),
        st.integers(-3 * 24 * 60, 24 * 60),
    ),
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis adds the zone
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
durations = st.floats(min_value=0, max_value=21 * 86_400, allow_nan=False)


def _clock(quarter: int) -> str:
    return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


@st.composite
def day_spans(draw: st.DrawFn, whole_hours: bool) -> list[list[str]]:
    """Sorted, non-overlapping spans on quarter-hours (or whole hours) of one day."""
    step = 4 if whole_hours else 1
    points = sorted(draw(st.sets(st.integers(0, 96 // step), max_size=6)))
    return [
        [_clock(start * step), _clock(end * step)]
        for start, end in zip(points[::2], points[1::2], strict=False)
    ]


@st.composite
def calendars(draw: st.DrawFn, whole_hours: bool = False) -> BusinessCalendar:
    hours = {day: draw(day_spans(whole_hours)) for day in WEEKDAYS}
    if not any(hours.values()):
        hours["wed"] = [["09:00", "17:00"]]
    return BusinessCalendar.parse(
        "Generated",
        draw(st.sampled_from(ZONES)),
        hours,
        draw(st.sampled_from((None, "GB-ENG", "US"))),
        [
            day.isoformat()
            for day in draw(
                st.sets(st.dates(date(2025, 12, 1), date(2028, 1, 31)), max_size=6),
            )
        ],
    )


@settings(deadline=None)
@given(calendars(), starts, durations)
def test_business_time_added_is_business_time_counted(
    calendar: BusinessCalendar, start: datetime, seconds: float
) -> None:
    due = add_business_time(calendar, start, seconds)
    assert due >= start
    counted = business_seconds_between(calendar, start, due)
    assert counted == pytest.approx(timedelta(seconds=seconds).total_seconds(), abs=1e-6)


@settings(deadline=None)
@given(calendars(), starts, durations, durations)
def test_more_time_is_never_due_sooner(
    calendar: BusinessCalendar, start: datetime, first: float, second: float
) -> None:
    shorter, longer = sorted((first, second))
    assert add_business_time(calendar, start, shorter) <= add_business_time(calendar, start, longer)
    early = add_business_time(calendar, start, shorter)
    late = early + timedelta(seconds=longer - shorter)
    assert business_seconds_between(calendar, start, early) <= business_seconds_between(
        calendar, start, late
    )


@settings(deadline=None)
@given(calendars(), starts, durations.filter(lambda seconds: seconds >= 1e-6))
def test_a_deadline_is_never_inside_closed_time(
    calendar: BusinessCalendar, start: datetime, seconds: float
) -> None:
    due = add_business_time(calendar, start, seconds)
    # The moment just before a deadline was open: the clock was running up to it.
    assert is_open(calendar, due - timedelta(microseconds=1))


@settings(deadline=None)
@given(calendars(), starts)
def test_next_opening_is_open_and_nothing_before_it_counts(
    calendar: BusinessCalendar, start: datetime
) -> None:
    opening = next_opening(calendar, start)
    assert opening >= start
    assert is_open(calendar, opening)
    assert business_seconds_between(calendar, start, opening) == 0


@settings(deadline=None)
@given(calendars(), starts, st.integers(0, 10 * 86_400), st.integers(0, 10 * 86_400))
def test_counting_splits_at_any_point(
    calendar: BusinessCalendar, start: datetime, first: int, second: int
) -> None:
    middle = start + timedelta(seconds=first)
    end = middle + timedelta(seconds=second)
    whole = business_seconds_between(calendar, start, end)
    parts = business_seconds_between(calendar, start, middle) + business_seconds_between(
        calendar, middle, end
    )
    assert whole == pytest.approx(parts, abs=1e-6)
    assert whole <= (end - start).total_seconds()
    stepwise = add_business_time(calendar, add_business_time(calendar, start, first), second)
    assert stepwise == add_business_time(calendar, start, first + second)


@settings(deadline=None, max_examples=60)
@given(calendars(whole_hours=True), starts)
def test_is_open_agrees_with_reading_the_wall_clock(
    calendar: BusinessCalendar, start: datetime
) -> None:
    """An independent reading: convert each instant to local time and look it up. Spans on
    whole hours never end inside an hour the clocks repeat, where the two readings would
    differ by design (a span ends at the first showing of its end)."""
    zone = calendar.zone
    spans = {day: _seconds_spans(calendar, day) for day in WEEKDAYS}
    base = start.replace(second=0, microsecond=0, minute=start.minute // 15 * 15)
    for step in range(4 * 24 * 4):
        at = base + timedelta(minutes=15 * step)
        local = at.astimezone(zone)
        seconds = local.hour * 3600 + local.minute * 60
        expected = not calendar.closed_on(local.date()) and any(
            begin <= seconds < end for begin, end in spans[WEEKDAYS[local.weekday()]]
        )
        assert is_open(calendar, at) == expected, at


def _seconds_spans(calendar: BusinessCalendar, day: str) -> list[tuple[int, int]]:
    return [
        (
            start.hour * 3600 + start.minute * 60,
            end.hour * 3600 + end.minute * 60 or 86_400,
        )
        for start, end in calendar.hours.get(day, ())
    ]
