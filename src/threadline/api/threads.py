"""Where the blocking part of a request runs: a few worker threads, and a lane of its
own for the answer a caller on the phone is waiting for.

Routes written as plain `def` (they talk to the database) run on worker threads. The
framework's default allows 40 at once; on a machine of a few cores, 40 threads running
Python fight over the interpreter's lock, and a request's turn comes later the more of
them there are. Measured with 20 busy senders of phone webhooks (bench/voice.py), 4
threads instead of 40 gave a quarter more webhooks a second and halved their slowest
answers. THREADLINE_WEB_THREADS sets the number (8 by default, leaving room for
requests that wait on PostgreSQL over the network rather than compute).

A ringing call's answer is the one request with a person waiting in silence at the
other end. It runs in `for_a_caller()`: on its own few threads, so it never queues
behind status callbacks for one, and `first_in_line()`, so that on SQLite its write
goes before theirs too (threadline/write_turn.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request

from threadline.write_turn import first_in_line

T = TypeVar("T")

CALLER_THREADS = 4


@asynccontextmanager
async def threads(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan: size the shared threads and open the callers' lane."""
    runtime = app.state.runtime
    anyio.to_thread.current_default_thread_limiter().total_tokens = runtime.settings.web_threads
    app.state.callers_lane = anyio.CapacityLimiter(CALLER_THREADS)
    yield


async def for_a_caller(request: Request, work: Callable[[], T]) -> T:
    """Run `work` (blocking) for a caller who is waiting on the line. An app started
    without its lifespan (a test client used without `with`) has no lane of its own and
    uses the shared threads."""
    lane: anyio.CapacityLimiter | None = getattr(request.app.state, "callers_lane", None)
    with first_in_line():
        return await anyio.to_thread.run_sync(work, limiter=lane)
