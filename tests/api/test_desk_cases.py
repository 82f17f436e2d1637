"""What the case page needs beyond the core routes: tags (audited, announced), the
collision notice's heartbeat (an event, nothing stored) and the private-data check that
a public reply goes through."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.conftest import table_rows
from tests.factories import receive_email
from tests.mail_support import drain
from threadline.actions import Env
from threadline.models import AuditEntry
from threadline.runtime import Runtime
from threadline.vocabulary import Role


@pytest.fixture
def case_id(db: Session, env: Env) -> int:
    received = receive_email(db, env, "ann@example.com", "My lamp arrived broken")
    db.close()
    return received.case_id


def tags_of(client: TestClient, caller: Caller, case_id: int) -> list[str]:
    answer = client.get(f"/api/v1/cases/{case_id}", headers=caller.headers)
    assert answer.status_code == 200, answer.text
    tags: list[str] = answer.json()["tags"]
    return tags


def audit(runtime: Runtime, action: str) -> list[dict[str, Any]]:
    with runtime.db.reading() as read:
        return [
            row.data for row in read.scalars(select(AuditEntry).where(AuditEntry.action == action))
        ]


def test_tags_are_added_once_spelt_one_way_and_removed(
    client: TestClient, callers: dict[Role, Caller], case_id: int, runtime: Runtime, env: Env
) -> None:
    agent = callers[Role.AGENT]
    events = env.bus.subscribe()
    url = f"/api/v1/cases/{case_id}/tags"
    added = client.post(url, headers=agent.headers, json={"tag": "  Late  Delivery "})
    assert added.status_code == 201, added.text
    assert added.json() == {"case_id": case_id, "tags": ["late-delivery"]}
    again = client.post(url, headers=agent.headers, json={"tag": "late-delivery"})
    assert again.json()["tags"] == ["late-delivery"]
    client.post(url, headers=agent.headers, json={"tag": "refund"})
    assert tags_of(client, agent, case_id) == ["late-delivery", "refund"]

    removed = client.delete(url, headers=agent.headers, params={"tag": "Late Delivery"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["tags"] == ["refund"]
    assert client.delete(url, headers=agent.headers, params={"tag": "never"}).json()["tags"] == [
        "refund"
    ]

    assert audit(runtime, "case.tagged") == [{"tag": "late-delivery"}, {"tag": "refund"}]
    assert audit(runtime, "case.untagged") == [{"tag": "late-delivery"}]
    updates = [e.data["tags"] for e in drain(events) if e.type == "case.updated"]
    assert updates == [["late-delivery"], ["late-delivery", "refund"], ["refund"]]


@pytest.mark.parametrize("tag", ["", "   ", "semi;colon", "<b>", "x" * 41])
def test_a_bad_tag_is_refused_and_changes_nothing(
    client: TestClient, callers: dict[Role, Caller], case_id: int, runtime: Runtime, tag: str
) -> None:
    answer = client.post(
        f"/api/v1/cases/{case_id}/tags", headers=callers[Role.AGENT].headers, json={"tag": tag}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_input"
    assert tags_of(client, callers[Role.AGENT], case_id) == []
    assert audit(runtime, "case.tagged") == []


def test_tags_of_an_unknown_case_are_404(client: TestClient, callers: dict[Role, Caller]) -> None:
    answer = client.post(
        "/api/v1/cases/999999/tags", headers=callers[Role.AGENT].headers, json={"tag": "x"}
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_a_viewing_heartbeat_is_an_event_and_nothing_is_stored(
    client: TestClient, callers: dict[Role, Caller], case_id: int, runtime: Runtime, env: Env
) -> None:
    supervisor = callers[Role.SUPERVISOR]
    with runtime.db.reading() as read:
        before = table_rows(read, "audit_log")
    events = env.bus.subscribe()
    answer = client.post(
        f"/api/v1/cases/{case_id}/viewing",
        headers=supervisor.headers,
        json={"typing": True, "hello": True},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"case_id": case_id, "ttl_seconds": 30}
    client.post(
        f"/api/v1/cases/{case_id}/viewing",
        headers=supervisor.headers,
        json={"typing": True, "leaving": True},
    )
    seen = [e for e in drain(events) if e.type == "case.viewing"]
    assert [(e.case_id, e.private) for e in seen] == [(case_id, False), (case_id, False)]
    assert seen[0].data == {
        "agent_id": supervisor.agent_id,
        "name": "Supervisor",
        "typing": True,
        "leaving": False,
        "hello": True,
        "ttl": 30,
    }
    # Leaving is never typing, and never asks for answers.
    assert (seen[1].data["leaving"], seen[1].data["typing"], seen[1].data["hello"]) == (
        True,
        False,
        False,
    )
    with runtime.db.reading() as read:
        assert table_rows(read, "audit_log") == before


def test_a_clerk_viewing_a_case_is_announced_too(
    client: TestClient, callers: dict[Role, Caller], case_id: int, env: Env
) -> None:
    events = env.bus.subscribe()
    clerk = callers[Role.CLERK]
    answer = client.post(f"/api/v1/cases/{case_id}/viewing", headers=clerk.headers, json={})
    assert answer.status_code == 200
    (seen,) = [e for e in drain(events) if e.type == "case.viewing"]
    assert seen.data["agent_id"] == clerk.agent_id
    assert seen.data["typing"] is False
    unknown = client.post("/api/v1/cases/999999/viewing", headers=clerk.headers, json={})
    assert unknown.status_code == 404


def test_the_reply_check_names_what_looks_private(
    client: TestClient, callers: dict[Role, Caller], case_id: int
) -> None:
    url = f"/api/v1/cases/{case_id}/reply-check"
    agent = callers[Role.AGENT]
    risky = client.post(
        url,
        headers=agent.headers,
        json={"text": "Is your card 4111 1111 1111 1111? We'll write to ann@example.com"},
    )
    assert risky.status_code == 200, risky.text
    assert risky.json() == {
        "private_data": True,
        "findings": [
            {"kind": "card_number", "label": "a card number", "excerpt": "4111 1111 1111 1111"},
            {"kind": "email_address", "label": "an email address", "excerpt": "ann@example.com"},
        ],
    }
    fine = client.post(url, headers=agent.headers, json={"text": "Order 1042: 24.99 refunded."})
    assert fine.json() == {"private_data": False, "findings": []}
    assert client.post(
        url, headers=callers[Role.CLERK].headers, json={"text": "x"}
    ).status_code == (403)
