"""Service-level policies: how long a customer may wait, per channel, segment and priority,
for each kind of clock, and which policy governs a given case.

A policy names the fields it is about and leaves the rest open (None matches anything);
the most specific matching policy that sets a target for the clock wins, so a VIP email
policy that only tightens the first reply still leaves the next reply to the email
policy. Everything here is plain data and pure functions; storing policies is the
actions' business."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from math import isfinite
from types import MappingProxyType
from typing import TypeVar

from threadline.errors import InvalidInput
from threadline.service_levels.calendars import BusinessCalendar, add_business_time
from threadline.vocabulary import Channel, ClockKind, Priority

MINUTE = 60
HOUR = 60 * MINUTE
# A business day of the contact centre (08:00-20:00), the unit of the resolution target.
BUSINESS_DAY = 12 * HOUR
# The longest target accepted: a year. Longer is a typo, and would walk the calendar for
# decades on a calendar open an hour a week.
MAX_TARGET = 366 * 24 * HOUR
MAX_KEY = 100

E = TypeVar("E", Channel, Priority, ClockKind)

ALWAYS_OPEN = BusinessCalendar.always_open()


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Targets in seconds for the cases a policy matches. `calendar` names the business
    calendar its clocks count in; None counts plain elapsed time (24/7). A clock warns once
    `warn_at` of its target has passed."""

    id: int | None = None
    channel: Channel | None = None
    segment: str | None = None
    priority: Priority | None = None
    calendar: str | None = None
    targets: Mapping[ClockKind, int] = field(hash=False)
    warn_at: float = 0.8

    def __post_init__(self) -> None:
        if self.id is not None and (isinstance(self.id, bool) or not isinstance(self.id, int)):
            raise InvalidInput(f"a policy id is a whole number, got {self.id!r}")
        if self.channel is not None and not isinstance(self.channel, Channel):
            raise InvalidInput(f"channel must be a Channel, got {self.channel!r}")
        if self.priority is not None and not isinstance(self.priority, Priority):
            raise InvalidInput(f"priority must be a Priority, got {self.priority!r}")
        _check_key("segment", self.segment)
        _check_key("calendar", self.calendar)
        object.__setattr__(self, "targets", _normalise_targets(self.targets))
        _check_warn_at(self.warn_at)

    @classmethod
    def parse(
        cls,
        targets: Mapping[str, object],
        *,
        id: int | None = None,
        channel: str | None = None,
        segment: str | None = None,
        priority: str | None = None,
        calendar: str | None = None,
        warn_at: float = 0.8,
    ) -> Policy:
        """A policy from the API's JSON shape, enum values as strings."""
        if not isinstance(targets, Mapping):
            raise InvalidInput('targets must be an object like {"first_reply": 3600}')
        return cls(
            id=id,
            channel=None if channel is None else _parse_enum(Channel, "channel", channel),
            segment=segment,
            priority=None if priority is None else _parse_enum(Priority, "priority", priority),
            calendar=calendar,
            targets={
                _parse_enum(ClockKind, "clock", str(kind)): _target_seconds(kind, seconds)
                for kind, seconds in targets.items()
            },
            warn_at=warn_at,
        )

    @property
    def specificity(self) -> int:
        """How many of channel, segment and priority the policy names."""
        return sum(value is not None for value in (self.channel, self.segment, self.priority))

    def matches(self, *, channel: Channel, segment: str | None, priority: Priority) -> bool:
        return (
            self.channel in (None, channel)
            and self.segment in (None, segment)
            and self.priority in (None, priority)
        )


def most_specific(
    policies: Iterable[Policy],
    *,
    channel: Channel,
    segment: str | None,
    priority: Priority,
    kind: ClockKind,
) -> Policy | None:
    """The policy that governs `kind` for a case on `channel` for a customer in `segment`
    at `priority`: among the policies that match and set a target for `kind`, the one
    naming the most fields. Ties go to the one that names the segment, then the channel,
    then the priority — what the business promised a kind of customer outweighs what it
    expects of a channel, which outweighs urgency — then to the lowest id, then to the one
    listed first."""
    candidates = [
        policy
        for policy in policies
        if kind in policy.targets
        and policy.matches(channel=channel, segment=segment, priority=priority)
    ]
    return min(candidates, key=_rank, default=None)


def _rank(policy: Policy) -> tuple[int, bool, bool, bool, bool, int]:
    """Smaller is stronger."""
    return (
        -policy.specificity,
        policy.segment is None,
        policy.channel is None,
        policy.priority is None,
        policy.id is None,
        policy.id or 0,
    )


def due_at(
    policy: Policy,
    calendars: Mapping[str, BusinessCalendar],
    kind: ClockKind,
    started: datetime,
) -> datetime:
    """When a `kind` clock started at `started` breaches under `policy`, in UTC."""
    return add_business_time(calendar_of(policy, calendars), started, target_of(policy, kind))


def warn_time(
    policy: Policy,
    calendars: Mapping[str, BusinessCalendar],
    kind: ClockKind,
    started: datetime,
) -> datetime:
    """When a `kind` clock started at `started` has used `warn_at` of its target, in UTC:
    the moment a supervisor should hear about it."""
    seconds = target_of(policy, kind) * policy.warn_at
    return add_business_time(calendar_of(policy, calendars), started, seconds)


def target_of(policy: Policy, kind: ClockKind) -> int:
    try:
        return policy.targets[kind]
    except KeyError:
        raise InvalidInput(f"policy {_describe(policy)} sets no {kind.value} target") from None


def calendar_of(policy: Policy, calendars: Mapping[str, BusinessCalendar]) -> BusinessCalendar:
    """The calendar a policy's clocks count in; 24/7 when it names none."""
    if policy.calendar is None:
        return ALWAYS_OPEN
    try:
        return calendars[policy.calendar]
    except KeyError:
        raise InvalidInput(
            f"policy {_describe(policy)} counts in calendar {policy.calendar!r}, which does "
            "not exist"
        ) from None


def _describe(policy: Policy) -> str:
    named = [
        str(value)
        for value in (policy.channel, policy.segment, policy.priority)
        if value is not None
    ]
    return f"#{policy.id}" if policy.id is not None else " / ".join(named) or "(any case)"


def _check_key(what: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty name or absent")
    if value != value.strip() or len(value) > MAX_KEY:
        raise InvalidInput(f"{what} {value!r} has outer spaces or is over {MAX_KEY} characters")


def _normalise_targets(targets: Mapping[ClockKind, int]) -> Mapping[ClockKind, int]:
    """Clock kinds in their declared order, immutable, each target checked."""
    if not isinstance(targets, Mapping):
        raise InvalidInput("targets must map clock kinds to seconds")
    if not targets:
        raise InvalidInput("a policy needs at least one target")
    for kind in targets:
        if not isinstance(kind, ClockKind):
            raise InvalidInput(f"unknown clock {kind!r}: use {_choices(ClockKind)}")
    return MappingProxyType(
        {kind: _target_seconds(kind, targets[kind]) for kind in ClockKind if kind in targets}
    )


def _target_seconds(kind: object, seconds: object) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InvalidInput(f"the {kind} target must be a whole number of seconds, got {seconds!r}")
    if not 0 < seconds <= MAX_TARGET:
        raise InvalidInput(
            f"the {kind} target must be between 1 second and a year ({MAX_TARGET} s), got {seconds}"
        )
    return seconds


def _check_warn_at(warn_at: float) -> None:
    if isinstance(warn_at, bool) or not isinstance(warn_at, int | float):
        raise InvalidInput(f"warn_at must be a fraction such as 0.8, got {warn_at!r}")
    if not (isfinite(warn_at) and 0 < warn_at < 1):
        raise InvalidInput(f"warn_at must be between 0 and 1 (exclusive), got {warn_at!r}")


def _parse_enum(kind: type[E], what: str, value: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"unknown {what} {value!r}: use {_choices(kind)}") from None


def _choices(kind: type[Channel] | type[Priority] | type[ClockKind]) -> str:
    return ", ".join(member.value for member in kind)


DEFAULT_CALENDARS: Mapping[str, BusinessCalendar] = MappingProxyType(
    {
        calendar.name: calendar
        for calendar in (
            BusinessCalendar.parse(
                "Contact centre",
                "Europe/London",
                {
                    **{day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
                    "sat": [["09:00", "17:00"]],
                },
                holidays_country="GB-ENG",
            ),
            BusinessCalendar.parse(
                "Shop",
                "Europe/London",
                {
                    **{
                        day: [["09:00", "17:30"]]
                        for day in ("mon", "tue", "wed", "thu", "fri", "sat")
                    },
                    "sun": [["10:00", "16:00"]],
                },
                holidays_country="GB-ENG",
            ),
            ALWAYS_OPEN,
        )
    }
)

_SOCIAL = (Channel.X, Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP)
_CONTACT_CENTRE = "Contact centre"

# What the seeds expect: the phone answered within four rings, nobody on hold past two
# minutes, chats picked up within a minute, posts and texts answered within the hour,
# email within half a contact-centre day; VIPs sooner, trade accounts' email sooner.
DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy(
        channel=Channel.PHONE,
        targets={ClockKind.ANSWER: 20, ClockKind.HOLD: 2 * MINUTE},
    ),
    Policy(
        channel=Channel.CHAT,
        targets={ClockKind.ANSWER: MINUTE, ClockKind.FIRST_REPLY: 2 * MINUTE},
    ),
    *(Policy(channel=channel, targets={ClockKind.FIRST_REPLY: HOUR}) for channel in _SOCIAL),
    Policy(channel=Channel.SMS, targets={ClockKind.FIRST_REPLY: HOUR}),
    Policy(
        channel=Channel.EMAIL,
        calendar=_CONTACT_CENTRE,
        targets={ClockKind.FIRST_REPLY: 4 * HOUR, ClockKind.NEXT_REPLY: 8 * HOUR},
    ),
    Policy(calendar=_CONTACT_CENTRE, targets={ClockKind.RESOLUTION: 5 * BUSINESS_DAY}),
    Policy(channel=Channel.PHONE, segment="vip", targets={ClockKind.ANSWER: 10}),
    Policy(
        channel=Channel.EMAIL,
        segment="vip",
        calendar=_CONTACT_CENTRE,
        targets={ClockKind.FIRST_REPLY: HOUR},
    ),
    *(
        Policy(channel=channel, segment="vip", targets={ClockKind.FIRST_REPLY: 15 * MINUTE})
        for channel in _SOCIAL
    ),
    Policy(
        channel=Channel.EMAIL,
        segment="trade",
        calendar=_CONTACT_CENTRE,
        targets={ClockKind.FIRST_REPLY: 2 * HOUR},
    ),
)
