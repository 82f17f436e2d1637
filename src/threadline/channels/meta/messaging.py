"""Messenger (`object: page`) and Instagram (`object: instagram`) messaging events. Both
deliver `entry[].messaging[]`, or `entry[].standby[]` while another app holds the thread
(handover): each event names its sender (a page- or account-scoped id, PSID or IGSID),
our page or account as recipient, a time in milliseconds and one of `message`,
`postback`, `delivery`, `read`, `reaction` ...

A customer's message or button press becomes an Inbound; delivery receipts naming our
messages become reports; our own sends, which come back as echoes, and everything else
are passed over."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from threadline.channels.base import IdentityRef, Inbound
from threadline.channels.batch import DeliveryReport, Ignored, Item, each
from threadline.channels.payload import (
    JsonObject,
    epoch_time,
    field,
    json_array,
    json_object,
    optional_text,
    required_text,
)
from threadline.vocabulary import Channel, Delivery, IdentityKind

_IDENTITY = {Channel.MESSENGER: IdentityKind.MESSENGER, Channel.INSTAGRAM: IdentityKind.INSTAGRAM}
# Keys every event has besides the one that says what happened.
_ENVELOPE = frozenset({"sender", "recipient", "timestamp"})


def messaging_items(channel: Channel, value: object) -> Iterator[Item]:
    """Every item of one `entry` of a Messenger or Instagram delivery."""
    entry = json_object(value, "entry")
    for list_name in ("messaging", "standby"):
        yield from each(
            entry.get(list_name), partial(_event, channel), f"{channel.value}.{list_name}"
        )
    # Page feed and comment changes: not conversations this desk answers (yet).
    yield from each(entry.get("changes"), partial(_change, channel), f"{channel.value}.changes")


def _change(channel: Channel, change: object) -> list[Item]:
    name = optional_text(field(change, "field")) or "unnamed"
    return [Ignored(f"{channel.value} change {name!r} is not handled")]


def _event(channel: Channel, value: object) -> list[Item]:
    event = json_object(value, "event")
    if event.get("message") is not None:
        return [_message(channel, event, json_object(event["message"], "message"))]
    if event.get("postback") is not None:
        return [_postback(channel, event, json_object(event["postback"], "postback"))]
    if event.get("delivery") is not None:
        return _delivered(channel, json_object(event["delivery"], "delivery"))
    what = next((key for key in event if key not in _ENVELOPE), "empty")
    # read / messaging_seen (a watermark, not a message id), reaction, optin, referral,
    # handover notices ...: nothing a customer wrote.
    return [Ignored(f"a {channel.value} {what!r} event is not a customer's message")]


def _sender(channel: Channel, event: JsonObject) -> IdentityRef:
    return IdentityRef(_IDENTITY[channel], required_text(field(event, "sender", "id"), "sender.id"))


def _recipient_meta(event: JsonObject) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    page = optional_text(field(event, "recipient", "id"))
    if page is not None:
        # Our page or account: the one a reply must be sent from.
        meta["recipient_id"] = page
    return meta


def _message(channel: Channel, event: JsonObject, message: JsonObject) -> Item:
    if message.get("is_echo") is True:
        return Ignored(f"our own {channel.value} message, echoed back")
    if message.get("is_deleted") is True:
        return Ignored(f"a {channel.value} message the customer unsent")
    mid = required_text(message.get("mid"), "message.mid")
    sender = _sender(channel, event)
    body = message.get("text")
    text = body if isinstance(body, str) else ""
    files = [_attachment(value) for value in json_array(message.get("attachments"), "attachments")]
    lines = [line for line, _ in files]
    if message.get("is_unsupported") is True:
        lines.append(f"[a message {channel.label} cannot show here]")
    if lines:
        text = "\n".join([text, *lines]) if text.strip() else "\n".join(lines)
    meta = _recipient_meta(event)
    if files:
        meta["attachments"] = [found for _, found in files]
    quick_reply = optional_text(field(message, "quick_reply", "payload"))
    if quick_reply is not None:
        meta["quick_reply"] = quick_reply
    answered = optional_text(field(message, "reply_to", "mid"))
    return Inbound(
        channel=channel,
        external_id=mid,
        sender=sender,
        text=text,
        occurred_at=epoch_time(event.get("timestamp"), milliseconds=True),
        thread_key=f"{channel.value}:{mid}",
        references=(f"{channel.value}:{answered}",) if answered else (),
        meta=meta,
    )


def _attachment(value: object) -> tuple[str, dict[str, str]]:
    """A line for the agent to read, and what is kept of it in the touch's meta. The
    files are not fetched: their URLs are the provider's and expire."""
    attachment = json_object(value, "attachment")
    kind = optional_text(attachment.get("type")) or "file"
    payload = attachment.get("payload")
    url = optional_text(field(payload, "url"))
    title = optional_text(field(payload, "title")) or optional_text(attachment.get("title"))
    latitude = optional_text(field(payload, "coordinates", "lat"))
    longitude = optional_text(field(payload, "coordinates", "long"))
    details = [part for part in (title, url) if part]
    if latitude is not None and longitude is not None:
        details.append(f"{latitude}, {longitude}")
    line = f"[{kind}: {' '.join(details)}]" if details else f"[{kind}]"
    kept = {"type": kind}
    if url is not None:
        kept["url"] = url
    return line, kept


def _postback(channel: Channel, event: JsonObject, postback: JsonObject) -> Inbound:
    """A button the customer pressed: what the button said is what they said."""
    sender = _sender(channel, event)
    title = optional_text(postback.get("title"))
    payload = optional_text(postback.get("payload"))
    mid = optional_text(postback.get("mid"))
    if mid is None:
        # Older postbacks carry no id; sender and time name one press, retries included.
        at = required_text(event.get("timestamp"), "timestamp")
        mid = f"postback:{sender.value}:{at}"
    meta = _recipient_meta(event)
    if payload is not None:
        meta["postback_payload"] = payload
    return Inbound(
        channel=channel,
        external_id=mid,
        sender=sender,
        text=title or payload or "[a button was pressed]",
        occurred_at=epoch_time(event.get("timestamp"), milliseconds=True),
        meta=meta,
    )


def _delivered(channel: Channel, delivery: JsonObject) -> list[Item]:
    mids = [optional_text(mid) for mid in json_array(delivery.get("mids"), "delivery.mids")]
    found: list[Item] = [
        DeliveryReport(channel, mid, Delivery.DELIVERED) for mid in mids if mid is not None
    ]
    # Without ids, a delivery only names a time ("all before the watermark").
    return found or [Ignored(f"a {channel.value} delivery watermark names no message")]
