"""Mail in, whichever way it came (SMTP or IMAP): keep it first, durably, then process
it. Processing may fail (a bug, a message no parser expected, the database briefly
away); the message is already kept, the failure is recorded with its reason, and
`retry_stored` tries again later. Nothing here ever loses a message that was stored."""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr

from threadline.actions.inbound_mail import MailOutcome, StoredMail, process_mail, process_mails
from threadline.actions.mailboxes import (
    KeptMail,
    keep_mail,
    record_mail_failure,
    store_mail,
    store_mails,
)
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
# A Processor takes at most this many messages at a time.
BATCH = 32
# Beyond this many messages waiting for a Processor, the next are queued without their
# bytes (read again from the file store when their turn comes): a backlog costs no memory
# to speak of.
QUEUED_WITH_BYTES = 500


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


def keep(
    runtime: Runtime,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    rcpt_to: list[str],
    mailbox_id: int | None,
    message_id: str | None = None,
) -> KeptMail:
    """The first half of storing: the bytes on disk, fsynced, and the envelope checked.
    No database; store_kept() writes the rows."""
    if message_id is None:
        message_id = message_id_of(raw)
    return keep_mail(
        runtime.env,
        raw,
        source=source,
        mail_from=mail_from,
        rcpt_to=rcpt_to,
        mailbox_id=mailbox_id,
        message_id=message_id,
    )


def store_kept(runtime: Runtime, mails: Sequence[KeptMail]) -> list[int]:
    """The second half: the rows of kept messages, committed together; answers their
    ids. Raises when they could not be stored: none of them may then be acknowledged."""
    with runtime.db.session() as db:
        return store_mails(db, runtime.env, mails)


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
    with runtime.db.session() as db:
        return store_mail(
            db,
            runtime.env,
            raw,
            source=source,
            mail_from=mail_from,
            rcpt_to=rcpt_to,
            mailbox_id=mailbox_id,
            message_id=message_id_of(raw) if message_id is None else message_id,
        )


def process(runtime: Runtime, mail_id: int) -> MailOutcome | None:
    """Process one stored message in a session of its own. Never raises: a failure is
    logged with the message's id and reason and recorded on the message."""
    try:
        with runtime.db.session() as db:
            outcome = process_mail(db, runtime.env, mail_id)
    except Exception as exc:
        _failed(runtime, mail_id, exc)
        return None
    log.info("inbound mail %s %s", mail_id, outcome.state.value)
    return outcome


def process_batch(runtime: Runtime, mails: Sequence[StoredMail]) -> list[MailOutcome | None]:
    """Process freshly stored messages together (see process_mails) in one session;
    answers each one's outcome, None for those that failed. Never raises: each failure
    is logged and recorded on its message, as process() does."""
    results: list[MailOutcome | Exception]
    try:
        with runtime.db.session() as db:
            results = process_mails(db, runtime.env, mails)
    except Exception as exc:
        results = [exc] * len(mails)
    outcomes: list[MailOutcome | None] = []
    for mail, result in zip(mails, results, strict=True):
        if isinstance(result, Exception):
            _failed(runtime, mail.id, result)
            outcomes.append(None)
        else:
            log.info("inbound mail %s %s", mail.id, result.state.value)
            outcomes.append(result)
    return outcomes


def _failed(runtime: Runtime, mail_id: int, exc: Exception) -> None:
    """Log a processing failure and record it on the message, which stays kept."""
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    log.warning("inbound mail %s kept, not processed: %s", mail_id, reason, exc_info=exc)
    try:
        with runtime.db.session() as db:
            record_mail_failure(db, runtime.env, mail_id, reason=reason)
    except Exception:
        log.exception("inbound mail %s: could not record the failure", mail_id)


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


class Processor:
    """Processes the stored messages handed to it, in threads of its own, a batch at a
    time: whatever queued up while the previous batch ran (process_batch). The queue is
    never the only copy of the work: every message on it is stored, and retry_stored()
    takes those still waiting when the process stopped."""

    def __init__(self, runtime: Runtime, *, threads: int = 1) -> None:
        self.runtime = runtime
        self._queue: queue.SimpleQueue[StoredMail | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"mail-process-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, mail: StoredMail) -> None:
        """Queue a stored message; once stopping, leave it to the retry."""
        if self._stopping.is_set():
            return
        if mail.raw is not None and self._queue.qsize() >= QUEUED_WITH_BYTES:
            mail = replace(mail, raw=None)
        self._queue.put(mail)

    def stop(self) -> None:
        """Finish the batches being processed, then stop; the rest waits for the retry."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)  # wakes a thread waiting for work
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # another thread's wake-up call
                    break
                batch.append(more)
            process_batch(self.runtime, batch)
