"""What an email reply needs to thread, fixed when the reply is queued: our Message-ID
(kept as a thread key at once, so that the customer's answer finds the case even before
the worker has sent the reply), the mail it answers and the address it comes from.
Shared by reply(); not a public action itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from threadline.actions.base import Unit
from threadline.channels.email.outgoing import (
    angled_id,
    bare_id,
    email_thread_key,
    new_message_id,
)
from threadline.models import ThreadKey, Touch
from threadline.vocabulary import Channel, Direction

# How many recent email touches are read to find the one being answered.
_LOOK_BACK = 20


@dataclass(frozen=True)
class EmailThreading:
    message_id: str  # ours, <hex@MAIL_DOMAIN>
    in_reply_to: str | None  # the mail answered, <id>
    references: tuple[str, ...]  # that mail's own References, <id> each
    from_address: str | None  # the support address the customer wrote to

    def payload(self) -> dict[str, Any]:
        """The outbox payload's email fields (channels/email/outgoing.py reads them)."""
        fields: dict[str, Any] = {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
        }
        if self.from_address:
            fields["from"] = self.from_address
        return fields

    def touch_meta(self) -> dict[str, Any]:
        """The reply touch's meta, in the shape of an inbound mail's, so that a later
        reply on a case with no mail from the customer threads onto ours."""
        chain = [*self.references, *([self.in_reply_to] if self.in_reply_to else [])]
        meta: dict[str, Any] = {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(dict.fromkeys(chain)),
        }
        if self.from_address:
            meta["mailbox"] = self.from_address
        return meta


def _ids(value: object) -> tuple[str, ...]:
    """Message-IDs from meta: a list of ids, or of strings of ids separated by spaces
    (as a References header writes them)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return ()
    words = [word for item in items if isinstance(item, str) for word in item.split()]
    return tuple(dict.fromkeys(angled_id(word) for word in words if bare_id(word)))


def _address(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "@" not in text or any(c.isspace() or c in '<>",' for c in text) or len(text) > 320:
        return None
    return text


def email_threading(unit: Unit, case_id: int) -> EmailThreading:
    """Our new Message-ID, and the threading of the mail this reply answers: the
    customer's latest mail on the case with a Message-ID, else our own latest mail on
    it, else none (the case began on another channel)."""
    rows = unit.db.execute(
        select(Touch.direction, Touch.meta)
        .where(
            Touch.case_id == case_id,
            Touch.channel == Channel.EMAIL,
            Touch.direction.in_((Direction.IN, Direction.OUT)),
        )
        .order_by(Touch.occurred_at.desc(), Touch.id.desc())
        .limit(_LOOK_BACK)
    ).all()
    parent: dict[str, Any] | None = None
    for wanted in (Direction.IN, Direction.OUT):
        parent = next(
            (
                meta
                for direction, meta in rows
                if direction is wanted
                and isinstance(meta, dict)
                and isinstance(meta.get("message_id"), str)
                and bare_id(meta["message_id"])
            ),
            None,
        )
        if parent is not None:
            break
    mail_domain = unit.env.settings.mail_domain
    if parent is None:
        return EmailThreading(new_message_id(mail_domain), None, (), None)
    parent_id = angled_id(parent["message_id"])
    references = tuple(r for r in _ids(parent.get("references")) if r != parent_id)
    return EmailThreading(
        message_id=new_message_id(mail_domain),
        in_reply_to=parent_id,
        references=references,
        from_address=_address(parent.get("mailbox")),
    )


def keep_thread_key(unit: Unit, case_id: int, touch_id: int, message_id: str) -> None:
    """`email:<id without brackets>`, the key receive() looks a mail's In-Reply-To and
    References up by."""
    unit.conn.execute(
        insert(ThreadKey).values(
            key=email_thread_key(message_id),
            case_id=case_id,
            touch_id=touch_id,
            created_at=unit.now,
        )
    )
