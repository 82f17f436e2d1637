"""The SMS channel end to end, the provider played by signed requests (the official
`twilio` package signs them) and a loopback stand-in for its REST API: texts land on the
customer's case with their files, forged or replayed webhooks change nothing, replies
leave through the worker and their status callbacks move their delivery, and a number
that texted STOP gets no text until it texts START."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from tests.api.conftest import Caller
from tests.conftest import table_rows
from tests.twilio_support import (
    ACCOUNT,
    OUR_NUMBER,
    PUBLIC_URL,
    TwilioStandIn,
    basic_auth,
    post_signed,
    signature,
)
from threadline.api.app import create_app
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.models import AuditEntry, OutboxMessage, SmsConsent, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import OutboxState
from threadline.worker import Worker, senders_from_settings

WEBHOOK = "/webhooks/twilio/sms"
STATUS = "/webhooks/twilio/sms/status"
CUSTOMER = "+447700900123"
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# What a change would show in: every table a text or a status callback writes to.
TABLES = ("customers", "identities", "cases", "touches", "attachments", "outbox", "audit_log")

_sids = itertools.count(0xA000)


def new_sid() -> str:
    return f"SM{next(_sids):032x}"


def text_form(
    body: str,
    *,
    sid: str,
    sender: str = CUSTOMER,
    to: str = OUR_NUMBER,
    media: Sequence[tuple[str, str]] = (),
    **extra: str,
) -> list[tuple[str, str]]:
    """An inbound text as the provider posts it (its parameters, in its order)."""
    form = [
        ("ToCountry", "GB"),
        ("SmsMessageSid", sid),
        ("NumMedia", str(len(media))),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    for index, (url, content_type) in enumerate(media):
        form += [(f"MediaUrl{index}", url), (f"MediaContentType{index}", content_type)]
    return form + list(extra.items())


def send_text(client: TestClient, body: str, **options: Any) -> tuple[Response, str]:
    sid = options.pop("sid", None) or new_sid()
    return post_signed(client, WEBHOOK, text_form(body, sid=sid, **options)), sid


def report(client: TestClient, sid: str, status: str, **extra: str) -> Response:
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT,
        "From": OUR_NUMBER,
        "To": CUSTOMER,
        "ApiVersion": "2010-04-01",
        **extra,
    }
    return post_signed(client, STATUS, form)


def touch_for(runtime: Runtime, sid: str) -> Touch:
    with runtime.db.reading() as read:
        return read.scalars(select(Touch).where(Touch.external_id == sid)).one()


def touches(client: TestClient, caller: Caller, case_id: int) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/cases/{case_id}/touches", headers=caller.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    with runtime.db.reading() as read:
        found = {table: table_rows(read, table) for table in TABLES}
        consents = read.scalars(select(SmsConsent).order_by(SmsConsent.number)).all()
        found["sms_consents"] = [
            (c.number, c.opted_out, c.keyword, c.changed_at, c.touch_id) for c in consents
        ]
    return found


def outbox(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.db.reading() as read:
        return list(read.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def worker(runtime: Runtime) -> Worker:
    return Worker(runtime, "w1", senders_from_settings(runtime.settings))


def ask_reply(client: TestClient, caller: Caller, case_id: int, text: str) -> Response:
    return client.post(
        f"/api/v1/cases/{case_id}/replies", json={"text": text}, headers=caller.headers
    )


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/media/nobody-listens"


# Texts in


def test_a_text_lands_on_the_customers_case(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    answer, sid = send_text(client, "Where is my order 1001?")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == TWIML
    touch = touch_for(runtime, sid)
    (shown,) = touches(client, amy, touch.case_id)
    assert (shown["channel"], shown["direction"], shown["kind"]) == ("sms", "in", "message")
    assert shown["text"] == "Where is my order 1001?"
    assert shown["identity"] == {"kind": "phone", "value": CUSTOMER}
    assert shown["author"]["type"] == "customer"
    assert touch.meta == {"to": OUR_NUMBER, "segments": 1}

    # The next text continues the same case.
    _, later = send_text(client, "Any news?")
    assert touch_for(runtime, later).case_id == touch.case_id
    assert [t["text"] for t in touches(client, amy, touch.case_id)] == [
        "Where is my order 1001?",
        "Any news?",
    ]


def test_a_picture_message_keeps_its_files(
    client: TestClient, runtime: Runtime, amy: Caller, stand_in: TwilioStandIn
) -> None:
    photo = bytes(range(256)) * 40
    leaflet = b"%PDF-1.4\n" + b"x" * 500
    base = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'1' * 32}/Media"
    stand_in.media[f"{base}/ME1"] = (photo, "image/jpeg")
    stand_in.media[f"{base}/ME2"] = (leaflet, "application/pdf")
    media = [
        (f"{stand_in.base_url}{base}/ME1", "image/jpeg"),
        (f"{stand_in.base_url}{base}/ME2", "application/pdf"),
    ]

    answer, sid = send_text(client, "The box arrived broken", media=media)

    assert answer.status_code == 200 and answer.text == TWIML
    (shown,) = touches(client, amy, touch_for(runtime, sid).case_id)
    assert shown["text"] == "The box arrived broken"
    files = shown["attachments"]
    assert [(f["filename"], f["content_type"], f["size"]) for f in files] == [
        ("media-1.jpg", "image/jpeg", len(photo)),
        ("media-2.pdf", "application/pdf", len(leaflet)),
    ]
    assert client.get(files[0]["url"], headers=amy.headers).content == photo
    assert client.get(files[1]["url"], headers=amy.headers).content == leaflet
    fetches = [r for r in stand_in.requests if r.method == "GET"]
    assert [r.path for r in fetches] == [f"{base}/ME1", f"{base}/ME2"]
    assert all(r.authorization == basic_auth() for r in fetches)


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_a_file_that_cannot_be_fetched_does_not_lose_the_text(
    client: TestClient, runtime: Runtime, amy: Caller, stand_in: TwilioStandIn, failure: str
) -> None:
    stand_in.media["/media/ok"] = (b"\x89PNG fine", "image/png")
    lost = f"{stand_in.base_url}/media/gone" if failure == "refused" else closed_port_url()
    media = [(lost, "image/jpeg"), (f"{stand_in.base_url}/media/ok", "image/png")]

    answer, sid = send_text(client, "Photos of the damage", media=media)

    assert answer.status_code == 200 and answer.text == TWIML
    touch = touch_for(runtime, sid)
    (shown,) = touches(client, amy, touch.case_id)
    assert shown["text"] == f"Photos of the damage\n\n[image/jpeg not fetched: {lost}]"
    assert [f["filename"] for f in shown["attachments"]] == ["media-2.png"]
    (noted,) = touch.meta["media_not_fetched"]
    assert (noted["url"], noted["content_type"]) == (lost, "image/jpeg")
    assert ("404" if failure == "refused" else "could not be fetched") in noted["error"]


def test_a_picture_alone_that_cannot_be_fetched_still_lands(
    client: TestClient, runtime: Runtime, stand_in: TwilioStandIn
) -> None:
    lost = f"{stand_in.base_url}/media/gone"
    answer, sid = send_text(client, "", media=[(lost, "image/jpeg")])
    assert answer.status_code == 200
    assert touch_for(runtime, sid).text == f"[image/jpeg not fetched: {lost}]"


def test_a_retried_webhook_is_answered_alike_and_changes_nothing(
    client: TestClient, runtime: Runtime, stand_in: TwilioStandIn
) -> None:
    stand_in.media["/media/1"] = (b"picture", "image/jpeg")
    sid = new_sid()
    form = text_form("Hello", sid=sid, media=[(f"{stand_in.base_url}/media/1", "image/jpeg")])
    retry = {"I-Twilio-Idempotency-Token": "b9c1e0d2-retry"}
    first = post_signed(client, WEBHOOK, form, headers=retry)
    before = snapshot(runtime)

    again = post_signed(client, WEBHOOK, form, headers=retry)

    assert (again.status_code, again.text) == (first.status_code, first.text) == (200, TWIML)
    assert snapshot(runtime) == before
    assert touch_for(runtime, sid).id  # exactly one touch has that sid


def test_a_whatsapp_message_through_the_provider_lands_on_whatsapp(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    answer, sid = send_text(
        client,
        "STOP",
        sender="whatsapp:+447700900123",
        to=f"whatsapp:{OUR_NUMBER}",
        ProfileName="Ann Smith",
        WaId="447700900123",
    )
    assert answer.status_code == 200
    (shown,) = touches(client, amy, touch_for(runtime, sid).case_id)
    assert shown["channel"] == "whatsapp"
    assert shown["identity"] == {"kind": "whatsapp", "value": "447700900123"}
    assert shown["author"]["name"] == "Ann Smith"
    # STOP on WhatsApp is a message, not a text-consent keyword.
    assert snapshot(runtime)["sms_consents"] == []


def test_a_text_naming_no_message_is_refused_and_writes_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    before = snapshot(runtime)
    form = [(name, value) for name, value in text_form("Hi", sid=new_sid()) if "Sid" not in name]
    answer = post_signed(client, WEBHOOK, form)
    assert answer.status_code == 422
    assert "MessageSid" in answer.json()["error"]["message"]
    assert snapshot(runtime) == before


# The gate


@pytest.mark.parametrize(
    "forgery", ["unsigned", "wrong token", "tampered", "signed for another path"]
)
@pytest.mark.parametrize("path", [WEBHOOK, STATUS])
def test_a_request_the_provider_did_not_sign_is_refused_and_writes_nothing(
    client: TestClient, runtime: Runtime, stand_in: TwilioStandIn, forgery: str, path: str
) -> None:
    send_text(client, "Hello")  # something a forged request could have changed
    stand_in.media["/media/1"] = (b"picture", "image/jpeg")
    form = text_form("STOP", sid=new_sid(), media=[(f"{stand_in.base_url}/media/1", "image/png")])
    form += [("MessageStatus", "failed"), ("ErrorCode", "30003")]
    before = snapshot(runtime)
    content_type = {"Content-Type": "application/x-www-form-urlencoded"}

    if forgery == "unsigned":
        answer = client.post(path, content=urlencode(form), headers=content_type)
    elif forgery == "wrong token":
        answer = post_signed(client, path, form, token="not-our-token-0123456789abcdef")
    elif forgery == "tampered":
        sent = [(name, "START" if name == "Body" else value) for name, value in form]
        headers = {**content_type, "X-Twilio-Signature": signature(path, form)}
        answer = client.post(path, content=urlencode(sent), headers=headers)
    else:
        other = STATUS if path == WEBHOOK else WEBHOOK
        headers = {**content_type, "X-Twilio-Signature": signature(other, form)}
        answer = client.post(path, content=urlencode(form), headers=headers)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert snapshot(runtime) == before
    assert [r for r in stand_in.requests if r.method == "GET"] == []  # no file fetched


def test_with_the_channel_off_the_webhooks_are_not_there(
    database_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = Settings(
        env="test", database_url=database_url, data_dir=tmp_path / "off", public_url=PUBLIC_URL
    )
    runtime = Runtime.start(settings, clock=clock)
    try:
        with TestClient(create_app(runtime)) as off:
            for path in (WEBHOOK, STATUS):
                answer = post_signed(off, path, text_form("Hello", sid=new_sid()))
                assert answer.status_code == 404, path
                assert answer.json()["error"]["code"] == "not_found"
        with runtime.db.reading() as read:
            assert table_rows(read, "touches") == []
    finally:
        runtime.close()


# Replies out, and what became of them


def sent_reply(
    client: TestClient, runtime: Runtime, amy: Caller, text: str = "It ships today. — Amy"
) -> tuple[int, int, str]:
    """A customer's text, an agent's reply to it, and the worker sending that: the case,
    the reply's touch and the provider's sid for it."""
    _, sid = send_text(client, "Where is my parcel?")
    case_id = touch_for(runtime, sid).case_id
    queued = ask_reply(client, amy, case_id, text)
    assert queued.status_code == 202, queued.text
    assert worker(runtime).run_once() == 1
    (row,) = outbox(runtime)
    assert row.state is OutboxState.SENT and row.provider_ref
    return case_id, queued.json()["touch_id"], row.provider_ref


def delivery_of(client: TestClient, amy: Caller, case_id: int, touch_id: int) -> str:
    (shown,) = [t for t in touches(client, amy, case_id) if t["id"] == touch_id]
    return str(shown["delivery"])


def test_a_reply_leaves_as_a_text_and_status_callbacks_move_its_delivery(
    client: TestClient, runtime: Runtime, amy: Caller, stand_in: TwilioStandIn
) -> None:
    case_id, touch_id, sid = sent_reply(client, runtime, amy)

    (post,) = stand_in.posts_to("/Messages.json")
    assert post.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert dict(post.form) == {
        "To": CUSTOMER,
        "From": OUR_NUMBER,
        "Body": "It ships today. — Amy",
        "StatusCallback": f"{PUBLIC_URL}{STATUS}",
    }
    assert post.authorization == basic_auth()
    assert sid.startswith("SM")
    assert delivery_of(client, amy, case_id, touch_id) == "sent"

    for status, shown in [
        ("queued", "sent"),
        ("sending", "sent"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("sent", "delivered"),  # late: never backwards
    ]:
        answer = report(client, sid, status)
        assert answer.status_code == 204 and answer.content == b""
        assert delivery_of(client, amy, case_id, touch_id) == shown, status


def test_statuses_out_of_order_never_move_delivery_backwards(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    case_id, touch_id, sid = sent_reply(client, runtime, amy)
    assert report(client, sid, "delivered").status_code == 204
    before = snapshot(runtime)

    assert report(client, sid, "sent").status_code == 204

    assert delivery_of(client, amy, case_id, touch_id) == "delivered"
    assert snapshot(runtime) == before


def test_an_undelivered_text_fails_its_reply_with_the_reason(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    case_id, touch_id, sid = sent_reply(client, runtime, amy)
    assert report(client, sid, "sent").status_code == 204

    answer = report(client, sid, "undelivered", ErrorCode="30003")

    assert answer.status_code == 204
    shown = touches(client, amy, case_id)
    (failed,) = [t for t in shown if t["id"] == touch_id]
    assert failed["delivery"] == "failed"
    assert "undelivered" in failed["delivery_error"]
    assert "30003" in failed["delivery_error"]
    assert "switched off" in failed["delivery_error"]
    note = shown[-1]
    assert note["kind"] == "note" and "could not be delivered" in note["text"]
    assert "30003" in note["text"]
    # A late "delivered" cannot undo the failure, nor a second report repeat the note.
    before = snapshot(runtime)
    assert report(client, sid, "delivered").status_code == 204
    assert report(client, sid, "failed", ErrorCode="30003").status_code == 204
    assert snapshot(runtime) == before


def test_a_status_for_a_text_that_is_not_ours_is_ignored(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    sent_reply(client, runtime, amy)
    before = snapshot(runtime)
    for status in ("delivered", "undelivered"):
        answer = report(client, "SM" + "f" * 32, status, ErrorCode="30005")
        assert answer.status_code == 204
    assert snapshot(runtime) == before


def test_a_status_naming_no_message_is_refused(client: TestClient) -> None:
    answer = post_signed(client, STATUS, {"MessageStatus": "delivered", "AccountSid": ACCOUNT})
    assert answer.status_code == 422


# STOP and START


def test_stop_refuses_texts_until_start(
    client: TestClient,
    runtime: Runtime,
    amy: Caller,
    stand_in: TwilioStandIn,
    clock: FrozenClock,
) -> None:
    _, first = send_text(client, "Is my order ready?")
    case_id = touch_for(runtime, first).case_id
    answer, stop = send_text(client, " Stop ")
    assert answer.status_code == 200 and answer.text == TWIML
    stop_touch = touch_for(runtime, stop)
    assert stop_touch.case_id == case_id  # the keyword lands on the case like any text
    before = snapshot(runtime)
    (consent,) = before["sms_consents"]
    assert consent == (CUSTOMER, True, "STOP", clock.now(), stop_touch.id)

    refused = ask_reply(client, amy, case_id, "Yes, it is ready")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    message = error["message"]
    assert "texted STOP" in message and CUSTOMER in message
    assert "23 Nov 2026 at 09:00 UTC" in message
    assert "until they text START" in message
    assert snapshot(runtime) == before  # nothing queued, nothing written

    # A replayed STOP changes nothing either.
    assert post_signed(client, WEBHOOK, text_form(" Stop ", sid=stop)).status_code == 200
    assert snapshot(runtime) == before

    clock.advance(timedelta(hours=2))
    send_text(client, "start")
    with runtime.db.reading() as read:
        consent_row = read.get(SmsConsent, CUSTOMER)
        assert consent_row is not None
        assert (consent_row.opted_out, consent_row.keyword) == (False, "START")
        actions = read.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("sms.%")).order_by(AuditEntry.id)
        ).all()
    assert actions == ["sms.opted_out", "sms.opted_in"]

    allowed = ask_reply(client, amy, case_id, "Yes, it is ready")
    assert allowed.status_code == 202, allowed.text
    assert worker(runtime).run_once() == 1
    (post,) = stand_in.posts_to("/Messages.json")
    assert dict(post.form)["Body"] == "Yes, it is ready"


def test_an_old_stop_retried_after_start_does_not_opt_out_again(
    client: TestClient, runtime: Runtime, clock: FrozenClock
) -> None:
    _, stop = send_text(client, "STOP")
    clock.advance(timedelta(minutes=5))
    send_text(client, "UNSTOP")
    after_start = snapshot(runtime)

    # The provider retries the STOP webhook (its first answer was lost).
    assert post_signed(client, WEBHOOK, text_form("STOP", sid=stop)).status_code == 200

    assert snapshot(runtime) == after_start
    assert after_start["sms_consents"][0][1:3] == (False, "UNSTOP")


@pytest.mark.parametrize("waiting", ["due", "held"])
def test_a_reply_queued_before_stop_is_not_sent(
    client: TestClient,
    runtime: Runtime,
    amy: Caller,
    stand_in: TwilioStandIn,
    waiting: str,
) -> None:
    _, first = send_text(client, "Can you call me back?")
    case_id = touch_for(runtime, first).case_id
    queued = ask_reply(client, amy, case_id, "We will call at 3pm")
    assert queued.status_code == 202
    touch_id = queued.json()["touch_id"]
    if waiting == "held":  # a worker that cannot text parked it
        assert Worker(runtime, "no-sms", {}).run_once() == 1
        assert outbox(runtime)[0].state is OutboxState.HELD

    send_text(client, "STOP")

    sender = worker(runtime)
    sender.release_held()
    assert sender.run_once() == 0
    assert stand_in.posts_to("/Messages.json") == []
    (row,) = outbox(runtime)
    assert row.state is OutboxState.FAILED
    shown = touches(client, amy, case_id)
    (reply_touch,) = [t for t in shown if t["id"] == touch_id]
    assert reply_touch["delivery"] == "failed"
    assert "texted STOP" in reply_touch["delivery_error"]
    assert "until they text START" in reply_touch["delivery_error"]
    note = shown[-1]
    assert note["kind"] == "note" and "could not be delivered" in note["text"]
