"""The in-process event bus: every subscriber gets every event, in order, with an id it
can resume from; a subscriber whose position fell out of the retained window is told,
never left silently missing events; a subscriber that stops reading never blocks the
publisher."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.conftest import START
from tests.factories import receive_email
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.events import Event, EventsLost, InProcessBus, parse_id
from threadline.redis_bus import RedisBus
from threadline.runtime import Runtime, build_bus


def _events(n: int, start: int = 0) -> list[Event]:
    at = FrozenClock(START).now()
    return [Event(type="touch.created", at=at, data={"n": i}) for i in range(start, start + n)]


def _numbers(events: list[Event | None]) -> list[int]:
    return [e.data["n"] for e in events if e is not None]


def test_every_subscriber_receives_every_event_in_order() -> None:
    bus = InProcessBus()
    first, second = bus.subscribe(), bus.subscribe()
    bus.publish(_events(3))
    for subscription in (first, second):
        got = [subscription.get(0) for _ in range(3)]
        assert _numbers(got) == [0, 1, 2]
        assert subscription.get(0) is None


def test_published_events_get_ids_that_increase() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe()
    bus.publish(_events(3))
    bus.publish(_events(2, start=3))
    ids = [e.id for e in (subscription.get(0) for _ in range(5)) if e is not None]
    assert len(ids) == 5
    parsed = [parse_id(i) for i in ids if i is not None]
    assert parsed == sorted(parsed) and len(set(parsed)) == 5
    assert subscription.position == ids[-1]


def test_a_subscriber_sees_only_what_comes_after_it_subscribed() -> None:
    bus = InProcessBus()
    bus.publish(_events(2))
    late = bus.subscribe()
    assert late.get(0) is None
    bus.publish(_events(1, start=2))
    assert _numbers([late.get(0)]) == [2]


def test_resuming_after_an_id_replays_the_missed_events_then_goes_on_live() -> None:
    bus = InProcessBus()
    first = bus.subscribe()
    bus.publish(_events(5))
    seen = [first.get(0), first.get(0)]
    last_id = seen[-1].id if seen[-1] else None
    assert last_id is not None
    first.close()

    resumed = bus.subscribe(after=last_id)
    assert _numbers([resumed.get(0) for _ in range(3)]) == [2, 3, 4]
    assert resumed.get(0) is None
    bus.publish(_events(1, start=5))
    assert _numbers([resumed.get(0)]) == [5]


def test_resuming_from_the_position_of_a_quiet_subscription_misses_nothing() -> None:
    bus = InProcessBus()
    bus.publish(_events(2))
    quiet = bus.subscribe()
    position = quiet.position
    quiet.close()
    bus.publish(_events(2, start=2))
    resumed = bus.subscribe(after=position)
    assert _numbers([resumed.get(0), resumed.get(0), resumed.get(0)]) == [2, 3]


def test_resuming_from_before_the_retained_window_says_events_were_lost() -> None:
    bus = InProcessBus(retention=3)
    watcher = bus.subscribe()
    bus.publish(_events(2))
    old = watcher.get(0)
    assert old is not None and old.id is not None
    bus.publish(_events(5, start=2))  # 7 events, only the last 3 are kept

    resumed = bus.subscribe(after=old.id)
    with pytest.raises(EventsLost) as lost:
        resumed.get(0)
    assert "retained" in lost.value.reason
    # Told once; it goes on from the newest, with what comes next.
    assert resumed.get(0) is None
    assert resumed.position == lost.value.position
    bus.publish(_events(1, start=7))
    assert _numbers([resumed.get(0)]) == [7]


def test_resuming_exactly_at_the_edge_of_the_window_loses_nothing() -> None:
    bus = InProcessBus(retention=3)
    watcher = bus.subscribe()
    bus.publish(_events(1))
    edge = watcher.get(0)
    bus.publish(_events(3, start=1))  # events 1..3 are the retained ones: all after it
    assert edge is not None and edge.id is not None
    resumed = bus.subscribe(after=edge.id)
    assert _numbers([resumed.get(0) for _ in range(3)]) == [1, 2, 3]


@pytest.mark.parametrize("after", ["1-1", "not-an-id", "", "12", "9999999999999999999999-1"])
def test_an_id_from_elsewhere_says_events_were_lost(after: str) -> None:
    bus = InProcessBus()
    bus.publish(_events(1))
    subscription = bus.subscribe(after=after)
    with pytest.raises(EventsLost):
        subscription.get(0)
    assert subscription.get(0) is None
    bus.publish(_events(1, start=1))
    assert _numbers([subscription.get(0)]) == [1]


def test_an_id_from_before_a_restart_says_events_were_lost() -> None:
    before = InProcessBus()
    watcher = before.subscribe()
    before.publish(_events(1))
    event = watcher.get(0)
    assert event is not None and event.id is not None
    time.sleep(0.002)  # the next bus starts in another millisecond
    after_restart = InProcessBus()
    after_restart.publish(_events(3))
    with pytest.raises(EventsLost) as lost:
        after_restart.subscribe(after=event.id).get(0)
    assert "restarted" in lost.value.reason


def test_a_stalled_subscriber_is_told_it_fell_behind_and_never_waited_for() -> None:
    bus = InProcessBus(retention=2)
    stalled = bus.subscribe()
    done = threading.Event()

    def publish() -> None:
        bus.publish(_events(5))
        done.set()

    threading.Thread(target=publish).start()
    assert done.wait(2)
    with pytest.raises(EventsLost):
        stalled.get(0)
    assert stalled.get(0) is None


def test_a_waiting_subscriber_wakes_on_publish() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe()
    got: list[Event | None] = []
    reader = threading.Thread(target=lambda: got.append(subscription.get(5)))
    reader.start()
    time.sleep(0.05)
    started = time.monotonic()
    bus.publish(_events(1))
    reader.join(5)
    assert _numbers(got) == [0]
    assert time.monotonic() - started < 1


def test_closing_wakes_a_waiting_subscriber_and_ends_it() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe()
    got: list[Event | None] = []
    reader = threading.Thread(target=lambda: got.append(subscription.get(10)))
    reader.start()
    time.sleep(0.05)
    subscription.close()
    reader.join(2)
    assert not reader.is_alive()
    assert got == [None]
    bus.publish(_events(1))
    assert subscription.get(0) is None


def test_the_wire_form_keeps_everything_but_the_id() -> None:
    event = Event(
        type="touch.created",
        at=START + timedelta(seconds=1),
        data={"touch_id": 7, "channel": "sms"},
        case_id=3,
        customer_id=2,
        private=True,
    )
    back = Event.from_wire("5-1", event.to_wire())
    assert back == Event(**{**event.__dict__, "id": "5-1"})
    assert back.at.utcoffset() == timedelta(0)
    assert '"private"' not in event.public_json()


def test_the_runtime_picks_redis_only_when_configured() -> None:
    plain = Settings(env="test", redis_url=None)
    assert isinstance(build_bus(plain), InProcessBus)
    redis = Settings(env="test", redis_url="redis://127.0.0.1:1/0", redis_prefix="t-1")
    bus = build_bus(redis)
    assert isinstance(bus, RedisBus)
    assert bus.key == "t-1:events"
    bus.close()


def test_events_are_published_only_after_the_commit(runtime: Runtime) -> None:
    subscription = runtime.env.bus.subscribe()
    counted: list[int] = []

    def listen() -> None:
        event = subscription.get(5)
        if event is None:
            return
        # Another connection must already see what the event announces.
        with runtime.db.reading() as other:
            counted.append(other.execute(text("SELECT count(*) FROM cases")).scalar_one())

    listener = threading.Thread(target=listen)
    listener.start()
    with runtime.db.session() as db:
        receive_email(db, runtime.env)
    listener.join(5)
    assert counted == [1]
