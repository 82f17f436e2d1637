"""Meta's webhook end to end, Meta played by requests signed with stdlib `hmac` over the
exact bytes sent (its JSON with non-ASCII escaped as `\\u00e9`): Messenger, Instagram and
WhatsApp messages land on the customer's case on the right channel, echoes and retries
change nothing, one unreadable item does not lose the others, WhatsApp statuses move
the delivery of our replies, and a forged request or a channel that is off writes
nothing. Then the parser alone, branch by branch."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests import social_support
from tests.api.conftest import Caller
from tests.conftest import START
from tests.social_support import assert_channel_off, receipt, shaped, shown
from tests.social_support import snapshot as snapshot_of
from threadline.actions import Env
from threadline.actions import receive as real_receive
from threadline.actions.outbox import claim_outbox, record_delivery
from threadline.api import social_intake
from threadline.api.app import create_app
from threadline.channels.base import DeliveryResult, Inbound
from threadline.channels.batch import DeliveryReport
from threadline.channels.meta.events import parse_events
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.models import Touch
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, Delivery, IdentityKind

WEBHOOK = "/webhooks/meta"
APP_SECRET = "meta-app-secret-0123456789abcdef"
VERIFY_TOKEN = "verify-me-0123"
PAGE_ID = "1122334455"
PSID = "7001002003004005"
IGSID = "17841400000000001"
WA_ID = "447700900123"
PHONE_NUMBER_ID = "106540352242922"
TABLES = ("customers", "identities", "cases", "touches", "thread_keys", "outbox", "audit_log")
# A minute before the test clock's now: the time Meta says the customer wrote.
SENT_AT = START - timedelta(minutes=1)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path / "data",
        meta_app_secret=APP_SECRET,
        meta_verify_token=VERIFY_TOKEN,
    )


# Playing Meta


def hub_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encoded(payload: dict[str, Any]) -> bytes:
    """The body as Meta writes it: compact JSON, non-ASCII escaped as \\uXXXX."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def post_signed(client: TestClient, payload: dict[str, Any] | bytes) -> Response:
    body = payload if isinstance(payload, bytes) else encoded(payload)
    return client.post(
        WEBHOOK,
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": hub_signature(body)},
    )


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def messaging(*events: object, kind: str = "page", standby: bool = False) -> dict[str, Any]:
    return {
        "object": kind,
        "entry": [
            {
                "id": PAGE_ID,
                "time": ms(SENT_AT),
                "standby" if standby else "messaging": list(events),
            }
        ],
    }


def message_event(
    mid: str, text: str | None, *, sender: str = PSID, **message: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"mid": mid, **message}
    if text is not None:
        body["text"] = text
    return {
        "sender": {"id": sender},
        "recipient": {"id": PAGE_ID},
        "timestamp": ms(SENT_AT),
        "message": body,
    }


def whatsapp(
    *messages: dict[str, Any],
    statuses: tuple[dict[str, Any], ...] = (),
    contacts: tuple[dict[str, Any], ...] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "442071838750", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = (
            list(contacts)
            if contacts is not None
            else [{"profile": {"name": "Zoé Martin"}, "wa_id": WA_ID}]
        )
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }


def wa_text(wamid: str, body: str, **extra: Any) -> dict[str, Any]:
    return {
        "from": WA_ID,
        "id": wamid,
        "timestamp": str(int(SENT_AT.timestamp())),
        "type": "text",
        "text": {"body": body},
        **extra,
    }


# Reading what landed


def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    return snapshot_of(runtime, TABLES)


def touch_for(runtime: Runtime, channel: Channel, external_id: str) -> Touch:
    with runtime.db.reading() as read:
        return read.scalars(
            select(Touch).where(Touch.channel == channel, Touch.external_id == external_id)
        ).one()


# The verification handshake


def test_meta_subscribing_gets_its_challenge_back_as_plain_text(client: TestClient) -> None:
    answer = client.get(
        WEBHOOK,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "1158201444"


@pytest.mark.parametrize(
    ("mode", "token"),
    [("subscribe", "not-our-token"), ("subscribe", "vérifié"), ("unsubscribe", VERIFY_TOKEN)],
)
def test_a_verification_without_our_token_is_refused(
    client: TestClient, mode: str, token: str
) -> None:
    answer = client.get(
        WEBHOOK, params={"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "42"}
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert "42" not in answer.text


def test_a_verification_missing_its_challenge_is_invalid(client: TestClient) -> None:
    answer = client.get(WEBHOOK, params={"hub.mode": "subscribe", "hub.verify_token": "x"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert "hub.challenge" in error["message"]


# Messages in


def test_a_messenger_message_lands_on_the_customers_case(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    payload = messaging(message_event("m_AAA1", "Où est ma commande ? Merci, Zoé"))
    body = encoded(payload)
    assert b"\\u00e9" in body and "é".encode() not in body  # signed as escaped bytes

    answer = post_signed(client, body)

    assert receipt(answer) == {"received": 1, "duplicates": 0, "reports": 0, "ignored": 0}
    touch = touch_for(runtime, Channel.MESSENGER, "m_AAA1")
    seen = shown(client, amy, touch)
    assert (seen["channel"], seen["direction"], seen["kind"]) == ("messenger", "in", "message")
    assert seen["text"] == "Où est ma commande ? Merci, Zoé"
    assert seen["identity"] == {"kind": "messenger", "value": PSID}
    assert seen["author"]["type"] == "customer"
    assert seen["public"] is False
    assert datetime.fromisoformat(seen["occurred_at"]) == SENT_AT
    assert touch.meta == {"recipient_id": PAGE_ID}

    # The customer's next message continues the same case.
    post_signed(client, messaging(message_event("m_AAA2", "Any news?")))
    assert touch_for(runtime, Channel.MESSENGER, "m_AAA2").case_id == touch.case_id


def test_every_entry_and_item_of_a_batch_lands_and_echoes_are_dropped(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    other = "7009998887776665"
    payload = messaging(
        message_event("m_1", "First question"),
        message_event("m_echo", "Our answer, echoed", is_echo=True, app_id=123),
        {
            "sender": {"id": PSID},
            "recipient": {"id": PAGE_ID},
            "timestamp": ms(SENT_AT),
            "postback": {"title": "Talk to a person", "payload": "HUMAN", "mid": "m_pb"},
        },
        {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "read": {"watermark": 1}},
    )
    payload["entry"].append(
        {"id": PAGE_ID, "time": 1, "standby": [message_event("m_2", "From standby", sender=other)]}
    )

    answer = post_signed(client, payload)

    assert receipt(answer) == {"received": 3, "duplicates": 0, "reports": 0, "ignored": 2}
    pressed = shown(client, amy, touch_for(runtime, Channel.MESSENGER, "m_pb"))
    assert pressed["text"] == "Talk to a person"
    assert touch_for(runtime, Channel.MESSENGER, "m_pb").meta["postback_payload"] == "HUMAN"
    standby = shown(client, amy, touch_for(runtime, Channel.MESSENGER, "m_2"))
    assert standby["identity"] == {"kind": "messenger", "value": other}
    with runtime.db.reading() as read:
        ids = read.scalars(select(Touch.external_id).order_by(Touch.id)).all()
    assert ids == ["m_1", "m_pb", "m_2"]  # no echo, no read receipt


def test_a_retried_delivery_lands_once(client: TestClient, runtime: Runtime) -> None:
    payload = messaging(message_event("m_retry", "Hello?"))
    assert receipt(post_signed(client, payload))["received"] == 1
    before = snapshot(runtime)

    again = post_signed(client, payload)

    assert receipt(again) == {"received": 0, "duplicates": 1, "reports": 0, "ignored": 0}
    assert snapshot(runtime) == before


def test_one_unreadable_item_does_not_lose_the_others(client: TestClient, runtime: Runtime) -> None:
    payload = messaging(
        message_event("m_ok1", "Readable"),
        {"sender": {"id": PSID}, "timestamp": 1, "message": {"text": "no mid"}},
        "not an object",
        message_event("m_" + "x" * 300, "An id the core cannot take"),
        message_event("m_ok2", "Also readable"),
    )
    payload["entry"].insert(0, "not an entry")

    answer = post_signed(client, payload)

    assert receipt(answer) == {"received": 2, "duplicates": 0, "reports": 0, "ignored": 4}
    assert touch_for(runtime, Channel.MESSENGER, "m_ok1").text == "Readable"
    assert touch_for(runtime, Channel.MESSENGER, "m_ok2").text == "Also readable"


def test_a_failure_to_store_asks_meta_to_retry_and_the_retry_lands_each_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = messaging(message_event("m_a", "one"), message_event("m_b", "two"))
    calls = 0

    def fails_on_the_second(db: Session, env: Env, inbound: Inbound) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return real_receive(db, env, inbound)

    monkeypatch.setattr(social_intake, "receive", fails_on_the_second)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        failed = post_signed(client, payload)
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "internal"

        retried = post_signed(client, payload)

    assert receipt(retried) == {"received": 1, "duplicates": 1, "reports": 0, "ignored": 0}
    with runtime.db.reading() as read:
        assert read.scalars(select(Touch.external_id).order_by(Touch.id)).all() == ["m_a", "m_b"]


def test_an_instagram_message_lands_on_instagram(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    payload = messaging(
        message_event(
            "aWdfZAG1",
            None,
            sender=IGSID,
            attachments=[{"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}}],
        ),
        message_event("aWdfEcho", "ours", sender=PAGE_ID, is_echo=True),
        kind="instagram",
    )

    assert receipt(post_signed(client, payload))["received"] == 1

    seen = shown(client, amy, touch_for(runtime, Channel.INSTAGRAM, "aWdfZAG1"))
    assert seen["channel"] == "instagram"
    assert seen["identity"] == {"kind": "instagram", "value": IGSID}
    assert seen["text"] == "[image: https://cdn.example/p.jpg]"


def test_whatsapp_messages_land_with_the_senders_number_and_name(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    photo = {
        "from": WA_ID,
        "id": "wamid.PHOTO",
        "timestamp": str(int(SENT_AT.timestamp()) + 5),
        "type": "image",
        "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "La boîte abîmée"},
    }
    payload = whatsapp(wa_text("wamid.TEXT", "Bonjour, ma commande est arrivée cassée"), photo)

    assert receipt(post_signed(client, payload))["received"] == 2

    text = touch_for(runtime, Channel.WHATSAPP, "wamid.TEXT")
    seen = shown(client, amy, text)
    assert seen["channel"] == "whatsapp"
    assert seen["identity"] == {"kind": "whatsapp", "value": WA_ID}
    assert seen["author"]["name"] == "Zoé Martin"
    assert seen["text"] == "Bonjour, ma commande est arrivée cassée"
    assert datetime.fromisoformat(seen["occurred_at"]) == SENT_AT
    assert text.meta == {"to": "442071838750", "phone_number_id": PHONE_NUMBER_ID}
    image = touch_for(runtime, Channel.WHATSAPP, "wamid.PHOTO")
    assert image.case_id == text.case_id
    assert shown(client, amy, image)["text"] == "[image]\nLa boîte abîmée"
    assert image.meta["media"] == {"type": "image", "id": "MEDIA1", "mime_type": "image/jpeg"}


# What became of our replies


def sent_whatsapp_reply(client: TestClient, runtime: Runtime, amy: Caller) -> tuple[int, int]:
    """A customer's WhatsApp message, an agent's reply, and that reply handed to the
    provider, which gave it the id `wamid.OUT1`: the case and the reply's touch."""
    post_signed(client, whatsapp(wa_text("wamid.IN1", "Is it in stock?")))
    case_id = touch_for(runtime, Channel.WHATSAPP, "wamid.IN1").case_id
    queued = client.post(
        f"/api/v1/cases/{case_id}/replies", json={"text": "Yes it is"}, headers=amy.headers
    )
    assert queued.status_code == 202, queued.text
    env = runtime.env
    with runtime.db.session() as db:
        (claimed,) = claim_outbox(db, env, "w1", limit=1, lease_seconds=300)
        record_delivery(
            db,
            env,
            claimed.outbox_id,
            DeliveryResult(Delivery.SENT, external_id="wamid.OUT1"),
            worker_id="w1",
        )
    return case_id, int(queued.json()["touch_id"])


def status(state: str, wamid: str = "wamid.OUT1", **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": state,
        "timestamp": str(int(START.timestamp())),
        "recipient_id": WA_ID,
        **extra,
    }


def delivery_of(client: TestClient, amy: Caller, case_id: int, touch_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/cases/{case_id}/touches", headers=amy.headers)
    (found,) = [t for t in answer.json()["items"] if t["id"] == touch_id]
    return {"delivery": found["delivery"], "error": found["delivery_error"]}


def test_whatsapp_statuses_move_the_delivery_of_our_reply_and_never_back(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    case_id, touch_id = sent_whatsapp_reply(client, runtime, amy)

    answer = post_signed(client, whatsapp(statuses=(status("delivered"),)))

    assert receipt(answer) == {"received": 0, "duplicates": 0, "reports": 1, "ignored": 0}
    assert delivery_of(client, amy, case_id, touch_id)["delivery"] == "delivered"
    post_signed(client, whatsapp(statuses=(status("read"), status("sent"))))
    assert delivery_of(client, amy, case_id, touch_id)["delivery"] == "read"


def test_a_failed_whatsapp_status_fails_our_reply_with_the_reason(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    case_id, touch_id = sent_whatsapp_reply(client, runtime, amy)
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "error_data": {"details": "More than 24 hours have passed"},
    }

    post_signed(client, whatsapp(statuses=(status("failed", errors=[error]),)))

    assert delivery_of(client, amy, case_id, touch_id) == {
        "delivery": "failed",
        "error": "WhatsApp reported the message failed (error 131047: "
        "Re-engagement message: More than 24 hours have passed)",
    }


def test_a_status_for_a_message_that_is_not_ours_is_acknowledged_and_changes_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    before = snapshot(runtime)
    answer = post_signed(client, whatsapp(statuses=(status("delivered", "wamid.OTHER"),)))
    assert receipt(answer) == {"received": 0, "duplicates": 0, "reports": 0, "ignored": 1}
    assert snapshot(runtime) == before


# The gate


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "wrong secret", "tampered", "signed re-serialised", "sha1 only", "not hex"],
)
def test_a_request_meta_did_not_sign_is_refused_and_writes_nothing(
    client: TestClient, runtime: Runtime, forgery: str
) -> None:
    post_signed(client, messaging(message_event("m_before", "something to change")))
    before = snapshot(runtime)
    payload = messaging(message_event("m_forged", "Refund me, said Zoé"))
    body = encoded(payload)
    headers = {"Content-Type": "application/json"}
    if forgery == "wrong secret":
        headers["X-Hub-Signature-256"] = hub_signature(body, "not-our-app-secret")
    elif forgery == "tampered":
        headers["X-Hub-Signature-256"] = hub_signature(body)
        body = body.replace(b"Refund", b"Credit")
    elif forgery == "signed re-serialised":
        # The same JSON written with the é as UTF-8: equal as data, not as bytes.
        unescaped = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers["X-Hub-Signature-256"] = hub_signature(unescaped)
    elif forgery == "sha1 only":
        digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature"] = "sha1=" + digest
    sent = [(name.encode(), value.encode()) for name, value in headers.items()]
    if forgery == "not hex":
        sent.append((b"X-Hub-Signature-256", "sha256=ünïcode".encode("latin-1")))

    answer = client.post(WEBHOOK, content=body, headers=sent)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert snapshot(runtime) == before


def test_a_signed_body_that_is_not_a_json_object_is_invalid(
    client: TestClient, runtime: Runtime
) -> None:
    before = snapshot(runtime)
    for body in (b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000):
        answer = post_signed(client, body)
        assert answer.status_code == 422, body[:10]
        assert answer.json()["error"]["code"] == "invalid_input"
    assert snapshot(runtime) == before


def test_an_object_we_do_not_handle_is_acknowledged(client: TestClient, runtime: Runtime) -> None:
    before = snapshot(runtime)
    answer = post_signed(client, {"object": "permissions", "entry": [{"id": "1"}]})
    assert receipt(answer) == {"received": 0, "duplicates": 0, "reports": 0, "ignored": 1}
    assert snapshot(runtime) == before


@pytest.mark.parametrize("unset", ["both", "app secret", "verify token"])
def test_with_the_channel_off_the_webhook_is_not_there(
    database_url: str, tmp_path: Path, clock: FrozenClock, unset: str
) -> None:
    settings = Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path / "off",
        meta_app_secret=None if unset in ("both", "app secret") else APP_SECRET,
        meta_verify_token=None if unset in ("both", "verify token") else VERIFY_TOKEN,
    )

    def requests(off: TestClient) -> list[Response]:
        verify = off.get(
            WEBHOOK,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1",
            },
        )
        return [verify, post_signed(off, messaging(message_event("m_off", "Hello")))]

    assert_channel_off(settings, clock, requests)


# The parser alone


only_message = partial(social_support.only_message, parse_events)
ignored_reasons = partial(social_support.ignored_reasons, parse_events)


def test_messenger_attachments_replies_and_quick_replies_are_kept() -> None:
    event = message_event(
        "m_att",
        "See these",
        attachments=[
            {"type": "image", "payload": {"url": "https://cdn.example/1.jpg"}},
            {"type": "location", "payload": {"coordinates": {"lat": 51.5, "long": -0.12}}},
            {"type": "fallback", "title": "Our shop", "payload": {"url": "https://x.example"}},
            {"type": "audio", "payload": {}},
        ],
        quick_reply={"payload": "YES"},
        reply_to={"mid": "m_earlier"},
    )
    inbound = only_message(messaging(event))
    assert inbound.text == (
        "See these\n[image: https://cdn.example/1.jpg]\n[location: 51.5, -0.12]\n"
        "[fallback: Our shop https://x.example]\n[audio]"
    )
    assert inbound.meta == {
        "recipient_id": PAGE_ID,
        "attachments": [
            {"type": "image", "url": "https://cdn.example/1.jpg"},
            {"type": "location"},
            {"type": "fallback", "url": "https://x.example"},
            {"type": "audio"},
        ],
        "quick_reply": "YES",
    }
    assert inbound.thread_key == "messenger:m_att"
    assert inbound.references == ("messenger:m_earlier",)
    assert inbound.sender.kind is IdentityKind.MESSENGER
    assert inbound.occurred_at == SENT_AT


def test_messenger_postbacks_without_an_id_are_keyed_by_sender_and_time() -> None:
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1790000000123,
        "postback": {"payload": "GET_STARTED"},
    }
    inbound = only_message(messaging(event))
    assert inbound.external_id == f"postback:{PSID}:1790000000123"
    assert inbound.text == "GET_STARTED"
    empty = dict(event, postback={})
    assert only_message(messaging(empty)).text == "[a button was pressed]"


def test_messenger_events_that_are_no_message() -> None:
    base = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1}
    payload = messaging(
        {**base, "read": {"watermark": 1}},
        {**base, "reaction": {"mid": "m_1", "action": "react", "emoji": "👍"}},
        message_event("m_gone", None, is_deleted=True),
        {**base, "delivery": {"watermark": 1}},
    )
    payload["entry"][0]["changes"] = [{"field": "feed", "value": {}}]
    assert ignored_reasons(payload) == [
        ("a messenger 'read' event is not a customer's message", False),
        ("a messenger 'reaction' event is not a customer's message", False),
        ("a messenger message the customer unsent", False),
        ("a messenger delivery watermark names no message", False),
        ("messenger change 'feed' is not handled", False),
    ]


def test_messenger_delivery_receipts_name_our_messages() -> None:
    payload = messaging(
        {"sender": {"id": PSID}, "delivery": {"mids": ["m_out1", "m_out2"], "watermark": 1}}
    )
    assert parse_events(payload).reports == (
        DeliveryReport(Channel.MESSENGER, "m_out1", Delivery.DELIVERED),
        DeliveryReport(Channel.MESSENGER, "m_out2", Delivery.DELIVERED),
    )


def test_an_unsupported_messenger_message_is_still_shown() -> None:
    inbound = only_message(messaging(message_event("m_u", None, is_unsupported=True)))
    assert inbound.text == "[a message Messenger cannot show here]"


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (
            {"type": "document", "document": {"filename": "invoice.pdf", "caption": "This one"}},
            "[document: invoice.pdf]\nThis one",
        ),
        ({"type": "audio", "audio": {"id": "A1", "voice": True}}, "[voice message]"),
        ({"type": "sticker", "sticker": {"id": "S1"}}, "[sticker]"),
        (
            {
                "type": "location",
                "location": {
                    "latitude": 51.5,
                    "longitude": -0.12,
                    "name": "Shop",
                    "address": "1 High St",
                },
            },
            "[location: Shop, 1 High St (51.5, -0.12)]",
        ),
        ({"type": "location", "location": {}}, "[location]"),
        (
            {
                "type": "contacts",
                "contacts": [
                    {"name": {"formatted_name": "Bob"}, "phones": [{"phone": "+44 7700 900456"}]}
                ],
            },
            "[contact: Bob +44 7700 900456]",
        ),
        (
            {"type": "interactive", "interactive": {"button_reply": {"id": "b1", "title": "Yes"}}},
            "Yes",
        ),
        (
            {"type": "interactive", "interactive": {"list_reply": {"id": "l2", "title": "Red"}}},
            "Red",
        ),
        ({"type": "interactive", "interactive": {"nfm_reply": {}}}, "[a form was answered]"),
        ({"type": "button", "button": {"text": "Stop promotions"}}, "Stop promotions"),
        ({"type": "order", "order": {"text": "Two please"}}, "[order]\nTwo please"),
        ({"type": "unsupported"}, "[unsupported message]"),
        ({}, "[unknown message]"),
    ],
)
def test_whatsapp_messages_of_every_type_read_as_text(message: dict[str, Any], text: str) -> None:
    body = {"from": WA_ID, "id": "wamid.T", "timestamp": "1790000000", **message}
    assert only_message(whatsapp(body)).text == text


def test_whatsapp_replies_name_the_message_they_answer() -> None:
    inbound = only_message(whatsapp(wa_text("wamid.R", "this one", context={"id": "wamid.Q"})))
    assert inbound.thread_key == "whatsapp:wamid.R"
    assert inbound.references == ("whatsapp:wamid.Q",)


def test_a_whatsapp_sender_without_a_number_is_their_business_scoped_id() -> None:
    message = {
        "from_user_id": "US.13491208655302741918",
        "id": "wamid.B",
        "timestamp": "1790000000",
        "type": "text",
        "text": {"body": "hi"},
    }
    contacts = ({"profile": {"name": "Ann"}, "user_id": "US.13491208655302741918"},)
    inbound = only_message(whatsapp(message, contacts=contacts))
    assert (inbound.sender.kind, inbound.sender.value, inbound.sender.name) == (
        IdentityKind.WHATSAPP,
        "US.13491208655302741918",
        "Ann",
    )
    both = dict(message, **{"from": WA_ID})
    kept = only_message(whatsapp(both, contacts=contacts))
    assert kept.sender.value == WA_ID
    assert kept.meta["whatsapp_user_id"] == "US.13491208655302741918"


def test_whatsapp_items_that_are_no_customer_message() -> None:
    reaction = {"from": WA_ID, "id": "wamid.X", "type": "reaction", "reaction": {"emoji": "👍"}}
    system = {"from": WA_ID, "id": "wamid.S", "type": "system", "system": {}}
    nobody = {"id": "wamid.N", "type": "text", "text": {"body": "?"}}
    payload = whatsapp(reaction, system, nobody, statuses=(status("deleted", "wamid.D"),))
    payload["entry"][0]["changes"].append({"field": "message_template_status_update"})
    assert ignored_reasons(payload) == [
        ("a whatsapp reaction (wamid.X)", False),
        ("a whatsapp system notice (wamid.S), not a customer's message", False),
        ("whatsapp message wamid.N names no sender", True),
        ("whatsapp status 'deleted' for wamid.D says nothing new", False),
        ("whatsapp change 'message_template_status_update' is not handled", False),
    ]


def test_whatsapp_statuses_become_reports() -> None:
    batch = parse_events(
        whatsapp(statuses=(status("sent"), status("read", "wamid.2"), status("failed", "w3")))
    )
    assert batch.reports == (
        DeliveryReport(Channel.WHATSAPP, "wamid.OUT1", Delivery.SENT),
        DeliveryReport(Channel.WHATSAPP, "wamid.2", Delivery.READ),
        DeliveryReport(
            Channel.WHATSAPP, "w3", Delivery.FAILED, "WhatsApp reported the message failed"
        ),
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"object": "page", "entry": {"not": "a list"}}, "page.entry is not an array"),
        (
            {"object": "page", "entry": [{"messaging": "no"}]},
            "messenger.messaging is not an array",
        ),
        (
            {
                "object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages"}]}],
            },
            "whatsapp.changes[0]: change.value is not an object",
        ),
        (
            messaging({"sender": {}, "message": {"mid": "m"}}),
            "messenger.messaging[0]: sender.id is missing",
        ),
        (
            messaging({"sender": {"id": PSID}, "postback": {}}),
            "messenger.messaging[0]: timestamp is missing",
        ),
    ],
)
def test_malformed_deliveries_are_reported_as_problems(
    payload: dict[str, Any], reason: str
) -> None:
    assert ignored_reasons(payload) == [(reason, True)]


def test_a_timestamp_that_is_no_time_is_left_to_the_desk() -> None:
    event = message_event("m_t", "hi")
    for odd in ("soon", -5, 10**20, None):
        event["timestamp"] = odd
        assert only_message(messaging(event)).occurred_at is None
    event["timestamp"] = ms(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert only_message(messaging(event)).occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# Whatever Meta sends

_ID = st.text("abcm_.0123456789", min_size=1, max_size=6)
_TEXT = st.text(max_size=10)
_MESSENGER_EVENT = {
    "sender": {"id": _ID},
    "recipient?": {"id": _ID},
    "timestamp": st.integers(),
    "message?": {
        "mid": _ID,
        "text?": _TEXT,
        "is_echo?": st.booleans(),
        "is_deleted?": st.booleans(),
        "is_unsupported?": st.booleans(),
        "attachments?": [
            {
                "type": _ID,
                "title?": _TEXT,
                "payload": {"url?": _TEXT, "coordinates?": {"lat": st.floats(), "long": _TEXT}},
            }
        ],
        "quick_reply?": {"payload": _TEXT},
        "reply_to?": {"mid": _ID},
    },
    "postback?": {"title?": _TEXT, "payload?": _TEXT, "mid?": _ID},
    "delivery?": {"mids?": [_ID], "watermark": st.integers()},
    "read?": {"watermark": st.integers()},
}
_WHATSAPP_TYPES = ["text", "image", "audio", "document", "location", "contacts", "interactive"]
_WHATSAPP_TYPES += ["button", "order", "reaction", "system", "unsupported"]
_MEDIA = {"id?": _ID, "mime_type?": _TEXT, "caption?": _TEXT, "filename?": _TEXT, "voice?": True}
_WHATSAPP_MESSAGE = {
    "from?": _ID,
    "from_user_id?": _ID,
    "id": _ID,
    "timestamp": st.integers(),
    "type": st.sampled_from(_WHATSAPP_TYPES),
    "text?": {"body": _TEXT},
    "image?": _MEDIA,
    "audio?": _MEDIA,
    "document?": _MEDIA,
    "location?": {"latitude": st.floats(), "longitude": _TEXT, "name?": _TEXT, "address?": _TEXT},
    "contacts?": [{"name": {"formatted_name": _TEXT}, "phones?": [{"phone": _TEXT}]}],
    "interactive?": {"button_reply?": {"title": _TEXT}, "list_reply?": {"title": _TEXT}},
    "button?": {"text": _TEXT},
    "order?": {"text": _TEXT},
    "context?": {"id": _ID},
}
_WHATSAPP_STATUS = {
    "id": _ID,
    "status": st.sampled_from(["sent", "delivered", "read", "failed", "deleted"]),
    "errors?": [{"code": st.integers(), "title?": _TEXT, "error_data?": {"details": _TEXT}}],
}
_ENTRY = {
    "messaging?": [_MESSENGER_EVENT],
    "standby?": [_MESSENGER_EVENT],
    "changes?": [
        {
            "field": st.sampled_from(["messages", "feed"]),
            "value": {
                "metadata?": {"display_phone_number": _TEXT, "phone_number_id": _ID},
                "contacts?": [{"profile": {"name": _TEXT}, "wa_id?": _ID, "user_id?": _ID}],
                "messages?": [_WHATSAPP_MESSAGE],
                "statuses?": [_WHATSAPP_STATUS],
            },
        }
    ],
}


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.fixed_dictionaries(
        {
            "object": st.sampled_from(["page", "instagram", "whatsapp_business_account"]),
            "entry": shaped([_ENTRY]),
        }
    )
)
def test_any_delivery_reads_into_a_batch_without_raising(payload: dict[str, Any]) -> None:
    batch = parse_events(payload)
    for inbound in batch.messages:
        assert inbound.external_id and inbound.sender.value
        assert isinstance(inbound.text, str)
        assert inbound.occurred_at is None or inbound.occurred_at.tzinfo is not None
    assert all(report.provider_ref for report in batch.reports)
