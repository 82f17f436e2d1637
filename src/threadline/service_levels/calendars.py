"""Business calendars: when a business is open, in its own time zone, so that a
service-level clock counts only the time somebody was there to answer.

A calendar is plain data: weekly opening hours in wall-clock time, public holidays from
the `holidays` package and the business's own closures. The arithmetic works on UTC
instants one opening span at a time, so a five-day target costs a handful of steps, and
daylight-saving changes are handled by converting each span's two ends to UTC, never by
adding wall-clock hours."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from math import isfinite
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from threadline.errors import InvalidInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS = 86_400
MAX_NAME = 100

Span = tuple[time, time]
# Opening spans of one weekday as seconds after local midnight, [start, end), end <= 86400.
DayPieces = tuple[tuple[int, int], ...]

_CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")


@dataclass(frozen=True)
class BusinessCalendar:
    """When one part of the business is open. In `hours` a span's end of 00:00 means
    midnight at the end of that day (what the JSON writes as "24:00"); a span never runs
    past midnight: end at 24:00 and carry on from 00:00 the next day instead, which keeps
    a swapped pair of times from silently becoming a fifteen-hour night shift. A holiday or
    closure closes the whole local day."""

    name: str
    time_zone: str
    hours: Mapping[str, tuple[Span, ...]] = field(hash=False)
    holidays_country: str | None = None
    closures: frozenset[date] = frozenset()
    _pieces: tuple[DayPieces, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        _zone(self.time_zone)
        if self.holidays_country is not None:
            _check_country(self.holidays_country)
        object.__setattr__(self, "hours", _normalise_hours(self.hours))
        object.__setattr__(self, "closures", _normalise_closures(self.closures))
        pieces = tuple(_day_pieces(day, self.hours.get(day, ())) for day in WEEKDAYS)
        if not any(pieces):
            raise InvalidInput(f"calendar {self.name!r} must be open at least once a week")
        object.__setattr__(self, "_pieces", pieces)

    @classmethod
    def parse(
        cls,
        name: str,
        time_zone: str,
        hours: Mapping[str, Sequence[Sequence[str]]],
        holidays_country: str | None = None,
        closures: Iterable[str] | None = (),
    ) -> BusinessCalendar:
        """A calendar from the API's JSON shape: `{"mon": [["09:00", "17:30"]], ...}` and
        closures as ISO dates (null or absent: none)."""
        if not isinstance(hours, Mapping):
            raise InvalidInput('hours must be an object like {"mon": [["09:00", "17:30"]]}')
        parsed = {day: _parse_day(str(day), spans) for day, spans in hours.items()}
        if closures is None:
            closures = ()
        if isinstance(closures, str) or not isinstance(closures, Iterable):
            raise InvalidInput("closures must be a list of dates like 2026-12-24")
        return cls(
            name=name,
            time_zone=time_zone,
            hours=parsed,
            holidays_country=holidays_country,
            closures=frozenset(_parse_date(text) for text in closures),
        )

    @classmethod
    def always_open(cls, name: str = "24/7") -> BusinessCalendar:
        """Open every second of every day: a clock on it counts plain elapsed time."""
        whole_day = ((time(0), time(0)),)
        return cls(name=name, time_zone="UTC", hours=dict.fromkeys(WEEKDAYS, whole_day))

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    @property
    def is_always_open(self) -> bool:
        """True when no second is ever closed, so arithmetic can skip the calendar."""
        return (
            self.holidays_country is None
            and not self.closures
            and all(day == ((0, DAY_SECONDS),) for day in self._pieces)
        )

    def closed_on(self, day: date) -> bool:
        """Whether the whole local day is closed: a public holiday or the business's own
        closure."""
        if day in self.closures:
            return True
        country = self.holidays_country
        return country is not None and day in public_holidays(country, day.year)

    def to_json(self) -> dict[str, object]:
        """The API's JSON shape; `parse(**calendar.to_json())` gives the calendar back."""
        return {
            "name": self.name,
            "time_zone": self.time_zone,
            "hours": {
                day: [[_format(start), _format_end(end)] for start, end in spans]
                for day, spans in self.hours.items()
            },
            "holidays_country": self.holidays_country,
            "closures": sorted(day.isoformat() for day in self.closures),
        }


@lru_cache(maxsize=512)
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The public holidays of `country` ("GB", or with a subdivision "GB-ENG") in `year`,
    observed days included. Memoised: the table is fixed data, so the cache holds no
    state that another process could disagree with."""
    code, _, subdivision = country.partition("-")
    return frozenset(holidays.country_holidays(code, subdiv=subdivision or None, years=year))


def add_business_time(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The UTC instant at which `seconds` of open time have passed since `start`: the
    earliest such instant, so a target that runs out exactly at closing is due at closing,
    and zero seconds is `start` itself. Time before the next opening does not count."""
    remaining = _duration(seconds)
    at = _utc(start)
    if calendar.is_always_open:
        return _checked_sum(at, remaining)
    if not remaining:
        return at
    for opened, closed in _openings(calendar, at):
        if closed <= at:
            continue
        opened = max(opened, at)
        if remaining <= closed - opened:
            return opened + remaining
        remaining -= closed - opened
    raise InvalidInput(f"{seconds} s of open time on {calendar.name!r} runs past the year 9999")


def business_seconds_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Open seconds in [start, end); zero when end is not after start. Summed as exact
    microseconds so that it undoes `add_business_time`."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return 0.0
    if calendar.is_always_open:
        return (end - start).total_seconds()
    total = timedelta()
    for opened, closed in _openings(calendar, start):
        if opened >= end:
            break
        overlap = min(closed, end) - max(opened, start)
        if overlap > timedelta():
            total += overlap
    return total.total_seconds()


def is_open(calendar: BusinessCalendar, at: datetime) -> bool:
    """Whether `at` falls inside an opening span (spans include their start, not their end)."""
    at = _utc(at)
    if calendar.is_always_open:
        return True
    for opened, closed in _openings(calendar, at):
        if opened > at:
            return False
        if at < closed:
            return True
    return False


def next_opening(calendar: BusinessCalendar, at: datetime) -> datetime:
    """`at` itself when open, else the UTC instant the calendar next opens."""
    at = _utc(at)
    if calendar.is_always_open:
        return at
    for opened, closed in _openings(calendar, at):
        if closed > at:
            return max(opened, at)
    raise InvalidInput(f"calendar {calendar.name!r} does not open again before the year 9999")


def _openings(calendar: BusinessCalendar, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's open intervals as UTC instants, in order, from the local day before
    `since` (a day early, so that an hour repeated at midnight is never skipped), until the
    calendar runs out of dates. Touching intervals are yielded separately."""
    zone = calendar.zone
    try:
        day = since.astimezone(zone).date() - timedelta(days=1)
    except OverflowError:
        return
    while True:
        yield from _day_openings(calendar, zone, day)
        if day == date.max:
            return
        day += timedelta(days=1)


@lru_cache(maxsize=8192)
def _day_openings(
    calendar: BusinessCalendar, zone: ZoneInfo, day: date
) -> tuple[tuple[datetime, datetime], ...]:
    """One local day's open intervals as UTC instants. Memoised: every new case works out
    its due times from the same few days, and a calendar is an immutable value (a changed
    calendar is another key), so the cache can never answer for a calendar that is gone."""
    if calendar.closed_on(day):
        return ()
    spans = []
    for start, end in calendar._pieces[day.weekday()]:
        opened, closed = _instant(zone, day, start), _instant(zone, day, end)
        if opened < closed:  # a span lost in a spring-forward gap is no time at all
            spans.append((opened, closed))
    return tuple(spans)


def _instant(zone: ZoneInfo, day: date, seconds: int) -> datetime:
    """The UTC instant at which the wall clock in `zone` shows `seconds` after midnight of
    `day`: the first time it does when the clocks go back, and the moment the clocks jump
    past it when they go forward and that wall time never shows."""
    try:
        wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier of two
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap fold=0 reads the wall time with the offset from before the jump, which lands
    # after the jump, and fold=1 lands before it; the jump lies between, on a whole second.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(instant.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime):
        raise InvalidInput(f"expected a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"{at.isoformat()} has no time zone; business time needs an instant")
    return at.astimezone(UTC)


def _duration(seconds: float) -> timedelta:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidInput(f"a duration must be a number of seconds, got {seconds!r}")
    if not isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"a duration must be zero or more seconds, got {seconds!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidInput(f"{seconds} s is too long a duration") from None


def _checked_sum(at: datetime, delta: timedelta) -> datetime:
    try:
        return at + delta
    except OverflowError:
        raise InvalidInput(
            f"{delta.total_seconds()} s after {at} runs past the year 9999"
        ) from None


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise InvalidInput("time_zone must be an IANA name such as Europe/London")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA name such as Europe/London"
        ) from None


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a calendar needs a name")
    if name != name.strip() or len(name) > MAX_NAME:
        raise InvalidInput(f"a calendar name has no outer spaces and at most {MAX_NAME} characters")


def _check_country(country: str) -> None:
    if not isinstance(country, str) or not country:
        raise InvalidInput("holidays_country must be a country code such as GB or GB-ENG")
    try:
        public_holidays(country, 2000)
    except NotImplementedError:
        raise InvalidInput(
            f"no public holidays known for {country!r}: use a country code such as GB, "
            "or a country and subdivision such as GB-ENG"
        ) from None


def _normalise_hours(hours: Mapping[str, Sequence[Span]]) -> Mapping[str, tuple[Span, ...]]:
    """Weekdays in order, closed days dropped, immutable: equal hours compare equal."""
    if not isinstance(hours, Mapping):
        raise InvalidInput("hours must map weekdays (mon ... sun) to opening spans")
    unknown = sorted(str(day) for day in hours if day not in WEEKDAYS)
    if unknown:
        raise InvalidInput(f"unknown weekday {unknown[0]!r}: use mon, tue, wed, thu, fri, sat, sun")
    normal: dict[str, tuple[Span, ...]] = {}
    for day in WEEKDAYS:
        spans = hours.get(day, ())
        if isinstance(spans, str | bytes) or not isinstance(spans, Sequence):
            raise InvalidInput(f"hours for {day} must be a list of (start, end) spans")
        if spans:
            normal[day] = tuple(_span(day, span) for span in spans)
    return MappingProxyType(normal)


def _span(day: str, span: object) -> Span:
    if not (isinstance(span, Sequence) and len(span) == 2):
        raise InvalidInput(f"each span on {day} must be a (start, end) pair of times")
    return (_wall_time(day, span[0]), _wall_time(day, span[1]))


def _wall_time(day: str, moment: object) -> time:
    if not isinstance(moment, time) or moment.tzinfo is not None or moment.microsecond:
        raise InvalidInput(
            f"spans on {day} must be wall-clock times in whole seconds without a time zone"
        )
    return moment


def _day_pieces(day: str, spans: Sequence[Span]) -> DayPieces:
    """One day's spans as seconds after midnight, refused unless each is non-empty and
    each starts after the one before has ended; touching spans are merged."""
    pieces: list[tuple[int, int]] = []
    for start_time, end_time in spans:
        start, end = _seconds(start_time), _seconds(end_time) or DAY_SECONDS
        label = f"{day} {_format(start_time)}-{_format_end(end_time)}"
        if end <= start:
            raise InvalidInput(
                f"{label} ends before it starts; for hours past midnight end at 24:00 and "
                "carry on from 00:00 the next day"
            )
        if pieces and start < pieces[-1][1]:
            raise InvalidInput(f"{label} overlaps or comes before the span before it on {day}")
        if pieces and start == pieces[-1][1]:
            pieces[-1] = (pieces[-1][0], end)
        else:
            pieces.append((start, end))
    return tuple(pieces)


def _normalise_closures(closures: Iterable[date]) -> frozenset[date]:
    if isinstance(closures, str) or not isinstance(closures, Iterable):
        raise InvalidInput("closures must be a set of dates")
    days = frozenset(closures)
    for day in days:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise InvalidInput(f"closures must be dates, got {day!r}")
    return days


def _parse_day(day: str, spans: object) -> tuple[Span, ...]:
    if isinstance(spans, str) or not isinstance(spans, Sequence):
        raise InvalidInput(f'hours.{day} must be a list of spans like [["09:00", "17:30"]]')
    parsed: list[Span] = []
    for index, span in enumerate(spans):
        where = f"hours.{day}[{index}]"
        if isinstance(span, str) or not isinstance(span, Sequence) or len(span) != 2:
            raise InvalidInput(f'{where} must be two times like ["09:00", "17:30"]')
        parsed.append(
            (_parse_clock(where, span[0], end=False), _parse_clock(where, span[1], end=True))
        )
    return tuple(parsed)


def _parse_clock(where: str, text: object, *, end: bool) -> time:
    if end and text == "24:00":
        return time(0)
    if not isinstance(text, str) or not _CLOCK.fullmatch(text):
        allowed = "HH:MM from 00:00 to 24:00" if end else "HH:MM from 00:00 to 23:59"
        raise InvalidInput(f"{where}: {text!r} is not a time; use {allowed}")
    if end and text == "00:00":
        raise InvalidInput(f"{where}: a span that ends at midnight ends at 24:00, not 00:00")
    return time.fromisoformat(text)


def _parse_date(text: object) -> date:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise InvalidInput(f"closure {text!r} is not a date; use YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"closure {text!r} is not a real date") from None


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _format(moment: time) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _format_end(moment: time) -> str:
    return "24:00" if moment == time(0) else _format(moment)


__all__ = [
    "WEEKDAYS",
    "BusinessCalendar",
    "add_business_time",
    "business_seconds_between",
    "is_open",
    "next_opening",
    "public_holidays",
]
