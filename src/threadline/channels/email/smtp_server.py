"""The inbound SMTP listener (aiosmtpd). It accepts mail only for active support
addresses, answers 250 only once the message is stored and committed (451 otherwise, so
the sender keeps it and tries again), and processes the message after answering, so that
a slow or failing processing step never costs the sender's retry or the message."""

from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from threadline.channels.email import intake
from threadline.queries.mail import mailbox_for_address
from threadline.runtime import Runtime

log = logging.getLogger(__name__)

REFUSED = "550 5.1.1 mailbox unavailable"
NOT_STORED = "451 4.3.0 message not stored, please try again later"
TRY_LATER = "451 4.3.0 temporary failure, please try again later"
STORE_THREADS = 8
PROCESS_THREADS = 2


def split_host_port(value: str) -> tuple[str, int]:
    """`127.0.0.1:2525` -> ("127.0.0.1", 2525); `[::1]:25` -> ("::1", 25)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class MailHandler:
    """aiosmtpd's hooks. Database work runs in threads so that the event loop, which
    serves every connection, never waits on it."""

    def __init__(
        self, runtime: Runtime, store_pool: ThreadPoolExecutor, process_pool: ThreadPoolExecutor
    ) -> None:
        self.runtime = runtime
        self.store_pool = store_pool
        self.process_pool = process_pool

    def _mailbox_id(self, address: str) -> int | None:
        with self.runtime.db.reading() as db:
            mailbox = mailbox_for_address(db, address)
            return mailbox.id if mailbox is not None else None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        loop = asyncio.get_running_loop()
        try:
            mailbox_id = await loop.run_in_executor(self.store_pool, self._mailbox_id, address)
        except Exception:
            log.exception("RCPT %r from %s: mailbox lookup failed", address, session.peer)
            return TRY_LATER
        if mailbox_id is None:
            log.info("RCPT %r from %s refused: not an active mailbox", address, session.peer)
            return REFUSED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    def _store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        # Mail to several of our addresses is one message; it belongs to the first.
        mailbox_id = self._mailbox_id(rcpt_tos[0]) if rcpt_tos else None
        return intake.store(
            self.runtime,
            raw,
            source="smtp",
            mail_from=mail_from,
            rcpt_to=rcpt_tos,
            mailbox_id=mailbox_id,
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None and isinstance(envelope.content, bytes):
            raw = envelope.content
        if raw is None:
            log.warning("DATA from %s had no content", session.peer)
            return "554 5.6.0 no message content"
        mail_from = envelope.mail_from or ""
        rcpt_tos = list(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        try:
            mail_id = await loop.run_in_executor(
                self.store_pool, self._store, raw, mail_from, rcpt_tos
            )
        except Exception:
            log.exception(
                "message from %s (%s, %d bytes) not stored", session.peer, mail_from, len(raw)
            )
            return NOT_STORED
        try:
            self.process_pool.submit(intake.process, self.runtime, mail_id)
        except RuntimeError:
            # Shutting down: the message is stored, and the retry will process it.
            log.info("inbound mail %s stored; processing left to the retry", mail_id)
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
        self._pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None

    def start(self) -> None:
        """Listen; raises OSError when the address cannot be had."""
        if self._controller is not None:
            raise RuntimeError("the SMTP listener is running already")
        if self.port:
            _check_free(self.host, self.port)
        store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="smtp-store")
        process_pool = ThreadPoolExecutor(PROCESS_THREADS, thread_name_prefix="smtp-process")
        settings = self.runtime.settings
        options: dict[str, Any] = {
            "data_size_limit": settings.smtp_max_bytes,
            # Our own name in the greeting: looking up the machine's name can hang.
            "server_hostname": settings.mail_domain,
            "ident": "Threadline ESMTP",
        }
        controller = _Controller(
            MailHandler(self.runtime, store_pool, process_pool),
            hostname=self.host,
            port=self.port,
            **options,
        )
        try:
            controller.start()
        except BaseException:
            store_pool.shutdown(wait=False)
            process_pool.shutdown(wait=False)
            raise
        self.port = controller.port
        self._controller = controller
        self._pools = (store_pool, process_pool)
        log.info("SMTP listener on %s:%d", self.host, self.port)

    def stop(self) -> None:
        controller, pools = self._controller, self._pools
        self._controller = self._pools = None
        if controller is not None:
            controller.stop()
        if pools is not None:
            store_pool, process_pool = pools
            store_pool.shutdown(wait=True)
            # Messages not yet being processed are stored; the retry takes them.
            process_pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> SmtpListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
