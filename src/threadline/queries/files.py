"""Files a caller may download: a touch's attachments and the raw message an email
touch was made from. Nothing here decides how they are sent (see api/routes/files.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import Attachment, InboundMail, Touch, format_ref
from threadline.queries.cases import customer_facing


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    filename: str
    content_type: str
    size: int


def _readable_touch(db: Session, touch_id: int, *, private: bool) -> Touch:
    """The touch, if the caller may read it; a hidden touch is answered as missing, so
    that its existence does not leak either."""
    query = select(Touch).where(Touch.id == touch_id)
    if not private:
        query = query.where(*customer_facing())
    touch = db.scalar(query)
    if touch is None:
        raise NotFound(f"touch {touch_id} does not exist")
    return touch


def attachment_file(db: Session, attachment_id: int, *, private: bool) -> StoredFile:
    attachment = db.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    try:
        _readable_touch(db, attachment.touch_id, private=private)
    except NotFound:
        raise NotFound(f"attachment {attachment_id} does not exist") from None
    return StoredFile(
        sha256=attachment.sha256,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
    )


def raw_message_file(db: Session, touch_id: int, *, private: bool) -> StoredFile:
    """The message as it arrived, for a touch made from an inbound mail."""
    touch = _readable_touch(db, touch_id, private=private)
    meta = touch.meta if isinstance(touch.meta, dict) else {}
    mail_id = meta.get("mail_id")
    mail = db.get(InboundMail, mail_id) if isinstance(mail_id, int) else None
    if mail is None:
        raise NotFound(f"touch {touch_id} has no stored message")
    return StoredFile(
        sha256=mail.sha256,
        filename=f"{format_ref(touch.case_id)}-{touch.id}.eml",
        content_type="message/rfc822",
        size=mail.size,
    )
