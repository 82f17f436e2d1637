"""GET /api/v1/wallboard: the supervisor's figures as JSON, live from the database, for
supervisors and admins only; described in OpenAPI with its response model."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.api.conftest import Caller
from threadline.clock import FrozenClock
from threadline.vocabulary import Role


def _mail(client: TestClient, caller: Caller, sender: str, external_id: str) -> int:
    answer = client.post(
        "/api/v1/inbound",
        headers=caller.headers,
        json={
            "channel": "email",
            "external_id": external_id,
            "from": {"kind": "email", "value": sender},
            "text": "Is my order on its way?",
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["case_id"])


def test_the_wallboard_counts_what_waits_until_someone_takes_it(
    client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    supervisor, agent = callers[Role.SUPERVISOR], callers[Role.AGENT]
    empty = client.get("/api/v1/wallboard", headers=supervisor.headers)
    assert empty.status_code == 200, empty.text
    assert empty.json()["total"]["waiting_cases"] == 0
    assert empty.json()["total"]["standing"] == "none"

    case_id = _mail(client, agent, "ann@example.com", "<w1@example.com>")
    _mail(client, agent, "bob@example.com", "<w2@example.com>")
    clock.advance(timedelta(minutes=5))

    board = client.get("/api/v1/wallboard", headers=supervisor.headers).json()
    assert board["total"]["waiting_cases"] == 2
    assert board["total"]["longest_wait_seconds"] == 300
    assert [(c["key"], c["waiting_cases"]) for c in board["channels"]] == [("email", 2)]
    assert {s["key"] for s in board["segments"]} >= {"standard", "vip", "trade"}
    assert [k["kind"] for k in board["kinds"]][:2] == ["answer", "first_reply"]
    by_id = {a["id"]: a for a in board["agents"]}
    assert by_id[agent.agent_id]["presence"] == "offline"
    assert Role.CLERK.value not in {a["role"] for a in board["agents"]}

    taken = client.post(
        f"/api/v1/cases/{case_id}/assign",
        headers=agent.headers,
        json={"agent_id": agent.agent_id},
    )
    assert taken.status_code == 200, taken.text
    after = client.get("/api/v1/wallboard", headers=callers[Role.ADMIN].headers).json()
    assert after["total"]["waiting_cases"] == 1
    assert {a["id"]: a["load"] for a in after["agents"]}[agent.agent_id] == 1


def test_only_supervisors_and_admins_see_the_wallboard(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    for role in (Role.AGENT, Role.CLERK):
        refused = client.get("/api/v1/wallboard", headers=callers[role].headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/wallboard").status_code == 401


def test_the_wallboard_is_described_in_openapi(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    answer = schema["paths"]["/api/v1/wallboard"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/WallboardOut")
    figures = schema["components"]["schemas"]["FiguresOut"]["properties"]
    assert {"waiting_cases", "waiting_calls", "longest_wait_seconds", "attainment"} <= set(figures)
