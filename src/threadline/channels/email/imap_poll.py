"""Polling an existing mailbox over IMAP. Each message is stored, then its UID is
recorded as the mailbox's position, then it is processed; so a crash reads at most one
message again and never skips one. Messages are fetched with BODY.PEEK[] and flagged
\\Seen only after they are stored, so a person reading the same mailbox sees which mail
the desk has taken."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imapclient import SEEN, IMAPClient

from threadline.actions.mailboxes import ImapUrl, parse_imap_url, record_imap_position
from threadline.channels.email import intake
from threadline.errors import NotFound
from threadline.models import Mailbox
from threadline.queries.mail import known_message_ids
from threadline.runtime import Runtime

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 60.0
# RFC 2177: a server may end an IDLE after 30 minutes; renew well before (each renewal
# is also a poll, a safety net for a notification that went astray).
IDLE_RENEW_SECONDS = 10 * 60.0
# How long one wait inside IDLE lasts: how quickly idle_loop notices it should stop.
IDLE_CHECK_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
_HEADER_BATCH = 200
_MESSAGE_ID_ITEM = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


@dataclass(frozen=True)
class _Target:
    mailbox_id: int
    address: str
    url: ImapUrl
    uidvalidity: int | None
    last_uid: int


def _target(runtime: Runtime, mailbox_id: int) -> _Target | None:
    """What to poll and where the last poll stopped; None when the mailbox is not polled
    (inactive, or no IMAP URL)."""
    with runtime.db.reading() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        if mailbox is None:
            raise NotFound(f"mailbox {mailbox_id} does not exist")
        if not mailbox.active or not mailbox.imap_url:
            return None
        return _Target(
            mailbox_id=mailbox.id,
            address=mailbox.address,
            url=parse_imap_url(mailbox.imap_url),
            uidvalidity=mailbox.imap_uidvalidity,
            last_uid=mailbox.imap_last_uid,
        )


def connect(url: ImapUrl) -> IMAPClient:
    """A logged-in client (not yet in a folder)."""
    client = IMAPClient(url.host, port=url.port, ssl=url.tls, timeout=TIMEOUT_SECONDS)
    try:
        client.login(url.user, url.password)
    except BaseException:
        client.shutdown()
        raise
    return client


def _record(
    runtime: Runtime,
    mailbox_id: int,
    *,
    uidvalidity: int | None,
    last_uid: int,
    error: str | None = None,
) -> None:
    with runtime.db.session() as db:
        record_imap_position(
            db, runtime.env, mailbox_id, uidvalidity=uidvalidity, last_uid=last_uid, error=error
        )


def _record_error(runtime: Runtime, mailbox_id: int, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    log.warning("polling mailbox %s failed: %s", mailbox_id, reason)
    try:
        _record(runtime, mailbox_id, uidvalidity=None, last_uid=0, error=reason)
    except Exception:
        log.exception("mailbox %s: could not record the poll error", mailbox_id)


def _already_stored(
    runtime: Runtime, client: IMAPClient, mailbox_id: int, uids: Sequence[int]
) -> set[int]:
    """The UIDs whose Message-ID this mailbox has stored already. Asked only after the
    folder's UIDVALIDITY changed, when every UID must be read again."""
    ids: dict[int, str] = {}
    for start in range(0, len(uids), _HEADER_BATCH):
        fetched: dict[int, dict[bytes, Any]] = client.fetch(
            uids[start : start + _HEADER_BATCH], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
        )
        for uid, data in fetched.items():
            message_id = intake.message_id_of(bytes(data.get(_MESSAGE_ID_ITEM) or b""))
            if message_id is not None:
                ids[int(uid)] = message_id
    with runtime.db.reading() as db:
        known = known_message_ids(db, mailbox_id, ids.values())
    return {uid for uid, message_id in ids.items() if message_id in known}


def _store(runtime: Runtime, client: IMAPClient, target: _Target, uid: int) -> int | None:
    fetched = client.fetch([uid], ["BODY.PEEK[]"])
    raw = fetched.get(uid, {}).get(b"BODY[]")
    if raw is None:
        return None  # expunged between the search and the fetch
    raw = bytes(raw)
    # IMAP has no envelope: the sender is what the message's headers say.
    return intake.store(
        runtime,
        raw,
        source="imap",
        mail_from=intake.sender_of(raw),
        rcpt_to=[target.address],
        mailbox_id=target.mailbox_id,
    )


def _poll(runtime: Runtime, client: IMAPClient, target: _Target) -> int:
    """Read the new messages of the folder through a logged-in client; answer how many
    were stored."""
    info = client.select_folder(target.url.folder)
    uidvalidity = int(info[b"UIDVALIDITY"])
    last_uid = target.last_uid
    resync = target.uidvalidity is not None and target.uidvalidity != uidvalidity
    if resync:
        # The server renumbered the folder (it was rebuilt or restored): every UID is
        # new, so all of it is read again. Messages whose Message-ID this mailbox stored
        # already are skipped here; those without one are stored again, and processing
        # de-duplicates them (receive() by external id, here the content's digest).
        log.warning(
            "mailbox %s: UIDVALIDITY %s -> %s, reading the folder again",
            target.mailbox_id,
            target.uidvalidity,
            uidvalidity,
        )
        last_uid = 0
    elif target.uidvalidity is None:
        last_uid = 0
    uid_next = info.get(b"UIDNEXT")
    if uid_next is not None and int(uid_next) <= last_uid + 1:
        uids: list[int] = []
    else:
        # `N:*` always matches the highest UID, even below N: keep only the new ones.
        uids = sorted(int(uid) for uid in client.search(["UID", f"{last_uid + 1}:*"]))
        uids = [uid for uid in uids if uid > last_uid]
    skip = _already_stored(runtime, client, target.mailbox_id, uids) if resync and uids else set()
    stored: list[int] = []
    try:
        for uid in uids:
            mail_id = None if uid in skip else _store(runtime, client, target, uid)
            if mail_id is not None:
                stored.append(uid)
                _record(runtime, target.mailbox_id, uidvalidity=uidvalidity, last_uid=uid)
                intake.process(runtime, mail_id)
            last_uid = uid
        # Every UID below the UIDNEXT of the SELECT was covered by the search (a message
        # that arrived later has a higher one): move past them all, skipped and expunged
        # ones included, so that UIDNEXT tells the next check whether anything is new.
        # A poll that found nothing still records when it last succeeded.
        if uid_next is not None:
            last_uid = max(last_uid, int(uid_next) - 1)
        _record(runtime, target.mailbox_id, uidvalidity=uidvalidity, last_uid=last_uid)
    finally:
        if stored:
            try:
                client.add_flags(stored, [SEEN])
            except Exception:
                # Only a mark for people reading the same mailbox; the position is kept.
                log.warning("mailbox %s: could not flag %s \\Seen", target.mailbox_id, stored)
    return len(stored)


def poll_mailbox(runtime: Runtime, mailbox_id: int) -> int:
    """Read a mailbox's new messages once; answer how many were stored. A mailbox that
    is inactive or has no IMAP URL reads nothing. A failure to reach or read the server
    is recorded on the mailbox (`imap_error`) and raised."""
    target = _target(runtime, mailbox_id)
    if target is None:
        return 0
    try:
        with connect(target.url) as client:
            return _poll(runtime, client, target)
    except Exception as exc:
        _record_error(runtime, mailbox_id, exc)
        raise


def _idle(client: IMAPClient, stop: threading.Event, target: _Target) -> None:
    """Wait in IDLE until the server reports a change, the IDLE is due for renewal, or
    `stop` is set; return at once if mail arrived since the poll."""
    # The server announces new mail once, in whatever reply comes next; one that came
    # during the poll (with the \Seen flagging, say) was swallowed there and IDLE would
    # not repeat it. Selecting again gives a fresh view to compare with.
    info = client.select_folder(target.url.folder)
    uid_next = info.get(b"UIDNEXT")
    if (
        int(info[b"UIDVALIDITY"]) != target.uidvalidity
        or uid_next is None
        or int(uid_next) > target.last_uid + 1
    ):
        return
    client.idle()
    started = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() - started < IDLE_RENEW_SECONDS:
            if client.idle_check(timeout=IDLE_CHECK_SECONDS):
                return
    finally:
        client.idle_done()


def idle_loop(
    runtime: Runtime,
    mailbox_id: int,
    stop: threading.Event,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Keep a mailbox read until `stop` is set: one connection, a poll, then IDLE where
    the server offers it (else a pause of `poll_seconds`), and again. On errors the
    connection is made anew after a pause that doubles up to five minutes. Returns when
    stopped, or when the mailbox is no longer polled."""
    backoff = 1.0
    while not stop.is_set():
        try:
            target = _target(runtime, mailbox_id)
            if target is None:
                log.info("mailbox %s is not polled any more", mailbox_id)
                return
            with connect(target.url) as client:
                idle = client.has_capability("IDLE")
                while not stop.is_set():
                    _poll(runtime, client, target)
                    backoff = 1.0
                    refreshed = _target(runtime, mailbox_id)
                    if refreshed is None or refreshed.url != target.url:
                        break  # deactivated or moved: start again from the top
                    target = refreshed
                    if idle:
                        _idle(client, stop, target)
                    else:
                        stop.wait(poll_seconds)
        except NotFound:
            log.info("mailbox %s is gone", mailbox_id)
            return
        except Exception as exc:
            _record_error(runtime, mailbox_id, exc)
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
