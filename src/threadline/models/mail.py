"""Mail that reaches Threadline: the support addresses it accepts mail for, and every
message as it arrived, stored before anything else is done with it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.models.base import Base, BigId, UTCDateTime, str_enum
from threadline.vocabulary import MailState


class Mailbox(Base):
    """A support address. Mail to it over SMTP is accepted and lands with its team; with
    an IMAP URL the mailbox is polled too, remembering where it stopped (UIDVALIDITY and
    the last UID read), so that no message is read twice or skipped across restarts."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), default=None)
    imap_url: Mapped[str | None] = mapped_column(Text, default=None)
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    imap_last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    imap_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    imap_error: Mapped[str | None] = mapped_column(Text, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundMail(Base):
    """One message as it arrived, raw bytes under DATA_DIR (by SHA-256). The listener
    answers 250 only once this row is committed; processing it into a touch comes after,
    and a message whose processing failed stays here, with the reason, to be retried."""

    __tablename__ = "inbound_mail"
    __table_args__ = (Index(None, "state", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"), default=None)
    source: Mapped[str] = mapped_column(String(16))  # "smtp" or "imap"
    mail_from: Mapped[str] = mapped_column(String(320), default="")  # the envelope sender
    rcpt_to: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(998), default=None)
    state: Mapped[MailState] = mapped_column(str_enum(MailState), default=MailState.STORED)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    touch_id: Mapped[int | None] = mapped_column(ForeignKey("touches.id"), default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Lease(Base):
    """A named job that one process at a time may run (a service-level sweep, a
    mailbox's poll): held by `holder` until `until`, then free for another."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
