"""GET /api/v1/events: the desk's live feed as Server-Sent Events, on the real app and
the real databases. What arrives, who may see private events, heartbeats, resuming with
Last-Event-ID, and what the stream holds (no database connection) and lets go of (its
subscription) when the client leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Caller
from tests.conftest import START
from tests.factories import receive_email
from tests.sse import Frame, FrameReader, of_type
from threadline.actions import Actor, add_note
from threadline.api.app import create_app
from threadline.api.routes import events as events_route
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.events import InProcessBus, InProcessSubscription, parse_id
from threadline.permissions import Permission, allows
from threadline.runtime import Runtime
from threadline.vocabulary import Role


@pytest.fixture(autouse=True)
def _quick_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats every 0.2 s, so that a test reading the stream never waits 15 s for a
    line it can check its deadline on."""
    monkeypatch.setattr(events_route, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(events_route, "POLL_SECONDS", 0.1)


@contextmanager
def stream(
    client: TestClient,
    caller: Caller,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Iterator[FrameReader]:
    with client.stream(
        "GET",
        "/api/v1/events",
        headers={**caller.headers, **(headers or {})},
        params=params,
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.headers["cache-control"] == "no-cache"
        yield FrameReader(answer.iter_lines())


def soon() -> float:
    return time.monotonic() + 10


def touches(frames: list[Frame]) -> list[tuple[int, str]]:
    return [
        (f.json()["data"]["touch_id"], f.json()["data"]["direction"])
        for f in frames
        if f.event == "touch.created"
    ]


def test_an_inbound_message_reaches_the_stream(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    with stream(client, callers[Role.AGENT]) as reader:
        opening = reader.next(soon())
        assert opening.retry == events_route.RETRY_MS
        assert opening.id is not None and not opening.is_event
        with runtime.db.session() as db:
            received = receive_email(db, runtime.env, "ann@example.com", "Where is my order?")
        frames = reader.events_until(of_type("touch.created"))

    assert [f.event for f in frames] == ["case.created", "touch.created"]
    touch = frames[-1]
    assert touch.json() == {
        "type": "touch.created",
        "at": "2026-11-23T09:00:00+00:00",
        "case_id": received.case_id,
        "customer_id": received.customer_id,
        "data": {
            "touch_id": received.touch_id,
            "channel": "email",
            "direction": "in",
            "switch_id": None,
        },
    }
    ids = [parse_id(f.id or "") for f in (opening, *frames)]
    assert None not in ids and ids == sorted(ids) and len(set(ids)) == 3


def test_a_message_posted_to_the_api_reaches_the_stream(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    if "/api/v1/inbound" not in client.get("/openapi.json").json()["paths"]:
        pytest.skip("POST /api/v1/inbound is not there yet")
    agent = callers[Role.AGENT]
    with stream(client, callers[Role.CLERK]) as reader:
        answer = client.post(
            "/api/v1/inbound",
            headers=agent.headers,
            json={
                "channel": "sms",
                "external_id": "SM-1",
                "from": {"kind": "phone", "value": "+447700900123"},
                "text": "Is the blue vase back in stock?",
            },
        )
        assert answer.status_code == 201, answer.text
        frames = reader.events_until(of_type("touch.created"))
    assert touches(frames) == [(answer.json()["touch_id"], "in")]
    assert frames[-1].json()["data"]["channel"] == "sms"


@pytest.mark.parametrize("role", list(Role))
def test_private_notes_reach_only_roles_that_may_read_them(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, role: Role
) -> None:
    with runtime.db.session() as db:
        first = receive_email(db, runtime.env)
    with stream(client, callers[role]) as reader:
        with runtime.db.session() as db:
            note = add_note(
                db, runtime.env, Actor.agent(callers[Role.AGENT].agent_id), first.case_id, "VIP"
            )
            later = receive_email(db, runtime.env, text="Any news?")
        frames = reader.events_until(
            lambda f: f.event == "touch.created" and f.json()["data"]["touch_id"] == later.touch_id
        )
    expected = [(later.touch_id, "in")]
    if allows(role, Permission.READ_PRIVATE):
        expected.insert(0, (note, "internal"))
    assert touches(frames) == expected


def test_heartbeats_keep_a_quiet_stream_alive(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    with stream(client, callers[Role.CLERK]) as reader:
        reader.next(soon())  # the opening
        beat = reader.next(soon())
    assert beat.comments == ["keep-alive"] and not beat.is_event


@pytest.mark.parametrize("how", ["header", "query", "header over a stale query"])
def test_reconnecting_with_the_last_event_id_gets_exactly_the_missed_events(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, how: str
) -> None:
    agent = callers[Role.AGENT]
    with stream(client, agent) as reader:
        with runtime.db.session() as db:
            receive_email(db, runtime.env, "ann@example.com", "One")
        last = reader.events_until(of_type("touch.created"))[-1]
    assert last.id is not None

    # While the client is away:
    with runtime.db.session() as db:
        again = receive_email(db, runtime.env, "ann@example.com", "Two")
        other = receive_email(db, runtime.env, "bob@example.com", "Three")
    oracle = runtime.env.bus.subscribe(after=last.id)
    missed = []
    while (event := oracle.get(0)) is not None:
        missed.append((event.id, event.type))
    oracle.close()

    headers = {"Last-Event-ID": last.id} if how != "query" else {}
    params = {"last_event_id": last.id if how == "query" else "1-1"}
    if how == "header":
        params = {}
    with stream(client, agent, headers=headers, params=params) as reader:
        frames = reader.events_until(lambda f: f.id == missed[-1][0])
        frames += reader.events_for(0.5)  # and nothing after them
    assert [(f.id, f.event) for f in frames] == missed
    assert touches(frames) == [(again.touch_id, "in"), (other.touch_id, "in")]
    assert "case.created" in [f.event for f in frames]


def test_reconnecting_from_the_opening_id_misses_nothing(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    """A client that drops before any event arrived resumes from the opening's id."""
    agent = callers[Role.AGENT]
    with stream(client, agent) as reader:
        opening = reader.next(soon())
    assert opening.id is not None
    with runtime.db.session() as db:
        received = receive_email(db, runtime.env)
    with stream(client, agent, headers={"Last-Event-ID": opening.id}) as reader:
        frames = reader.events_until(of_type("touch.created"))
    assert [f.event for f in frames] == ["case.created", "touch.created"]
    assert touches(frames) == [(received.touch_id, "in")]


def test_an_id_the_server_no_longer_has_gets_a_reset_then_live_events(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    with stream(client, callers[Role.AGENT], headers={"Last-Event-ID": "1-1"}) as reader:
        reset = reader.events_until(lambda _: True)[0]
        assert reset.event == events_route.RESET
        assert reset.json()["type"] == "reset" and reset.json()["reason"]
        assert reset.id is not None
        with runtime.db.session() as db:
            received = receive_email(db, runtime.env)
        frames = reader.events_until(of_type("touch.created"))
    assert touches(frames) == [(received.touch_id, "in")]


def test_the_stream_needs_a_signed_in_caller(client: TestClient) -> None:
    answer = client.get("/api/v1/events")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    wrong = client.get("/api/v1/events", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_an_open_stream_holds_no_database_connection(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    engines = {runtime.db.engine, runtime.db.read_engine}
    with stream(client, callers[Role.AGENT]) as reader:
        reader.next(soon())
        reader.next(soon())  # a heartbeat: the stream is past its start
        held = [engine.pool.checkedout() for engine in engines]  # type: ignore[attr-defined]
    assert held == [0] * len(engines)


class SpyBus(InProcessBus):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[InProcessSubscription] = []

    def subscribe(self, after: str | None = None) -> InProcessSubscription:
        subscription = super().subscribe(after)
        self.opened.append(subscription)
        return subscription


def test_a_client_that_leaves_has_its_subscription_closed(
    settings: Settings, callers: dict[Role, Caller]
) -> None:
    bus = SpyBus()
    runtime = Runtime.start(settings, clock=FrozenClock(START), bus=bus)
    try:
        with TestClient(create_app(runtime)) as client:
            with stream(client, callers[Role.CLERK]) as reader:
                reader.next(soon())
                assert len(bus.opened) == 1 and not bus.opened[0].closed
            deadline = time.monotonic() + 5
            while not bus.opened[0].closed and time.monotonic() < deadline:
                time.sleep(0.05)
            assert bus.opened[0].closed
    finally:
        runtime.close()
