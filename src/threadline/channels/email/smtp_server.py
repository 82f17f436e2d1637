"""The inbound SMTP listener (aiosmtpd). It accepts mail only for active support
addresses, answers 250 only once the message is stored and committed (451 otherwise, so
the sender keeps it and tries again), and processes the message after answering, so that
a slow or failing processing step never costs the sender's retry or the message."""

from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from threadline.actions.inbound_mail import StoredMail
from threadline.actions.mailboxes import KeptMail
from threadline.channels.email import intake
from threadline.models import Mailbox
from threadline.queries.mail import mailbox_for_address
from threadline.runtime import Runtime

log = logging.getLogger(__name__)

REFUSED = "550 5.1.1 mailbox unavailable"
NOT_STORED = "451 4.3.0 message not stored, please try again later"
TRY_LATER = "451 4.3.0 temporary failure, please try again later"
# Threads that write and fsync messages' files: syncs that run at once are flushed
# together by the file system, so eight cost little more than one.
STORE_THREADS = 8
# Threads that process stored messages. Processing is bound by the interpreter lock;
# a second thread measured no faster on SQLite or PostgreSQL (bench/email.py).
PROCESS_THREADS = 1
# How long the listener reuses what it read about a recipient address: a mailbox added
# or switched off is seen within this time. Mail comes in bursts to a few addresses,
# and each read is a database query in a thread, once per RCPT.
MAILBOX_TTL_SECONDS = 5.0
_MAILBOX_MEMORY = 1000  # addresses remembered at most; forgotten all at once beyond


def split_host_port(value: str) -> tuple[str, int]:
    """`127.0.0.1:2525` -> ("127.0.0.1", 2525); `[::1]:25` -> ("::1", 25)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class GroupCommit:
    """Stores the rows of messages whose DATA ended at about the same time in one
    transaction: while one commit runs, the messages that come in meanwhile wait and go
    into the next. Every sender still hears 250 only after the commit that holds its
    row. Runs on the listener's event loop; the commits run in `pool`."""

    def __init__(self, runtime: Runtime, pool: ThreadPoolExecutor) -> None:
        self.runtime = runtime
        self.pool = pool
        self._waiting: list[tuple[KeptMail, asyncio.Future[int]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def store(self, mail: KeptMail) -> int:
        """The id of the stored message, once committed; raises when it was not."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[int] = loop.create_future()
        self._waiting.append((mail, stored))
        if self._committing is None:
            self._committing = loop.create_task(self._commit_waiting())
        return await stored

    async def _commit_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[tuple[KeptMail, asyncio.Future[int]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                results: list[int | Exception]
                try:
                    results = await loop.run_in_executor(
                        self.pool, self._commit, [mail for mail, _ in batch]
                    )
                except RuntimeError as exc:  # the pool is shut down: the listener stops
                    results = [exc] * len(batch)
                for (_, stored), result in zip(batch, results, strict=True):
                    if stored.done():  # the session ended meanwhile: the sender retries
                        continue
                    if isinstance(result, Exception):
                        stored.set_exception(result)
                    else:
                        stored.set_result(result)
                batch = []
        finally:
            self._committing = None
            # Only when cancelled, as the listener stops: nobody is told 250.
            for _, stored in [*batch, *self._waiting]:
                stored.cancel()
            self._waiting = []

    def _commit(self, mails: list[KeptMail]) -> list[int | Exception]:
        """Each message's id, or why it could not be stored. Should the batch fail, each
        message is tried alone, so that one bad row costs no other sender its 250."""
        try:
            return list(intake.store_kept(self.runtime, mails))
        except Exception as exc:
            if len(mails) == 1:
                return [exc]
        results: list[int | Exception] = []
        for mail in mails:
            try:
                results.extend(intake.store_kept(self.runtime, [mail]))
            except Exception as exc:
                results.append(exc)
        return results


class MailHandler:
    """aiosmtpd's hooks. Database work and file writes run in threads so that the event
    loop, which serves every connection, never waits on them."""

    def __init__(
        self, runtime: Runtime, store_pool: ThreadPoolExecutor, processor: intake.Processor
    ) -> None:
        self.runtime = runtime
        self.store_pool = store_pool
        self.processor = processor
        self.commits = GroupCommit(runtime, store_pool)
        # The mailbox of each transaction's first accepted recipient, from its RCPT.
        self._mailboxes: WeakKeyDictionary[Envelope, Mailbox] = WeakKeyDictionary()
        # Recent lookups by address: (when to forget it, the mailbox or None). Used on
        # the event loop only, so it needs no lock.
        self._recent: dict[str, tuple[float, Mailbox | None]] = {}

    def _read_mailbox(self, address: str) -> Mailbox | None:
        with self.runtime.db.reading() as db:
            return mailbox_for_address(db, address)

    async def _mailbox(self, address: str) -> Mailbox | None:
        """The active mailbox mail to `address` belongs to (see MAILBOX_TTL_SECONDS)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        remembered = self._recent.get(address)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        mailbox = await loop.run_in_executor(self.store_pool, self._read_mailbox, address)
        if len(self._recent) >= _MAILBOX_MEMORY:
            self._recent.clear()
        self._recent[address] = (now + MAILBOX_TTL_SECONDS, mailbox)
        return mailbox

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            mailbox = await self._mailbox(address)
        except Exception:
            log.exception("RCPT %r from %s: mailbox lookup failed", address, session.peer)
            return TRY_LATER
        if mailbox is None:
            log.info("RCPT %r from %s refused: not an active mailbox", address, session.peer)
            return REFUSED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        # Mail to several of our addresses is one message; it belongs to the first.
        self._mailboxes.setdefault(envelope, mailbox)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None and isinstance(envelope.content, bytes):
            raw = envelope.content
        if raw is None:
            log.warning("DATA from %s had no content", session.peer)
            return "554 5.6.0 no message content"
        mailbox = self._mailboxes.get(envelope)
        loop = asyncio.get_running_loop()
        try:
            kept = await loop.run_in_executor(
                self.store_pool,
                partial(
                    intake.keep,
                    self.runtime,
                    raw,
                    source="smtp",
                    mail_from=envelope.mail_from or "",
                    rcpt_to=list(envelope.rcpt_tos),
                    mailbox_id=mailbox.id if mailbox is not None else None,
                ),
            )
            mail_id = await self.commits.store(kept)
        except Exception:
            log.exception(
                "message from %s (%s, %d bytes) not stored",
                session.peer,
                envelope.mail_from,
                len(raw),
            )
            return NOT_STORED
        self.processor.submit(
            StoredMail(
                id=mail_id,
                sha256=kept.sha256,
                mail_from=kept.mail_from,
                mailbox_address=mailbox.address if mailbox is not None else None,
                team_id=mailbox.team_id if mailbox is not None else None,
                raw=raw,  # still in memory: processing need not read the file again
            )
        )
        return f"250 2.0.0 OK stored as {mail_id}"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answer names the exception; the sender learns nothing useful
        # from our internals, and a temporary code makes it try again.
        log.error("SMTP session error", exc_info=error)
        return TRY_LATER


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Port 0 asks the system for a free port; connect to the one it gave.
        if self.port == 0 and isinstance(self.server, asyncio.Server) and self.server.sockets:
            self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _check_free(host: str, port: int) -> None:
    """Raise OSError at once if the address is taken: aiosmtpd would only say so after
    its start-up timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As asyncio's server does: a port in TIME_WAIT is free, one listened on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class SmtpListener:
    """The listener on THREADLINE_SMTP_LISTEN (`listen` overrides it), in a thread of
    its own: start() returns once it answers, stop() closes it and waits for the messages
    being processed."""

    def __init__(self, runtime: Runtime, *, listen: str | None = None) -> None:
        self.runtime = runtime
        self.host, self.port = split_host_port(listen or runtime.settings.smtp_listen)
        self._controller: _Controller | None = None
        self._workers: tuple[ThreadPoolExecutor, intake.Processor] | None = None

    def start(self) -> None:
        """Listen; raises OSError when the address cannot be had."""
        if self._controller is not None:
            raise RuntimeError("the SMTP listener is running already")
        if self.port:
            _check_free(self.host, self.port)
        store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="smtp-store")
        processor = intake.Processor(self.runtime, threads=PROCESS_THREADS)
        settings = self.runtime.settings
        options: dict[str, Any] = {
            "data_size_limit": settings.smtp_max_bytes,
            # Our own name in the greeting: looking up the machine's name can hang.
            "server_hostname": settings.mail_domain,
            "ident": "Threadline ESMTP",
        }
        controller = _Controller(
            MailHandler(self.runtime, store_pool, processor),
            hostname=self.host,
            port=self.port,
            **options,
        )
        processor.start()
        try:
            controller.start()
        except BaseException:
            store_pool.shutdown(wait=False)
            processor.stop()
            raise
        self.port = controller.port
        self._controller = controller
        self._workers = (store_pool, processor)
        log.info("SMTP listener on %s:%d", self.host, self.port)

    def stop(self) -> None:
        controller, workers = self._controller, self._workers
        self._controller = self._workers = None
        if controller is not None:
            controller.stop()
        if workers is not None:
            store_pool, processor = workers
            store_pool.shutdown(wait=True)
            # Messages not yet being processed are stored; the retry takes them.
            processor.stop()

    def __enter__(self) -> SmtpListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
