"""Phone calls and text-message consent: the state of a call while its provider's webhooks
arrive, each of those webhooks once, the call-backs owed to customers, and the numbers
that asked for no more texts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.models.base import Base, BigId, UTCDateTime, str_enum
from threadline.vocabulary import CallStatus, Direction


class Call(Base):
    """One phone call, inbound or outbound, as its lifecycle unfolds. Its touch on the
    case carries the figures (ring, wait, hold, talk seconds) once they are known; this
    row carries what is needed to work them out from events that may arrive out of
    order: the moments, the running hold, the recording's paused spans."""

    __tablename__ = "calls"
    __table_args__ = (Index(None, "status", "queue"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    touch_id: Mapped[int] = mapped_column(ForeignKey("touches.id"), unique=True)
    direction: Mapped[Direction] = mapped_column(str_enum(Direction))
    customer_number: Mapped[str | None] = mapped_column(String(40), default=None)
    our_number: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus))
    # The provider queue it waits in: `agent-<id>` for its routed agent, else `team-<id>`
    # or `support`.
    queue: Mapped[str | None] = mapped_column(String(64), default=None)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    wait_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    hold_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    hold_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    holds: Mapped[int] = mapped_column(Integer, default=0)
    longest_hold_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    voicemail: Mapped[bool] = mapped_column(Boolean, default=False)
    recording_url: Mapped[str | None] = mapped_column(String(500), default=None)
    transcription: Mapped[str | None] = mapped_column(Text, default=None)
    recording_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # [[paused_at, resumed_at], ...] in RFC 3339: the spans not recorded (card details).
    recording_pauses: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    # Seconds waited in queues the caller was moved out of (their own agent's, after
    # waiting too long there): the wait figure is this plus the last queue's time.
    earlier_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallEvent(Base):
    """Each provider request about a call, once: `key` is a digest of what the provider
    sent, so a replayed or retried webhook is recognised and changes nothing."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CallBack(Base):
    """A call owed to a customer: they hung up waiting, left a voicemail, or an agent
    promised one. Done when a call to them is placed for it."""

    __tablename__ = "call_backs"
    __table_args__ = (Index(None, "agent_id", "done_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)
    number: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    done_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), default=None)


class SmsConsent(Base):
    """A phone number that sent STOP gets no text until it sends START again; the keyword
    and its time are kept so an agent can be told why."""

    __tablename__ = "sms_consents"

    number: Mapped[str] = mapped_column(String(40), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    keyword: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    touch_id: Mapped[int | None] = mapped_column(ForeignKey("touches.id"), default=None)
