"""Agents over the API: the directory any signed-in caller reads, adding agents (admins
only, never echoing a password) and setting one's own presence."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.conftest import Caller
from tests.api.test_customers import stored
from threadline.models import Agent
from threadline.runtime import Runtime
from threadline.vocabulary import Presence, Role

NEW = {
    "email": "Nia@Shop.example",
    "name": "Nia  Novak",
    "role": "supervisor",
    "password": "a long enough secret",
    "teams": ["Returns", "Phones", "Returns"],
    "skills": ["french", "refunds"],
}


def test_any_signed_in_caller_reads_the_directory_page_by_page(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    clerk = callers[Role.CLERK].headers
    whole = client.get("/api/v1/agents", headers=clerk)
    assert whole.status_code == 200, whole.text
    items = whole.json()["items"]
    assert whole.json()["next_cursor"] is None
    assert [item["id"] for item in items] == sorted(c.agent_id for c in callers.values())
    assert set(items[0]) == {"id", "name", "email", "role", "presence", "teams", "skills"}
    assert {item["role"] for item in items} == {role.value for role in Role}
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(len(callers) + 1):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/agents", headers=clerk, params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [item["id"] for item in items]
    assert client.get("/api/v1/agents").status_code == 401
    assert client.get("/api/v1/agents", headers=clerk, params={"cursor": "x"}).status_code == 422


def test_an_admin_adds_an_agent_who_can_then_sign_in(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    answer = client.post("/api/v1/agents", headers=callers[Role.ADMIN].headers, json=NEW)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert "password" not in answer.text
    assert NEW["password"] not in answer.text
    assert body["email"] == "nia@shop.example"
    assert body["name"] == "Nia Novak"
    assert (body["role"], body["presence"]) == ("supervisor", "offline")
    assert body["teams"] == ["Phones", "Returns"]
    assert body["skills"] == ["french", "refunds"]
    listed = client.get("/api/v1/agents", headers=callers[Role.AGENT].headers).json()["items"]
    assert listed[-1] == body
    signed = client.post(
        "/api/v1/session", json={"email": "nia@shop.example", "password": NEW["password"]}
    )
    assert signed.status_code == 200
    assert signed.json()["agent_id"] == body["id"]
    with runtime.db.reading() as read:
        stored_hash = read.scalar(select(Agent.password_hash).where(Agent.id == body["id"]))
    assert stored_hash is not None
    assert NEW["password"] not in stored_hash


def test_adding_agents_is_refused_without_changing_anything(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    before = stored(runtime)
    admin = callers[Role.ADMIN].headers
    refusals: list[tuple[dict[str, str], dict[str, Any], int]] = [
        ({}, NEW, 401),
        (callers[Role.AGENT].headers, NEW, 403),
        (callers[Role.SUPERVISOR].headers, NEW, 403),
        (callers[Role.CLERK].headers, NEW, 403),
        (admin, {**NEW, "email": callers[Role.CLERK].email.upper()}, 409),
        (admin, {**NEW, "role": "owner"}, 422),
        (admin, {**NEW, "email": "not-an-address"}, 422),
        (admin, {**NEW, "password": "short"}, 422),
        (admin, {**NEW, "name": "   "}, 422),
        (admin, {**NEW, "skills": ["nul\x00"]}, 422),
        (admin, {**NEW, "teams": ["x" * 81]}, 422),
        (admin, {k: v for k, v in NEW.items() if k != "role"}, 422),
    ]
    for headers, body, status in refusals:
        answer = client.post("/api/v1/agents", headers=headers, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert NEW["password"] not in answer.text
    malformed = client.post(
        "/api/v1/agents",
        headers={**admin, "content-type": "application/json"},
        content=b"{not json",
    )
    assert malformed.status_code == 422
    assert stored(runtime) == before


def test_an_agent_sets_their_own_presence(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    agent = callers[Role.AGENT]
    answer = client.post(
        "/api/v1/agents/me/presence", headers=agent.headers, json={"status": "online"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"agent_id": agent.agent_id, "status": "online"}
    listed = client.get("/api/v1/agents", headers=agent.headers).json()["items"]
    presence = {item["id"]: item["presence"] for item in listed}
    assert presence[agent.agent_id] == "online"
    assert presence[callers[Role.CLERK].agent_id] == "offline"

    before = stored(runtime)
    for headers, body, status in (
        ({}, {"status": "away"}, 401),
        (agent.headers, {"status": "busy"}, 422),
        (agent.headers, {}, 422),
    ):
        refused = client.post("/api/v1/agents/me/presence", headers=headers, json=body)
        assert refused.status_code == status, refused.text
    assert stored(runtime) == before
    with runtime.db.reading() as read:
        assert read.get_one(Agent, agent.agent_id).presence is Presence.ONLINE
