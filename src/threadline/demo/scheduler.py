"""The time-ordered runner. Each story is one customer's matter, told as a generator: it
acts at the clock's current time and yields how long until its next step, so that many
stories can run interleaved in time order."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta

from threadline.actions import route_waiting
from threadline.demo.world import World

Story = Iterator[timedelta]
ROUTING_EVERY = timedelta(minutes=5)


def run(w: World, lives: list[tuple[datetime, Story]], end: datetime) -> None:
    """Play every life in time order, setting the clock to each step's moment. A step
    due after `end` has not happened yet, so its case stays as it is: open, pending or
    waiting for the call-back."""
    queue = [(at, n, life) for n, (at, life) in enumerate(lives)]
    heapq.heapify(queue)
    routed_at: datetime | None = None
    while queue:
        at, n, life = heapq.heappop(queue)
        if at > end:
            continue
        w.clock.set(at)
        if routed_at is None or at - routed_at >= ROUTING_EVERY:
            # The worker's routing round, as it runs in the shop: waiting cases get owners,
            # returning customers the agent who served them.
            route_waiting(w.db, w.env)
            routed_at = at
        step = next(life, None)
        if step is not None:
            heapq.heappush(queue, (at + step, n, life))
