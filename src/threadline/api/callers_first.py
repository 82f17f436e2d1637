"""While a ringing call is being answered, other requests wait before they start.

A caller hears silence until the TwiML answer arrives; a status callback, an agent's
page or an API client loses nothing by starting a few milliseconds later. On a machine
of few cores every request in progress shares the interpreter's lock with the caller's
answer, so under load the answer's time was mostly other requests' work (bench/voice.py,
20 senders: TwiML p99 about 100 ms against 12 ms for a call alone). This gate keeps new
work from starting while any caller's answer is in progress; the caller's own thread
lane and first place in the SQLite write turn (api/threads.py) cover work already
started.

A request waits at most MOST_WAIT_SECONDS, so a line with calls ringing back to back
slows the rest of the desk down and never stops it. Health checks and metrics never
wait (a monitor must see the process as it is), nor does the wait message a queued
caller's line fetches (it reads no database)."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Receive, Scope, Send

MOST_WAIT_SECONDS = 0.25
NEVER_WAIT = frozenset({"/healthz", "/readyz", "/metrics"})


class CallersFirst:
    def __init__(self, app: ASGIApp, caller_path: str) -> None:
        self.app = app
        self.caller_path = caller_path
        self.never_wait = NEVER_WAIT | {f"{caller_path}/wait"}
        self.answering = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = asyncio.Event()

    def _idle_event(self) -> asyncio.Event:
        """The event for the running loop (a test may start the app on several loops,
        one after the other)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._idle, self.answering = loop, asyncio.Event(), 0
            self._idle.set()
        return self._idle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        idle = self._idle_event()
        path = scope["path"]
        if path == self.caller_path and scope["method"] == "POST":
            self.answering += 1
            idle.clear()
            try:
                await self.app(scope, receive, send)
            finally:
                self.answering -= 1
                if self.answering == 0:
                    idle.set()
            return
        if self.answering and path not in self.never_wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), MOST_WAIT_SECONDS)
        await self.app(scope, receive, send)
