"""Messages handed over by integrations and visits logged at the shop counter: where
they land, copies answered as duplicates, and refusals that write nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.api.test_customers import customer, stored
from threadline.actions import Env
from threadline.models import Case, Customer, Identity, Touch, format_ref
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, Direction, IdentityKind, Role, TouchKind


def message(external_id: str = "m-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "sms",
        "external_id": external_id,
        "from": {"kind": "phone", "value": "07700 900123", "name": "Ann Archer"},
        "text": "Where is my order?",
    }
    body.update(changes)
    return body


def test_a_message_lands_and_its_copy_is_a_duplicate(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    headers = callers[Role.AGENT].headers
    first = client.post(
        "/api/v1/inbound",
        headers=headers,
        json=message(occurred_at="2026-11-23T10:15:00+01:00", public=False),
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["duplicate"] is False
    copy = client.post("/api/v1/inbound", headers=headers, json=message(text="changed"))
    assert copy.status_code == 200, copy.text
    assert copy.json() == {**body, "duplicate": True}
    with runtime.db.reading() as read:
        touch = read.get_one(Touch, body["touch_id"])
        assert (touch.channel, touch.direction, touch.kind) == (
            Channel.SMS,
            Direction.IN,
            TouchKind.MESSAGE,
        )
        assert touch.text == "Where is my order?"
        assert touch.occurred_at.isoformat() == "2026-11-23T09:15:00+00:00"
        assert read.get_one(Case, body["case_id"]).customer_id == body["customer_id"]
        assert read.get_one(Customer, body["customer_id"]).name == "Ann Archer"
        identity = read.scalars(select(Identity)).one()
        assert (identity.kind, identity.value) == (IdentityKind.PHONE, "+447700900123")
        assert read.scalar(select(func.count()).select_from(Touch)) == 1


def test_messages_continue_the_customers_case_or_the_case_they_quote(
    client: TestClient, callers: dict[Role, Caller]
) -> None:
    headers = callers[Role.AGENT].headers
    first = client.post("/api/v1/inbound", headers=headers, json=message("m-1")).json()
    again = client.post("/api/v1/inbound", headers=headers, json=message("m-2")).json()
    assert (again["case_id"], again["customer_id"]) == (first["case_id"], first["customer_id"])
    assert again["touch_id"] != first["touch_id"]
    # The same person wrote from an address we did not know: a second customer and case,
    # merged into the first, so that one customer has two open cases.
    email = {"kind": "email", "value": "ann@example.com"}
    other = client.post(
        "/api/v1/inbound", headers=headers, json=message("e-1", channel="email", **{"from": email})
    ).json()
    assert other["case_id"] != first["case_id"]
    merged = client.post(
        f"/api/v1/customers/{first['customer_id']}/merge",
        headers=headers,
        json={"other_id": other["customer_id"]},
    )
    assert merged.status_code == 200
    quoting = client.post(
        "/api/v1/inbound",
        headers=headers,
        json=message(
            "e-2",
            channel="email",
            **{"from": email},
            subject="About my order",
            case_ref=format_ref(first["case_id"]),
        ),
    ).json()
    assert (quoting["case_id"], quoting["customer_id"]) == (first["case_id"], first["customer_id"])
    # A stranger quoting the ref never lands on someone else's case.
    stranger = client.post(
        "/api/v1/inbound",
        headers=headers,
        json=message(
            "e-3",
            channel="email",
            **{"from": {"kind": "email", "value": "eve@example.com"}},
            case_ref=format_ref(first["case_id"]),
        ),
    ).json()
    assert stranger["case_id"] not in (first["case_id"], other["case_id"])


def test_inbound_refusals_write_nothing(
    client: TestClient, callers: dict[Role, Caller], runtime: Runtime
) -> None:
    before = stored(runtime)
    agent = callers[Role.AGENT].headers
    refusals: list[tuple[dict[str, str], dict[str, Any], int]] = [
        ({}, message(), 401),
        (callers[Role.CLERK].headers, message(), 403),
        (agent, message(channel="pigeon"), 422),
        (agent, message(**{"from": {"kind": "phone", "value": "not a number"}}), 422),
        (agent, message(**{"from": {"kind": "email", "value": "nope"}}), 422),
        (agent, message(**{"from": {"kind": "fax", "value": "1"}}), 422),
        (agent, message(occurred_at="2026-11-23T10:15:00"), 422),  # no offset
        (agent, message(occurred_at="0001-01-01T00:00:00+01:00"), 422),  # before year 1 in UTC
        (agent, message(text="nul\x00"), 422),
        (agent, message(external_id=""), 422),
        (agent, message(external_id="x" * 251), 422),
        (agent, {k: v for k, v in message().items() if k != "from"}, 422),
        (agent, {k: v for k, v in message().items() if k != "text"}, 422),
    ]
    for headers, body, status in refusals:
        answer = client.post("/api/v1/inbound", headers=headers, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["code"] in {"unauthorized", "forbidden", "invalid_input"}
    malformed = client.post(
        "/api/v1/inbound",
        headers={**agent, "content-type": "application/json"},
        content=b'{"channel": "sms"',
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "invalid_input"
    assert stored(runtime) == before


def test_a_clerk_logs_a_visit_by_identity_or_by_customer(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env, runtime: Runtime
) -> None:
    clerk = callers[Role.CLERK]
    new = client.post(
        "/api/v1/store-visits",
        headers=clerk.headers,
        json={
            "identity": {"kind": "loyalty_card", "value": "hv-1234-5678"},
            "topic": "Returns",
            "note": "Brought back a cracked vase",
            "outcome": "refunded",
        },
    )
    assert new.status_code == 201, new.text
    visit = new.json()
    assert set(visit) == {"touch_id", "case_id", "customer_id"}
    ann = customer(db, env, "Ann", (IdentityKind.EMAIL, "ann@example.com"))
    emailed = client.post(
        "/api/v1/inbound",
        headers=callers[Role.AGENT].headers,
        json=message(channel="email", **{"from": {"kind": "email", "value": "ann@example.com"}}),
    ).json()
    known = client.post(
        "/api/v1/store-visits",
        headers=clerk.headers,
        json={"customer_id": ann, "topic": "Order", "occurred_at": "2026-11-23T08:30:00Z"},
    )
    assert known.status_code == 201, known.text
    assert (known.json()["customer_id"], known.json()["case_id"]) == (ann, emailed["case_id"])
    with runtime.db.reading() as read:
        touch = read.get_one(Touch, visit["touch_id"])
        assert (touch.channel, touch.kind, touch.agent_id) == (
            Channel.STORE,
            TouchKind.VISIT,
            clerk.agent_id,
        )
        assert (touch.text, touch.outcome) == ("Brought back a cracked vase", "refunded")
        card = read.scalars(select(Identity).where(Identity.customer_id == visit["customer_id"]))
        assert [i.value for i in card] == ["HV12345678"]


def test_visit_refusals_write_nothing(
    client: TestClient, callers: dict[Role, Caller], db: Session, env: Env, runtime: Runtime
) -> None:
    ann = customer(db, env, "Ann")
    before = stored(runtime)
    clerk = callers[Role.CLERK].headers
    card = {"kind": "loyalty_card", "value": "HV12345678"}
    refusals: list[tuple[dict[str, str], dict[str, Any], int]] = [
        ({}, {"customer_id": ann, "topic": "Order"}, 401),
        (clerk, {"topic": "Order"}, 422),  # nobody
        (clerk, {"customer_id": ann, "identity": card, "topic": "Order"}, 422),  # both
        (clerk, {"customer_id": ann, "topic": ""}, 422),
        (clerk, {"customer_id": ann, "topic": "x" * 81}, 422),
        (clerk, {"customer_id": ann, "topic": "Order", "occurred_at": "2026-11-23"}, 422),
        (clerk, {"identity": {"kind": "phone", "value": "12"}, "topic": "Order"}, 422),
        (clerk, {"customer_id": 999999, "topic": "Order"}, 404),
    ]
    for headers, body, status in refusals:
        answer = client.post("/api/v1/store-visits", headers=headers, json=body)
        assert answer.status_code == status, (body, answer.text)
    assert stored(runtime) == before
