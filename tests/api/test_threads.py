"""Many more requests at once than the process has threads or pooled connections: each
is answered, none waits on another for a connection it holds."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread
import httpx2 as httpx

from tests.api.conftest import Caller
from threadline.api.app import create_app
from threadline.runtime import Runtime
from threadline.vocabulary import Role

INBOX = "/api/v1/cases?owner=none&sort=due"


async def _all_at_once(runtime: Runtime, caller: Caller, count: int) -> list[int]:
    # Two threads for 60 requests, against a pool of 15 connections (SQLite's reads) or
    # 30 (PostgreSQL): endpoints that kept their connection until their answer was
    # serialised (on a thread of its own) stalled every thread until the pool timed out.
    anyio.to_thread.current_default_thread_limiter().total_tokens = 2
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
        with anyio.fail_after(20):
            answers = await asyncio.gather(
                *(http.get(INBOX, headers=caller.headers) for _ in range(count))
            )
    return [answer.status_code for answer in answers]


def test_more_requests_than_threads_and_connections_are_all_answered(
    runtime: Runtime, callers: dict[Role, Caller]
) -> None:
    # An event loop of its own, on a thread of its own: another test on this worker may
    # have left one set on the main thread.
    with ThreadPoolExecutor(1) as pool:
        statuses = pool.submit(
            lambda: asyncio.run(_all_at_once(runtime, callers[Role.AGENT], 60))
        ).result()
    assert statuses == [200] * 60
