"""Cases and everything on them: touches, channel switches, thread keys, reply keys,
tags and attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from threadline.models.base import Base, BigId, UTCDateTime, str_enum
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    JourneyStage,
    Priority,
    SwitchReason,
    TouchKind,
)

REF_PREFIX = "TL-"
REF_OFFSET = 1000  # refs start at TL-1001: short, and never confusable with a small id


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index(None, "customer_id", "status"),
        Index(None, "owner_id", "status"),
        Index(None, "status", "updated_at"),
        # The inbox: one owner's cases, or the unowned ones, in (updated_at, id) order
        # read from an index instead of sorted per request (bench/api.py). SQLite uses
        # the first for both. PostgreSQL takes no order from an index after an
        # `owner_id IS NULL` condition, hence the second, of the unowned cases only.
        Index(None, "owner_id", "updated_at", "id"),
        Index(
            "ix_cases_unowned_updated_at_id",
            "updated_at",
            "id",
            sqlite_where=text("owner_id IS NULL"),
            postgresql_where=text("owner_id IS NULL"),
        ),
        # The inbox by due time (sort=due, sla=breached|due_soon), the same two ways.
        Index(None, "owner_id", "due_at", "id"),
        Index(
            "ix_cases_unowned_due_at_id",
            "due_at",
            "id",
            sqlite_where=text("owner_id IS NULL"),
            postgresql_where=text("owner_id IS NULL"),
        ),
        # The inbox's count of Breaching soon: unresolved cases past their warning time.
        Index(None, "status", "warns_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), default=None)
    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus), default=CaseStatus.NEW)
    priority: Mapped[Priority] = mapped_column(str_enum(Priority), default=Priority.NORMAL)
    topic: Mapped[str | None] = mapped_column(String(80), default=None)
    subject: Mapped[str] = mapped_column(String(300), default="")
    journey_stage: Mapped[JourneyStage | None] = mapped_column(str_enum(JourneyStage), default=None)
    satisfaction: Mapped[int | None] = mapped_column(Integer, default=None)
    previous_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), default=None)
    # Bumped by every change, so that two agents editing at once cannot overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The channel the customer is on now: that of the last customer-facing touch.
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel), default=None)
    # The earliest due time and warning time among the case's running clocks: the
    # customer's most urgent expectation, whatever channel it came from. Empty when no
    # clock runs.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    warns_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Skills the owner needs (e.g. "lang:fr", "product:wine"), matched against agents'.
    needs: Mapped[list[str]] = mapped_column(JSON, default=list)

    @property
    def ref(self) -> str:
        return format_ref(self.id)


def format_ref(case_id: int) -> str:
    return f"{REF_PREFIX}{case_id + REF_OFFSET}"


def parse_ref(ref: str) -> int | None:
    """The case id a ref such as `TL-1042` names, or None if it is not one of ours."""
    text = ref.strip().upper()
    if not text.startswith(REF_PREFIX):
        return None
    number = text[len(REF_PREFIX) :]
    if not number.isdigit() or int(number) <= REF_OFFSET:
        return None
    return int(number) - REF_OFFSET


class CaseTag(Base):
    __tablename__ = "case_tags"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Touch(Base):
    """One contact point on a case. `public` means visible to the world (a post), not
    merely to the customer; internal notes have direction `internal`."""

    __tablename__ = "touches"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index(None, "case_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    kind: Mapped[TouchKind] = mapped_column(str_enum(TouchKind))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text, default=None)
    subject: Mapped[str | None] = mapped_column(String(300), default=None)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id"), default=None, index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)
    external_id: Mapped[str | None] = mapped_column(String(250), default=None)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivery: Mapped[Delivery | None] = mapped_column(str_enum(Delivery), default=None)
    delivery_error: Mapped[str | None] = mapped_column(Text, default=None)
    call_ring_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    call_wait_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    call_hold_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    call_talk_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    outcome: Mapped[str | None] = mapped_column(String(200), default=None)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @property
    def customer_facing(self) -> bool:
        return self.direction is not Direction.INTERNAL and self.kind is not TouchKind.EVENT


class ChannelSwitch(Base):
    """Two consecutive customer-facing touches of one case on different channels (or a
    public post followed by a private message), with the reason for the move."""

    __tablename__ = "channel_switches"
    __table_args__ = (Index(None, "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    from_channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    to_channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    from_public: Mapped[bool] = mapped_column(Boolean, default=False)
    to_public: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[SwitchReason] = mapped_column(str_enum(SwitchReason))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_touch_id: Mapped[int | None] = mapped_column(ForeignKey("touches.id"), default=None)
    # Empty while an agent's announced move waits for the first touch on the new channel.
    to_touch_id: Mapped[int | None] = mapped_column(ForeignKey("touches.id"), default=None)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)


class ThreadKey(Base):
    """An outside reference that ties later contact to a case: an email Message-ID, a
    call or chat session id. Keys are namespaced, e.g. `email:<abc@example.com>`."""

    __tablename__ = "thread_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    touch_id: Mapped[int | None] = mapped_column(ForeignKey("touches.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReplyKey(Base):
    """An agent's Idempotency-Key and the reply it made: a client that got no answer
    sends the request again with the same key and gets that reply back, instead of the
    customer getting it twice. Keys belong to the agent, so two agents' clients may
    choose the same one; the unique index settles two copies of a request sent at once.
    `request_hash` tells a retry from another request reusing the key."""

    __tablename__ = "reply_keys"
    __table_args__ = (UniqueConstraint("agent_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    key: Mapped[str] = mapped_column(String(200))
    touch_id: Mapped[int] = mapped_column(ForeignKey("touches.id"))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Attachment(Base):
    """A file on a touch. The bytes live under DATA_DIR, addressed by their SHA-256, so
    the same file sent twice is stored once."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    touch_id: Mapped[int] = mapped_column(ForeignKey("touches.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
