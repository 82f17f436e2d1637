"""While a ringing call is being answered, other requests wait for it before they start
(at most CallersFirst's limit); health checks and the queue's wait message never wait."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from threadline.api import callers_first
from threadline.api.callers_first import CallersFirst

VOICE = "/webhooks/twilio/voice"


def _app(answer_seconds: float, started: list[tuple[str, float]]) -> CallersFirst:
    async def ringing(_request: Request) -> PlainTextResponse:
        started.append(("call", time.monotonic()))
        await asyncio.sleep(answer_seconds)
        started.append(("call answered", time.monotonic()))
        return PlainTextResponse("<Response/>")

    async def other(request: Request) -> PlainTextResponse:
        started.append((request.url.path, time.monotonic()))
        return PlainTextResponse("ok")

    routes = [
        Route(VOICE, ringing, methods=["POST"]),
        *(
            Route(path, other, methods=["GET", "POST"])
            for path in (f"{VOICE}/status", f"{VOICE}/wait", "/api/v1/cases", "/healthz")
        ),
    ]
    return CallersFirst(Starlette(routes=routes), caller_path=VOICE)


def _during_a_call(app: CallersFirst, *others: tuple[str, str]) -> None:
    """Post a call, then the `others` while it is being answered. On a thread of its
    own: a worker of the test run that holds Playwright's synchronous browser has an
    event loop marked running on its main thread."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _post_during_a_call(app, *others)).result()


async def _post_during_a_call(app: CallersFirst, *others: tuple[str, str]) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk") as client:
        call = asyncio.create_task(client.post(VOICE))
        await asyncio.sleep(0.02)  # the call is being answered
        answers = await asyncio.gather(
            call, *(client.request(method, path) for method, path in others)
        )
    assert [a.status_code for a in answers] == [200] * (1 + len(others))


def test_requests_arriving_during_a_callers_answer_start_after_it() -> None:
    started: list[tuple[str, float]] = []
    _during_a_call(
        _app(0.15, started),
        ("POST", f"{VOICE}/status"),
        ("GET", "/api/v1/cases"),
        ("GET", "/healthz"),
        ("POST", f"{VOICE}/wait"),
    )
    order = [name for name, _ in started]
    # The monitor and the queued caller's wait message at once, the rest after the answer.
    assert order[:3] == ["call", "/healthz", f"{VOICE}/wait"]
    assert order[3] == "call answered"
    assert sorted(order[4:]) == ["/api/v1/cases", f"{VOICE}/status"]


def test_no_request_waits_longer_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callers_first, "MOST_WAIT_SECONDS", 0.05)
    started: list[tuple[str, float]] = []
    _during_a_call(_app(0.5, started), ("GET", "/api/v1/cases"))
    times = dict(started)
    order = [name for name, _ in started]
    assert order == ["call", "/api/v1/cases", "call answered"]
    assert times["/api/v1/cases"] - times["call"] < 0.4
