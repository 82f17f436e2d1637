"""Whole calls as the provider reports them: each step is a signed webhook, in the order
and with the fields the provider sends; the figures are read back through the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.etree import ElementTree

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.api.conftest import Caller, make_caller
from tests.twilio_support import ACCOUNT, OUR_NUMBER, PUBLIC_URL, post_signed
from threadline.actions import Actor, Env
from threadline.actions.agents import set_presence
from threadline.actions.cases import assign
from threadline.actions.clocks import sweep_clocks
from threadline.actions.inbound import receive
from threadline.channels.base import IdentityRef, Inbound
from threadline.clock import FrozenClock
from threadline.models import Call, CallBack, CallEvent, Customer, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, IdentityKind, Presence, Role

CALLER = "+447700900123"


def parse(twiml: str) -> ElementTree.Element:
    """Our own TwiML answer, read back to check what the provider would do."""
    return ElementTree.fromstring(twiml)  # noqa: S314


def ring(client: TestClient, sid: str, caller: str = CALLER) -> ElementTree.Element:
    answer = post_signed(
        client,
        "/webhooks/twilio/voice",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "From": caller,
            "To": OUR_NUMBER,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    return parse(answer.text)


def pick_up(
    client: TestClient, sid: str, agent: Caller, queue_seconds: int, queue: str | None = None
) -> None:
    softphone = post_signed(
        client,
        "/webhooks/twilio/voice",
        {
            "CallSid": "CA" + "a" * 32,
            "AccountSid": ACCOUNT,
            "From": f"client:agent-{agent.agent_id}",
            "To": OUR_NUMBER,
            "CallStatus": "ringing",
            "Direction": "inbound",
        },
    )
    dequeued = parse(softphone.text).find("Dial/Queue")
    assert dequeued is not None and dequeued.text == (queue or f"agent-{agent.agent_id}")
    bridged = post_signed(
        client,
        f"/webhooks/twilio/voice/bridged?agent={agent.agent_id}",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "QueueTime": str(queue_seconds),
            "DequeingCallSid": "CA" + "a" * 32,
        },
    )
    assert bridged.status_code == 200


def leave_queue(client: TestClient, sid: str, result: str, queue_seconds: int) -> None:
    answer = post_signed(
        client,
        "/webhooks/twilio/voice/queue",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "QueueResult": result,
            "QueueTime": str(queue_seconds),
            "CallStatus": "completed",
        },
    )
    assert answer.status_code == 200


def status(client: TestClient, sid: str, at: datetime, sequence: int, **fields: str) -> None:
    answer = post_signed(
        client,
        "/webhooks/twilio/voice/status",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "Timestamp": format_datetime(at),
            "SequenceNumber": str(sequence),
            "CallbackSource": "call-progress-events",
            **fields,
        },
    )
    assert answer.status_code == 204, answer.text


def call_of(runtime: Runtime, sid: str) -> Call:
    with runtime.db.reading() as read:
        call = read.scalars(select(Call).where(Call.sid == sid)).one()
        read.expunge(call)
        return call


def touch_json(client: TestClient, caller: Caller, call: Call) -> dict[str, Any]:
    touches = client.get(f"/api/v1/cases/{call.case_id}/touches", headers=caller.headers).json()
    return next(t for t in touches["items"] if t["id"] == call.touch_id)


def clocks_json(
    client: TestClient, caller: Caller, case_id: int, kind: str
) -> list[dict[str, Any]]:
    case = client.get(f"/api/v1/cases/{case_id}", headers=caller.headers).json()
    return [c for c in case["service_levels"] if c["kind"] == kind]


def test_a_call_answered_after_three_rings(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller
) -> None:
    sid = "CA" + "1" * 32
    twiml = ring(client, sid)
    enqueue = twiml.find("Enqueue")
    assert enqueue is not None and enqueue.text == f"agent-{agent.agent_id}"
    assert (
        enqueue.get("waitUrl")
        == f"{PUBLIC_URL}/webhooks/twilio/voice/wait?queue=agent-{agent.agent_id}"
    )
    assert twiml.find("Say") is not None
    clock.advance(timedelta(seconds=18))  # three rings of six seconds
    pick_up(client, sid, agent, queue_seconds=18)
    clock.advance(timedelta(seconds=240))
    leave_queue(client, sid, "bridged", queue_seconds=18)

    call = call_of(runtime, sid)
    touch = touch_json(client, agent, call)
    assert touch["channel"] == "phone"
    assert touch["kind"] == "call"
    assert touch["direction"] == "in"
    assert touch["call"] == {
        "ring_seconds": 18,
        "wait_seconds": 18,
        "hold_seconds": 0,
        "talk_seconds": 240,
        "answered_by": agent.agent_id,
        "holds": 0,
        "recording_url": None,
    }
    assert touch["outcome"] == "answered"
    detail = client.get(f"/api/v1/calls/{call.id}", headers=agent.headers).json()
    assert detail["agent_id"] == agent.agent_id
    assert detail["status"] == "completed"
    (answer,) = clocks_json(client, agent, call.case_id, "answer")
    assert answer["met_at"] is not None
    assert answer["breached"] is False
    case = client.get(f"/api/v1/cases/{call.case_id}", headers=agent.headers).json()
    assert case["owner_id"] == agent.agent_id


def test_a_call_held_twice_breaches_on_the_long_hold_live(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller
) -> None:
    sid = "CA" + "2" * 32
    ring(client, sid)
    clock.advance(timedelta(seconds=6))
    pick_up(client, sid, agent, queue_seconds=6)
    talk_started = clock.now()
    hold = {"StatusCallbackEvent": "participant-hold", "CallStatus": "in-progress"}
    unhold = {"StatusCallbackEvent": "participant-unhold", "CallStatus": "in-progress"}
    first = talk_started + timedelta(seconds=60)
    status(client, sid, first, 1, **hold)
    status(client, sid, first + timedelta(seconds=30), 2, **unhold)
    second = first + timedelta(seconds=120)
    status(client, sid, second, 3, **hold)
    clock.set(second + timedelta(seconds=125))  # past the two-minute hold target
    subscription = runtime.env.bus.subscribe()
    with runtime.db.session() as session:
        swept = sweep_clocks(session, runtime.env)
    assert swept.breaches == 1
    raised = []
    while (event := subscription.get(timeout=0.2)) is not None:
        raised.append((event.type, event.data["kind"]))
    subscription.close()
    assert ("sla.breached", "hold") in raised  # live, while the caller is still on hold
    status(client, sid, second + timedelta(seconds=150), 4, **unhold)
    clock.set(second + timedelta(seconds=210))
    leave_queue(client, sid, "bridged", queue_seconds=6)

    call = call_of(runtime, sid)
    assert call.holds == 2
    touch = touch_json(client, agent, call)
    assert touch["call"]["hold_seconds"] == 180
    assert touch["call"]["talk_seconds"] == 390 - 180  # on the line from pick-up to end, less hold
    holds = clocks_json(client, agent, call.case_id, "hold")
    assert [h["breached"] for h in holds] == [False, True]


def test_an_abandoned_call_owes_the_owner_a_call_back(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller
) -> None:
    sid = "CA" + "3" * 32
    ring(client, sid)
    clock.advance(timedelta(seconds=45))
    leave_queue(client, sid, "hangup", queue_seconds=45)

    call = call_of(runtime, sid)
    touch = touch_json(client, agent, call)
    assert touch["outcome"] == "abandoned"
    assert touch["call"]["wait_seconds"] == 45
    assert touch["call"]["talk_seconds"] is None
    (answer,) = clocks_json(client, agent, call.case_id, "answer")
    assert answer["breached"] is True and answer["met_at"] is None
    owed = client.get("/api/v1/call-backs?agent=me", headers=agent.headers).json()["items"]
    assert [(o["case_id"], o["reason"], o["number"]) for o in owed] == [
        (call.case_id, "abandoned", CALLER)
    ]


def test_a_call_outside_opening_hours_leaves_a_voicemail(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller
) -> None:
    clock.set(datetime.fromisoformat("2026-11-22T23:30:00+00:00"))  # Sunday night
    sid = "CA" + "4" * 32
    twiml = ring(client, sid)
    record = twiml.find("Record")
    assert record is not None and twiml.find("Enqueue") is None
    assert record.get("action", "").endswith("/webhooks/twilio/voice/voicemail")
    clock.advance(timedelta(seconds=50))
    recorded = post_signed(
        client,
        "/webhooks/twilio/voice/voicemail",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "RecordingSid": "RE" + "4" * 32,
            "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE4",
            "RecordingDuration": "42",
            "Digits": "hangup",
        },
    )
    assert parse(recorded.text).find("Hangup") is not None
    status(client, sid, clock.now(), 2, CallStatus="completed", CallDuration="55")
    transcribed = post_signed(
        client,
        "/webhooks/twilio/voice/transcription",
        {
            "CallSid": sid,
            "AccountSid": ACCOUNT,
            "TranscriptionStatus": "completed",
            "TranscriptionText": "Please call me back about order 1234.",
            "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE4",
        },
    )
    assert transcribed.status_code == 204

    call = call_of(runtime, sid)
    touch = touch_json(client, agent, call)
    assert touch["outcome"] == "voicemail"
    assert touch["text"] == "Voicemail: Please call me back about order 1234."
    detail = client.get(f"/api/v1/calls/{call.id}", headers=agent.headers).json()
    assert detail["recording_url"].endswith("/Recordings/RE4")
    assert detail["voicemail"] is True
    assert clocks_json(client, agent, call.case_id, "answer") == []
    owed = client.get("/api/v1/call-backs", headers=agent.headers).json()["items"]
    assert [(o["case_id"], o["reason"]) for o in owed] == [(call.case_id, "voicemail")]


def test_a_replayed_status_callback_changes_nothing(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller
) -> None:
    sid = "CA" + "5" * 32
    ring(client, sid)
    clock.advance(timedelta(seconds=5))
    pick_up(client, sid, agent, queue_seconds=5)
    held_at = clock.now() + timedelta(seconds=10)
    hold = {"StatusCallbackEvent": "participant-hold", "CallStatus": "in-progress"}
    status(client, sid, held_at, 1, **hold)
    status(
        client,
        sid,
        held_at + timedelta(seconds=20),
        2,
        StatusCallbackEvent="participant-unhold",
        CallStatus="in-progress",
    )

    def snapshot() -> tuple[object, ...]:
        with runtime.db.reading() as read:
            call = read.scalars(select(Call).where(Call.sid == sid)).one()
            touch = read.get(Touch, call.touch_id)
            assert touch is not None
            return (
                call.holds,
                call.hold_seconds,
                call.status,
                touch.call_hold_seconds,
                read.scalar(select(func.count()).select_from(CallEvent)),
            )

    before = snapshot()
    clock.advance(timedelta(seconds=60))
    status(client, sid, held_at, 1, **hold)  # the same request again
    assert snapshot() == before


def test_a_withheld_number_gets_a_case_on_an_unknown_customer(
    client: TestClient, runtime: Runtime, agent: Caller
) -> None:
    sid = "CA" + "6" * 32
    twiml = ring(client, sid, caller="anonymous")
    assert twiml.find("Enqueue") is not None
    call = call_of(runtime, sid)
    assert call.customer_number is None
    with runtime.db.reading() as read:
        customer_id = read.scalar(
            select(Customer.id)
            .join_from(Customer, Touch, Touch.id == call.touch_id)
            .where(Customer.id.in_(select(Customer.id)))
        )
    case = client.get(f"/api/v1/cases/{call.case_id}", headers=agent.headers).json()
    unknown = client.get(f"/api/v1/customers/{case['customer_id']}", headers=agent.headers).json()
    assert unknown["name"] == "Withheld number"
    assert customer_id is not None
    # Later the agent learns who it was and links the unknown caller to the customer.
    known = client.post(
        "/api/v1/customers",
        json={"name": "Ann Lee", "identities": [{"kind": "phone", "value": CALLER}]},
        headers=agent.headers,
    ).json()
    merged = client.post(
        f"/api/v1/customers/{known['id']}/merge",
        json={"other_id": case["customer_id"]},
        headers=agent.headers,
    )
    assert merged.status_code == 200
    moved = client.get(f"/api/v1/cases/{call.case_id}", headers=agent.headers).json()
    assert moved["customer_id"] == known["id"]
    # A second withheld call is another unknown customer, not the same one.
    ring(client, "CA" + "7" * 32, caller="")
    other = call_of(runtime, "CA" + "7" * 32)
    assert other.case_id != call.case_id
    with runtime.db.reading() as read:
        assert read.scalar(select(func.count()).select_from(CallBack)) == 0


def test_a_caller_id_that_is_no_number_is_kept_but_matches_nobody(
    client: TestClient, runtime: Runtime, agent: Caller
) -> None:
    for index, raw in enumerate(("266696687", "12345", "+12", "Restricted")):
        sid = f"CA{index:032x}"
        ring(client, sid, caller=raw)
        call = call_of(runtime, sid)
        assert call.customer_number is None
        touch = touch_json(client, agent, call)
        assert touch["text"] == "Call from a withheld number"
        with runtime.db.reading() as read:
            stored = read.get(Touch, call.touch_id)
            assert stored is not None and stored.meta["caller_id"] == raw


def test_a_caller_kept_waiting_for_their_own_agent_moves_to_the_team_queue(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller, db: Session, env: Env
) -> None:
    sid = "CA" + "8" * 32
    enqueue = ring(client, sid).find("Enqueue")
    assert enqueue is not None and enqueue.text == f"agent-{agent.agent_id}"
    wait_url = enqueue.get("waitUrl", "").removeprefix(PUBLIC_URL)
    soon = post_signed(client, wait_url, {"CallSid": sid, "QueuePosition": "1", "QueueTime": "12"})
    assert parse(soon.text).find("Leave") is None
    late = post_signed(client, wait_url, {"CallSid": sid, "QueuePosition": "1", "QueueTime": "31"})
    assert parse(late.text).find("Leave") is not None
    clock.advance(timedelta(seconds=31))
    moved = post_signed(
        client,
        "/webhooks/twilio/voice/queue",
        {"CallSid": sid, "AccountSid": ACCOUNT, "QueueResult": "leave", "QueueTime": "31"},
    )
    again = parse(moved.text).find("Enqueue")
    assert again is not None and again.text == "support"
    # Another agent takes the caller from the general queue.
    other = make_caller(db, env, Role.AGENT, "bo")
    set_presence(db, env, Actor.agent(other.agent_id), other.agent_id, Presence.ONLINE)
    clock.advance(timedelta(seconds=9))
    pick_up(client, sid, other, queue_seconds=9, queue="support")
    clock.advance(timedelta(seconds=60))
    leave_queue(client, sid, "bridged", queue_seconds=9)
    call = call_of(runtime, sid)
    touch = touch_json(client, agent, call)
    assert (touch["call"]["wait_seconds"], touch["call"]["answered_by"]) == (40, other.agent_id)


def test_a_caller_on_an_owned_case_waits_for_the_owner_only_while_the_owner_is_online(
    client: TestClient, runtime: Runtime, clock: FrozenClock, agent: Caller, db: Session, env: Env
) -> None:
    # The customer texted first; their case is the agent's, on a channel that stays
    # with its owner while the owner is away.
    texted = receive(
        db,
        env,
        Inbound(
            channel=Channel.SMS,
            external_id="SM" + "e" * 32,
            sender=IdentityRef(IdentityKind.PHONE, CALLER),
            text="Is my order on its way?",
        ),
    )
    assign(db, env, Actor.agent(agent.agent_id), texted.case_id, agent.agent_id)
    set_presence(db, env, Actor.agent(agent.agent_id), agent.agent_id, Presence.AWAY)

    while_away = ring(client, "CA" + "c" * 32).find("Enqueue")
    assert while_away is not None and while_away.text == "support"
    leave_queue(client, "CA" + "c" * 32, "hangup", queue_seconds=20)

    set_presence(db, env, Actor.agent(agent.agent_id), agent.agent_id, Presence.ONLINE)
    clock.advance(timedelta(minutes=5))
    back = ring(client, "CA" + "d" * 32).find("Enqueue")
    assert back is not None and back.text == f"agent-{agent.agent_id}"
    # Both calls are on the one case, which kept its owner.
    assert {call_of(runtime, "CA" + c * 32).case_id for c in "cd"} == {texted.case_id}
