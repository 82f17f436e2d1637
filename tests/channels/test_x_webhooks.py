"""X's webhook end to end, X played by requests signed with stdlib `hmac` over the exact
bytes sent: the CRC answer is exact, mentions land as public touches and direct messages
as private ones on the customer's case, our own posts and messages (which X delivers
too) are dropped, a retried or doubly delivered event lands once, and a forged request
or a channel that is off writes nothing. Then the parser alone, branch by branch."""

from __future__ import annotations

import base64
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

from tests import social_support
from tests.api.conftest import Caller
from tests.conftest import START
from tests.social_support import assert_channel_off, receipt, shaped, shown
from tests.social_support import snapshot as snapshot_of
from threadline.channels.x.activity import parse_activity
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.models import Touch
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, IdentityKind

WEBHOOK = "/webhooks/x"
CONSUMER_SECRET = "x-consumer-secret-0123456789abcdef"
US = "1111111111111111111"
ANN = "2222222222222222222"
TABLES = ("customers", "identities", "cases", "touches", "thread_keys", "audit_log")
SENT_AT = START - timedelta(minutes=2)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path / "data",
        x_consumer_secret=CONSUMER_SECRET,
    )


# Playing X


def x_signature(body: bytes, secret: str = CONSUMER_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def encoded(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=True).encode()


def post_signed(client: TestClient, payload: dict[str, Any] | bytes) -> Response:
    body = payload if isinstance(payload, bytes) else encoded(payload)
    return client.post(
        WEBHOOK,
        content=body,
        headers={
            "Content-Type": "application/json",
            "x-twitter-webhooks-signature": x_signature(body),
        },
    )


def ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def v1_user(user_id: str, handle: str, name: str) -> dict[str, Any]:
    return {"id": int(user_id), "id_str": user_id, "screen_name": handle, "name": name}


def tweet(
    tweet_id: str,
    text: str,
    *,
    user: dict[str, Any] | None = None,
    reply_to: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "created_at": SENT_AT.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id": int(tweet_id),
        "id_str": tweet_id,
        "text": text,
        "user": user or v1_user(ANN, "Ann_Smith", "Ann Smith"),
        "in_reply_to_status_id_str": reply_to,
        "timestamp_ms": ms(SENT_AT),
        **extra,
    }


def dm(event_id: str, text: str, *, sender: str = ANN, to: str = US) -> dict[str, Any]:
    return {
        "type": "message_create",
        "id": event_id,
        "created_timestamp": ms(SENT_AT),
        "message_create": {
            "target": {"recipient_id": to},
            "sender_id": sender,
            "message_data": {"text": text, "entities": {}},
        },
    }


def activity(**events: Any) -> dict[str, Any]:
    return {"for_user_id": US, **events}


def dm_users() -> dict[str, Any]:
    return {
        ANN: {"id": ANN, "name": "Ann Smith", "screen_name": "Ann_Smith"},
        US: {"id": US, "name": "The Shop", "screen_name": "TheShop"},
    }


# Reading what landed


def snapshot(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    return snapshot_of(runtime, TABLES)


def touch_for(runtime: Runtime, external_id: str) -> Touch:
    with runtime.db.reading() as read:
        return read.scalars(
            select(Touch).where(Touch.channel == Channel.X, Touch.external_id == external_id)
        ).one()


def external_ids(runtime: Runtime) -> list[str | None]:
    with runtime.db.reading() as read:
        return list(read.scalars(select(Touch.external_id).order_by(Touch.id)))


# The CRC


def test_the_crc_is_answered_with_the_signed_token(client: TestClient) -> None:
    answer = client.get(WEBHOOK, params={"crc_token": "challenge-token-é"})
    assert answer.status_code == 200
    expected = hmac.new(CONSUMER_SECRET.encode(), "challenge-token-é".encode(), hashlib.sha256)
    assert answer.json() == {
        "response_token": "sha256=" + base64.b64encode(expected.digest()).decode()
    }


@pytest.mark.parametrize("params", [{}, {"crc_token": ""}])
def test_a_crc_without_a_token_is_invalid(client: TestClient, params: dict[str, str]) -> None:
    answer = client.get(WEBHOOK, params=params)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert "crc_token" in error["message"]


# Posts and messages in


def test_a_mention_lands_as_a_public_touch_from_the_customers_handle(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    payload = activity(
        tweet_create_events=[tweet("1850000000000000001", "@TheShop où est ma commande?")]
    )
    body = encoded(payload)
    assert b"\\u00f9" in body  # signed as escaped bytes

    answer = post_signed(client, body)

    assert receipt(answer) == {"received": 1, "duplicates": 0, "reports": 0, "ignored": 0}
    touch = touch_for(runtime, "1850000000000000001")
    seen = shown(client, amy, touch)
    assert (seen["channel"], seen["direction"], seen["public"]) == ("x", "in", True)
    assert seen["text"] == "@TheShop où est ma commande?"
    assert seen["identity"] == {"kind": "x", "value": "Ann_Smith"}
    assert seen["author"]["name"] == "Ann Smith"
    assert datetime.fromisoformat(seen["occurred_at"]) == SENT_AT
    assert touch.meta == {"x_user_id": ANN, "x_account_id": US}
    # The handle is the customer's key however it is written.
    found = client.get(
        "/api/v1/customers", params={"identity": "x:@ANN_smith"}, headers=amy.headers
    )
    assert [c["id"] for c in found.json()["items"]] == [seen["author"]["id"]]


def test_a_direct_message_lands_privately_on_the_same_customers_case(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    post_signed(
        client, activity(tweet_create_events=[tweet("1850000000000000002", "@TheShop help")])
    )
    payload = activity(
        direct_message_events=[dm("1850000000000000003", "My order is 1001")], users=dm_users()
    )

    assert receipt(post_signed(client, payload))["received"] == 1

    message = touch_for(runtime, "1850000000000000003")
    seen = shown(client, amy, message)
    assert (seen["channel"], seen["public"]) == ("x", False)
    assert seen["text"] == "My order is 1001"
    assert seen["identity"] == {"kind": "x", "value": "Ann_Smith"}
    assert message.case_id == touch_for(runtime, "1850000000000000002").case_id


def test_our_own_posts_and_messages_are_dropped(client: TestClient, runtime: Runtime) -> None:
    ours = v1_user(US, "TheShop", "The Shop")
    payload = activity(
        tweet_create_events=[
            tweet("1850000000000000010", "@Ann_Smith we are on it", user=ours),
            tweet("1850000000000000011", "@TheShop thanks!"),
        ],
        direct_message_events=[
            dm("1850000000000000012", "Could you send your order number?", sender=US, to=ANN),
            dm("1850000000000000013", "It is 1001"),
        ],
        users=dm_users(),
    )

    answer = post_signed(client, payload)

    assert receipt(answer) == {"received": 2, "duplicates": 0, "reports": 0, "ignored": 2}
    assert external_ids(runtime) == ["1850000000000000011", "1850000000000000013"]


def test_a_retried_delivery_lands_once(client: TestClient, runtime: Runtime) -> None:
    payload = activity(direct_message_events=[dm("1850000000000000020", "Hello")], users=dm_users())
    assert receipt(post_signed(client, payload))["received"] == 1
    before = snapshot(runtime)

    again = post_signed(client, payload)

    assert receipt(again) == {"received": 0, "duplicates": 1, "reports": 0, "ignored": 0}
    assert snapshot(runtime) == before


def test_a_message_delivered_through_both_apis_lands_once(
    client: TestClient, runtime: Runtime
) -> None:
    message = dm("1850000000000000030", "Same message, two APIs")
    post_signed(client, activity(direct_message_events=[message], users=dm_users()))
    before = snapshot(runtime)
    xaa = {
        "data": {
            "event_uuid": "-6850472171600526495",
            "filter": {"user_id": US},
            "event_type": "dm.received",
            "payload": {
                "direct_message_events": [message],
                "users": {ANN: {"data": {"id": ANN, "username": "Ann_Smith", "name": "Ann"}}},
            },
        }
    }

    assert receipt(post_signed(client, xaa))["duplicates"] == 1
    assert snapshot(runtime) == before


def test_x_activity_mentions_and_direct_messages_land(
    client: TestClient, runtime: Runtime, amy: Caller
) -> None:
    mention = {
        "data": {
            "event_uuid": "2080765813578191303",
            "filter": {"user_id": US},
            "event_type": "post.mention.create",
            "payload": {
                "id": "2080765813578191303",
                "text": "hey @TheShop, is the café open?",
                "author_id": ANN,
                "created_at": "2026-11-23T08:55:00.000Z",
            },
            "includes": {"users": [{"id": ANN, "username": "Ann_Smith", "name": "Ann Smith"}]},
        }
    }
    direct = {
        "data": {
            "event_uuid": "1",
            "filter": {"user_id": US},
            "event_type": "dm.received",
            "payload": {"direct_message_events": [dm("2080765901528535096", "hello!")]},
        }
    }

    assert receipt(post_signed(client, mention))["received"] == 1
    assert receipt(post_signed(client, direct))["received"] == 1

    post = shown(client, amy, touch_for(runtime, "2080765813578191303"))
    assert (post["public"], post["text"]) == (True, "hey @TheShop, is the café open?")
    assert post["identity"] == {"kind": "x", "value": "Ann_Smith"}
    assert datetime.fromisoformat(post["occurred_at"]) == datetime(2026, 11, 23, 8, 55, tzinfo=UTC)
    # No users came with the message: the customer is known by their X user id.
    message = shown(client, amy, touch_for(runtime, "2080765901528535096"))
    assert message["identity"] == {"kind": "external", "value": f"x:{ANN}"}


@pytest.mark.parametrize("event_type", ["like.create", "chat.received", "dm.sent", "news.new"])
def test_x_activity_events_not_handled_are_acknowledged(
    client: TestClient, runtime: Runtime, event_type: str
) -> None:
    before = snapshot(runtime)
    payload = {"data": {"event_uuid": "9", "event_type": event_type, "payload": {"id": "1"}}}
    assert receipt(post_signed(client, payload)) == {
        "received": 0,
        "duplicates": 0,
        "reports": 0,
        "ignored": 1,
    }
    assert snapshot(runtime) == before


def test_one_unreadable_event_does_not_lose_the_others(
    client: TestClient, runtime: Runtime
) -> None:
    payload = activity(
        tweet_create_events=[
            {"id_str": "1850000000000000040", "text": "no user"},
            tweet("1850000000000000041", "@TheShop fine"),
        ],
        direct_message_events=[
            "not an event",
            dm("1850000000000000042", "also fine"),
            {"type": "message_create", "id": "1850000000000000043"},
        ],
        favorite_events=[{"id": "1"}],
    )

    answer = post_signed(client, payload)

    assert receipt(answer) == {"received": 2, "duplicates": 0, "reports": 0, "ignored": 4}
    assert external_ids(runtime) == ["1850000000000000041", "1850000000000000042"]


# The gate


@pytest.mark.parametrize(
    "forgery", ["unsigned", "wrong secret", "tampered", "signed re-serialised", "hex digest"]
)
def test_a_request_x_did_not_sign_is_refused_and_writes_nothing(
    client: TestClient, runtime: Runtime, forgery: str
) -> None:
    post_signed(client, activity(direct_message_events=[dm("1850000000000000050", "before")]))
    before = snapshot(runtime)
    payload = activity(direct_message_events=[dm("1850000000000000051", "Refund me, merci à vous")])
    body = encoded(payload)
    headers: dict[str, str] = {"Content-Type": "application/json"}
    name = "x-twitter-webhooks-signature"
    if forgery == "wrong secret":
        headers[name] = x_signature(body, "not-our-consumer-secret")
    elif forgery == "tampered":
        headers[name] = x_signature(body)
        body = body.replace(b"Refund", b"Credit")
    elif forgery == "signed re-serialised":
        headers[name] = x_signature(json.dumps(payload, ensure_ascii=False).encode())
    elif forgery == "hex digest":
        headers[name] = (
            "sha256=" + hmac.new(CONSUMER_SECRET.encode(), body, hashlib.sha256).hexdigest()
        )

    answer = client.post(WEBHOOK, content=body, headers=headers)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert snapshot(runtime) == before


def test_a_signed_body_that_is_not_a_json_object_is_invalid(client: TestClient) -> None:
    for body in (b"{", b'"text"', b"null"):
        answer = post_signed(client, body)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_input"


def test_with_the_channel_off_the_webhook_is_not_there(
    database_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = Settings(env="test", database_url=database_url, data_dir=tmp_path / "off")

    def requests(off: TestClient) -> list[Response]:
        crc = off.get(WEBHOOK, params={"crc_token": "abc"})
        message = dm("1850000000000000060", "Hi")
        return [crc, post_signed(off, activity(direct_message_events=[message]))]

    assert_channel_off(settings, clock, requests)


# The parser alone


only_message = partial(social_support.only_message, parse_activity)
ignored_reasons = partial(social_support.ignored_reasons, parse_activity)


def test_a_reply_names_the_post_it_answers_and_long_posts_keep_their_whole_text() -> None:
    long_text = "a" * 200
    inbound = only_message(
        activity(
            tweet_create_events=[
                tweet(
                    "1850000000000000070",
                    "a" * 140,
                    reply_to="1850000000000000069",
                    truncated=True,
                    extended_tweet={"full_text": long_text},
                )
            ]
        )
    )
    assert inbound.text == long_text
    assert inbound.thread_key == "x:post:1850000000000000070"
    assert inbound.references == ("x:post:1850000000000000069",)
    assert inbound.meta["in_reply_to"] == "1850000000000000069"
    assert inbound.public is True


def test_a_posts_time_falls_back_to_its_created_at() -> None:
    post = tweet("1850000000000000071", "hi")
    del post["timestamp_ms"]
    assert only_message(activity(tweet_create_events=[post])).occurred_at == SENT_AT
    post["created_at"] = "yesterday"
    assert only_message(activity(tweet_create_events=[post])).occurred_at is None


def test_reposts_and_events_not_handled_are_passed_over() -> None:
    repost = tweet("1850000000000000072", "RT @someone: hi", retweeted_status={"id_str": "1"})
    payload = activity(
        tweet_create_events=[repost],
        direct_message_events=[{"type": "message_delete", "id": "5"}],
        direct_message_mark_read_events=[{}],
    )
    assert ignored_reasons(payload) == [
        ("x repost 1850000000000000072 adds no words", False),
        ("x direct-message event of type 'message_delete' is not handled", False),
        ("x direct_message_mark_read_events are not handled", False),
    ]


def test_a_delivery_without_for_user_id_is_a_problem() -> None:
    payload = {"tweet_create_events": [tweet("1850000000000000073", "hi")]}
    assert ignored_reasons(payload) == [("the delivery names no for_user_id", True)]


def test_a_direct_message_with_a_picture_shows_it() -> None:
    message = dm("1850000000000000074", "Look https://t.co/abc")
    message["message_create"]["message_data"]["attachment"] = {
        "type": "media",
        "media": {"type": "photo", "media_url_https": "https://ton.x.com/i/1.jpg"},
    }
    inbound = only_message(activity(direct_message_events=[message]))
    assert inbound.text == "Look https://t.co/abc\n[photo: https://ton.x.com/i/1.jpg]"
    assert inbound.public is False
    assert inbound.occurred_at == SENT_AT


@pytest.mark.parametrize(
    ("user", "kind", "value", "name"),
    [
        (
            {"id": ANN, "screen_name": "@Ann_Smith", "name": "Ann"},
            IdentityKind.X,
            "Ann_Smith",
            "Ann",
        ),
        ({"data": {"id": ANN, "username": "ann", "name": "A"}}, IdentityKind.X, "ann", "A"),
        (
            {"id": ANN, "screen_name": "not a handle!", "name": "Ann"},
            IdentityKind.EXTERNAL,
            f"x:{ANN}",
            "Ann",
        ),
        (
            {"id": ANN, "screen_name": "far_too_long_a_handle"},
            IdentityKind.EXTERNAL,
            f"x:{ANN}",
            "far_too_long_a_handle",
        ),
    ],
)
def test_the_sender_is_their_handle_where_one_is_usable(
    user: dict[str, Any], kind: IdentityKind, value: str, name: str
) -> None:
    inbound = only_message(
        activity(direct_message_events=[dm("1850000000000000075", "hi")], users={ANN: user})
    )
    assert (inbound.sender.kind, inbound.sender.value, inbound.sender.name) == (kind, value, name)
    assert inbound.meta == {"x_user_id": ANN, "x_account_id": US}


def test_x_activity_replies_and_long_posts() -> None:
    payload = {
        "data": {
            "event_type": "post.reply.create",
            "filter": {"user_id": US},
            "payload": {
                "id": "3000",
                "author_id": ANN,
                "text": "short",
                "note_tweet": {"text": "the whole long text"},
                "referenced_tweets": [
                    {"type": "quoted", "id": "1"},
                    {"type": "replied_to", "id": "2999"},
                ],
                "created_at": "not a time",
            },
        }
    }
    inbound = only_message(payload)
    assert inbound.text == "the whole long text"
    assert inbound.references == ("x:post:2999",)
    assert inbound.occurred_at is None
    assert inbound.sender.value == f"x:{ANN}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            {"event_type": "dm.received", "payload": "nothing"},
            "dm.received: data.payload is not an object",
        ),
        (
            {"event_type": "post.mention.create", "payload": {"id": "1"}},
            "post.mention.create[0]: post author_id is missing",
        ),
        (
            {"event_type": "dm.received", "payload": {"direct_message_events": {}}},
            "direct_message_events is not an array",
        ),
    ],
)
def test_malformed_x_activity_events_are_problems(data: dict[str, Any], reason: str) -> None:
    assert ignored_reasons({"data": data}) == [(reason, True)]


def test_our_own_x_activity_post_is_dropped() -> None:
    payload = {
        "data": {
            "event_type": "post.mention.create",
            "filter": {"user_id": US},
            "payload": {"id": "4000", "author_id": US, "text": "@TheShop note to self"},
        }
    }
    assert ignored_reasons(payload) == [("our own x post 4000", False)]


# Whatever X sends

_ID = st.sampled_from([US, ANN, "3", "x"])
_TEXT = st.text(max_size=10)
_USER = {
    "id?": _ID,
    "id_str?": _ID,
    "screen_name?": st.sampled_from(["Ann_Smith", "@ann", "not a handle", "a" * 16]),
    "username?": _TEXT,
    "name?": _TEXT,
}
_TWEET = {
    "id?": st.integers(),
    "id_str?": _ID,
    "text?": _TEXT,
    "full_text?": _TEXT,
    "extended_tweet?": {"full_text": _TEXT},
    "user": _USER,
    "retweeted_status?": {},
    "in_reply_to_status_id_str?": _ID,
    "timestamp_ms?": st.sampled_from(["1795424340000", "soon", "9" * 30]),
    "created_at?": st.sampled_from(["Mon Nov 23 08:58:00 +0000 2026", "yesterday"]),
}
_DIRECT_MESSAGE = {
    "type": st.sampled_from(["message_create", "message_delete"]),
    "id": _ID,
    "created_timestamp?": st.integers(),
    "message_create": {
        "sender_id": _ID,
        "target?": {"recipient_id": _ID},
        "message_data": {
            "text?": _TEXT,
            "attachment?": {"media": {"type?": _TEXT, "media_url_https": _TEXT}},
        },
    },
}
_ACCOUNT_ACTIVITY = {
    "for_user_id?": st.just(US),
    "tweet_create_events?": [_TWEET],
    "direct_message_events?": [_DIRECT_MESSAGE],
    "users?": st.dictionaries(_ID, st.one_of(st.just({"data": {"id": ANN}}), st.just({}))),
    "favorite_events?": [{}],
}
_POST = {
    "id": _ID,
    "author_id": _ID,
    "text?": _TEXT,
    "note_tweet?": {"text": _TEXT},
    "created_at?": st.sampled_from(["2026-11-23T08:55:00.000Z", "2026-11-23T08:55:00", "x"]),
    "referenced_tweets?": [{"type": st.sampled_from(["replied_to", "quoted"]), "id": _ID}],
}
_ACTIVITY_EVENT = {
    "data": {
        "event_type": st.sampled_from(["dm.received", "post.mention.create", "like.create"]),
        "filter?": {"user_id": _ID},
        "payload": st.one_of(
            shaped(_POST), shaped({"direct_message_events": [_DIRECT_MESSAGE], "users?": {}})
        ),
        "includes?": {"users": [_USER]},
    }
}


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(shaped(_ACCOUNT_ACTIVITY), shaped(_ACTIVITY_EVENT)))
def test_any_delivery_reads_into_a_batch_without_raising(payload: object) -> None:
    if not isinstance(payload, dict):
        return  # the gate answers 422 before the parser sees it
    batch = parse_activity(payload)
    for inbound in batch.messages:
        assert inbound.channel is Channel.X and inbound.external_id and inbound.sender.value
        # Never our own: the account the delivery is for, where it says.
        assert inbound.meta["x_user_id"] != inbound.meta.get("x_account_id")
        assert inbound.occurred_at is None or inbound.occurred_at.tzinfo is not None
