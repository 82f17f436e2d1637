"""WhatsApp Cloud API deliveries (`object: whatsapp_business_account`): each
`entry[].changes[]` with `field: "messages"` holds our number (`metadata`), the senders'
profiles (`contacts`), their `messages` and the `statuses` of messages we sent.

A customer is their WhatsApp id: their phone number in digits (`wa_id`, which is what
the provider's text webhooks call them too, so both paths find the same customer), or,
where Meta withholds the number, their business-scoped user id (`US.1349…`). Media are
not fetched here (that needs the Graph API); the agent reads what was sent, e.g.
`[image]` and its caption."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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

_MEDIA = frozenset({"image", "video", "audio", "document", "sticker"})
_STATUSES = {
    "sent": Delivery.SENT,
    "delivered": Delivery.DELIVERED,
    "read": Delivery.READ,
    "failed": Delivery.FAILED,
}


def whatsapp_items(value: object) -> Iterator[Item]:
    """Every item of one `entry` of a WhatsApp delivery."""
    entry = json_object(value, "entry")
    yield from each(entry.get("changes"), _change, "whatsapp.changes")


def _change(value: object) -> Iterator[Item]:
    change = json_object(value, "change")
    name = optional_text(change.get("field"))
    if name != "messages":
        yield Ignored(f"whatsapp change {name!r} is not handled")
        return
    body = json_object(change.get("value"), "change.value")
    names = _profile_names(body.get("contacts"))
    meta: dict[str, Any] = {}
    our_number = optional_text(field(body, "metadata", "display_phone_number"))
    if our_number is not None:
        meta["to"] = our_number
    phone_number_id = optional_text(field(body, "metadata", "phone_number_id"))
    if phone_number_id is not None:
        # The number a reply must be sent from.
        meta["phone_number_id"] = phone_number_id
    yield from each(body.get("messages"), partial(_message, names, meta), "whatsapp.messages")
    yield from each(body.get("statuses"), _status, "whatsapp.statuses")


def _profile_names(value: object) -> dict[str, str]:
    """The senders' profile names, by wa_id and by business-scoped user id."""
    names: dict[str, str] = {}
    # Lenient: a name is a nicety, and odd contacts must not lose the messages.
    for contact in value if isinstance(value, list) else []:
        name = optional_text(field(contact, "profile", "name"))
        if name is None:
            continue
        for key in ("wa_id", "user_id"):
            known = optional_text(field(contact, key))
            if known is not None:
                names[known] = name
    return names


def _message(names: Mapping[str, str], common: Mapping[str, Any], value: object) -> list[Item]:
    message = json_object(value, "message")
    wamid = required_text(message.get("id"), "message.id")
    kind = optional_text(message.get("type")) or "unknown"
    if kind == "reaction":
        # An emoji on an earlier message: no words for the agent, and no reason to
        # reopen a case over a thumbs-up.
        return [Ignored(f"a whatsapp reaction ({wamid})")]
    if kind == "system":
        return [Ignored(f"a whatsapp system notice ({wamid}), not a customer's message")]
    user_id = optional_text(message.get("from_user_id"))
    sender = optional_text(message.get("from")) or user_id
    if sender is None:
        return [Ignored(f"whatsapp message {wamid} names no sender", problem=True)]
    name = names.get(sender) or (names.get(user_id) if user_id else None)
    meta = dict(common)
    if user_id is not None and user_id != sender:
        meta["whatsapp_user_id"] = user_id
    media = message.get(kind) if kind in _MEDIA else None
    if isinstance(media, Mapping):
        meta["media"] = {
            "type": kind,
            **{key: text for key in ("id", "mime_type") if (text := optional_text(media.get(key)))},
        }
    answered = optional_text(field(message, "context", "id"))
    return [
        Inbound(
            channel=Channel.WHATSAPP,
            external_id=wamid,
            sender=IdentityRef(IdentityKind.WHATSAPP, sender, name),
            text=_text_of(kind, message),
            occurred_at=epoch_time(message.get("timestamp"), milliseconds=False),
            thread_key=f"whatsapp:{wamid}",
            references=(f"whatsapp:{answered}",) if answered else (),
            meta=meta,
        )
    ]


def _raw(value: object) -> str:
    """A text field as written (a message keeps its spacing and new lines)."""
    return value if isinstance(value, str) else ""


def _text_of(kind: str, message: JsonObject) -> str:
    """What the agent reads: the words, or a readable stand-in for what was sent."""
    if kind == "text":
        return _raw(field(message, "text", "body"))
    if kind in _MEDIA:
        return _media_text(kind, message.get(kind))
    if kind == "location":
        return _location_text(message.get("location"))
    if kind == "contacts":
        cards = [_contact_text(card) for card in json_array(message.get("contacts"), "contacts")]
        return "\n".join(cards) or "[contact]"
    if kind == "interactive":
        reply = field(message, "interactive", "button_reply") or field(
            message, "interactive", "list_reply"
        )
        return optional_text(field(reply, "title")) or "[a form was answered]"
    if kind == "button":  # a quick-reply button of one of our templates
        return _raw(field(message, "button", "text")) or "[a button was pressed]"
    if kind == "order":
        return _joined("\n", "[order]", _raw(field(message, "order", "text")))
    return f"[{kind} message]"


def _joined(separator: str, *parts: str | None) -> str:
    return separator.join(part for part in parts if part)


def _media_text(kind: str, media: object) -> str:
    label = f"[{kind}]"
    if kind == "audio" and field(media, "voice") is True:
        label = "[voice message]"
    filename = optional_text(field(media, "filename"))
    if kind == "document" and filename is not None:
        label = f"[document: {filename}]"
    caption = _raw(field(media, "caption"))
    return f"{label}\n{caption}" if caption.strip() else label


def _location_text(location: object) -> str:
    place = _joined(
        ", ", optional_text(field(location, "name")), optional_text(field(location, "address"))
    )
    latitude = optional_text(field(location, "latitude"))
    longitude = optional_text(field(location, "longitude"))
    point = f"({latitude}, {longitude})" if latitude and longitude else ""
    details = _joined(" ", place, point)
    return f"[location: {details}]" if details else "[location]"


def _contact_text(card: object) -> str:
    name = optional_text(field(card, "name", "formatted_name"))
    phones = json_array(field(card, "phones"), "contact.phones")
    details = _joined(" ", name, *(optional_text(field(phone, "phone")) for phone in phones))
    return f"[contact: {details}]" if details else "[contact]"


def _status(value: object) -> list[Item]:
    """What became of a message we sent. `delivered` may never come (a message read at
    once goes straight to `read`); the outbox only ever moves a delivery up."""
    status = json_object(value, "status")
    wamid = required_text(status.get("id"), "status.id")
    word = optional_text(status.get("status")) or "unknown"
    delivery = _STATUSES.get(word)
    if delivery is None:
        return [Ignored(f"whatsapp status {word!r} for {wamid} says nothing new")]
    error = _error_text(status.get("errors")) if delivery is Delivery.FAILED else None
    return [DeliveryReport(Channel.WHATSAPP, wamid, delivery, error)]


def _error_text(value: object) -> str:
    """`WhatsApp reported the message failed (error 131047: Re-engagement message: ...)`."""
    errors = value if isinstance(value, list) else []
    first = errors[0] if errors else None
    code = optional_text(field(first, "code"))
    said = _joined(
        ": ",
        f"error {code}" if code else None,
        optional_text(field(first, "title")),
        optional_text(field(first, "error_data", "details")),
    )
    return "WhatsApp reported the message failed" + (f" ({said})" if said else "")
