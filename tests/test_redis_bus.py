"""The Redis event bus on a real Redis: events cross from one bus to another (as they
cross processes), resume from an id, report trimmed-away and unknown positions, and
survive Redis failing without ever raising into the action that published."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.conftest import START
from tests.factories import receive_email
from tests.redis_support import redis_url_or_skip, scratch_prefix
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.events import Event, EventsLost, parse_id
from threadline.models import Touch
from threadline.redis_bus import RedisBus
from threadline.runtime import Runtime


@pytest.fixture(scope="module")
def redis_url() -> str:
    return redis_url_or_skip()


@pytest.fixture
def key(redis_url: str) -> Iterator[str]:
    with scratch_prefix(redis_url) as prefix:
        yield f"{prefix}:events"


def _bus(url: str, key: str, **options: float) -> Iterator[RedisBus]:
    bus = RedisBus(url, key=key, **options)  # type: ignore[arg-type]
    try:
        yield bus
    finally:
        bus.close()


@pytest.fixture
def bus(redis_url: str, key: str) -> Iterator[RedisBus]:
    yield from _bus(redis_url, key)


@pytest.fixture
def other(redis_url: str, key: str) -> Iterator[RedisBus]:
    """A second bus on the same stream: what another process would build."""
    yield from _bus(redis_url, key)


def _events(n: int, start: int = 0, *, private: bool = False) -> list[Event]:
    return [
        Event(
            type="touch.created",
            at=START,
            data={"n": i},
            case_id=10 + i,
            customer_id=20,
            private=private,
        )
        for i in range(start, start + n)
    ]


def _numbers(events: list[Event | None]) -> list[int]:
    return [e.data["n"] for e in events if e is not None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_an_event_published_on_one_bus_reaches_the_subscribers_of_another(
    bus: RedisBus, other: RedisBus
) -> None:
    subscription = other.subscribe()
    bus.publish(_events(2, private=True))
    first, second = subscription.get(2), subscription.get(2)
    assert first is not None and second is not None
    assert (first.type, first.at, first.case_id, first.customer_id) == (
        "touch.created",
        START,
        10,
        20,
    )
    assert first.private and first.data == {"n": 0}
    assert first.id is not None and second.id is not None
    first_id, second_id = parse_id(first.id), parse_id(second.id)
    assert first_id is not None and second_id is not None and first_id < second_id
    assert subscription.get(0) is None
    assert subscription.position == second.id


def test_a_subscriber_starts_at_the_end_of_the_stream(bus: RedisBus) -> None:
    bus.publish(_events(3))
    late = bus.subscribe()
    assert late.get(0) is None
    bus.publish(_events(1, start=3))
    assert _numbers([late.get(1)]) == [3]


def test_a_blocking_read_wakes_when_another_bus_publishes(bus: RedisBus, other: RedisBus) -> None:
    subscription = other.subscribe()
    started = time.monotonic()
    bus.publish(_events(1))
    assert _numbers([subscription.get(5)]) == [0]
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert subscription.get(0.3) is None
    assert 0.2 < time.monotonic() - started < 2


def test_resuming_after_an_id_on_another_bus_replays_exactly_the_missed_events(
    bus: RedisBus, other: RedisBus
) -> None:
    watcher = bus.subscribe()
    bus.publish(_events(5))
    seen = [watcher.get(1), watcher.get(1)]
    assert seen[-1] is not None and seen[-1].id is not None
    watcher.close()

    resumed = other.subscribe(after=seen[-1].id)
    assert _numbers([resumed.get(1) for _ in range(3)]) == [2, 3, 4]
    assert resumed.get(0) is None
    bus.publish(_events(1, start=5))
    assert _numbers([resumed.get(1)]) == [5]


def test_resuming_from_a_quiet_position_or_an_empty_stream_misses_nothing(
    bus: RedisBus,
) -> None:
    quiet = bus.subscribe()
    assert quiet.position == "0-0"  # nothing was ever published
    bus.publish(_events(2))
    resumed = bus.subscribe(after="0-0")
    assert _numbers([resumed.get(1), resumed.get(1), resumed.get(0)]) == [0, 1]


def test_trimming_keeps_about_the_retention_and_older_positions_are_told_lost(
    redis_url: str, key: str
) -> None:
    for bus in _bus(redis_url, key, retention=100):
        watcher = bus.subscribe()
        bus.publish(_events(1))
        oldest = watcher.get(1)
        assert oldest is not None and oldest.id is not None
        for start in range(1, 350, 50):
            bus.publish(_events(50, start=start))
        with redis.Redis.from_url(redis_url) as client:
            assert 100 <= client.xlen(key) < 350

        recent = bus.subscribe()
        bus.publish(_events(1, start=350))
        tail = recent.get(1)
        assert tail is not None and tail.id is not None

        gone = bus.subscribe(after=oldest.id)
        with pytest.raises(EventsLost) as lost:
            gone.get(0)
        assert "no longer retained" in lost.value.reason
        assert lost.value.position == tail.id
        assert gone.get(0) is None

        # The slow watcher never read on: it is told too, instead of getting the rest.
        with pytest.raises(EventsLost):
            watcher.get(1)


def test_resuming_within_the_retained_window_is_exact(redis_url: str, key: str) -> None:
    for bus in _bus(redis_url, key, retention=100):
        watcher = bus.subscribe()
        bus.publish(_events(50))
        bus.publish(_events(50, start=50))
        seen = [watcher.get(1) for _ in range(100)]
        # The watcher was behind (a full batch) but never trimmed past: nothing lost.
        assert _numbers(seen) == list(range(100))
        mark = seen[-41]
        assert mark is not None and mark.id is not None
        resumed = bus.subscribe(after=mark.id)
        assert _numbers([resumed.get(1) for _ in range(40)]) == list(range(60, 100))
        assert resumed.get(0) is None


@pytest.mark.parametrize("after", ["junk", "99999999999999-0"])
def test_an_id_that_is_not_from_this_stream_is_told_lost(bus: RedisBus, after: str) -> None:
    bus.publish(_events(1))
    subscription = bus.subscribe(after=after)
    with pytest.raises(EventsLost):
        subscription.get(0)
    bus.publish(_events(1, start=1))
    assert _numbers([subscription.get(1)]) == [1]


def test_an_id_for_a_stream_that_is_gone_is_told_lost(bus: RedisBus) -> None:
    subscription = bus.subscribe(after="1700000000000-0")
    with pytest.raises(EventsLost) as lost:
        subscription.get(0)
    assert "gone" in lost.value.reason


def test_publishing_without_redis_neither_raises_nor_stalls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for bus in _bus(f"redis://127.0.0.1:{_free_port()}/0", "nowhere:events"):
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="threadline.redis_bus"):
            for _ in range(20):
                bus.publish(_events(3))
        assert time.monotonic() - started < 3
        assert "could not publish 3 events" in caplog.text
        assert "dropped 3 events" in caplog.text  # later ones skip the dead server

        subscription = bus.subscribe()
        assert subscription.position is None
        started = time.monotonic()
        assert subscription.get(0.2) is None
        assert time.monotonic() - started < 2


def test_events_dropped_while_redis_failed_are_reported_to_every_subscriber(
    redis_url: str, key: str, other: RedisBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bus in _bus(redis_url, key, pause_after_failure=0):
        subscription = other.subscribe()
        broken = monkeypatch.context()
        with broken as patch:

            def fail(*_: object, **__: object) -> None:
                raise RedisConnectionError("down")

            patch.setattr(bus._publisher, "pipeline", fail)
            bus.publish(_events(2))  # logged and dropped, not raised
        bus.publish(_events(1, start=2))

        with pytest.raises(EventsLost) as lost:
            subscription.get(1)
        assert "2 events were dropped" in lost.value.reason
        assert _numbers([subscription.get(1)]) == [2]
        # A client that resumes from before the drop is told as well.
        again = other.subscribe(after="0-0")
        with pytest.raises(EventsLost):
            again.get(1)


def test_a_subscriber_that_lost_redis_reports_it_once_back(
    bus: RedisBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscription = bus.subscribe()
    with monkeypatch.context() as patch:

        def fail(*_: object, **__: object) -> None:
            raise RedisConnectionError("down")

        patch.setattr(bus, "_read", fail)
        assert subscription.get(0.1) is None  # no exception while Redis is away
    with pytest.raises(EventsLost) as lost:
        subscription.get(1)
    assert "unreachable" in lost.value.reason
    bus.publish(_events(1))
    assert _numbers([subscription.get(1)]) == [0]


def test_closing_ends_a_blocked_read_soon(bus: RedisBus) -> None:
    subscription = bus.subscribe()
    subscription.close()
    started = time.monotonic()
    assert subscription.get(3) is None
    assert time.monotonic() - started < 1


def test_an_action_commits_and_answers_while_redis_is_down(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{_free_port()}/0"})
    runtime = Runtime.start(dead, clock=clock)
    try:
        assert isinstance(runtime.env.bus, RedisBus)
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING, logger="threadline.redis_bus"),
            runtime.db.session() as db,
        ):
            received = receive_email(db, runtime.env)
        assert time.monotonic() - started < 3
        assert "could not publish" in caplog.text
        with runtime.db.reading() as read:
            assert read.get(Touch, received.touch_id) is not None
    finally:
        runtime.close()
