"""The SMS Sender against the loopback stand-in: what it sends, how it reads each kind of
refusal (worth retrying or final), the worker backing off and trying again, and the
fetch of an incoming message's files (credentials only to the provider, a size cap)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import agent, inbound
from tests.twilio_support import (
    ACCOUNT,
    OUR_NUMBER,
    PUBLIC_URL,
    TOKEN,
    TwilioStandIn,
    basic_auth,
    run_stand_in,
)
from threadline.actions import Actor, receive, reply
from threadline.channels.base import DeliveryResult, IdentityRef, Outbound
from threadline.channels.twilio.rest import TwilioApi, TwilioApiError
from threadline.channels.twilio.sms import STATUS_PATH, MediaRef, TwilioSmsSender, fetch_media
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.models import OutboxMessage, Touch
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, Delivery, IdentityKind, OutboxState
from threadline.worker import Worker, senders_from_settings

CUSTOMER = "+447700900123"


def text_settings(tmp_path: Path, base_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path,
        "public_url": PUBLIC_URL,
        "twilio_auth_token": TOKEN,
        "twilio_account_sid": ACCOUNT,
        "twilio_from_number": OUR_NUMBER,
        "twilio_api_base": base_url,
    }
    return Settings(**(values | changes))


@pytest.fixture
def sender(tmp_path: Path, stand_in: TwilioStandIn) -> TwilioSmsSender:
    made = TwilioSmsSender.from_settings(text_settings(tmp_path, stand_in.base_url))
    assert made is not None
    return made


def outbound(text: str = "Your parcel ships today", **changes: Any) -> Outbound:
    values: dict[str, Any] = {
        "outbox_id": 1,
        "touch_id": 1,
        "channel": Channel.SMS,
        "to": IdentityRef(IdentityKind.PHONE, CUSTOMER),
        "text": text,
    }
    return Outbound(**(values | changes))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# Sending


def test_a_text_goes_from_our_number_with_its_status_callback(
    sender: TwilioSmsSender, stand_in: TwilioStandIn
) -> None:
    result = sender.send(outbound("Your parcel ships today — Amy"))

    (post,) = stand_in.posts_to("/Messages.json")
    assert result == DeliveryResult(Delivery.SENT, external_id=f"SM{1:032x}")
    assert post.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert post.form == [
        ("To", CUSTOMER),
        ("From", OUR_NUMBER),
        ("Body", "Your parcel ships today — Amy"),
        ("StatusCallback", f"{PUBLIC_URL}{STATUS_PATH}"),
    ]
    assert post.authorization == basic_auth()


@pytest.mark.parametrize(
    ("status", "retry", "said"),
    [
        (429, True, "429"),
        (503, True, "503"),
        (400, False, "error 21211: not a valid phone number"),
    ],
)
def test_a_refusal_is_retried_only_when_it_may_pass_later(
    sender: TwilioSmsSender, stand_in: TwilioStandIn, status: int, retry: bool, said: str
) -> None:
    stand_in.fail_next.append(status)
    result = sender.send(outbound())
    assert (result.status, result.retry, result.external_id) == (Delivery.FAILED, retry, None)
    assert result.error is not None and said in result.error


def test_a_provider_out_of_reach_is_retried(tmp_path: Path) -> None:
    made = TwilioSmsSender.from_settings(
        text_settings(tmp_path, f"http://127.0.0.1:{closed_port()}")
    )
    assert made is not None
    result = made.send(outbound())
    assert (result.status, result.retry) == (Delivery.FAILED, True)
    assert result.error is not None and "could not be reached" in result.error


@dataclass(frozen=True)
class _Refusing(TwilioApi):
    code: int = 0

    def send_message(self, **_: Any) -> dict[str, Any]:
        raise TwilioApiError(
            "the provider answered 400: refused", status=400, code=self.code, retry=False
        )


def test_a_number_the_provider_knows_opted_out_is_said_so() -> None:
    api = _Refusing("http://127.0.0.1:9", ACCOUNT, TOKEN, code=21610)
    result = TwilioSmsSender(api, OUR_NUMBER, PUBLIC_URL + STATUS_PATH).send(outbound())
    assert (result.status, result.retry) == (Delivery.FAILED, False)
    assert result.error == (
        "the provider answered 400: refused "
        "(error 21610: the number has opted out of our texts (it texted STOP))"
    )


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (outbound("x" * 1601), "at most 1600 characters; this one has 1601"),
        (outbound(to=IdentityRef(IdentityKind.EMAIL, "ann@example.com")), "email identity"),
    ],
)
def test_what_cannot_be_a_text_fails_at_once_without_asking_the_provider(
    sender: TwilioSmsSender, stand_in: TwilioStandIn, message: Outbound, said: str
) -> None:
    result = sender.send(message)
    assert (result.status, result.retry) == (Delivery.FAILED, False)
    assert result.error is not None and said in result.error
    assert stand_in.requests == []


def test_the_longest_text_the_provider_takes_goes(
    sender: TwilioSmsSender, stand_in: TwilioStandIn
) -> None:
    assert sender.send(outbound("x" * 1600)).status is Delivery.SENT
    (post,) = stand_in.posts_to("/Messages.json")
    assert dict(post.form)["Body"] == "x" * 1600


def test_senders_from_settings_texts_only_when_configured(tmp_path: Path) -> None:
    on = senders_from_settings(text_settings(tmp_path, "https://api.twilio.com"))
    texts = on[Channel.SMS]
    assert isinstance(texts, TwilioSmsSender)
    assert (texts.from_number, texts.status_callback) == (
        OUR_NUMBER,
        f"{PUBLIC_URL}{STATUS_PATH}",
    )
    assert (texts.api.base_url, texts.api.account_sid) == ("https://api.twilio.com", ACCOUNT)
    for missing in ("twilio_from_number", "twilio_account_sid", "twilio_auth_token"):
        off = senders_from_settings(
            text_settings(tmp_path, "https://api.twilio.com", **{missing: None})
        )
        assert Channel.SMS not in off, missing


# Through the worker


def test_the_worker_backs_off_while_the_provider_is_busy_then_sends(
    db: Session, runtime: Runtime, clock: FrozenClock, stand_in: TwilioStandIn
) -> None:
    env = runtime.env
    amy = agent(db, env)
    first = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, CUSTOMER, "Hi"))
    sent = reply(db, env, Actor.agent(amy.id), first.case_id, "Hello by text")
    worker = Worker(runtime, "w1", senders_from_settings(runtime.settings))
    stand_in.fail_next.append(429)

    assert worker.run_once() == 1

    with runtime.db.reading() as read:
        row = read.scalars(select(OutboxMessage)).one()
        touch = read.get(Touch, sent.touch_id)
    assert (row.state, row.attempts) == (OutboxState.PENDING, 1)
    assert touch is not None and touch.delivery is Delivery.QUEUED
    assert "trying again" in (touch.delivery_error or "")
    assert "429" in (touch.delivery_error or "")

    clock.advance(timedelta(minutes=1))
    assert worker.run_once() == 1

    with runtime.db.reading() as read:
        row = read.scalars(select(OutboxMessage)).one()
        touch = read.get(Touch, sent.touch_id)
    assert len(stand_in.posts_to("/Messages.json")) == 2
    assert (row.state, row.provider_ref) == (OutboxState.SENT, f"SM{1:032x}")
    assert touch is not None and (touch.delivery, touch.delivery_error) == (Delivery.SENT, None)


def test_a_final_refusal_fails_the_reply_at_once(
    db: Session, runtime: Runtime, stand_in: TwilioStandIn
) -> None:
    env = runtime.env
    amy = agent(db, env)
    first = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, CUSTOMER, "Hi"))
    sent = reply(db, env, Actor.agent(amy.id), first.case_id, "Hello by text")
    stand_in.fail_next.append(400)

    assert Worker(runtime, "w1", senders_from_settings(runtime.settings)).run_once() == 1

    with runtime.db.reading() as read:
        row = read.scalars(select(OutboxMessage)).one()
        touch = read.get(Touch, sent.touch_id)
    assert (row.state, row.attempts) == (OutboxState.FAILED, 1)
    assert touch is not None and touch.delivery is Delivery.FAILED
    assert "not a valid phone number" in (touch.delivery_error or "")


# Fetching an incoming message's files


@pytest.fixture
def elsewhere() -> Iterator[TwilioStandIn]:
    """A second host: storage the provider's media could live on."""
    yield from run_stand_in()


def api_for(stand_in: TwilioStandIn) -> TwilioApi:
    return TwilioApi(stand_in.base_url, ACCOUNT, TOKEN)


def test_credentials_go_only_to_the_provider(
    stand_in: TwilioStandIn, elsewhere: TwilioStandIn
) -> None:
    stand_in.media["/media/1"] = (b"ours", "image/jpeg")
    elsewhere.media["/media/2"] = (b"theirs", "image/png")
    api = api_for(stand_in)

    assert api.fetch_media(f"{stand_in.base_url}/media/1", max_bytes=100) == (
        b"ours",
        "image/jpeg",
    )
    assert api.fetch_media(f"{elsewhere.base_url}/media/2", max_bytes=100) == (
        b"theirs",
        "image/png",
    )
    assert [r.authorization for r in stand_in.requests] == [basic_auth()]
    assert [r.authorization for r in elsewhere.requests] == [None]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("{base}/media/big", "larger than 100 bytes"),
        ("{base}/media/missing", "answered 404"),
        ("ftp://127.0.0.1/media/1", "not an http(s) URL"),
        ("http://127.0.0.1:notaport/x", "not an http(s) URL"),
        ("not a url", "not an http(s) URL"),
    ],
)
def test_a_file_that_cannot_be_had_is_refused_with_a_reason(
    stand_in: TwilioStandIn, url: str, said: str
) -> None:
    stand_in.media["/media/big"] = (b"x" * 101, "image/jpeg")
    with pytest.raises(TwilioApiError) as refused:
        api_for(stand_in).fetch_media(url.format(base=stand_in.base_url), max_bytes=100)
    assert said in str(refused.value)


def test_the_files_of_a_message_are_fetched_as_far_as_they_can_be(
    stand_in: TwilioStandIn,
) -> None:
    stand_in.media["/media/1"] = (b"one", "image/jpeg")
    stand_in.media["/media/3"] = (b"three", "application/octet-stream")
    refs = [
        MediaRef(f"{stand_in.base_url}/media/1", "image/jpeg"),
        MediaRef(f"{stand_in.base_url}/media/2", "image/png"),
        MediaRef(f"{stand_in.base_url}/media/3", ""),  # the served type is used
    ]

    files, missing = fetch_media(api_for(stand_in), refs, max_bytes=1000)

    assert [(f.filename, f.content_type, f.content) for f in files] == [
        ("media-1.jpg", "image/jpeg", b"one"),
        ("media-3.bin", "application/octet-stream", b"three"),
    ]
    assert [(m.url, m.content_type) for m in missing] == [(refs[1].url, "image/png")]

    # Out of time, or without an account to ask with, nothing is fetched but all is named.
    for api, budget, said in [
        (api_for(stand_in), 0.0, "no time was left"),
        (None, 10.0, "TWILIO_ACCOUNT_SID is unset"),
    ]:
        files, missing = fetch_media(api, refs, max_bytes=1000, budget_seconds=budget)
        assert files == ()
        assert [m.url for m in missing] == [r.url for r in refs]
        assert all(said in m.error for m in missing)
