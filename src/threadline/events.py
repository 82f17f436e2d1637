"""Publish/subscribe for what happened. Actions publish only after their transaction has
committed. The in-process bus serves one process; a Redis bus with the same interface
carries events between processes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    type: str  # "case.created", "touch.created", ... (the names of API.md)
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    case_id: int | None = None
    customer_id: int | None = None
    # Private events (internal notes) are only for those who may read private touches.
    private: bool = False


class Subscription(Protocol):
    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None when `timeout` passes first."""
        ...

    def close(self) -> None: ...


class EventBus(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self) -> Subscription: ...


class _QueueSubscription:
    def __init__(self, bus: InProcessBus, maxsize: int) -> None:
        self._bus = bus
        self.queue: queue.Queue[Event] = queue.Queue(maxsize=maxsize)
        self.overflowed = False

    def get(self, timeout: float | None = None) -> Event | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._remove(self)


class InProcessBus:
    """Delivers each event to every open subscription of this process. A subscriber that
    stops reading is marked overflowed rather than allowed to block the publisher."""

    def __init__(self, subscriber_buffer: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[_QueueSubscription] = []
        self._buffer = subscriber_buffer

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self._lock:
            targets = list(self._subscriptions)
        for subscription in targets:
            for event in events:
                try:
                    subscription.queue.put_nowait(event)
                except queue.Full:
                    subscription.overflowed = True

    def subscribe(self) -> _QueueSubscription:
        subscription = _QueueSubscription(self, self._buffer)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def _remove(self, subscription: _QueueSubscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
