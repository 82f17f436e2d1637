"""The in-process event bus: every subscriber gets every event, in order; a subscriber
that stops reading never blocks the publisher."""

from __future__ import annotations

import threading

from sqlalchemy import text

from tests.conftest import START
from tests.factories import receive_email
from threadline.clock import FrozenClock
from threadline.events import Event, InProcessBus
from threadline.runtime import Runtime


def _events(n: int) -> list[Event]:
    at = FrozenClock(START).now()
    return [Event(type="touch.created", at=at, data={"n": i}) for i in range(n)]


def test_every_subscriber_receives_every_event_in_order() -> None:
    bus = InProcessBus()
    first, second = bus.subscribe(), bus.subscribe()
    bus.publish(_events(3))
    for subscription in (first, second):
        got = [subscription.get(0) for _ in range(3)]
        assert [e.data["n"] for e in got if e] == [0, 1, 2]
        assert subscription.get(0) is None


def test_closed_subscriptions_receive_nothing() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe()
    subscription.close()
    bus.publish(_events(1))
    assert subscription.get(0) is None


def test_a_stalled_subscriber_is_marked_not_waited_for() -> None:
    bus = InProcessBus(subscriber_buffer=2)
    stalled = bus.subscribe()
    done = threading.Event()

    def publish() -> None:
        bus.publish(_events(5))
        done.set()

    threading.Thread(target=publish).start()
    assert done.wait(2)
    assert stalled.overflowed
    assert [stalled.get(0), stalled.get(0), stalled.get(0)][2] is None


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
