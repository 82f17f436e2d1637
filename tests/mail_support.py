"""A real SMTP server for the tests of outbound mail: aiosmtpd on 127.0.0.1 at a free
port, keeping every message it accepts. It can be told to answer like a relay in
trouble (`sink.answer("451 4.3.0 relay down")`) or one refusing for good ("550 ..."),
at RCPT or at DATA, and to ask for a login or offer STARTTLS or TLS.

Usage: a test module makes a fixture of `with SmtpSink() as sink: yield sink` and points
a sender at `sink.url()`; `make_certificate()` gives a self-signed certificate for
STARTTLS and TLS."""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.orm import Session as DbSession

from tests.factories import receive_email
from threadline.actions import Env, Received
from threadline.events import Event, Subscription

USER = "relay-user"
PASSWORD = "relay pass"


@dataclass(frozen=True)
class SinkMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[SinkMail] = []
        self.rcpt_answer: str | None = None
        self.data_answer: str | None = None

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.lock:
            answer = self.rcpt_answer
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.data_answer is not None:
                return self.data_answer
            content = envelope.original_content or envelope.content or b""
            login = session.auth_data.login if session.authenticated else None
            self.received.append(
                SinkMail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=content if isinstance(content, bytes) else content.encode(),
                    login=login.decode() if isinstance(login, bytes) else None,
                )
            )
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: the server itself answers a failure with 535.
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SmtpSink:
    """One running server. `url` is what THREADLINE_SMTP_RELAY_URL would say."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False) -> None:
        self.handler = _Handler()
        self.host = "127.0.0.1"
        self.implicit_tls = implicit_tls
        self.starttls = tls is not None and not implicit_tls
        options: dict[str, Any] = {
            # Our own name in the greeting: looking the machine's name up can hang.
            "server_hostname": "sink.test",
            "authenticator": _authenticate,
            # Plaintext AUTH on loopback for the tests; a login stays optional, so that
            # the same server serves senders with and without credentials.
            "auth_require_tls": False,
            "auth_required": False,
        }
        if self.starttls:
            options["tls_context"] = tls
        for _ in range(5):
            self.port = free_port()
            # Our own loop, so that stop() can close it (aiosmtpd leaves its own open).
            self.loop = asyncio.new_event_loop()
            self.controller = Controller(
                self.handler,
                loop=self.loop,
                hostname=self.host,
                port=self.port,
                ssl_context=tls if implicit_tls else None,
                **options,
            )
            try:
                self.controller.start()
                return
            except (OSError, RuntimeError):  # the port was taken meanwhile
                self.loop.close()
                continue
        raise RuntimeError("no free port for the SMTP sink")

    def stop(self) -> None:
        self.controller.stop()
        self.loop.close()

    def __enter__(self) -> SmtpSink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def url(self, *, login: bool = False) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        auth = f"{USER}:{PASSWORD.replace(' ', '%20')}@" if login else ""
        query = "?starttls=1" if self.starttls else ""
        return f"{scheme}://{auth}{self.host}:{self.port}{query}"

    @property
    def received(self) -> list[SinkMail]:
        with self.handler.lock:
            return list(self.handler.received)

    def answer(self, line: str | None, *, at: str = "DATA") -> None:
        """Answer every RCPT or DATA with `line` (e.g. "451 4.3.0 relay down"); None to
        accept mail again."""
        with self.handler.lock:
            if at == "RCPT":
                self.handler.rcpt_answer = line
            else:
                self.handler.data_answer = line

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SinkMail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"the sink got {len(self.received)} messages, not {count}")

    def wait_for_one(self, holding: bytes, timeout: float = 10.0) -> SinkMail:
        """The first message whose bytes hold `holding`, once it has arrived. Where one
        sink serves several tests, a mail another test caused can arrive late, so
        counting messages is not enough to find one's own."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail in self.received:
                if holding in mail.raw:
                    return mail
            time.sleep(0.02)
        raise AssertionError(f"no message holding {holding!r} in {len(self.received)} received")


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


CUSTOMER_MAIL_ID = "cust-2@example.com"
CUSTOMER_REFERENCES = ["root-1@example.com", "<cust-1@example.com>"]


def email_case(
    db: DbSession,
    env: Env,
    address: str = "ann@example.com",
    *,
    subject: str = "Where is order 1001?",
    message_id: str | None = CUSTOMER_MAIL_ID,
    references: list[str] | None = None,
    mailbox: str | None = "help@shop.example",
) -> Received:
    """A customer's mail landed as the email intake lands it: the touch's meta holds its
    Message-ID (bare, as the intake normalises it), its References and the mailbox it
    was sent to; its Message-ID is a thread key."""
    meta: dict[str, object] = {
        "references": CUSTOMER_REFERENCES if references is None else references,
        "mailbox": mailbox,
    }
    if message_id is not None:
        meta["message_id"] = message_id
    return receive_email(
        db,
        env,
        address,
        "Where is my parcel?",
        subject=subject,
        thread_key=f"email:{message_id}" if message_id else None,
        meta=meta,
    )


def drain(subscription: Subscription) -> list[Event]:
    """Every event published so far on a subscription."""
    events = []
    while (event := subscription.get(timeout=0)) is not None:
        events.append(event)
    return events
