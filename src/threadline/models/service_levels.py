"""Service levels as stored: business calendars, the policies that set targets, and the
clocks that run on cases against those targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.models.base import Base, BigId, UTCDateTime, str_enum
from threadline.vocabulary import Channel, ClockKind, Priority


class Calendar(Base):
    """When the business counts time: a zone, weekly opening hours, the public holidays
    of a country and its own closures (see service_levels.calendars)."""

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "17:30"]], ...}; a day left out is closed.
    hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    holidays_country: Mapped[str | None] = mapped_column(String(16), default=None)
    closures: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServicePolicy(Base):
    """Targets in seconds per clock kind for the cases it matches. Channel, segment and
    priority left empty match anything; the most specific matching policy wins."""

    __tablename__ = "service_policies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[Channel | None] = mapped_column(str_enum(Channel), default=None)
    segment: Mapped[str | None] = mapped_column(String(100), default=None)
    priority: Mapped[Priority | None] = mapped_column(str_enum(Priority), default=None)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id"), default=None)
    # {"first_reply": 14400, ...}
    targets: Mapped[dict[str, int]] = mapped_column(JSON)
    warn_at: Mapped[float] = mapped_column(Float, default=0.8)
    # What a breach sets off, e.g. {"notify": ["owner", "supervisors"],
    # "raise_priority": true, "reassign_offline_owner": true}.
    escalation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Clock(Base):
    """One promise on one case: a `kind` clock started by a contact on `channel`.

    While it runs, `due_at` is when it breaches and `warns_at` when it warns, both in
    UTC; `consumed_seconds` is the (business) time it used before its current run, so a
    pause keeps what was used and a resume continues from there. `next_check_at` is the
    next moment the sweep has anything to do for it (its warning, then its breach) and is
    empty once there is nothing left: the sweep reads the partial index on it and so
    touches only the clocks that are due, however many cases are open."""

    __tablename__ = "clocks"
    __table_args__ = (
        Index(None, "case_id", "kind"),
        Index(
            "ix_clocks_next_check_at",
            "next_check_at",
            sqlite_where=text("next_check_at IS NOT NULL"),
            postgresql_where=text("next_check_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[ClockKind] = mapped_column(str_enum(ClockKind))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("service_policies.id"), default=None)
    # The calendar's name as it was when the clock started (None: elapsed time, 24/7).
    calendar: Mapped[str | None] = mapped_column(String(80), default=None)
    target_seconds: Mapped[int] = mapped_column(Integer)
    warn_share: Mapped[float] = mapped_column(Float, default=0.8)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    consumed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    warns_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
