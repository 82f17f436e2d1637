"""Replies leaving by email: the message built from an outbox row (threading headers,
the case ref in the subject) and a Sender that hands it to an SMTP relay.

Crash safety, as chosen: delivery is at least once, and a duplicate carries the same
Message-ID so that receiving systems can drop it.

- The Message-ID (and Date) are fixed when the reply is queued, in the outbox payload,
  not when it is sent. If the process dies between the relay's 250 and our bookkeeping,
  the row's claim lapses, another worker sends it again, and that copy is byte-for-byte
  the same message with the same Message-ID.
- The claim lease (actions/outbox.py) keeps two workers from sending one row at once.
- The bookkeeping (record_delivery) runs immediately after the 250, so the window for a
  duplicate is one short transaction wide.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from threadline.channels.base import DeliveryResult, Outbound
from threadline.vocabulary import Delivery

# The header by which our own mail is recognised when it comes back (loops, bounces).
MARKER_HEADER = "X-Threadline-Ref"
# A long thread's References keep its root and the most recent ids: some servers refuse
# headers of many kilobytes, and clients thread on the root and the parent.
MAX_REFERENCES = 20
DEFAULT_TIMEOUT = 30.0

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|vs|ref)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_DEFAULT_SUBJECT = "Your request"


def bare_id(message_id: str) -> str:
    """A Message-ID without its angle brackets or surrounding space."""
    return message_id.strip().strip("<>").strip()


def email_thread_key(message_id: str) -> str:
    """The thread key a Message-ID is stored under (`email:<id without brackets>`): what
    receive() looks a mail's In-Reply-To and References up by, for mail in and out."""
    return f"email:{bare_id(message_id)}"


def angled_id(message_id: str) -> str:
    return f"<{bare_id(message_id)}>"


def new_message_id(mail_domain: str) -> str:
    """A fresh Message-ID on our domain, `<hex@domain>`."""
    return f"<{uuid.uuid4().hex}@{mail_domain}>"


def _one_line(text: str) -> str:
    # A header must never carry a line break (header injection); folding is the
    # generator's job.
    return _WHITESPACE.sub(" ", text).strip()


def reply_subject(subject: str | None, case_ref: str | None, *, is_reply: bool) -> str:
    """`Re: <subject> [TL-1042]`: `Re:` only when answering a mail and never twice, the
    ref added once and never duplicated, whatever the customer's client did to it."""
    text = _one_line(subject or "") or _DEFAULT_SUBJECT
    if is_reply and not _REPLY_PREFIX.match(text):
        text = f"Re: {text}"
    if case_ref:
        number = re.escape(case_ref.split("-")[-1])
        prefix = re.escape(case_ref.split("-")[0])
        token = re.compile(rf"\[\s*#?\s*{prefix}[\s-]?{number}\s*\]", re.IGNORECASE)
        if not token.search(text):
            text = f"{text} [{case_ref}]"
    return text


def thread_references(
    references: list[str] | tuple[str, ...], in_reply_to: str | None
) -> list[str]:
    """RFC 5322 §3.6.4: the parent's References followed by the parent's Message-ID,
    each once, in angle brackets; a long chain keeps its root and newest ids."""
    parent = angled_id(in_reply_to) if in_reply_to and bare_id(in_reply_to) else None
    ids = [angled_id(value) for value in references if bare_id(value)]
    ids = [i for i in dict.fromkeys(ids) if i != parent] + ([parent] if parent else [])
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def build_message(
    outbound: Outbound,
    *,
    mail_domain: str,
    from_address: str,
    message_id: str,
    in_reply_to: str | None,
    references: list[str] | tuple[str, ...],
    case_ref: str | None,
    date: datetime | None = None,
) -> EmailMessage:
    """The mail for one reply: UTF-8 text/plain with our Message-ID, the threading
    headers of the mail it answers and the case ref in subject and marker header.
    `Auto-Submitted` is left out: a person wrote this, and autoresponders may answer it."""
    message = EmailMessage()
    message["From"] = Address(addr_spec=from_address)
    to_name = _one_line(outbound.to.name or "")
    message["To"] = Address(display_name=to_name, addr_spec=outbound.to.value)
    message["Subject"] = reply_subject(outbound.subject, case_ref, is_reply=bool(in_reply_to))
    message["Date"] = format_datetime((date or datetime.now(UTC)).astimezone(UTC))
    message["Message-ID"] = (
        angled_id(message_id) if bare_id(message_id) else new_message_id(mail_domain)
    )
    if in_reply_to and bare_id(in_reply_to):
        message["In-Reply-To"] = angled_id(in_reply_to)
    chain = thread_references(references, in_reply_to)
    if chain:
        message["References"] = " ".join(chain)
    if case_ref:
        message[MARKER_HEADER] = _one_line(case_ref)
    text = outbound.text if outbound.text.endswith("\n") else outbound.text + "\n"
    message.set_content(text, subtype="plain", charset="utf-8")
    return message


@dataclass(frozen=True)
class Relay:
    """Where outbound mail goes, from THREADLINE_SMTP_RELAY_URL."""

    host: str
    port: int
    security: Literal["plain", "starttls", "tls"]
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Relay:
        """`smtp://user:pass@host:port` (plain), `smtp://...?starttls=1` (STARTTLS) or
        `smtps://...` (TLS from the first byte). User and password may be %-escaped."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("an SMTP relay URL looks like smtp://user:pass@host:port")
        starttls = parse_qs(parts.query).get("starttls", ["0"])[-1].lower()
        if parts.scheme == "smtps":
            security: Literal["plain", "starttls", "tls"] = "tls"
        elif starttls in {"1", "true", "yes"}:
            security = "starttls"
        else:
            security = "plain"
        default_port = 465 if security == "tls" else (587 if security == "starttls" else 25)
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            security=security,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )


def _failure(error: str, *, retry: bool) -> DeliveryResult:
    return DeliveryResult(status=Delivery.FAILED, error=error[:1000], retry=retry)


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {_one_line(text)}".strip()


class SmtpSender:
    """Sends email replies through an SMTP relay, one connection per message.

    Answers: a 250 is `sent` with our Message-ID as the provider's id; a 4xx answer, a
    refused or dropped connection or a timeout is worth another try; a 5xx answer is a
    final failure, except an authentication refusal, which is our configuration and not
    the message's fault, so it is tried again until someone fixes the password."""

    def __init__(
        self,
        relay_url: str,
        *,
        mail_domain: str,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.relay = Relay.from_url(relay_url)
        self.mail_domain = mail_domain
        self.timeout = timeout
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.local_hostname = local_hostname

    def message_for(self, outbound: Outbound) -> EmailMessage:
        """The mail an outbox row becomes. The payload's fields were fixed at reply time
        (actions/cases.py); a row without them still gets a stable Message-ID, derived
        from the row, so that a resend is recognisably the same message."""
        meta = outbound.meta
        message_id = str(meta.get("message_id") or "") or (
            f"<outbox-{outbound.outbox_id}.{outbound.touch_id}@{self.mail_domain}>"
        )
        raw_references = meta.get("references") or []
        references = [str(r) for r in raw_references] if isinstance(raw_references, list) else []
        in_reply_to = meta.get("in_reply_to")
        date = meta.get("date")
        return build_message(
            outbound,
            mail_domain=self.mail_domain,
            from_address=str(meta.get("from") or f"support@{self.mail_domain}"),
            message_id=message_id,
            in_reply_to=str(in_reply_to) if in_reply_to else None,
            references=references,
            case_ref=str(meta["case_ref"]) if meta.get("case_ref") else None,
            date=datetime.fromisoformat(date) if isinstance(date, str) else None,
        )

    def send(self, outbound: Outbound) -> DeliveryResult:
        try:
            message = self.message_for(outbound)
        except (ValueError, TypeError, KeyError, MessageError) as exc:
            # Nothing will make this message buildable later: say so now.
            return _failure(f"the message could not be built: {exc}", retry=False)
        try:
            self._transmit(message)
        except smtplib.SMTPAuthenticationError as exc:
            return _failure(
                f"the relay refused our login: {_reply_text(exc.smtp_code, exc.smtp_error)}",
                retry=True,
            )
        except smtplib.SMTPRecipientsRefused as exc:
            answers = [_reply_text(code, text) for code, text in exc.recipients.values()]
            permanent = any(code >= 500 for code, _ in exc.recipients.values())
            return _failure("; ".join(answers) or "recipient refused", retry=not permanent)
        except smtplib.SMTPResponseException as exc:
            text = _reply_text(exc.smtp_code, exc.smtp_error)
            return _failure(text, retry=not 500 <= exc.smtp_code < 600)
        except smtplib.SMTPNotSupportedError as exc:
            # An address that needs SMTPUTF8 never gets through this relay; a missing
            # STARTTLS or AUTH is our configuration, fixed by an operator.
            return _failure(
                f"the relay does not support what we asked: {exc}",
                retry="internationalized" not in str(exc),
            )
        except (smtplib.SMTPException, OSError) as exc:
            # Refused, dropped, timed out, TLS trouble: the relay may be back soon.
            return _failure(f"relay unreachable: {type(exc).__name__}: {exc}", retry=True)
        return DeliveryResult(status=Delivery.SENT, external_id=str(message["Message-ID"]))

    def _transmit(self, message: EmailMessage) -> None:
        relay = self.relay
        client: smtplib.SMTP
        if relay.security == "tls":
            client = smtplib.SMTP_SSL(
                relay.host,
                relay.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self.ssl_context,
            )
        else:
            client = smtplib.SMTP(
                relay.host, relay.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        try:
            client.ehlo()
            if relay.security == "starttls":
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if relay.user:
                client.login(relay.user, relay.password or "")
            # The envelope sender is the From address: bounces come back to the support
            # mailbox, where the intake ties them to this message by its Message-ID.
            client.send_message(message)
        finally:
            _close(client)


def _close(client: smtplib.SMTP) -> None:
    """QUIT politely; once the message is accepted, a failing goodbye changes nothing."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
