"""The case list (being replaced by the inbox's views)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import agent, inbound, receive_email
from tests.web.conftest import Story, case_links, visible_text
from threadline.actions import Actor, Env, receive, set_status
from threadline.clock import FrozenClock
from threadline.models import format_ref
from threadline.vocabulary import CaseStatus, Channel, IdentityKind


def test_case_list_shows_channels_owner_and_last_touch(client: TestClient, story: Story) -> None:
    response = client.get("/cases")
    assert response.status_code == 200
    html = response.text
    assert case_links(html) == [story.case_id]
    row = visible_text(html[html.index("<tbody>") : html.index("</tbody>")])
    assert row.startswith(f"{format_ref(story.case_id)} Ann Baker Standard X Phone Email Open")
    assert "Amy Agent" in row
    assert row.endswith("Email Out Of course: 24.99 is on its way back to you. 23 Nov 2026, 10:20")


def test_case_list_filters_by_status(
    client: TestClient, db: Session, env: Env, clock: FrozenClock
) -> None:
    boss = agent(db, env, email="sam@shop.example", name="Sam Super")
    first = receive_email(db, env, "one@example.com", "First")
    clock.advance(timedelta(minutes=1))
    second = receive_email(db, env, "two@example.com", "Second")
    clock.advance(timedelta(minutes=1))
    third = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900456", "Third"))
    clock.advance(timedelta(minutes=1))
    set_status(db, env, Actor.agent(boss.id), second.case_id, CaseStatus.PENDING)

    assert case_links(client.get("/cases").text) == [
        second.case_id,
        third.case_id,
        first.case_id,
    ]
    pending = client.get("/cases", params={"status": "pending"}).text
    assert case_links(pending) == [second.case_id]
    assert '<a href="/cases?status=pending" aria-current="page">' in pending
    assert case_links(client.get("/cases?status=new").text) == [third.case_id, first.case_id]
    closed = client.get("/cases?status=closed").text
    assert case_links(closed) == []
    assert "No closed cases yet." in visible_text(closed)


def test_case_list_rejects_an_unknown_status(client: TestClient) -> None:
    response = client.get("/cases?status=lost")
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "invalid_input"
    assert "status" in body["error"]["message"]
