"""Who should own a waiting case, decided in memory.

A `Router` is built once per batch from what the database says now (the online agents,
their loads, the customers' previous owners) and then decides case after case without
asking the database again, keeping its own count of what it has handed out.

The rules, in order:

- Only agents who are online, active and may own cases (not clerks) get cases.
- A case with a team (its mailbox's or number's) goes only to that team's agents; when
  none of them can take it, it waits for one of them rather than going to another team.
- The agent must have every skill the case needs (`case.needs`, e.g. "lang:fr").
- The agent must have room for the case's channel group (below).
- Stickiness: the owner of the customer's most recent other case gets it when they pass
  the rules above; the relationship matters more than an even spread.
- Otherwise the least loaded agent in the case's channel group, then the least loaded
  overall; among equals the one routed to longest ago (never first), then the lowest
  id. Every case goes to a least-loaded agent, so agents who are equal for a run of
  cases end it at most one case apart.

Channel groups and capacity. An agent's load is the number of their cases that are `new`
or `open`: `pending` and `on_hold` cases wait on the customer or a third party and take
none of the agent's attention now, so they do not count. A case with no channel (older
rows) counts as messaging.

| group       | channels                                             | default |
| ----------- | ---------------------------------------------------- | ------- |
| `voice`     | phone                                                | 1       |
| `chat`      | chat                                                 | 3       |
| `messaging` | every other: email, sms, social, web, api, store     | 12      |

The messaging channels are one pool: 12 cases in all, not 12 of each. An agent's
`capacity` dict may override: a group's key (`voice`, `chat`, `messaging`) sets the
group's limit; a channel's key (`phone`, `email`, `sms`, ...) caps that channel within
its group, and for the one-channel groups (`phone`, `chat`) it is also the group's limit
when the group's own key is absent. Keys left out keep the defaults; 0 means none."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from threadline.vocabulary import CaseStatus, Channel


class ChannelGroup(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    MESSAGING = "messaging"


GROUP_CHANNELS: dict[ChannelGroup, tuple[Channel, ...]] = {
    ChannelGroup.VOICE: (Channel.PHONE,),
    ChannelGroup.CHAT: (Channel.CHAT,),
    ChannelGroup.MESSAGING: tuple(c for c in Channel if c not in (Channel.PHONE, Channel.CHAT)),
}
_GROUP_OF: dict[Channel | None, ChannelGroup] = {
    channel: group for group, channels in GROUP_CHANNELS.items() for channel in channels
} | {None: ChannelGroup.MESSAGING}
DEFAULT_LIMITS: dict[ChannelGroup, int] = {
    ChannelGroup.VOICE: 1,
    ChannelGroup.CHAT: 3,
    ChannelGroup.MESSAGING: 12,
}
# Channels where the customer is there now, waiting on the line or in the chat window.
LIVE_CHANNELS = frozenset({Channel.PHONE, Channel.CHAT})
# The cases that count towards an agent's load, and the ownerless ones that wait.
ACTIVE_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)


# Iterating an Enum class is slow; routing does it for every agent of every decision.
_CHANNELS = tuple(Channel)
_GROUPS = tuple(ChannelGroup)


def group_of(channel: Channel | None) -> ChannelGroup:
    return _GROUP_OF[channel]


@dataclass(frozen=True)
class Limits:
    """How many active cases an agent may carry: per group, and per channel where the
    agent's capacity names the channel."""

    groups: Mapping[ChannelGroup, int]
    channels: Mapping[Channel, int]

    @classmethod
    def of(cls, capacity: Mapping[str, object] | None) -> Limits:
        given: dict[str, int] = {}
        for key, value in (capacity or {}).items():
            # Stored values are checked when written; anything odd here means "none".
            given[key] = max(value, 0) if isinstance(value, int) else 0
        groups = {}
        for group, channels in GROUP_CHANNELS.items():
            limit = given.get(group.value)
            if limit is None and len(channels) == 1:
                limit = given.get(channels[0].value)
            groups[group] = DEFAULT_LIMITS[group] if limit is None else limit
        channels_capped = {c: given[c.value] for c in _CHANNELS if c.value in given}
        return cls(groups=groups, channels=channels_capped)


@functools.lru_cache(maxsize=256)
def _limits_of(given: tuple[tuple[str, type, object], ...]) -> Limits:
    return Limits.of({key: value for key, _type, value in given})


def _limits(capacity: Mapping[str, object]) -> Limits:
    """Limits.of(capacity), worked out once for each capacity seen: a router is built
    for every call that rings in, and most agents share a few capacities. The key holds
    each value's type, since 1 and 1.0 are equal keys but not equal limits."""
    try:
        return _limits_of(tuple(sorted((k, type(v), v) for k, v in capacity.items())))
    except TypeError:  # a value that cannot be a cache key (a list): worked out anew
        return Limits.of(capacity)


@dataclass(frozen=True)
class AgentSeat:
    """An online agent as routing sees them."""

    agent_id: int
    skills: frozenset[str] = frozenset()
    teams: frozenset[int] = frozenset()
    capacity: Mapping[str, object] = field(default_factory=dict)
    last_routed_at: datetime | None = None


@dataclass(frozen=True)
class Waiting:
    """An ownerless case that needs an owner."""

    case_id: int
    customer_id: int
    channel: Channel | None = None
    team_id: int | None = None
    needs: frozenset[str] = frozenset()


class _Seat:
    """An agent's mutable state during one batch."""

    __slots__ = (
        "agent_id",
        "by_channel",
        "by_group",
        "channel_limits",
        "group_limits",
        "seq",
        "skills",
        "stamp",
        "teams",
        "total",
    )

    def __init__(self, agent: AgentSeat) -> None:
        limits = _limits(agent.capacity)
        self.agent_id = agent.agent_id
        self.skills = agent.skills
        self.teams = agent.teams
        self.group_limits = limits.groups
        self.channel_limits = limits.channels
        self.by_group = dict.fromkeys(_GROUPS, 0)
        self.by_channel: dict[Channel | None, int] = {}
        self.total = 0
        # Among equals, the agent routed to longest ago goes first; one never routed to
        # goes before all. `seq` orders the agents this router has routed to, whose
        # stamps may be equal (one clock reading per batch).
        routed = agent.last_routed_at
        self.stamp = -math.inf if routed is None else routed.timestamp()
        self.seq = 0

    def add(self, channel: Channel | None, count: int) -> None:
        self.by_group[_GROUP_OF[channel]] += count
        self.by_channel[channel] = self.by_channel.get(channel, 0) + count
        self.total += count

    def has_room(self, group: ChannelGroup, channel: Channel | None) -> bool:
        if self.by_group[group] >= self.group_limits[group]:
            return False
        cap = self.channel_limits.get(channel) if channel is not None else None
        return cap is None or self.by_channel.get(channel, 0) < cap

    def can_take(self, case: Waiting, group: ChannelGroup) -> bool:
        return (
            (case.team_id is None or case.team_id in self.teams)
            and case.needs <= self.skills
            and self.has_room(group, case.channel)
        )


class Router:
    """Decides owners for a batch of waiting cases; see the module's docstring.

    `loads` are (agent id, channel, number of active cases) rows; `previous` maps a
    customer to the owner of their most recent other case. Call `choose` for a case,
    and `take` once the assignment is written, so the next decision sees it."""

    def __init__(
        self,
        agents: Iterable[AgentSeat],
        loads: Iterable[tuple[int, Channel | None, int]] = (),
        previous: Mapping[int, int] | None = None,
        *,
        now: datetime | None = None,
    ) -> None:
        self._seats: dict[int, _Seat] = {a.agent_id: _Seat(a) for a in agents}
        for agent_id, channel, count in loads:
            seat = self._seats.get(agent_id)
            if seat is not None:
                seat.add(channel, count)
        self._all: Sequence[_Seat] = tuple(self._seats.values())
        self._by_team: dict[int, list[_Seat]] = {}
        for seat in self._all:
            for team_id in seat.teams:
                self._by_team.setdefault(team_id, []).append(seat)
        self._previous = dict(previous or {})
        self._now = now.timestamp() if now is not None else -math.inf
        self._taken = itertools.count(1)

    def choose(self, case: Waiting) -> int | None:
        """The agent who should own `case` now, or None when nobody can take it."""
        group = _GROUP_OF[case.channel]
        sticky = self._seats.get(self._previous.get(case.customer_id, -1))
        if sticky is not None and sticky.can_take(case, group):
            return sticky.agent_id
        seats = self._all if case.team_id is None else self._by_team.get(case.team_id, ())
        # The rules of can_take() written out: this loop is most of routing's time.
        channel, needs = case.channel, case.needs
        best: _Seat | None = None
        best_key: tuple[int, int, float, int, int] | None = None
        for seat in seats:
            in_group = seat.by_group[group]
            if in_group >= seat.group_limits[group] or not needs <= seat.skills:
                continue
            cap = seat.channel_limits.get(channel) if channel is not None else None
            if cap is not None and seat.by_channel.get(channel, 0) >= cap:
                continue
            key = (in_group, seat.total, seat.stamp, seat.seq, seat.agent_id)
            if best_key is None or key < best_key:
                best, best_key = seat, key
        return None if best is None else best.agent_id

    def take(self, case: Waiting, agent_id: int) -> None:
        """Record that `agent_id` now owns `case`."""
        seat = self._seats[agent_id]
        seat.add(case.channel, 1)
        seat.stamp = max(seat.stamp, self._now)
        seat.seq = next(self._taken)
        # The case just given is now the customer's most recent: their next one follows.
        self._previous[case.customer_id] = agent_id

    def route(self, case: Waiting) -> int | None:
        """choose() and take() at once, for callers that write nothing in between."""
        agent_id = self.choose(case)
        if agent_id is not None:
            self.take(case, agent_id)
        return agent_id

    def has_room(self) -> bool:
        """Whether any agent here could take any case at all."""
        return any(
            seat.by_group[group] < seat.group_limits[group]
            for seat in self._all
            for group in ChannelGroup
        )

    def load(self, agent_id: int) -> int:
        """The agent's active cases as this router counts them."""
        return self._seats[agent_id].total
