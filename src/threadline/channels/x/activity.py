"""One X webhook delivery read into a Batch, in either of X's two shapes.

Account Activity API: `{for_user_id, tweet_create_events: [...], direct_message_events:
[...], users: {...}, ...}`. Posts are v1.1 tweets (mentions, replies, quotes of our
account); direct messages are `message_create` events. Both arrive for our own posts and
messages too, which are dropped by comparing the author with `for_user_id`.

X Activity API: `{data: {event_uuid, event_type, filter: {user_id}, payload, includes}}`.
`dm.received` carries the same direct-message events; `post.mention.create` and
`post.reply.create` carry a v2 post. Other event types are passed over (and logged).

Posts are public touches, direct messages private ones; each is keyed by X's own id, so
one delivered through both APIs, or retried, lands once. A customer is their handle
(without `@`); the numeric user id, which a reply needs and which survives a change of
handle, is kept in the touch's meta. Where no usable handle came with the message the
customer is `external` `x:<user id>`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from threadline.channels.base import IdentityRef, Inbound
from threadline.channels.batch import Batch, Ignored, Item, each
from threadline.channels.payload import (
    JsonObject,
    epoch_time,
    field,
    json_array,
    json_object,
    optional_text,
    required_text,
)
from threadline.errors import InvalidInput
from threadline.identities import normalise
from threadline.vocabulary import Channel, IdentityKind

_HANDLED_AAA = frozenset({"tweet_create_events", "direct_message_events"})
_POST_EVENTS = frozenset({"post.mention.create", "post.reply.create"})


@dataclass(frozen=True)
class XUser:
    """An X account as a delivery describes it: its numeric id always, its handle and
    display name where they came along."""

    id: str
    handle: str | None = None
    name: str | None = None

    def identity(self) -> IdentityRef:
        """The customer's identity: their handle, or their id where no usable handle
        came (a bare direct message, a handle that is no handle)."""
        if self.handle is not None:
            handle = self.handle.removeprefix("@")
            try:
                normalise(IdentityKind.X, handle)
            except InvalidInput:
                pass
            else:
                # As written (its case kept for display); receive() normalises the key.
                return IdentityRef(IdentityKind.X, handle, self.name)
        return IdentityRef(IdentityKind.EXTERNAL, f"x:{self.id}", self.name or self.handle)


def parse_activity(payload: JsonObject) -> Batch:
    """The customers' messages and the passed-over items of one delivery (its body
    already checked against its signature and read as JSON)."""
    data = payload.get("data")
    if isinstance(data, Mapping) and "event_type" in data:
        return Batch.of(_activity_event(data))
    us = optional_text(payload.get("for_user_id"))
    if us is None:
        # Without it our own posts and messages could not be told from the customers'.
        return Batch(ignored=(Ignored("the delivery names no for_user_id", problem=True),))
    return Batch.of(_account_activity(payload, us))


def _account_activity(payload: JsonObject, us: str) -> Iterator[Item]:
    users = _users_by_id(payload.get("users"))
    yield from each(payload.get("tweet_create_events"), partial(_tweet, us), "tweet_create_events")
    yield from each(
        payload.get("direct_message_events"),
        partial(_direct_message, us, users),
        "direct_message_events",
    )
    for name in payload:
        if name.endswith("_events") and name not in _HANDLED_AAA:
            # Likes, follows, typing and read receipts: nothing a customer wrote.
            yield Ignored(f"x {name} are not handled")


def _activity_event(data: Mapping[str, object]) -> Iterator[Item]:
    event_type = optional_text(data.get("event_type")) or "unknown"
    us = optional_text(field(data, "filter", "user_id"))
    try:
        payload = json_object(data.get("payload"), "data.payload")
        if event_type == "dm.received":
            users = _users_by_id(payload.get("users"))
            yield from each(
                payload.get("direct_message_events"),
                partial(_direct_message, us, users),
                "direct_message_events",
            )
        elif event_type in _POST_EVENTS:
            users = _users_by_id(field(data, "includes", "users"))
            yield from each([payload], partial(_post, us, users), event_type)
        else:
            yield Ignored(f"x activity event {event_type!r} is not handled")
    except InvalidInput as exc:
        yield Ignored(f"{event_type}: {exc.message}", problem=True)


def _users_by_id(value: object) -> dict[str, XUser]:
    """The users that came with a delivery: AAA's map of v1.1 users (`screen_name`), the
    X Activity API's map of `{data: user}` or its list of v2 users (`username`)."""
    if isinstance(value, Mapping):
        found = list(value.values())
    elif isinstance(value, list):
        found = value
    else:
        return {}
    users: dict[str, XUser] = {}
    for entry in found:
        user = entry.get("data", entry) if isinstance(entry, Mapping) else None
        user_id = optional_text(field(user, "id_str")) or optional_text(field(user, "id"))
        if user_id is None:
            continue
        handle = optional_text(field(user, "screen_name")) or optional_text(field(user, "username"))
        users[user_id] = XUser(user_id, handle, optional_text(field(user, "name")))
    return users


def _words(value: object) -> str:
    return value if isinstance(value, str) else ""


def _tweet(us: str, value: object) -> list[Item]:
    tweet = json_object(value, "tweet")
    tweet_id = optional_text(tweet.get("id_str")) or required_text(tweet.get("id"), "tweet id")
    user = json_object(tweet.get("user"), "tweet.user")
    user_id = optional_text(user.get("id_str")) or required_text(user.get("id"), "user id")
    if user_id == us:
        return [Ignored(f"our own x post {tweet_id}")]
    if tweet.get("retweeted_status") is not None:
        return [Ignored(f"x repost {tweet_id} adds no words")]
    # Posts over 140 characters came with their whole text in extended_tweet.
    text = (
        _words(field(tweet, "extended_tweet", "full_text"))
        or _words(tweet.get("full_text"))
        or _words(tweet.get("text"))
    )
    author = XUser(user_id, optional_text(user.get("screen_name")), optional_text(user.get("name")))
    return [
        _post_inbound(
            tweet_id,
            author,
            text,
            epoch_time(tweet.get("timestamp_ms"), milliseconds=True)
            or _v1_time(tweet.get("created_at")),
            optional_text(tweet.get("in_reply_to_status_id_str")),
            us,
        )
    ]


def _post(us: str | None, users: Mapping[str, XUser], value: object) -> list[Item]:
    post = json_object(value, "post")
    post_id = required_text(post.get("id"), "post id")
    author_id = required_text(post.get("author_id"), "post author_id")
    if author_id == us:
        return [Ignored(f"our own x post {post_id}")]
    replied_to = next(
        (
            optional_text(field(ref, "id"))
            for ref in json_array(post.get("referenced_tweets"), "referenced_tweets")
            if field(ref, "type") == "replied_to"
        ),
        None,
    )
    # Long posts keep their whole text in note_tweet.
    text = _words(field(post, "note_tweet", "text")) or _words(post.get("text"))
    author = users.get(author_id, XUser(author_id))
    at = _iso_time(post.get("created_at"))
    return [_post_inbound(post_id, author, text, at, replied_to, us)]


def _post_inbound(
    post_id: str,
    author: XUser,
    text: str,
    at: datetime | None,
    replied_to: str | None,
    us: str | None,
) -> Inbound:
    meta: dict[str, object] = {"x_user_id": author.id}
    if us is not None:
        meta["x_account_id"] = us
    if replied_to is not None:
        meta["in_reply_to"] = replied_to
    return Inbound(
        channel=Channel.X,
        external_id=post_id,
        sender=author.identity(),
        text=text,
        public=True,
        occurred_at=at,
        # A reply to a post threads onto the case of the post it answers.
        thread_key=f"x:post:{post_id}",
        references=(f"x:post:{replied_to}",) if replied_to else (),
        meta=meta,
    )


def _direct_message(us: str | None, users: Mapping[str, XUser], value: object) -> list[Item]:
    event = json_object(value, "event")
    kind = optional_text(event.get("type"))
    if kind != "message_create":
        return [Ignored(f"x direct-message event of type {kind!r} is not handled")]
    event_id = required_text(event.get("id"), "event id")
    create = json_object(event.get("message_create"), "message_create")
    sender_id = required_text(create.get("sender_id"), "message_create.sender_id")
    if sender_id == us:
        return [Ignored(f"our own x direct message {event_id}")]
    data = field(create, "message_data")
    text = _words(field(data, "text"))
    media_url = optional_text(field(data, "attachment", "media", "media_url_https"))
    if media_url is not None:
        media_type = optional_text(field(data, "attachment", "media", "type")) or "media"
        line = f"[{media_type}: {media_url}]"
        text = f"{text}\n{line}" if text.strip() else line
    meta: dict[str, object] = {"x_user_id": sender_id}
    if us is not None:
        meta["x_account_id"] = us
    return [
        Inbound(
            channel=Channel.X,
            external_id=event_id,
            sender=users.get(sender_id, XUser(sender_id)).identity(),
            text=text,
            public=False,
            occurred_at=epoch_time(event.get("created_timestamp"), milliseconds=True),
            meta=meta,
        )
    ]


def _v1_time(value: object) -> datetime | None:
    """v1.1's `created_at`, e.g. "Wed Oct 10 20:19:24 +0000 2018"."""
    text = optional_text(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def _iso_time(value: object) -> datetime | None:
    text = optional_text(value)
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None
