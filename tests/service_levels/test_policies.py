"""Service-level policies: which policy governs a case, what the defaults promise, when a
clock is due and when it warns, and every bad policy refused with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime
from random import Random
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.errors import InvalidInput
from threadline.service_levels.calendars import business_seconds_between
from threadline.service_levels.policies import (
    DEFAULT_CALENDARS,
    DEFAULT_POLICIES,
    HOUR,
    MINUTE,
    Policy,
    due_at,
    most_specific,
    warn_time,
)
from threadline.vocabulary import Channel, ClockKind, Priority

LONDON = ZoneInfo("Europe/London")
SOCIAL = (Channel.X, Channel.MESSENGER, Channel.INSTAGRAM, Channel.WHATSAPP)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def default(
    channel: Channel,
    kind: ClockKind,
    segment: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Policy | None:
    return most_specific(
        DEFAULT_POLICIES, channel=channel, segment=segment, priority=priority, kind=kind
    )


# --- the defaults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "segment", "kind", "seconds", "calendar"),
    [
        (Channel.PHONE, None, ClockKind.ANSWER, 20, None),
        (Channel.PHONE, "standard", ClockKind.HOLD, 120, None),
        (Channel.PHONE, "vip", ClockKind.ANSWER, 10, None),
        (Channel.PHONE, "vip", ClockKind.HOLD, 120, None),
        (Channel.CHAT, None, ClockKind.ANSWER, 60, None),
        (Channel.CHAT, "vip", ClockKind.FIRST_REPLY, 120, None),
        (Channel.SMS, None, ClockKind.FIRST_REPLY, HOUR, None),
        (Channel.EMAIL, None, ClockKind.FIRST_REPLY, 4 * HOUR, "Contact centre"),
        (Channel.EMAIL, None, ClockKind.NEXT_REPLY, 8 * HOUR, "Contact centre"),
        (Channel.EMAIL, "vip", ClockKind.FIRST_REPLY, HOUR, "Contact centre"),
        (Channel.EMAIL, "vip", ClockKind.NEXT_REPLY, 8 * HOUR, "Contact centre"),
        (Channel.EMAIL, "trade", ClockKind.FIRST_REPLY, 2 * HOUR, "Contact centre"),
        (Channel.STORE, None, ClockKind.RESOLUTION, 60 * HOUR, "Contact centre"),
        (Channel.EMAIL, "vip", ClockKind.RESOLUTION, 60 * HOUR, "Contact centre"),
        *((channel, None, ClockKind.FIRST_REPLY, HOUR, None) for channel in SOCIAL),
        *((channel, "vip", ClockKind.FIRST_REPLY, 15 * MINUTE, None) for channel in SOCIAL),
        *((channel, "trade", ClockKind.FIRST_REPLY, HOUR, None) for channel in SOCIAL),
    ],
)
def test_defaults_hold_the_seeds_expectations(
    channel: Channel, segment: str | None, kind: ClockKind, seconds: int, calendar: str | None
) -> None:
    policy = default(channel, kind, segment)
    assert policy is not None
    assert policy.targets[kind] == seconds
    assert policy.calendar == calendar


@pytest.mark.parametrize(
    ("channel", "kind"),
    [
        (Channel.EMAIL, ClockKind.ANSWER),
        (Channel.CHAT, ClockKind.HOLD),
        (Channel.STORE, ClockKind.FIRST_REPLY),
        (Channel.PHONE, ClockKind.NEXT_REPLY),
    ],
)
def test_no_default_where_the_clock_means_nothing(channel: Channel, kind: ClockKind) -> None:
    assert default(channel, kind) is None


def test_defaults_are_unambiguous_and_name_calendars_that_exist() -> None:
    seen: set[tuple[object, ...]] = set()
    for policy in DEFAULT_POLICIES:
        assert policy.calendar is None or policy.calendar in DEFAULT_CALENDARS
        for kind in policy.targets:
            key = (policy.channel, policy.segment, policy.priority, kind)
            assert key not in seen, key
            seen.add(key)


def test_default_calendars() -> None:
    assert set(DEFAULT_CALENDARS) == {"Contact centre", "Shop", "24/7"}
    assert DEFAULT_CALENDARS["24/7"].is_always_open
    shop = DEFAULT_CALENDARS["Shop"].to_json()
    assert shop["time_zone"] == "Europe/London"
    assert shop["hours"] == {
        **{day: [["09:00", "17:30"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")},
        "sun": [["10:00", "16:00"]],
    }
    assert shop["holidays_country"] == "GB-ENG"


# --- due and warning times ------------------------------------------------------------


def test_friday_email_due_and_warning() -> None:
    policy = default(Channel.EMAIL, ClockKind.FIRST_REPLY)
    assert policy is not None
    started = london(2026, 11, 20, 16, 30)
    assert due_at(policy, DEFAULT_CALENDARS, ClockKind.FIRST_REPLY, started) == london(
        2026, 11, 21, 9, 30
    )
    # 80% of four hours is 3 h 12 min, still inside Friday's opening.
    assert warn_time(policy, DEFAULT_CALENDARS, ClockKind.FIRST_REPLY, started) == london(
        2026, 11, 20, 19, 42
    )


def test_vip_email_at_christmas_waits_for_the_contact_centre_to_reopen() -> None:
    policy = default(Channel.EMAIL, ClockKind.FIRST_REPLY, "vip")
    assert policy is not None
    started = london(2026, 12, 25, 10, 0)
    assert due_at(policy, DEFAULT_CALENDARS, ClockKind.FIRST_REPLY, started) == london(
        2026, 12, 29, 9, 0
    )


def test_resolution_counts_five_contact_centre_days() -> None:
    policy = default(Channel.PHONE, ClockKind.RESOLUTION)
    assert policy is not None
    started = london(2026, 11, 23, 8, 0)  # Monday
    assert due_at(policy, DEFAULT_CALENDARS, ClockKind.RESOLUTION, started) == london(
        2026, 11, 27, 20, 0
    )


def test_a_policy_without_a_calendar_counts_elapsed_time() -> None:
    policy = default(Channel.X, ClockKind.FIRST_REPLY)
    assert policy is not None
    started = london(2026, 12, 25, 23, 30)
    assert due_at(policy, {}, ClockKind.FIRST_REPLY, started) == london(2026, 12, 26, 0, 30)
    assert warn_time(policy, {}, ClockKind.FIRST_REPLY, started) == london(2026, 12, 26, 0, 18)


def test_due_refuses_a_missing_target_or_calendar() -> None:
    phone = default(Channel.PHONE, ClockKind.ANSWER)
    assert phone is not None
    with pytest.raises(InvalidInput, match="phone sets no first_reply target"):
        due_at(phone, DEFAULT_CALENDARS, ClockKind.FIRST_REPLY, london(2026, 11, 23))
    email = Policy(id=7, calendar="Head office", targets={ClockKind.FIRST_REPLY: HOUR})
    with pytest.raises(InvalidInput, match="#7 counts in calendar 'Head office'"):
        warn_time(email, DEFAULT_CALENDARS, ClockKind.FIRST_REPLY, london(2026, 11, 23))


@given(
    st.sampled_from(DEFAULT_POLICIES),
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis adds the zone
        max_value=datetime(2027, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
)
def test_warning_comes_first_at_its_share_of_business_time(
    policy: Policy, started: datetime
) -> None:
    for kind, seconds in policy.targets.items():
        warn = warn_time(policy, DEFAULT_CALENDARS, kind, started)
        due = due_at(policy, DEFAULT_CALENDARS, kind, started)
        assert started <= warn <= due
        calendar = DEFAULT_CALENDARS[policy.calendar or "24/7"]
        counted = business_seconds_between(calendar, started, warn)
        assert counted == pytest.approx(seconds * policy.warn_at, abs=1e-6)


# --- which policy wins ----------------------------------------------------------------


def test_more_fields_beat_fewer() -> None:
    general = Policy(id=1, targets={ClockKind.FIRST_REPLY: 100})
    email = Policy(id=2, channel=Channel.EMAIL, targets={ClockKind.FIRST_REPLY: 200})
    vip_email = Policy(
        id=3, channel=Channel.EMAIL, segment="vip", targets={ClockKind.FIRST_REPLY: 300}
    )
    policies = [general, email, vip_email]
    pick = most_specific(
        policies,
        channel=Channel.EMAIL,
        segment="vip",
        priority=Priority.LOW,
        kind=ClockKind.FIRST_REPLY,
    )
    assert pick == vip_email
    pick = most_specific(
        policies,
        channel=Channel.EMAIL,
        segment="trade",
        priority=Priority.LOW,
        kind=ClockKind.FIRST_REPLY,
    )
    assert pick == email
    pick = most_specific(
        policies, channel=Channel.SMS, segment=None, priority=Priority.LOW, kind=ClockKind.HOLD
    )
    assert pick is None


def test_ties_go_to_segment_then_channel_then_priority_then_lowest_id() -> None:
    by_segment = Policy(id=9, segment="vip", targets={ClockKind.FIRST_REPLY: 1})
    by_channel = Policy(id=2, channel=Channel.EMAIL, targets={ClockKind.FIRST_REPLY: 2})
    by_priority = Policy(id=1, priority=Priority.URGENT, targets={ClockKind.FIRST_REPLY: 3})

    def pick(*policies: Policy) -> Policy | None:
        return most_specific(
            policies,
            channel=Channel.EMAIL,
            segment="vip",
            priority=Priority.URGENT,
            kind=ClockKind.FIRST_REPLY,
        )

    assert pick(by_priority, by_channel, by_segment) == by_segment
    assert pick(by_priority, by_channel) == by_channel
    twin = Policy(id=1, segment="vip", targets={ClockKind.FIRST_REPLY: 4})
    assert pick(by_segment, twin) == twin
    unsaved = Policy(segment="vip", targets={ClockKind.FIRST_REPLY: 5})
    assert pick(unsaved, by_segment) == by_segment
    other_unsaved = Policy(segment="vip", targets={ClockKind.FIRST_REPLY: 6})
    assert pick(unsaved, other_unsaved) == unsaved


def test_a_policy_without_the_clock_does_not_shadow_one_with_it() -> None:
    vip_email = Policy(channel=Channel.EMAIL, segment="vip", targets={ClockKind.FIRST_REPLY: HOUR})
    email = Policy(channel=Channel.EMAIL, targets={ClockKind.NEXT_REPLY: 8 * HOUR})
    pick = most_specific(
        [vip_email, email],
        channel=Channel.EMAIL,
        segment="vip",
        priority=Priority.NORMAL,
        kind=ClockKind.NEXT_REPLY,
    )
    assert pick == email


segments = st.sampled_from((None, "vip", "trade", "standard"))
channels = st.sampled_from((None, Channel.EMAIL, Channel.PHONE, Channel.X))
priorities = st.sampled_from((None, *Priority))
kinds = st.sampled_from(tuple(ClockKind))
policies = st.builds(
    Policy,
    id=st.one_of(st.none(), st.integers(1, 50)),
    channel=channels,
    segment=segments,
    priority=priorities,
    targets=st.dictionaries(kinds, st.integers(1, 10 * HOUR), min_size=1),
)
Case = tuple[Channel, str | None, Priority, ClockKind]
cases = st.tuples(
    st.sampled_from((Channel.EMAIL, Channel.PHONE, Channel.X)),
    segments,
    st.sampled_from(tuple(Priority)),
    kinds,
)


def governing(candidates: list[Policy], case: Case) -> Policy | None:
    channel, segment, priority, kind = case
    return most_specific(candidates, channel=channel, segment=segment, priority=priority, kind=kind)


@given(st.lists(policies, max_size=12), cases)
def test_the_answer_matches_and_nothing_matching_is_more_specific(
    candidates: list[Policy], case: Case
) -> None:
    channel, segment, priority, kind = case
    matching = [
        policy
        for policy in candidates
        if kind in policy.targets
        and policy.channel in (None, channel)
        and policy.segment in (None, segment)
        and policy.priority in (None, priority)
    ]
    pick = governing(candidates, case)
    if pick is None:
        assert matching == []
        return
    assert pick in matching
    assert pick.specificity == max(policy.specificity for policy in matching)


@given(st.lists(policies, min_size=1, max_size=12), policies, cases)
def test_adding_a_less_specific_policy_never_changes_the_answer(
    candidates: list[Policy], extra: Policy, case: Case
) -> None:
    pick = governing(candidates, case)
    if pick is None or extra.specificity >= pick.specificity:
        return
    for at in (0, len(candidates)):
        assert governing([*candidates[:at], extra, *candidates[at:]], case) is pick


@given(st.lists(policies, max_size=12, unique_by=lambda policy: policy.id), cases, st.randoms())
def test_with_distinct_ids_the_order_of_policies_does_not_matter(
    candidates: list[Policy], case: Case, random: Random
) -> None:
    saved = [policy for policy in candidates if policy.id is not None]
    shuffled = random.sample(saved, len(saved))
    assert governing(saved, case) == governing(shuffled, case)


# --- bad policies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"targets": {}}, "at least one target"),
        ({"targets": []}, "map clock kinds"),
        ({"targets": {"first_reply": 60}}, "unknown clock 'first_reply'"),
        ({"targets": {ClockKind.ANSWER: 0}}, "between 1 second and a year"),
        ({"targets": {ClockKind.ANSWER: -5}}, "between 1 second and a year"),
        ({"targets": {ClockKind.RESOLUTION: 400 * 24 * HOUR}}, "between 1 second and a year"),
        ({"targets": {ClockKind.ANSWER: 2.5}}, "whole number of seconds"),
        ({"targets": {ClockKind.ANSWER: True}}, "whole number of seconds"),
        ({"warn_at": 0}, "between 0 and 1"),
        ({"warn_at": 1}, "between 0 and 1"),
        ({"warn_at": 1.5}, "between 0 and 1"),
        ({"warn_at": float("nan")}, "between 0 and 1"),
        ({"warn_at": "0.8"}, "a fraction such as 0.8"),
        ({"warn_at": True}, "a fraction such as 0.8"),
        ({"channel": "email"}, "channel must be a Channel"),
        ({"priority": "high"}, "priority must be a Priority"),
        ({"segment": ""}, "segment must be a non-empty name"),
        ({"segment": " vip"}, "segment ' vip' has outer spaces"),
        ({"calendar": "x" * 101}, "over 100 characters"),
        ({"calendar": 3}, "calendar must be a non-empty name"),
        ({"id": "7"}, "a policy id is a whole number"),
        ({"id": True}, "a policy id is a whole number"),
    ],
)
def test_policy_refuses_bad_input(fields: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"targets": {ClockKind.ANSWER: 20}, **fields}
    with pytest.raises(InvalidInput, match=message):
        Policy(**values)  # type: ignore[arg-type]


def test_parse_reads_the_api_shape() -> None:
    policy = Policy.parse(
        {"first_reply": 3600, "resolution": 5 * 12 * HOUR},
        id=4,
        channel="email",
        segment="vip",
        priority="high",
        calendar="Contact centre",
        warn_at=0.5,
    )
    assert policy == Policy(
        id=4,
        channel=Channel.EMAIL,
        segment="vip",
        priority=Priority.HIGH,
        calendar="Contact centre",
        targets={ClockKind.FIRST_REPLY: HOUR, ClockKind.RESOLUTION: 60 * HOUR},
        warn_at=0.5,
    )
    assert list(policy.targets) == [ClockKind.FIRST_REPLY, ClockKind.RESOLUTION]


@pytest.mark.parametrize(
    ("targets", "fields", "message"),
    [
        ([], {}, "targets must be an object"),
        ({"reply": 60}, {}, "unknown clock 'reply': use answer, first_reply"),
        ({"answer": "20"}, {}, "answer target must be a whole number of seconds, got '20'"),
        ({"answer": 20}, {"channel": "fax"}, "unknown channel 'fax': use store, phone"),
        ({"answer": 20}, {"priority": "asap"}, "unknown priority 'asap': use low, normal"),
    ],
)
def test_parse_refuses_bad_input(targets: object, fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Policy.parse(targets, **fields)  # type: ignore[arg-type]
