"""Service-level clocks as the API shows them, on both databases: started by contact
(from the moment it happened), met by a reply, paused while the case waits on the
customer, resumed when it comes back, the case due at the most urgent of its clocks
whatever the channel; warnings and breaches raised by the sweep as events, escalated,
and the inbox's `sla=` filters and `sort=due`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.factories import inbound, receive_email
from threadline.actions import (
    Actor,
    Env,
    add_identity,
    assign,
    receive,
    reply,
    set_presence,
    set_status,
)
from threadline.actions.clocks import sweep_clocks
from threadline.actions.service_level_admin import seed_default_service_levels
from threadline.clock import FrozenClock
from threadline.events import Event
from threadline.models import Case
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, Presence, Role

HOUR = 3600


def clocks_of(client: TestClient, caller: Caller, case_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/cases/{case_id}", headers=caller.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def by_kind(case: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [clock for clock in case["service_levels"] if clock["kind"] == kind]


def inbox_ids(client: TestClient, caller: Caller, **params: str) -> list[int]:
    answer = client.get("/api/v1/cases", params=params, headers=caller.headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def drain(events: Any) -> list[Event]:
    found = []
    while (event := events.get(timeout=0)) is not None:
        found.append(event)
    return found


def test_a_message_from_the_past_is_clocked_from_when_it_was_sent(
    client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    sent = clock.now() - timedelta(hours=2)  # Monday 07:00 UTC, before the centre opens
    answer = client.post(
        "/api/v1/inbound",
        headers=callers[Role.ADMIN].headers,
        json={
            "channel": "sms",
            "external_id": "SM-late-1",
            "from": {"kind": "phone", "value": "+447700900555"},
            "text": "Sent while the network was down",
            "occurred_at": sent.isoformat(),
        },
    )
    assert answer.status_code == 201, answer.text
    case = clocks_of(client, callers[Role.AGENT], answer.json()["case_id"])
    (first,) = by_kind(case, "first_reply")
    # Texts are answered within the hour, round the clock: due an hour after sending,
    # so already an hour late when it landed.
    assert first["started_at"] == "2026-11-23T07:00:00+00:00"
    assert first["due_at"] == "2026-11-23T08:00:00+00:00"
    assert first["breached"] is True
    assert case["due_at"] == "2026-11-23T08:00:00+00:00"


def test_reply_meets_first_reply_then_the_next_message_starts_next_reply(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    amy = callers[Role.AGENT]
    mail = receive_email(db, env, "ann@example.com", "Where is my order?")
    clock.advance(timedelta(minutes=30))
    reply(db, env, Actor.agent(amy.agent_id), mail.case_id, "On its way")
    clock.advance(timedelta(hours=1))
    receive_email(db, env, "ann@example.com", "It has not come")
    db.close()

    case = clocks_of(client, amy, mail.case_id)
    (first,) = by_kind(case, "first_reply")
    assert first["met_at"] == "2026-11-23T09:30:00+00:00"
    assert (first["breached"], first["stopped_at"]) == (False, first["met_at"])
    (following,) = by_kind(case, "next_reply")
    # Email's next reply: within eight contact-centre hours of 10:30 on a Monday (open
    # until 20:00), so 9.5 h today leaves nothing for Tuesday: due 18:30 Monday.
    assert following["started_at"] == "2026-11-23T10:30:00+00:00"
    assert following["due_at"] == "2026-11-23T18:30:00+00:00"
    assert following["met_at"] is None
    assert case["due_at"] == following["due_at"]


def test_pending_pauses_resolution_and_reopening_resumes_it(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    amy = Actor.agent(callers[Role.AGENT].agent_id)
    mail = receive_email(db, env, "ann@example.com", "Refund please")
    (before,) = by_kind(clocks_of(client, callers[Role.AGENT], mail.case_id), "resolution")
    clock.advance(timedelta(hours=1))
    reply(db, env, amy, mail.case_id, "Can you send a photo?")
    set_status(db, env, amy, mail.case_id, CaseStatus.PENDING)
    db.close()

    paused = clocks_of(client, callers[Role.AGENT], mail.case_id)
    (resolution,) = by_kind(paused, "resolution")
    assert (resolution["paused"], resolution["due_at"]) == (True, None)
    assert paused["due_at"] is None  # nothing runs while the customer has the ball

    clock.advance(timedelta(hours=3))  # three open hours go by while it waits
    receive_email(db, env, "ann@example.com", "Photo attached")
    db.close()
    resumed = clocks_of(client, callers[Role.AGENT], mail.case_id)
    assert resumed["status"] == "open"
    (resolution,) = by_kind(resumed, "resolution")
    assert resolution["paused"] is False
    # The three paused hours do not count: due three open hours later than at first.
    assert resolution["due_at"] is not None and before["due_at"] is not None
    assert _hours_between(before["due_at"], resolution["due_at"]) == 3
    (following,) = by_kind(resumed, "next_reply")
    assert resumed["due_at"] == following["due_at"]  # the reply is owed before resolution


def test_resolving_meets_resolution_and_reopening_resumes_it(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    amy = Actor.agent(callers[Role.AGENT].agent_id)
    mail = receive_email(db, env, "ann@example.com", "Broken lid")
    clock.advance(timedelta(hours=1))
    reply(db, env, amy, mail.case_id, "A new lid is on its way")
    set_status(db, env, amy, mail.case_id, CaseStatus.RESOLVED)
    db.close()
    (resolution,) = by_kind(clocks_of(client, callers[Role.AGENT], mail.case_id), "resolution")
    assert resolution["met_at"] == "2026-11-23T10:00:00+00:00"

    clock.advance(timedelta(hours=2))
    set_status(db, env, amy, mail.case_id, CaseStatus.OPEN)
    db.close()
    (resolution,) = by_kind(clocks_of(client, callers[Role.AGENT], mail.case_id), "resolution")
    assert (resolution["met_at"], resolution["stopped_at"], resolution["paused"]) == (
        None,
        None,
        False,
    )


def test_a_second_channel_makes_the_case_due_at_the_earlier_promise(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    mail = receive_email(db, env, "ann@example.com", "Wrong size sent")
    add_identity(db, env, Actor.system(), mail.customer_id, IdentityKind.PHONE, "+447700900123")
    clock.advance(timedelta(minutes=10))
    text = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "Hello?"))
    db.close()
    assert text.case_id == mail.case_id
    case = clocks_of(client, callers[Role.AGENT], mail.case_id)
    firsts = {clock["channel"]: clock for clock in by_kind(case, "first_reply")}
    assert firsts["email"]["due_at"] == "2026-11-23T13:00:00+00:00"
    assert firsts["sms"]["due_at"] == "2026-11-23T10:10:00+00:00"
    assert case["due_at"] == "2026-11-23T10:10:00+00:00"  # the text's hour wins

    # One reply, on either channel, answers the customer: both clocks are met.
    reply(db, env, Actor.agent(callers[Role.AGENT].agent_id), mail.case_id, "Swapping it now")
    db.close()
    case = clocks_of(client, callers[Role.AGENT], mail.case_id)
    assert all(clock["met_at"] for clock in by_kind(case, "first_reply"))
    assert case["due_at"] is not None  # resolution still runs
    (resolution,) = by_kind(case, "resolution")
    assert case["due_at"] == resolution["due_at"]


def test_the_sweep_warns_then_breaches_and_the_inbox_filters_follow(
    db: Session,
    env: Env,
    client: TestClient,
    callers: dict[Role, Caller],
    clock: FrozenClock,
) -> None:
    agent, supervisor = callers[Role.AGENT], callers[Role.SUPERVISOR]
    events = env.bus.subscribe()
    text = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900777", "Help"))
    mail = receive_email(db, env, "ann@example.com", "No rush")
    assign(db, env, Actor.agent(agent.agent_id), text.case_id, agent.agent_id)
    set_presence(db, env, Actor.agent(agent.agent_id), agent.agent_id, Presence.ONLINE)
    drain(events)
    assert sweep_clocks(db, env).checked == 0  # nothing is due: the sweep reads nothing
    db.close()
    assert inbox_ids(client, agent, sort="due") == [text.case_id, mail.case_id]

    clock.advance(timedelta(minutes=50))  # past 80% of the text's hour
    assert inbox_ids(client, agent, sla="due_soon") == [text.case_id]
    assert inbox_ids(client, agent, sla="breached") == []
    result = sweep_clocks(db, env)
    assert (result.warnings, result.breaches) == (1, 0)
    (warning,) = [e for e in drain(events) if e.type.startswith("sla.")]
    assert (warning.type, warning.case_id, warning.data["kind"]) == (
        "sla.warning",
        text.case_id,
        "first_reply",
    )
    assert sweep_clocks(db, env).checked == 0  # each alert is raised once

    clock.advance(timedelta(minutes=15))
    db.close()
    assert inbox_ids(client, agent, sla="breached") == [text.case_id]
    assert inbox_ids(client, agent, sla="due_soon") == []
    result = sweep_clocks(db, env)
    assert (result.warnings, result.breaches) == (0, 1)
    (breach,) = [e for e in drain(events) if e.type.startswith("sla.")]
    assert breach.type == "sla.breached"
    # The owner and the supervisors are told; the owner is online, so keeps the case.
    assert agent.agent_id in breach.data["notify"]
    assert supervisor.agent_id in breach.data["notify"]
    db.close()
    case = clocks_of(client, agent, text.case_id)
    assert case["owner_id"] == agent.agent_id
    (first,) = by_kind(case, "first_reply")
    assert first["breached"] is True and first["met_at"] is None


def test_a_breach_takes_the_case_from_an_owner_who_is_not_online(
    db: Session, env: Env, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    agent = callers[Role.AGENT]
    text = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900777", "Help"))
    assign(db, env, Actor.agent(agent.agent_id), text.case_id, agent.agent_id)
    # Away keeps written cases (only calls and chats move at once), but not a broken
    # promise: the breach gives the case back to routing.
    set_presence(db, env, Actor.agent(agent.agent_id), agent.agent_id, Presence.AWAY)
    events = env.bus.subscribe()
    clock.advance(timedelta(hours=2))
    assert sweep_clocks(db, env).breaches == 1
    db.expire_all()
    case = db.get(Case, text.case_id)
    assert case is not None and case.owner_id is None  # back to routing
    assigned = [e for e in drain(events) if e.type == "case.assigned"]
    assert [e.data["owner_id"] for e in assigned] == [None]


def _hours_between(first: str, second: str) -> float:
    return (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds() / HOUR


def test_a_policy_set_by_an_admin_starts_clocks_and_escalates_its_breaches(
    db: Session, env: Env, client: TestClient, callers: dict[Role, Caller], clock: FrozenClock
) -> None:
    """After `threadline init` stored the defaults, an admin adds a tighter promise for
    VIP texts that raises the priority when broken: the new policy starts the clock, and
    its breach makes the case high priority."""
    seed_default_service_levels(db, env)
    created = client.post(
        "/api/v1/service-levels",
        headers=callers[Role.ADMIN].headers,
        json={
            "channel": "sms",
            "segment": "vip",
            "targets": {"first_reply": 600},
            "escalation": {"notify": ["supervisors"], "raise_priority": True},
        },
    )
    assert created.status_code == 201, created.text
    listed = client.get("/api/v1/service-levels?limit=200", headers=callers[Role.ADMIN].headers)
    assert len(listed.json()["items"]) > 1  # the defaults were kept beside it

    vip = client.post(
        "/api/v1/customers",
        headers=callers[Role.AGENT].headers,
        json={
            "name": "Vera Vip",
            "segment": "vip",
            "identities": [{"kind": "phone", "value": "+447700900888"}],
        },
    )
    assert vip.status_code == 201, vip.text
    text = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900888", "Urgent"))
    db.close()
    (first,) = by_kind(clocks_of(client, callers[Role.AGENT], text.case_id), "first_reply")
    assert (first["target_seconds"], first["due_at"]) == (600, "2026-11-23T09:10:00+00:00")

    clock.advance(timedelta(minutes=11))
    events = env.bus.subscribe()
    assert sweep_clocks(db, env).breaches == 1
    db.close()
    case = clocks_of(client, callers[Role.AGENT], text.case_id)
    assert case["priority"] == "high"
    (breach,) = [e for e in drain(events) if e.type == "sla.breached"]
    assert breach.data["notify"] == [
        callers[Role.SUPERVISOR].agent_id,
        callers[Role.ADMIN].agent_id,
    ]
