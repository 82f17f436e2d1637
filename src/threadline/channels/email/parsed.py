"""What the email parser hands back: plain frozen values, no email.message objects, so
that the intake and the actions never touch the MIME tree themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class MailKind(StrEnum):
    """What a mail is, for deciding whether it may open a case or be acknowledged."""

    PERSON = "person"
    AUTO_REPLY = "auto_reply"
    BULK = "bulk"
    BOUNCE = "bounce"
    RECEIPT = "receipt"


@dataclass(frozen=True)
class Address:
    """One mailbox. `address` is lower-cased and never empty."""

    address: str
    name: str | None = None


@dataclass(frozen=True)
class MailFile:
    """An attachment or an inline image. `filename` is never empty and has no path."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None


@dataclass(frozen=True)
class Bounce:
    """What a delivery status notification (RFC 3464) says about one recipient."""

    permanent: bool
    final_recipient: str | None
    action: str | None
    status: str | None
    diagnostic: str | None
    original_message_id: str | None


@dataclass(frozen=True)
class ParsedMail:
    """One mail as the core needs it. `text` is what the person newly wrote; `quoted`
    is the history and signature cut off it, so that nothing is lost."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    thread_index_root: str | None
    subject: str
    sender: Address | None
    reply_to: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    text: str
    quoted: str
    html: str | None
    attachments: tuple[MailFile, ...]
    kind: MailKind
    kind_reason: str | None
    suppress_auto_response: bool
    bounce: Bounce | None
    forwarded_from: Address | None
    marker: str | None
    # The Message-ID a read receipt (RFC 8098) confirms, when it names one.
    receipt_for: str | None = None
    # Whether the parser had to guess at a broken structure (missing boundary, a part it
    # could not decode): the text may be incomplete, so an agent should see the original.
    damaged: bool = False
