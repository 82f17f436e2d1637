"""The routing rules in memory: capacity keys, channel groups, order among equals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from threadline.routing.router import (
    AgentSeat,
    ChannelGroup,
    Limits,
    Router,
    Waiting,
    group_of,
)
from threadline.vocabulary import Channel

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def case(n: int, channel: Channel | None = Channel.EMAIL, **extra: object) -> Waiting:
    return Waiting(case_id=n, customer_id=1000 + n, channel=channel, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "group"),
    [
        (Channel.PHONE, ChannelGroup.VOICE),
        (Channel.CHAT, ChannelGroup.CHAT),
        (Channel.EMAIL, ChannelGroup.MESSAGING),
        (Channel.WHATSAPP, ChannelGroup.MESSAGING),
        (Channel.STORE, ChannelGroup.MESSAGING),
        (None, ChannelGroup.MESSAGING),
    ],
)
def test_channel_groups(channel: Channel | None, group: ChannelGroup) -> None:
    assert group_of(channel) is group


def test_capacity_defaults_and_overrides() -> None:
    assert dict(Limits.of({}).groups) == {"voice": 1, "chat": 3, "messaging": 12}
    limits = Limits.of({"phone": 2, "messaging": 20, "email": 5, "chat": 0})
    assert dict(limits.groups) == {"voice": 2, "chat": 0, "messaging": 20}
    assert dict(limits.channels) == {Channel.PHONE: 2, Channel.EMAIL: 5, Channel.CHAT: 0}
    # A group's own key wins over its one channel's for the group's limit.
    assert Limits.of({"voice": 3, "phone": 1}).groups[ChannelGroup.VOICE] == 3
    assert Limits.of({"messaging": -4, "chat": "x"}).groups == {
        ChannelGroup.VOICE: 1,
        ChannelGroup.CHAT: 0,
        ChannelGroup.MESSAGING: 0,
    }


def test_the_messaging_channels_share_one_pool_and_a_channel_cap_holds_within_it() -> None:
    router = Router([AgentSeat(1, capacity={"messaging": 5, "email": 2})])
    emails = [router.route(case(n, Channel.EMAIL)) for n in range(4)]
    texts = [router.route(case(10 + n, Channel.SMS)) for n in range(4)]
    assert emails == [1, 1, None, None]
    assert texts == [1, 1, 1, None]


def test_loads_count_against_capacity_per_group() -> None:
    router = Router([AgentSeat(1)], [(1, Channel.PHONE, 1), (1, None, 11)])
    assert router.route(case(1, Channel.PHONE)) is None
    assert router.route(case(2, Channel.CHAT)) == 1
    assert router.route(case(3, Channel.X)) == 1
    assert router.route(case(4, Channel.EMAIL)) is None


def test_least_loaded_in_the_group_then_overall_then_longest_since_routed() -> None:
    agents = [
        AgentSeat(1, last_routed_at=NOW - timedelta(minutes=1)),
        AgentSeat(2, last_routed_at=NOW - timedelta(minutes=5)),
        AgentSeat(3, last_routed_at=None),
        AgentSeat(4),
    ]
    # 4 has two chats: least loaded in messaging with 1-3, but more loaded overall.
    router = Router(agents, [(4, Channel.CHAT, 2)], now=NOW)
    # Never routed first (3), then the longest waiting (2), then 1; 4 last.
    assert [router.route(case(n)) for n in range(4)] == [3, 2, 1, 4]
    # Everyone has one email now: 1-3 have one case, 4 has three; then in turn again.
    assert [router.route(case(n)) for n in range(10, 13)] == [3, 2, 1]


def test_equal_agents_end_at_most_one_case_apart() -> None:
    router = Router([AgentSeat(n, capacity={"messaging": 100}) for n in range(1, 12)])
    for n in range(1_000):
        assert router.route(case(n)) is not None
    loads = [router.load(n) for n in range(1, 12)]
    assert sum(loads) == 1_000 and max(loads) - min(loads) <= 1


def test_stickiness_skills_and_teams() -> None:
    agents = [
        AgentSeat(1, skills=frozenset({"lang:fr", "product:wine"}), teams=frozenset({7})),
        AgentSeat(2, skills=frozenset({"lang:fr"})),
    ]
    router = Router(agents, [(1, Channel.EMAIL, 5)], previous={2001: 1})
    # Sticky: the customer's previous owner, though more loaded.
    assert router.choose(Waiting(1, 2001, Channel.EMAIL)) == 1
    # Least loaded with the skill; only 1 has both skills; only 1 is in team 7.
    assert router.choose(Waiting(2, 2002, Channel.EMAIL, needs=frozenset({"lang:fr"}))) == 2
    wine = frozenset({"lang:fr", "product:wine"})
    assert router.choose(Waiting(3, 2003, Channel.EMAIL, needs=wine)) == 1
    assert router.choose(Waiting(4, 2004, Channel.EMAIL, team_id=7)) == 1
    assert router.choose(Waiting(5, 2005, Channel.EMAIL, team_id=8)) is None
    assert router.choose(Waiting(6, 2006, Channel.EMAIL, needs=frozenset({"lang:de"}))) is None
    # The previous owner outside the case's team does not follow it there.
    assert router.choose(Waiting(7, 2001, Channel.EMAIL, team_id=9)) is None


def test_a_customers_next_case_follows_the_one_just_routed() -> None:
    router = Router([AgentSeat(1), AgentSeat(2)])
    first = router.route(Waiting(1, 3001, Channel.EMAIL))
    assert router.route(Waiting(2, 3001, Channel.CHAT)) == first


def test_no_room_anywhere() -> None:
    router = Router([AgentSeat(1, capacity={"voice": 0, "chat": 0, "messaging": 1})])
    assert router.has_room()
    router.route(case(1))
    assert not router.has_room()
    assert not Router([]).has_room()


def test_agents_sharing_a_capacity_keep_their_own_loads() -> None:
    """Seats built from equal capacities share the worked-out limits, never the counts;
    a capacity that cannot be a cache key (an odd stored value) still routes."""
    router = Router(
        [AgentSeat(1, capacity={"voice": 1}), AgentSeat(2, capacity={"voice": 1})],
        [(1, Channel.PHONE, 1)],
    )
    assert router.route(case(1, Channel.PHONE)) == 2
    assert router.route(case(2, Channel.PHONE)) is None
    odd = Router([AgentSeat(3, capacity={"voice": [2], "messaging": 1})])
    assert odd.route(case(3, Channel.PHONE)) is None  # an odd value means none
    assert odd.route(case(4, Channel.EMAIL)) == 3
    # 1.0 is not a count (so no room), though it equals 1 as a key.
    mixed = Router([AgentSeat(4, capacity={"voice": 1}), AgentSeat(5, capacity={"voice": 1.0})])
    assert [mixed.route(case(5 + n, Channel.PHONE)) for n in range(3)] == [4, None, None]
