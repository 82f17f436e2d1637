"""Reads the mail transport needs: which support address a recipient means, which
mailboxes are polled, and which stored mail is waiting to be processed."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.models import InboundMail, Mailbox
from threadline.vocabulary import MailState


def base_address(address: str) -> str:
    """`Support+TL-1042@Shop.example` -> `support@shop.example`: the address a
    plus-addressed recipient is delivered to, lower-cased as mailboxes are stored."""
    text = unicodedata.normalize("NFC", address.strip()).lower()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    return f"{local.split('+', 1)[0]}@{domain}"


def mailbox_for_address(session: Session, address: str) -> Mailbox | None:
    """The active mailbox that mail to `address` belongs to, matched without regard to
    case and with any `+tag` ignored; None when it is none of ours."""
    text = unicodedata.normalize("NFC", address.strip()).lower()
    # Whatever a client sent: no stored address has control characters or undecodable
    # bytes (lone surrogates) in it, and PostgreSQL would refuse a NUL in the query.
    if not text or len(text) > 320 or not text.isprintable():
        return None
    candidates = list(dict.fromkeys((text, base_address(text))))
    found = session.scalars(
        select(Mailbox).where(Mailbox.address.in_(candidates), Mailbox.active.is_(True))
    ).all()
    by_address = {mailbox.address: mailbox for mailbox in found}
    # A mailbox configured with the plus in its address wins over the plain one.
    for candidate in candidates:
        if candidate in by_address:
            return by_address[candidate]
    return None


def polled_mailbox_ids(session: Session) -> list[int]:
    """Active mailboxes with an IMAP URL: the ones a worker polls."""
    return list(
        session.scalars(
            select(Mailbox.id)
            .where(Mailbox.active.is_(True), Mailbox.imap_url.is_not(None))
            .order_by(Mailbox.id)
        )
    )


def known_message_ids(session: Session, mailbox_id: int, message_ids: Iterable[str]) -> set[str]:
    """Those of `message_ids` already stored for this mailbox."""
    wanted = sorted(set(message_ids))
    known: set[str] = set()
    # In slices, so that a resync of a big mailbox stays within parameter limits.
    for start in range(0, len(wanted), 500):
        found = session.scalars(
            select(InboundMail.message_id).where(
                InboundMail.mailbox_id == mailbox_id,
                InboundMail.message_id.in_(wanted[start : start + 500]),
            )
        )
        known.update(value for value in found if value is not None)
    return known


def mail_to_retry(
    session: Session, *, max_attempts: int, stored_before: datetime, limit: int
) -> Sequence[int]:
    """Stored mail no one is processing (older than `stored_before`) and failed mail with
    attempts left, oldest first."""
    return session.scalars(
        select(InboundMail.id)
        .where(
            (
                (InboundMail.state == MailState.STORED)
                & (InboundMail.received_at < stored_before)
                & (InboundMail.attempts < max_attempts)
            )
            | ((InboundMail.state == MailState.FAILED) & (InboundMail.attempts < max_attempts))
        )
        .order_by(InboundMail.id)
        .limit(limit)
    ).all()
