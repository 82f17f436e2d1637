"""Reading a `text/event-stream` in tests: the lines of an HTTP answer turned into
frames, read with a deadline so that a missing event fails the test instead of hanging
it (the server's heartbeats make sure a line comes now and then)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Frame:
    """One block of the stream, up to a blank line."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def is_event(self) -> bool:
        return bool(self.data)

    def json(self) -> Any:
        return json.loads("\n".join(self.data))


class FrameReader:
    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def next(self, deadline: float) -> Frame:
        """The next frame, however small; fails the test once `deadline` has passed."""
        frame = Frame()
        started = False
        for line in self._lines:
            if time.monotonic() > deadline:
                raise AssertionError("the event stream did not deliver in time")
            if line == "":
                if started:
                    return frame
                continue
            started = True
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                frame.comments.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data.append(value)
            elif name == "retry":
                frame.retry = int(value)
        raise AssertionError("the event stream ended")

    def events_until(self, done: Callable[[Frame], bool], seconds: float = 10) -> list[Frame]:
        """Event frames up to and including the first for which `done` holds."""
        deadline = time.monotonic() + seconds
        seen: list[Frame] = []
        while True:
            frame = self.next(deadline)
            if frame.is_event:
                seen.append(frame)
                if done(frame):
                    return seen

    def events_for(self, seconds: float) -> list[Frame]:
        """Every event frame that arrives within `seconds` (needs frequent heartbeats)."""
        deadline = time.monotonic() + seconds
        seen: list[Frame] = []
        while time.monotonic() < deadline:
            frame = self.next(deadline + 10)
            if frame.is_event:
                seen.append(frame)
        return seen


def of_type(event_type: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.event == event_type
