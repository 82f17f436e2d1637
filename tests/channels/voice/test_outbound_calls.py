"""Agents calling customers: click-to-call through the outbox and the provider's REST API
(a loopback stand-in), a public conversation moved to a call for card details with the
recording paused meanwhile, and call-backs made good."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api.conftest import Caller
from tests.channels.voice.test_call_lifecycles import (
    CALLER,
    call_of,
    leave_queue,
    parse,
    ring,
    touch_json,
)
from tests.twilio_support import (
    ACCOUNT,
    OUR_NUMBER,
    PUBLIC_URL,
    TwilioStandIn,
    basic_auth,
    post_signed,
)
from threadline.channels.twilio.calling import TwilioCallSender
from threadline.channels.twilio.rest import TwilioApi
from threadline.clock import FrozenClock
from threadline.models import OutboxMessage
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, OutboxState
from threadline.worker import Worker


def phone_worker(runtime: Runtime) -> Worker:
    api = TwilioApi.from_settings(runtime.settings)
    assert api is not None
    sender = TwilioCallSender(api, from_number=OUR_NUMBER, public_url=PUBLIC_URL)
    return Worker(runtime, "w1", {Channel.PHONE: sender})


def tweeting_customer(client: TestClient, agent: Caller) -> int:
    """A customer who complained in public, and whose phone number is known."""
    landed = client.post(
        "/api/v1/inbound",
        json={
            "channel": "x",
            "external_id": "tweet-1",
            "from": {"kind": "x", "value": "@annlee"},
            "text": "@shop you charged my card twice!",
            "public": True,
        },
        headers=agent.headers,
    ).json()
    linked = client.post(
        f"/api/v1/customers/{landed['customer_id']}/identities",
        json={"kind": "phone", "value": CALLER},
        headers=agent.headers,
    )
    assert linked.status_code == 201, linked.text
    return int(landed["case_id"])


def status(client: TestClient, call_id: int, sid: str, sequence: int, **fields: str) -> None:
    answer = post_signed(
        client,
        f"/webhooks/twilio/voice/status?call={call_id}",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "SequenceNumber": str(sequence),
            "Direction": "outbound-api",
            "To": CALLER,
            "From": OUR_NUMBER,
            **fields,
        },
    )
    assert answer.status_code == 204, answer.text


def test_a_public_complaint_moves_to_a_call_for_card_details(
    client: TestClient,
    runtime: Runtime,
    clock: FrozenClock,
    agent: Caller,
    stand_in: TwilioStandIn,
) -> None:
    case_id = tweeting_customer(client, agent)
    placed = client.post(
        f"/api/v1/cases/{case_id}/calls",
        json={"switch_reason": "private_data"},
        headers=agent.headers,
    )
    assert placed.status_code == 202, placed.text
    call_id = placed.json()["call_id"]
    assert placed.json()["switch_id"] is not None
    case = client.get(f"/api/v1/cases/{case_id}", headers=agent.headers).json()
    assert [(s["from_channel"], s["to_channel"], s["reason"]) for s in case["switches"]] == [
        ("x", "phone", "private_data")
    ]

    assert phone_worker(runtime).run_once() == 1
    (dialled,) = stand_in.posts_to("/Calls.json")
    assert dialled.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    assert dialled.authorization == basic_auth()
    form = dict(dialled.form)
    assert (form["To"], form["From"]) == (CALLER, OUR_NUMBER)
    assert form["Url"] == f"{PUBLIC_URL}/webhooks/twilio/voice/outbound?call={call_id}"
    assert form["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/voice/status?call={call_id}"
    sid = "CA" + f"{1:032x}"

    started = clock.now()
    status(client, call_id, sid, 0, CallStatus="initiated", Timestamp=format_datetime(started))
    status(
        client,
        call_id,
        sid,
        1,
        CallStatus="ringing",
        Timestamp=format_datetime(started + timedelta(seconds=2)),
    )
    clock.advance(timedelta(seconds=14))
    connect = post_signed(
        client,
        f"/webhooks/twilio/voice/outbound?call={call_id}",
        {"CallSid": sid, "AccountSid": ACCOUNT, "CallStatus": "in-progress", "To": CALLER},
    )
    dial = parse(connect.text).find("Dial")
    assert dial is not None and dial.get("callerId") == OUR_NUMBER
    assert dial.findtext("Client") == f"agent-{agent.agent_id}"

    # The customer is about to read out their card number: the recording pauses.
    clock.advance(timedelta(seconds=30))
    paused = client.post(
        f"/api/v1/calls/{call_id}/recording", json={"paused": True}, headers=agent.headers
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["recording_paused"] is True
    (pause,) = stand_in.posts_to(f"/Calls/{sid}/Recordings/Twilio.CURRENT.json")
    assert dict(pause.form)["Status"] == "paused"
    clock.advance(timedelta(seconds=40))
    resumed = client.post(
        f"/api/v1/calls/{call_id}/recording", json={"paused": False}, headers=agent.headers
    ).json()
    assert resumed["recording_paused"] is False
    assert [
        dict(r.form)["Status"]
        for r in stand_in.posts_to(f"/Calls/{sid}/Recordings/Twilio.CURRENT.json")
    ] == ["paused", "in-progress"]
    ((paused_at, resumed_at),) = resumed["recording_pauses"]
    assert paused_at < resumed_at

    status(
        client,
        call_id,
        sid,
        2,
        CallStatus="completed",
        CallDuration="100",
        Timestamp=format_datetime(started + timedelta(seconds=114)),
    )
    call = call_of(runtime, sid)
    touch = touch_json(client, agent, call)
    assert touch["direction"] == "out"
    assert touch["kind"] == "call"
    assert touch["delivery"] == "delivered"
    assert touch["call"]["ring_seconds"] == 14
    assert touch["call"]["talk_seconds"] == 100
    assert touch["outcome"] == "answered"

    # The customer rings back later: the call joins the same case.
    ring(client, "CA" + "e" * 32)
    assert call_of(runtime, "CA" + "e" * 32).case_id == case_id


def test_a_call_back_is_made_good_by_the_call_placed_for_it(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller
) -> None:
    ring(client, "CA" + "b" * 32)
    clock.advance(timedelta(seconds=70))
    leave_queue(client, "CA" + "b" * 32, "hangup", queue_seconds=70)
    (owed,) = client.get("/api/v1/call-backs?agent=me", headers=agent.headers).json()["items"]
    placed = client.post(
        f"/api/v1/cases/{owed['case_id']}/calls",
        json={"call_back_id": owed["id"], "switch_reason": "callback"},
        headers=agent.headers,
    )
    assert placed.status_code == 202, placed.text
    assert client.get("/api/v1/call-backs?agent=me", headers=agent.headers).json()["items"] == []
    (done,) = client.get("/api/v1/call-backs?agent=me&done=true", headers=agent.headers).json()[
        "items"
    ]
    assert done["done_call_id"] == placed.json()["call_id"]
    again = client.post(
        f"/api/v1/cases/{owed['case_id']}/calls",
        json={"call_back_id": owed["id"]},
        headers=agent.headers,
    )
    assert again.status_code == 409


def test_a_provider_that_is_rate_limiting_delays_the_call_and_loses_nothing(
    client: TestClient, runtime: Runtime, agent: Caller, stand_in: TwilioStandIn
) -> None:
    case_id = tweeting_customer(client, agent)
    client.post(f"/api/v1/cases/{case_id}/calls", json={}, headers=agent.headers)
    stand_in.fail_next.append(429)
    phone_worker(runtime).run_once()
    with runtime.db.reading() as read:
        row = read.scalars(select(OutboxMessage)).one()
        assert (row.state, row.attempts) == (OutboxState.PENDING, 1)
        assert "429" in (row.last_error or "")


def test_an_announced_move_to_the_phone_is_completed_by_the_customers_call(
    client: TestClient, runtime: Runtime, agent: Caller
) -> None:
    case_id = tweeting_customer(client, agent)
    announced = client.post(
        f"/api/v1/cases/{case_id}/switches",
        json={"to_channel": "phone", "reason": "private_data"},
        headers=agent.headers,
    )
    assert announced.status_code == 201, announced.text
    assert announced.json()["pending"] is True
    ring(client, "CA" + "d" * 32)
    call = call_of(runtime, "CA" + "d" * 32)
    assert call.case_id == case_id
    case = client.get(f"/api/v1/cases/{case_id}", headers=agent.headers).json()
    assert [
        (s["from_channel"], s["to_channel"], s["reason"], s["pending"]) for s in case["switches"]
    ] == [("x", "phone", "private_data", False)]
    refused = client.post(
        f"/api/v1/cases/{case_id}/switches",
        json={"to_channel": "phone", "reason": "because"},
        headers=agent.headers,
    )
    assert refused.status_code == 422
