"""Where the blocking part of a request runs: a few worker threads, and a lane of its
own for the answer a caller on the phone is waiting for.

Routes written as plain `def` (they talk to the database) run on worker threads. The
framework's default allows 40 at once; on a machine of a few cores, 40 threads running
Python mostly fight over the interpreter's lock. With 20 busy senders of phone webhooks
(bench/voice.py, 300 calls, one noisy 2-core machine), two runs with 4 threads against
two with 40 gave 188 and 155 webhooks a second against 144 and 125, and a webhook p99
of 193 and 219 ms against 403 and 426; later runs with 8 against 40 came out even on
both. THREADLINE_WEB_THREADS sets the number: 8 by default, leaving room for requests
that wait on PostgreSQL over a network rather than compute.

A ringing call's answer is the one request with a person waiting in silence at the
other end. It runs in `for_a_caller()`: on its own few threads, so it never queues
behind status callbacks for one, and `first_in_line()`, so that on SQLite its write
goes before theirs too (threadline/write_turn.py)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from threadline.db import Database, ReadSession
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


async def read_quickly(db: Database, work: Callable[[], T]) -> T:
    """Run `work`, a read of a row or two, where it costs least: in place on SQLite
    (see Database.reads_in_place), on a worker thread for PostgreSQL, whose round trip
    must not hold up the event loop. Measured on the inbox answered from the page
    cache (bench/api.py, 50 clients): the caller's token looked up in place instead of
    on a thread took it from 610 to 970 requests a second."""
    if db.reads_in_place:
        return work()
    return await anyio.to_thread.run_sync(work)


class SessionEndingRoute(APIRoute):
    """A route whose plain `def` endpoint ends its database sessions' transactions
    before its thread is given back.

    Without this, a request would keep its pooled connection (and, writing on SQLite,
    the write turn) from the end of the endpoint until its sessions close, which the
    framework does only after the answer is serialised, on a thread of its own. With
    every thread taken by endpoints waiting for a connection, and every connection held
    by requests waiting for a thread to serialise on, the process stalls until the
    pool's timeout: bench/api.py's 50 clients found it once the threads were fewer than
    the requests that could hold connections.

    A reading session's transaction is committed, which writes nothing (the session
    refuses to) and keeps what it loaded readable; a writing session left inside a
    transaction (every action commits or rolls back its own) is closed, so nothing
    uncommitted survives it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _ending_sessions(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _ending_sessions(endpoint: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return endpoint(*args, **kwargs)
        finally:
            for value in kwargs.values():
                if isinstance(value, Session) and value.in_transaction():
                    if isinstance(value, ReadSession):
                        value.commit()
                    else:
                        value.close()

    return run
