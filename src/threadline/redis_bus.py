"""The event bus across processes: one Redis stream per installation.

Publishing is one pipelined XADD per batch, trimmed to about `retention` entries
(`MAXLEN ~`, which Redis does cheaply a whole node at a time, so a few more may stay).
Subscribers XREAD from their position, so an event published by any process reaches the
subscribers of every process, and a client that reconnects to another process resumes
where it stopped: Redis gives the ids.

Trade-off when Redis is unreachable: the change is committed already, so publishing
logs and drops the events rather than fail or stall the action (sockets time out after
`publish_timeout`, and after a failure publishing is skipped for `pause_after_failure`
seconds so that every action does not wait on a dead server). The loss is not silent:
the next successful publish first writes a marker that makes every subscriber raise
EventsLost, and a subscriber that itself lost Redis raises EventsLost when it is back.
Events dropped by a process that dies before Redis returns are lost without a marker."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

from threadline.events import DEFAULT_RETENTION, Event, EventsLost, parse_id

logger = logging.getLogger(__name__)

EVENT_FIELD = "event"
LOST_FIELD = "lost"  # a marker entry: events were dropped just before it
START = "0-0"
# One blocking XREAD waits at most this long, so that a closed subscription is noticed.
MAX_BLOCK_SECONDS = 5.0


class RedisBus:
    """Events in the Redis stream `key`; see the module docstring for failure."""

    def __init__(
        self,
        url: str,
        *,
        key: str,
        retention: int = DEFAULT_RETENTION,
        publish_timeout: float = 1.0,
        pause_after_failure: float = 5.0,
        batch: int = 100,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        self.key = key
        self._retention = retention
        self._pause_after_failure = pause_after_failure
        # A batch never exceeds the retention: see RedisSubscription._fill.
        self._batch = max(1, min(batch, retention))
        # Two pools: publishers must give up fast; readers block in XREAD for seconds.
        # One attempt each: the bus handles failure itself, and a client's retries with
        # back-off would hold up the action that is publishing.
        self._publisher = redis.Redis.from_url(
            url,
            socket_timeout=publish_timeout,
            socket_connect_timeout=publish_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self._reader = redis.Redis.from_url(
            url,
            socket_timeout=MAX_BLOCK_SECONDS + 5,
            socket_connect_timeout=publish_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._dropped = 0  # events dropped since the last successful publish

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._lock:
            paused = time.monotonic() < self._paused_until
            if paused:
                self._dropped += len(events)
                dropped = 0
            else:
                # This publish owes the marker for what was dropped before it.
                dropped, self._dropped = self._dropped, 0
        if paused:
            logger.warning("Redis was unreachable moments ago: dropped %d events", len(events))
            return
        try:
            self._send(events, dropped)
        except RedisError as exc:
            with self._lock:
                self._paused_until = time.monotonic() + self._pause_after_failure
                self._dropped += dropped + len(events)
            logger.warning("could not publish %d events to Redis: %s", len(events), exc)
        except Exception:
            # The change is committed: a bug here must not turn it into an error answer.
            with self._lock:
                self._dropped += dropped + len(events)
            logger.exception("could not publish %d events", len(events))

    def _send(self, events: Sequence[Event], dropped: int) -> None:
        pipe = self._publisher.pipeline(transaction=False)
        if dropped:
            pipe.xadd(
                self.key,
                {LOST_FIELD: f"{dropped} events were dropped"},
                maxlen=self._retention,
                approximate=True,
            )
        for event in events:
            pipe.xadd(
                self.key,
                {EVENT_FIELD: event.to_wire()},
                maxlen=self._retention,
                approximate=True,
            )
        pipe.execute()

    def subscribe(self, after: str | None = None) -> RedisSubscription:
        return RedisSubscription(self, after)

    def close(self) -> None:
        self._publisher.close()
        self._reader.close()

    # --- for RedisSubscription ---------------------------------------------------------

    def _end(self) -> str:
        """The id of the newest entry ever added, START for a stream not yet made."""
        info = self._info()
        return START if info is None else str(info["last-generated-id"])

    def _gap(self, after: str) -> str | None:
        """Why a reader at `after` may have missed events, or None when it has not."""
        position = parse_id(after)
        if position is None:
            return "not an event id"
        info = self._info()
        if info is None:
            return None if position == (0, 0) else "the event stream is gone (Redis was reset?)"
        last = parse_id(str(info["last-generated-id"]))
        if last is None or position > last:
            return "the event id is not from this stream"
        # Trimming leaves no trace of which ids it removed, only that entries were
        # removed (entries-added > length; Redis < 7 does not say, so assume so). A
        # position before the oldest entry may therefore have missed some.
        added = info.get("entries-added")
        trimmed = added is None or int(added) > int(info["length"])
        first = info.get("first-entry")
        oldest = parse_id(str(first[0])) if first else None
        if trimmed and position < last and (oldest is None or position < oldest):
            return "the events after this id are no longer retained"
        return None

    def _info(self) -> dict[str, Any] | None:
        try:
            return self._reader.xinfo_stream(self.key)
        except ResponseError as exc:
            if "no such key" in str(exc).lower():
                return None
            raise

    def _read(self, position: str, block_ms: int | None) -> list[tuple[str, dict[str, str]]]:
        answer = self._reader.xread({self.key: position}, count=self._batch, block=block_ms)
        if not answer:
            return []
        # RESP2 answers [[key, entries]], RESP3 {key: [entries]}.
        if isinstance(answer, dict):
            entries: Any = next(iter(answer.values()))
            if entries and isinstance(entries[0], list) and len(entries) == 1:
                entries = entries[0]
        else:
            entries = answer[0][1]
        return [(str(entry_id), dict(fields)) for entry_id, fields in entries]


class RedisSubscription:
    """A reader's position in the stream, read ahead a batch at a time."""

    def __init__(self, bus: RedisBus, after: str | None) -> None:
        self._bus = bus
        self._position: str | None = None  # the last id handed out
        self._cursor: str | None = None  # the last id read from Redis
        self._lost: str | None = None
        # Redis did not answer: the next read that works reports the gap (EventsLost).
        self._broken = False
        self._closed = threading.Event()
        self._ahead: deque[Event | EventsLost] = deque()
        try:
            if after is None:
                self._position = bus._end()
            else:
                self._lost = bus._gap(after)
                self._position = bus._end() if self._lost else after
            self._cursor = self._position
        except RedisError as exc:
            logger.warning("cannot reach Redis to subscribe to events: %s", exc)
            self._broken = True

    @property
    def position(self) -> str | None:
        return self._position

    def get(self, timeout: float | None = None) -> Event | None:
        if self._lost is not None:
            reason, self._lost = self._lost, None
            raise EventsLost(reason, self._position)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed.is_set():
            if self._ahead:
                item = self._ahead.popleft()
                self._position = item.position if isinstance(item, EventsLost) else item.id
                if isinstance(item, EventsLost):
                    raise item
                return item
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                self._fill(left)
            except RedisError as exc:
                if not self._broken:
                    logger.warning("lost Redis while reading events: %s", exc)
                self._broken = True
                # Do not spin against a dead server.
                self._closed.wait(min(1.0, MAX_BLOCK_SECONDS if left is None else left))
            if not self._ahead and deadline is not None and time.monotonic() >= deadline:
                return None
        return None

    def close(self) -> None:
        self._closed.set()

    def _fill(self, timeout: float | None) -> None:
        """Read the next batch into `_ahead`, waiting up to `timeout`. A gap becomes an
        EventsLost in its place, after which reading goes on from the stream's end."""
        bus = self._bus
        if self._broken or self._cursor is None:
            # Back in touch after Redis failed: what was published meanwhile may be gone.
            self._cursor = bus._end()
            self._broken = False
            self._ahead.append(EventsLost("the event bus was unreachable", self._cursor))
            return
        block = (
            None
            if timeout is not None and timeout <= 0
            else max(1, int(min(MAX_BLOCK_SECONDS, timeout or MAX_BLOCK_SECONDS) * 1000))
        )
        entries = bus._read(self._cursor, block)
        if len(entries) >= bus._batch:
            # A full batch: this reader is behind, perhaps so far that trimming removed
            # some of what it had not read. (A short batch proves it did not: trimming
            # always leaves more entries than a batch.)
            reason = bus._gap(self._cursor)
            if reason:
                self._cursor = bus._end()
                self._ahead.append(EventsLost(reason, self._cursor))
                return
        for entry_id, fields in entries:
            if LOST_FIELD in fields:
                self._ahead.append(EventsLost(fields[LOST_FIELD], entry_id))
            elif EVENT_FIELD in fields:
                self._ahead.append(Event.from_wire(entry_id, fields[EVENT_FIELD]))
        if entries:
            self._cursor = entries[-1][0]
