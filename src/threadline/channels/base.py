"""What every adapter hands to the core, and the one-method seam for sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from threadline.vocabulary import Channel, Delivery, IdentityKind, TouchKind


@dataclass(frozen=True)
class IdentityRef:
    kind: IdentityKind
    value: str
    name: str | None = None


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    content_type: str
    content: bytes
    inline: bool = False


@dataclass(frozen=True)
class CallFigures:
    ring_seconds: int | None = None
    wait_seconds: int | None = None
    hold_seconds: int | None = None
    talk_seconds: int | None = None


@dataclass(frozen=True)
class Inbound:
    """One contact from a customer, normalised by its adapter.

    `thread_key` is this contact's own outside reference (an email Message-ID, a call
    sid), `more_thread_keys` further keys that later contact may name (an Outlook
    conversation); `references` are keys it answers (In-Reply-To, References). `case_ref`
    is a case ref the customer or an integration quoted, such as `TL-1042`. `team_id` is
    the team a new case goes to (the mailbox's or number's team)."""

    channel: Channel
    external_id: str
    sender: IdentityRef
    text: str
    kind: TouchKind = TouchKind.MESSAGE
    subject: str | None = None
    html: str | None = None
    public: bool = False
    occurred_at: datetime | None = None
    case_ref: str | None = None
    thread_key: str | None = None
    more_thread_keys: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    team_id: int | None = None
    topic: str | None = None
    attachments: tuple[IncomingFile, ...] = ()
    call: CallFigures | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outbound:
    """A message for an adapter to send, built by the worker from an outbox row."""

    outbox_id: int
    touch_id: int
    channel: Channel
    to: IdentityRef
    text: str
    subject: str | None = None
    public: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    status: Delivery
    external_id: str | None = None
    error: str | None = None
    # A failure worth trying again (provider down, rate limited) rather than final.
    retry: bool = False


class Sender(Protocol):
    def send(self, outbound: Outbound) -> DeliveryResult: ...
