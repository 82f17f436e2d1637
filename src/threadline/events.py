"""Publish/subscribe for what happened. Actions publish only after their transaction has
committed. The in-process bus serves one process; the Redis bus (threadline.redis_bus)
has the same interface and carries events between processes.

Every published event gets an id, `MILLISECONDS-SEQUENCE`, that increases along its
stream, so a subscriber can say where it stopped (`subscribe(after=id)`) and get what it
missed. A bus keeps only the last `retention` events: a subscriber whose position fell
out of that window gets `EventsLost` instead of silently missing events, and should
reload what it shows."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

DEFAULT_RETENTION = 10_000

_ID = re.compile(r"(\d{1,20})-(\d{1,20})")


@dataclass(frozen=True)
class Event:
    type: str  # "case.created", "touch.created", ... (the names of API.md)
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    case_id: int | None = None
    customer_id: int | None = None
    # Private events (internal notes) are only for those who may read private touches.
    private: bool = False
    # Given by the bus when the event is published; None before.
    id: str | None = None

    def stamped(self, id_: str) -> Event:
        """This event with the id its bus gave it (dataclasses.replace, at a third of the
        cost: a sweep publishes a thousand at once)."""
        return Event(
            self.type, self.at, self.data, self.case_id, self.customer_id, self.private, id_
        )

    def public_json(self) -> str:
        """The event as API clients see it (the `data:` of the event stream)."""
        return json.dumps(
            {
                "type": self.type,
                "at": self.at.isoformat(),
                "case_id": self.case_id,
                "customer_id": self.customer_id,
                "data": self.data,
            },
            default=str,
            separators=(",", ":"),
        )

    def to_wire(self) -> str:
        """Everything but the id, for carrying the event between processes."""
        return json.dumps(
            {
                "type": self.type,
                "at": self.at.isoformat(),
                "case_id": self.case_id,
                "customer_id": self.customer_id,
                "private": self.private,
                "data": self.data,
            },
            default=str,
            separators=(",", ":"),
        )

    @classmethod
    def from_wire(cls, event_id: str, wire: str | bytes) -> Event:
        raw: Mapping[str, Any] = json.loads(wire)
        return cls(
            type=str(raw["type"]),
            at=datetime.fromisoformat(raw["at"]),
            data=dict(raw.get("data") or {}),
            case_id=raw.get("case_id"),
            customer_id=raw.get("customer_id"),
            private=bool(raw.get("private", False)),
            id=event_id,
        )


def parse_id(event_id: str) -> tuple[int, int] | None:
    """`MILLISECONDS-SEQUENCE` as a pair that orders like the stream, or None when the
    text is no event id (a client may send anything as Last-Event-ID)."""
    match = _ID.fullmatch(event_id.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


class EventsLost(Exception):
    """Events the subscriber should have had are gone (its position is older than the
    bus retains, or the bus was unreachable). The subscription carries on with new
    events; the subscriber should reload what it shows."""

    def __init__(self, reason: str, position: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        # Where the subscription now stands: resuming from here misses nothing further.
        self.position = position


class Subscription(Protocol):
    @property
    def position(self) -> str | None:
        """The id of the last event handed out (or of the stream's end when subscribed),
        None while the bus cannot tell."""
        ...

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when `timeout` passes first. Raises EventsLost once
        when events were missed; later calls carry on with new events."""
        ...

    def close(self) -> None: ...


class EventBus(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Never blocks for long and never raises: the change is already committed."""
        ...

    def subscribe(self, after: str | None = None) -> Subscription:
        """Events published after the event `after` (replayed from the retained ones,
        then live), or from now on when `after` is None."""
        ...

    def close(self) -> None: ...


class InProcessBus:
    """One process's events in a ring buffer of the last `retention` events. Publishing
    appends and wakes the readers; each subscription is only a position in the ring, so
    a subscriber that stops reading never blocks the publisher: it falls out of the
    window and is told so (EventsLost)."""

    def __init__(self, retention: int = DEFAULT_RETENTION) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        # Ids carry the bus's start time, so an id from before a restart is recognised
        # as such instead of being read as a position in this bus's sequence.
        self._epoch = time.time_ns() // 1_000_000
        self._retention = retention
        self._ring: list[Event | None] = [None] * retention
        self._last = 0  # sequence number of the newest event; 0 before the first
        self._changed = threading.Condition(threading.Lock())

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._changed:
            for event in events:
                self._last += 1
                stamped = event.stamped(f"{self._epoch}-{self._last}")
                self._ring[self._last % self._retention] = stamped
            self._changed.notify_all()

    def subscribe(self, after: str | None = None) -> InProcessSubscription:
        with self._changed:
            if after is None:
                return InProcessSubscription(self, self._last)
            parsed = parse_id(after)
            if parsed is None or parsed[0] != self._epoch or parsed[1] > self._last:
                why = "the event id is not from this stream (was the server restarted?)"
                return InProcessSubscription(self, self._last, lost=why)
            return InProcessSubscription(self, parsed[1])

    def close(self) -> None:
        """Nothing to release: subscriptions are positions, not registrations."""

    def _id(self, sequence: int) -> str:
        return f"{self._epoch}-{sequence}"

    def _next(
        self, cursor: int, timeout: float | None, closed: threading.Event
    ) -> tuple[Event | None, int | None]:
        """The event after `cursor`, waiting up to `timeout`: (event, None); (None, None)
        when there is none yet; (None, newest) when the cursor already fell out of the
        ring, so the reader must jump to the newest and say it lost events."""
        with self._changed:
            self._changed.wait_for(lambda: self._last > cursor or closed.is_set(), timeout)
            if closed.is_set() or self._last <= cursor:
                return None, None
            if cursor + 1 < self._last - self._retention + 1:
                return None, self._last
            return self._ring[(cursor + 1) % self._retention], None

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()


class InProcessSubscription:
    """A reader's position in an InProcessBus."""

    def __init__(self, bus: InProcessBus, cursor: int, *, lost: str | None = None) -> None:
        self._bus = bus
        self._cursor = cursor
        self._lost = lost
        self._closed = threading.Event()

    @property
    def position(self) -> str:
        return self._bus._id(self._cursor)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def get(self, timeout: float | None = None) -> Event | None:
        if self._lost is not None:
            reason, self._lost = self._lost, None
            raise EventsLost(reason, self.position)
        event, behind_to = self._bus._next(self._cursor, timeout, self._closed)
        if behind_to is not None:
            self._cursor = behind_to
            raise EventsLost("the subscriber fell behind the retained events", self.position)
        if event is not None:
            self._cursor += 1
        return event

    def close(self) -> None:
        self._closed.set()
        self._bus._wake()
