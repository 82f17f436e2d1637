"""Working cases over the API: replies, notes, assignment, status and priority, with
optimistic concurrency. Every refusal answers the error shape and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.conftest import table_rows
from tests.factories import inbound, receive_email
from threadline.actions import Actor, Env, add_identity, assign, receive
from threadline.clock import FrozenClock
from threadline.models import Case, OutboxMessage, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, Direction, IdentityKind, Role

TABLES = ("cases", "touches", "outbox", "channel_switches", "audit_log", "reply_keys")


def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    with runtime.db.reading() as read:
        return {table: table_rows(read, table) for table in TABLES}


def post(client: TestClient, caller: Caller | None, url: str, body: Any, **headers: str) -> Any:
    sent = {**(caller.headers if caller else {}), **headers}
    return client.post(f"/api/v1/cases/{url}", headers=sent, json=body)


def refused(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]


def case_row(runtime: Runtime, case_id: int) -> Case:
    with runtime.db.reading() as read:
        case = read.get(Case, case_id)
        assert case is not None
        return case


@pytest.fixture
def case_id(db: Session, env: Env, clock: FrozenClock) -> int:
    """Ann mailed, then texted from her mobile: an unowned case, new."""
    mail = receive_email(db, env, "ann@example.com", "Where is order 1001?")
    add_identity(db, env, Actor.system(), mail.customer_id, IdentityKind.PHONE, "+447700900123")
    clock.advance(timedelta(minutes=2))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "Any news?"))
    receive_email(db, env, "bob@example.com", "Someone else")
    db.close()  # no transaction stays open while the app serves requests
    return mail.case_id


def test_a_reply_goes_back_on_the_customers_last_channel(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    agent = callers[Role.AGENT]
    answer = post(client, agent, f"{case_id}/replies", {"text": "It ships today."})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body == {
        "touch_id": body["touch_id"],
        "delivery": "queued",
        "case_id": case_id,
        "channel": "sms",
        "switch_id": None,
    }
    touches = client.get(f"/api/v1/cases/{case_id}/touches", headers=agent.headers).json()
    last = touches["items"][-1]
    assert (last["id"], last["channel"], last["direction"], last["delivery"]) == (
        body["touch_id"],
        "sms",
        "out",
        "queued",
    )
    assert last["author"] == {"type": "agent", "id": agent.agent_id, "name": "Agent"}
    with runtime.db.reading() as read:
        outbox = read.scalars(select(OutboxMessage)).one()
        assert outbox.payload["to"] == {"kind": "phone", "value": "+447700900123"}
    # Replying took the unowned case and opened it.
    case = client.get(f"/api/v1/cases/{case_id}", headers=agent.headers).json()
    assert (case["owner_id"], case["status"]) == (agent.agent_id, "open")


def test_a_reply_on_another_channel_is_a_recorded_switch(
    client: TestClient, callers: dict[Role, Caller], case_id: int
) -> None:
    agent = callers[Role.AGENT]
    body = {"text": "Please use the secure form", "channel": "email"}
    answer = post(client, agent, f"{case_id}/replies", {**body, "switch_reason": "private_data"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["channel"] == "email"
    assert answer.json()["switch_id"] is not None
    case = client.get(f"/api/v1/cases/{case_id}", headers=agent.headers).json()
    assert [(s["from_channel"], s["to_channel"], s["reason"]) for s in case["switches"]] == [
        ("email", "sms", "customer_choice"),
        ("sms", "email", "private_data"),
    ]
    # To a chosen identity of hers, the reason defaults to the agent's choice.
    again = post(
        client,
        agent,
        f"{case_id}/replies",
        {"text": "Or by text", "channel": "sms", "to": {"kind": "phone", "value": "07700 900123"}},
    )
    assert again.status_code == 202, again.text
    case = client.get(f"/api/v1/cases/{case_id}", headers=agent.headers).json()
    assert case["switches"][-1]["reason"] == "agent_choice"


def out_touches(runtime: Runtime) -> list[tuple[int, int | None]]:
    """Every reply in the database, as (touch id, agent id), and each one's outbox row."""
    with runtime.db.reading() as read:
        touches = read.execute(
            select(Touch.id, Touch.agent_id).where(Touch.direction == Direction.OUT)
        ).all()
        assert read.scalars(select(OutboxMessage.touch_id)).all() == [t.id for t in touches]
        return [(t.id, t.agent_id) for t in touches]


def test_a_reply_sent_again_with_its_key_answers_the_first_one(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    agent = callers[Role.AGENT]
    body = {"text": "It ships today."}
    first = post(client, agent, f"{case_id}/replies", body, **{"Idempotency-Key": "a-1"})
    assert first.status_code == 202, first.text
    assert "Idempotent-Replayed" not in first.headers
    before = snapshot(runtime)

    again = post(client, agent, f"{case_id}/replies", body, **{"Idempotency-Key": "a-1"})

    assert again.status_code == 202, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert snapshot(runtime) == before
    assert out_touches(runtime) == [(first.json()["touch_id"], agent.agent_id)]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("{id}/replies", {"text": "It ships tomorrow."}, id="another text"),
        pytest.param("{other}/replies", {"text": "It ships today."}, id="another case"),
    ],
)
def test_a_key_used_for_another_request_is_a_conflict(
    client: TestClient,
    callers: dict[Role, Caller],
    runtime: Runtime,
    case_id: int,
    path: str,
    body: dict[str, Any],
) -> None:
    agent = callers[Role.AGENT]
    key = {"Idempotency-Key": "a-1"}
    sent = post(client, agent, f"{case_id}/replies", {"text": "It ships today."}, **key)
    assert sent.status_code == 202, sent.text
    with runtime.db.reading() as read:
        other = read.scalars(select(Case.id).where(Case.id != case_id)).first()
    before = snapshot(runtime)

    answer = post(client, agent, path.format(id=case_id, other=other), body, **key)

    refused(answer, 409, "conflict")
    assert "this Idempotency-Key was used for another request" in answer.json()["error"]["message"]
    assert snapshot(runtime) == before


def test_another_agents_same_key_makes_its_own_reply(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    agent, supervisor = callers[Role.AGENT], callers[Role.SUPERVISOR]
    key = {"Idempotency-Key": "same-key"}
    body = {"text": "It ships today."}
    mine = post(client, agent, f"{case_id}/replies", body, **key)
    theirs = post(client, supervisor, f"{case_id}/replies", body, **key)
    assert (mine.status_code, theirs.status_code) == (202, 202), theirs.text
    assert "Idempotent-Replayed" not in theirs.headers
    assert out_touches(runtime) == [
        (mine.json()["touch_id"], agent.agent_id),
        (theirs.json()["touch_id"], supervisor.agent_id),
    ]


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 201, b"tab\there", b"caf\xe9"],
    ids=["empty", "too long", "a tab", "not ascii"],
)
def test_a_malformed_key_is_refused_and_changes_nothing(
    client: TestClient,
    callers: dict[Role, Caller],
    runtime: Runtime,
    case_id: int,
    key: bytes,
) -> None:
    before = snapshot(runtime)
    token = callers[Role.AGENT].headers["Authorization"].encode()
    answer = client.post(
        f"/api/v1/cases/{case_id}/replies",
        headers={b"Authorization": token, b"Idempotency-Key": key},
        json={"text": "hi"},
    )
    refused(answer, 422, "invalid_input")
    assert "Idempotency-Key" in answer.json()["error"]["message"]
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    ("role", "path", "body", "status", "code"),
    [
        (None, "{id}/replies", {"text": "hi"}, 401, "unauthorized"),
        (Role.CLERK, "{id}/replies", {"text": "hi"}, 403, "forbidden"),
        (Role.AGENT, "999999/replies", {"text": "hi"}, 404, "not_found"),
        (Role.AGENT, "{id}/replies", {}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": ""}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": "   \n "}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": "hi", "channel": "pigeon"}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": "hi", "channel": "phone"}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": "hi", "channel": "x"}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": "hi", "chanel": "email"}, 422, "invalid_input"),
        (
            Role.AGENT,
            "{id}/replies",
            {"text": "hi", "to": {"kind": "email", "value": "bob@example.com"}},
            422,
            "invalid_input",
        ),
        (Role.AGENT, "{id}/replies", {"text": "hi", "switch_reason": "whim"}, 422, "invalid_input"),
        (Role.AGENT, "{id}/replies", {"text": "x" * 100_001}, 422, "invalid_input"),
        (None, "{id}/notes", {"text": "hi"}, 401, "unauthorized"),
        (Role.CLERK, "{id}/notes", {"text": "hi"}, 403, "forbidden"),
        (Role.AGENT, "999999/notes", {"text": "hi"}, 404, "not_found"),
        (Role.AGENT, "{id}/notes", {"text": " "}, 422, "invalid_input"),
        (Role.CLERK, "{id}/status", {"status": "open"}, 403, "forbidden"),
        (Role.AGENT, "999999/status", {"status": "open"}, 404, "not_found"),
        (Role.AGENT, "{id}/status", {"status": "lost"}, 422, "invalid_input"),
        (Role.AGENT, "{id}/status", {}, 422, "invalid_input"),
        (Role.AGENT, "{id}/status", {"status": "open", "version": 0}, 422, "invalid_input"),
        (Role.CLERK, "{id}/priority", {"priority": "high"}, 403, "forbidden"),
        (Role.AGENT, "{id}/priority", {"priority": "asap"}, 422, "invalid_input"),
        (Role.CLERK, "{id}/assign", {"agent_id": None}, 403, "forbidden"),
        (Role.AGENT, "999999/assign", {"agent_id": None}, 404, "not_found"),
        (Role.AGENT, "{id}/assign", {}, 422, "invalid_input"),
        (Role.SUPERVISOR, "999999/assign", {"agent_id": None}, 404, "not_found"),
        (Role.SUPERVISOR, "{id}/assign", {"agent_id": 999999}, 404, "not_found"),
        (Role.SUPERVISOR, "{id}/assign", {"agent_id": 0}, 422, "invalid_input"),
        (Role.AGENT, "0/notes", {"text": "hi"}, 422, "invalid_input"),
    ],
)
def test_refusals_answer_the_error_shape_and_change_nothing(
    client: TestClient,
    callers: dict[Role, Caller],
    runtime: Runtime,
    case_id: int,
    role: Role | None,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = snapshot(runtime)
    caller = callers[role] if role else None
    refused(post(client, caller, path.format(id=case_id), body), status, code)
    assert snapshot(runtime) == before


def test_assigning_to_a_clerk_and_replying_on_a_closed_case_are_refused(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    supervisor = callers[Role.SUPERVISOR]
    before = snapshot(runtime)
    clerk = {"agent_id": callers[Role.CLERK].agent_id}
    refused(post(client, supervisor, f"{case_id}/assign", clerk), 422, "invalid_input")
    assert snapshot(runtime) == before
    assert post(client, supervisor, f"{case_id}/status", {"status": "closed"}).status_code == 200
    before = snapshot(runtime)
    refused(post(client, supervisor, f"{case_id}/replies", {"text": "hi"}), 409, "conflict")
    refused(post(client, supervisor, f"{case_id}/status", {"status": "open"}), 422, "invalid_input")
    assert snapshot(runtime) == before


def test_a_note_is_internal(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    answer = post(client, callers[Role.AGENT], f"{case_id}/notes", {"text": "Courier claim"})
    assert answer.status_code == 201, answer.text
    touch_id = answer.json()["touch_id"]
    assert answer.json() == {"touch_id": touch_id}
    url = f"/api/v1/cases/{case_id}/touches"
    mine = client.get(url, headers=callers[Role.AGENT].headers).json()["items"]
    assert (mine[-1]["id"], mine[-1]["direction"], mine[-1]["kind"]) == (
        touch_id,
        "internal",
        "note",
    )
    theirs = client.get(url, headers=callers[Role.CLERK].headers).json()["items"]
    assert touch_id not in [t["id"] for t in theirs]
    with runtime.db.reading() as read:
        assert read.scalars(select(OutboxMessage)).all() == []


def test_agents_take_and_release_only_for_themselves(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    agent, supervisor = callers[Role.AGENT], callers[Role.SUPERVISOR]
    admin = callers[Role.ADMIN]
    before = snapshot(runtime)
    # Giving an unowned case to someone else needs REASSIGN_CASES.
    gift = {"agent_id": supervisor.agent_id}
    refused(post(client, agent, f"{case_id}/assign", gift), 403, "forbidden")
    assert snapshot(runtime) == before

    taken = post(client, agent, f"{case_id}/assign", {"agent_id": agent.agent_id})
    assert taken.status_code == 200, taken.text
    assert taken.json()["owner_id"] == agent.agent_id
    assert taken.headers["etag"] == f'"{taken.json()["version"]}"'
    assert case_row(runtime, case_id).owner_id == agent.agent_id

    released = post(client, agent, f"{case_id}/assign", {"agent_id": None})
    assert released.status_code == 200, released.text
    assert released.json()["owner_id"] is None
    assert released.json()["version"] == taken.json()["version"] + 1

    moved = post(client, supervisor, f"{case_id}/assign", {"agent_id": admin.agent_id})
    assert moved.status_code == 200, moved.text
    before = snapshot(runtime)
    # Someone else's case: neither taken nor released by an agent.
    refused(
        post(client, agent, f"{case_id}/assign", {"agent_id": agent.agent_id}), 403, "forbidden"
    )
    refused(post(client, agent, f"{case_id}/assign", {"agent_id": None}), 403, "forbidden")
    assert snapshot(runtime) == before
    assert case_row(runtime, case_id).owner_id == admin.agent_id

    back = post(client, supervisor, f"{case_id}/assign", {"agent_id": agent.agent_id})
    assert back.status_code == 200
    assert case_row(runtime, case_id).owner_id == agent.agent_id


def test_status_and_priority_answer_the_new_state(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    agent = callers[Role.AGENT]
    version = case_row(runtime, case_id).version
    moved = post(client, agent, f"{case_id}/status", {"status": "pending"})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "id": case_id,
        "ref": f"TL-{case_id + 1000}",
        "owner_id": None,
        "status": "pending",
        "priority": "normal",
        "version": version + 1,
        "updated_at": "2026-11-23T09:02:00+00:00",
    }
    assert moved.headers["etag"] == f'"{version + 1}"'
    urgent = post(client, agent, f"{case_id}/priority", {"priority": "urgent"})
    assert urgent.status_code == 200, urgent.text
    assert (urgent.json()["priority"], urgent.json()["version"]) == ("urgent", version + 2)
    row = case_row(runtime, case_id)
    assert (row.status, row.priority.value, row.version) == (
        CaseStatus.PENDING,
        "urgent",
        version + 2,
    )


@pytest.mark.parametrize(
    ("path", "first", "second"),
    [
        ("status", {"status": "pending"}, {"status": "on_hold"}),
        ("priority", {"priority": "high"}, {"priority": "low"}),
        ("assign", {"agent_id": "{agent}"}, {"agent_id": None}),
    ],
)
@pytest.mark.parametrize("via", ["if-match", "body"])
def test_two_agents_with_one_version_the_second_gets_a_conflict(
    client: TestClient,
    callers: dict[Role, Caller],
    runtime: Runtime,
    case_id: int,
    path: str,
    first: dict[str, Any],
    second: dict[str, Any],
    via: str,
) -> None:
    agent, supervisor = callers[Role.AGENT], callers[Role.SUPERVISOR]
    etags = [
        client.get(f"/api/v1/cases/{case_id}", headers=caller.headers).headers["etag"]
        for caller in (agent, supervisor)
    ]
    assert etags[0] == etags[1]
    version = int(etags[0].strip('"'))

    def change(caller: Caller, body: dict[str, Any]) -> Any:
        body = {k: caller.agent_id if v == "{agent}" else v for k, v in body.items()}
        if via == "body":
            return post(client, caller, f"{case_id}/{path}", {**body, "version": version})
        return post(client, caller, f"{case_id}/{path}", body, **{"If-Match": etags[0]})

    won = change(agent, first)
    assert won.status_code == 200, won.text
    after = snapshot(runtime)
    refused(change(supervisor, second), 409, "conflict")
    assert snapshot(runtime) == after
    # With the new version, the second change goes through.
    fresh = client.get(f"/api/v1/cases/{case_id}", headers=supervisor.headers)
    retry = post(
        client, supervisor, f"{case_id}/{path}", second, **{"If-Match": fresh.headers["etag"]}
    )
    assert retry.status_code == 200, retry.text


def test_if_match_forms(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime, case_id: int
) -> None:
    agent = callers[Role.AGENT]
    version = case_row(runtime, case_id).version
    url = f"{case_id}/priority"
    before = snapshot(runtime)
    for bad in ("three", '"3', "1, 2", '"1", "2"'):
        refused(
            post(client, agent, url, {"priority": "high"}, **{"If-Match": bad}),
            422,
            "invalid_input",
        )
    disagree = post(
        client,
        agent,
        url,
        {"priority": "high", "version": version + 1},
        **{"If-Match": f'"{version}"'},
    )
    refused(disagree, 422, "invalid_input")
    assert snapshot(runtime) == before
    weak = post(client, agent, url, {"priority": "high"}, **{"If-Match": f'W/"{version}"'})
    assert weak.status_code == 200, weak.text
    anything = post(client, agent, url, {"priority": "low"}, **{"If-Match": "*"})
    assert anything.status_code == 200, anything.text
    assert anything.json()["version"] == version + 2


def test_a_stale_take_is_a_conflict_not_a_theft(
    db: Session,
    env: Env,
    client: TestClient,
    callers: dict[Role, Caller],
    runtime: Runtime,
    case_id: int,
) -> None:
    """An agent who read the case while it was unowned, and tries to take it after
    someone else did, learns that it changed."""
    agent, supervisor = callers[Role.AGENT], callers[Role.SUPERVISOR]
    etag = client.get(f"/api/v1/cases/{case_id}", headers=agent.headers).headers["etag"]
    assign(db, env, Actor.agent(supervisor.agent_id), case_id, supervisor.agent_id)
    db.close()
    before = snapshot(runtime)
    take = {"agent_id": agent.agent_id}
    refused(post(client, agent, f"{case_id}/assign", take, **{"If-Match": etag}), 409, "conflict")
    refused(post(client, agent, f"{case_id}/assign", take), 403, "forbidden")
    assert snapshot(runtime) == before
    assert case_row(runtime, case_id).owner_id == supervisor.agent_id


def test_openapi_describes_every_case_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("get", "/api/v1/cases"),
        ("get", "/api/v1/cases/{case_id}"),
        ("get", "/api/v1/cases/{case_id}/touches"),
        ("get", "/api/v1/customers/{customer_id}/timeline"),
        ("post", "/api/v1/cases/{case_id}/replies"),
        ("post", "/api/v1/cases/{case_id}/notes"),
        ("post", "/api/v1/cases/{case_id}/assign"),
        ("post", "/api/v1/cases/{case_id}/status"),
        ("post", "/api/v1/cases/{case_id}/priority"),
    }
    for method, path in expected:
        operation = paths[path][method]
        assert operation["description"], f"{method} {path} has no docstring"
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert len(success) == 1
        assert "schema" in operation["responses"][success[0]]["content"]["application/json"]
        for code in ("401", "403", "422"):
            error = operation["responses"][code]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorOut"}
    replies = paths["/api/v1/cases/{case_id}/replies"]["post"]
    (key,) = [p for p in replies["parameters"] if p["name"] == "Idempotency-Key"]
    assert (key["in"], key["required"]) == ("header", False)
    assert "Idempotency-Key" in replies["description"]
