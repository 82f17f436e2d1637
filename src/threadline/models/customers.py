"""Customers, the identities that reach them, their segments, and reversible merges."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.models.base import Base, BigId, UTCDateTime, str_enum
from threadline.vocabulary import IdentityKind, JourneyStage


class Segment(Base):
    __tablename__ = "segments"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    rank: Mapped[int] = mapped_column(default=0)  # higher is served first


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    segment_key: Mapped[str] = mapped_column(ForeignKey("segments.key"), default="standard")
    journey_stage: Mapped[JourneyStage] = mapped_column(
        str_enum(JourneyStage), default=JourneyStage.PROSPECT
    )
    lifetime_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0.00"))
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    identities: Mapped[list[Identity]] = relationship(
        back_populates="customer", order_by="Identity.id"
    )


class Identity(Base):
    """One way to reach a customer on a channel. `value` is the normalised form that the
    uniqueness rule applies to; `display` is what the customer gave us."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(str_enum(IdentityKind))
    value: Mapped[str] = mapped_column(String(320))
    display: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Merge(Base):
    """A record of one customer merged into another, with exactly what moved, so that
    undo can put every row back."""

    __tablename__ = "merges"
    __table_args__ = (Index(None, "merged_id"), Index(None, "survivor_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    moved: Mapped[dict[str, Any]] = mapped_column(JSON)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    undone_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
