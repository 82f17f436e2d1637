"""GET /api/v1/search over HTTP: the answer's shape, what each role finds (a clerk never
finds the words of an internal note), and bad queries refused with the usual error."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.factories import inbound, receive_email
from threadline.actions import Actor, Env, add_note, receive
from threadline.models import format_ref
from threadline.runtime import Runtime
from threadline.search_index import behind
from threadline.vocabulary import Channel, IdentityKind, Role


def test_an_agent_finds_customers_cases_and_touches(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    received = receive_email(
        db, env, "ann@example.com", "My lamp arrived broken", subject="Broken lamp", name="Ann"
    )

    answer = client.get("/api/v1/search", params={"q": "lamp"}, headers=callers[Role.AGENT].headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["customers"] == []
    (case,) = body["cases"]
    assert case == {
        "id": received.case_id,
        "ref": format_ref(received.case_id),
        "subject": "Broken lamp",
        "status": "new",
        "customer_id": received.customer_id,
        "customer_name": "Ann",
        "updated_at": case["updated_at"],
        "exact": False,
    }
    assert case["updated_at"].endswith("+00:00")
    (touch,) = body["touches"]
    assert touch == {
        "id": received.touch_id,
        "case_id": received.case_id,
        "case_ref": format_ref(received.case_id),
        "customer_id": received.customer_id,
        "channel": "email",
        "direction": "in",
        "kind": "message",
        "occurred_at": touch["occurred_at"],
        "snippet": "My lamp arrived broken",
    }

    by_email = client.get(
        "/api/v1/search", params={"q": "ANN@example.com"}, headers=callers[Role.AGENT].headers
    ).json()
    assert by_email["customers"] == [
        {"id": received.customer_id, "name": "Ann", "segment": "standard", "exact": True}
    ]


def test_a_clerk_never_finds_the_words_of_an_internal_note(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    case_id = receive_email(db, env, "ann@example.com", "Where is my lamp?").case_id
    note_id = add_note(
        db, env, Actor.agent(callers[Role.AGENT].agent_id), case_id, "Customer owes a refund"
    )

    def touches(role: Role, q: str) -> list[int]:
        answer = client.get("/api/v1/search", params={"q": q}, headers=callers[role].headers)
        assert answer.status_code == 200, answer.text
        return [t["id"] for t in answer.json()["touches"]]

    for role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
        assert touches(role, "owes refund") == [note_id], role
    assert touches(Role.CLERK, "owes refund") == []
    # The clerk still finds the case's customer-facing touches.
    assert len(touches(Role.CLERK, "lamp")) == 1


def test_a_phone_number_typed_any_way_finds_the_caller(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    caller = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "Hi", name="Cy")
    ).customer_id
    for typed in ("07700 900123", "+44 (0)7700 900 123", "07700-900-123"):
        answer = client.get(
            "/api/v1/search", params={"q": typed}, headers=callers[Role.CLERK].headers
        )
        assert [c["id"] for c in answer.json()["customers"]] == [caller], typed


def test_limit_caps_each_list(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env
) -> None:
    for i in range(4):
        receive_email(db, env, f"c{i}@example.com", "Order late", subject="Order", name="Order")
    body = client.get(
        "/api/v1/search", params={"q": "order", "limit": 2}, headers=callers[Role.AGENT].headers
    ).json()
    assert [len(body[group]) for group in ("customers", "cases", "touches")] == [2, 2, 2]


def test_bad_queries_are_refused_with_the_error_shape(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    headers = callers[Role.AGENT].headers
    for params in (
        {},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "lamp\x00"},
        {"q": " ".join(f"w{i}" for i in range(11))},
        {"q": "lamp", "limit": 51},
        {"q": "lamp", "limit": 0},
    ):
        answer = client.get("/api/v1/search", params=params, headers=headers)
        assert answer.status_code == 422, params
        assert answer.json()["error"]["code"] == "invalid_input", params


def test_the_answer_is_described_in_the_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/search"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SearchOut"}
    fields = spec["components"]["schemas"]["SearchOut"]["properties"]
    assert set(fields) == {"customers", "cases", "touches"}
    assert {p["name"] for p in operation["parameters"]} == {"q", "limit"}


def test_a_message_is_found_the_moment_it_has_landed(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env, runtime: Runtime
) -> None:
    def found(q: str) -> list[int]:
        answer = client.get("/api/v1/search", params={"q": q}, headers=callers[Role.AGENT].headers)
        assert answer.status_code == 200, answer.text
        return [t["id"] for t in answer.json()["touches"]]

    first = receive_email(db, env, "ann@example.com", "The toaster sparks").touch_id
    assert found("toaster") == [first]
    second = receive_email(db, env, "bo@example.com", "My toaster sparks too").touch_id
    if runtime.db.dialect == "sqlite":
        # Receiving indexes nothing (migration 0006): the search catches the index up.
        with runtime.db.reading() as read:
            assert behind(read.connection())
    assert found("toaster sparks") == [second, first]
    with runtime.db.reading() as read:
        assert not behind(read.connection())
