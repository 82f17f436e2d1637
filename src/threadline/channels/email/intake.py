"""Mail in, whichever way it came (SMTP or IMAP): keep it first, durably, then process
it. Processing may fail (a bug, a message no parser expected, the database briefly
away); the message is already kept, the failure is recorded with its reason, and
`retry_stored` tries again later. Nothing here ever loses a message that was stored."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr

from threadline.actions.inbound_mail import MailOutcome, process_mail
from threadline.actions.mailboxes import record_mail_failure, store_mail
from threadline.channels.email.headers import normalise_message_id
from threadline.queries.mail import mail_to_retry
from threadline.runtime import Runtime

log = logging.getLogger(__name__)

# After this many failed attempts a message stays failed until someone looks at it.
MAX_ATTEMPTS = 5
# A message stored this recently is probably being processed by the process that stored
# it; the retry leaves it alone until then.
RETRY_GRACE = timedelta(seconds=60)
# Where the headers are looked for when a message has no blank line after them.
_HEADER_SCAN = 256 * 1024


def _headers(raw: bytes) -> Message | None:
    """The header block alone, parsed; None when it cannot be."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw[: end if end >= 0 else _HEADER_SCAN]
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(head)
    except Exception:  # a header block can be anything; these reads are conveniences
        return None


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID header without its angle brackets (`id@host`, as thread keys
    hold it), read from the header block only (the body, maybe megabytes, is not
    parsed); None when there is none or it is unreadable."""
    headers = _headers(raw)
    value = headers.get("Message-ID") if headers is not None else None
    if value is None:
        return None
    return normalise_message_id(str(value))


def sender_of(raw: bytes) -> str:
    """The envelope sender of a message that came without an envelope (over IMAP): its
    Return-Path, which the delivering server wrote (`<>` for a bounce), else the From
    address; "" when it has neither."""
    headers = _headers(raw)
    if headers is None:
        return ""
    return_path = headers.get("Return-Path")
    if return_path is not None:
        text = "".join(str(return_path).split())
        found = re.search(r"<([^<>]*)>", text)
        address = found.group(1) if found else text
        return address or "<>"
    sender = headers.get("From")
    return parseaddr(str(sender))[1] if sender is not None else ""


def store(
    runtime: Runtime,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    rcpt_to: list[str],
    mailbox_id: int | None,
    message_id: str | None = None,
) -> int:
    """Keep the message (bytes on disk, row committed) and answer its id. Raises when it
    could not be kept: the caller must then not acknowledge it."""
    if message_id is None:
        message_id = message_id_of(raw)
    with runtime.db.session() as db:
        return store_mail(
            db,
            runtime.env,
            raw,
            source=source,
            mail_from=mail_from,
            rcpt_to=rcpt_to,
            mailbox_id=mailbox_id,
            message_id=message_id,
        )


def process(runtime: Runtime, mail_id: int) -> MailOutcome | None:
    """Process one stored message in a session of its own. Never raises: a failure is
    logged with the message's id and reason and recorded on the message."""
    try:
        with runtime.db.session() as db:
            outcome = process_mail(db, runtime.env, mail_id)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        log.warning("inbound mail %s kept, not processed: %s", mail_id, reason, exc_info=True)
        try:
            with runtime.db.session() as db:
                record_mail_failure(db, runtime.env, mail_id, reason=reason)
        except Exception:
            log.exception("inbound mail %s: could not record the failure", mail_id)
        return None
    log.info("inbound mail %s %s", mail_id, outcome.state.value)
    return outcome


def accept(
    runtime: Runtime,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    rcpt_to: list[str],
    mailbox_id: int | None,
    message_id: str | None = None,
) -> int:
    """Store a message, then process it; answer its id. Only storing can raise."""
    mail_id = store(
        runtime,
        raw,
        source=source,
        mail_from=mail_from,
        rcpt_to=rcpt_to,
        mailbox_id=mailbox_id,
        message_id=message_id,
    )
    process(runtime, mail_id)
    return mail_id


def retry_stored(runtime: Runtime, limit: int = 100) -> int:
    """Process again up to `limit` messages left stored (their process stopped before
    processing them) or failed with attempts left; answer how many were tried."""
    stored_before = runtime.env.clock.now() - RETRY_GRACE
    with runtime.db.reading() as db:
        ids = mail_to_retry(db, max_attempts=MAX_ATTEMPTS, stored_before=stored_before, limit=limit)
    for mail_id in ids:
        process(runtime, mail_id)
    return len(ids)
