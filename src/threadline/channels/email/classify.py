"""Deciding what a mail is (a person, an auto-reply, list mail, a bounce, a read
receipt) and reading what a bounce says.

A help desk that answers an out-of-office with an acknowledgement, which answers with
another out-of-office, fills two mailboxes by morning. So anything a machine sent is
recognised here from its headers (RFC 3834, RFC 2369/2919 list headers, the Precedence
and X-Autoreply habits of older software) and from its structure (RFC 3464 delivery
status, RFC 8098 disposition notifications). The null reverse path is checked by the
caller, which holds the SMTP envelope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from threadline.channels.email.charsets import clean_text
from threadline.channels.email.headers import Headers, normalise_message_id
from threadline.channels.email.parsed import Address, Bounce, MailKind

_AUTO_SUBJECT = re.compile(
    r"^\s*\[?\s*(?:Automatic reply|Auto(?:matic)?[- ]?(?:reply|response)|Out of (?:the )?Office"
    r"|Abwesenheitsnotiz|Automatische Antwort|Réponse automatique|Respuesta automática"
    r"|Risposta automatica|Automatisch antwoord)\b",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(?:undeliver|delivery (?:status notification|failure|has failed)|returned mail"
    r"|mail delivery failed|failure notice|nicht zustellbar)",
    re.IGNORECASE,
)
_DELAY_SUBJECT = re.compile(r"\b(?:delay|delayed|warning)\b", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_PRECEDENCE_BULK = frozenset({"bulk", "list", "junk"})
_SUPPRESS_NOTHING = frozenset({"", "none"})


@dataclass
class ReportParts:
    """What the MIME walk found of a delivery or disposition report."""

    report_type: str | None = None
    status_blocks: list[dict[str, str]] = field(default_factory=list)
    original_message_ids: list[str] = field(default_factory=list)


def classify(
    headers: Headers, report: ReportParts, subject: str, sender: Address | None
) -> tuple[MailKind, str | None]:
    """The kind of mail and the header that gave it away (None for a person)."""
    if report.report_type == "delivery-status":
        return MailKind.BOUNCE, "multipart/report; report-type=delivery-status"
    if report.report_type == "disposition-notification":
        return MailKind.RECEIPT, "multipart/report; report-type=disposition-notification"
    # Before the auto-reply headers: Exim and qmail mark their plain-text bounces
    # Auto-Submitted too, and a bounce says more than "a machine wrote this".
    if sender and _BOUNCE_SENDER.match(sender.address) and _BOUNCE_SUBJECT.search(subject):
        return MailKind.BOUNCE, f"non-standard bounce from {sender.address}"
    for find in (_auto_reply_reason, _bulk_reason):
        found = find(headers, subject)
        if found is not None:
            return found
    return MailKind.PERSON, None


def _auto_reply_reason(headers: Headers, subject: str) -> tuple[MailKind, str] | None:
    submitted = _token(headers.first("auto-submitted"))
    if submitted and submitted != "no":
        return MailKind.AUTO_REPLY, f"Auto-Submitted: {submitted}"
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        if headers.has(name):
            return MailKind.AUTO_REPLY, f"{label} header"
    if _token(headers.first("precedence")) == "auto_reply":
        return MailKind.AUTO_REPLY, "Precedence: auto_reply"
    if _AUTO_SUBJECT.match(subject):
        return MailKind.AUTO_REPLY, f"subject: {subject[:60]}"
    return None


def _bulk_reason(headers: Headers, subject: str) -> tuple[MailKind, str] | None:
    precedence = _token(headers.first("precedence"))
    if precedence in _PRECEDENCE_BULK:
        return MailKind.BULK, f"Precedence: {precedence}"
    for name in headers.names():
        if name.startswith("list-"):
            return MailKind.BULK, f"{_title_case(name)} header"
    return None


def asks_no_auto_response(headers: Headers) -> bool:
    """Whether the sender asked not to be auto-answered (MS-OXCMAIL
    X-Auto-Response-Suppress: All, OOF, AutoReply, DR, NDR, RN, NRN)."""
    return any(
        _token(value) not in _SUPPRESS_NOTHING for value in headers.all("x-auto-response-suppress")
    )


def _token(raw: str | None) -> str:
    """A header's first word, lower-cased, without comments: "auto-replied; owner=x"
    gives "auto-replied"."""
    if raw is None:
        return ""
    return _COMMENT.sub("", clean_text(raw)).split(";", 1)[0].strip().strip("\"'").lower()


def _title_case(name: str) -> str:
    return "-".join(part.capitalize() if part != "id" else "Id" for part in name.split("-"))


def bounce_details(report: ReportParts, subject: str) -> Bounce:
    """What a bounce says about the recipient that failed (the first failed one when
    several are listed), and which of our messages it returns."""
    recipients = [block for block in report.status_blocks if _field(block, "final-recipient")]
    failed = [block for block in recipients if _field(block, "action") == "failed"]
    block = (failed or recipients or [{}])[0]
    action = _field(block, "action")
    status = _status(block)
    permanent = action == "failed" or (status or "").startswith("5")
    if not recipients:  # a plain-text bounce: all we have is its subject
        permanent = not _DELAY_SUBJECT.search(subject)
    return Bounce(
        permanent=permanent,
        final_recipient=_recipient(block),
        action=action,
        status=status,
        diagnostic=_diagnostic(block),
        original_message_id=report.original_message_ids[0] if report.original_message_ids else None,
    )


def receipt_for(report: ReportParts) -> str | None:
    """The Message-ID a read receipt confirms (its Original-Message-ID field)."""
    for block in report.status_blocks:
        value = block.get("original-message-id")
        if value:
            return normalise_message_id(value)
    return report.original_message_ids[0] if report.original_message_ids else None


def _field(block: dict[str, str], name: str) -> str | None:
    value = block.get(name)
    if value is None:
        return None
    value = " ".join(clean_text(value).split())
    return value.lower() if name == "action" else value or None


def _recipient(block: dict[str, str]) -> str | None:
    """Final-Recipient without its address type: "rfc822; Bob@x" gives "bob@x"."""
    value = _field(block, "final-recipient") or _field(block, "original-recipient")
    if value is None:
        return None
    address = value.split(";", 1)[-1].strip().strip("<>").strip().lower()
    return address or None


def _status(block: dict[str, str]) -> str | None:
    for name in ("status", "diagnostic-code"):
        match = _STATUS_CODE.search(_field(block, name) or "")
        if match:
            return ".".join(match.groups())
    return None


def _diagnostic(block: dict[str, str]) -> str | None:
    """Diagnostic-Code without its type: "smtp; 550 5.1.1 no such user" gives the rest."""
    value = _field(block, "diagnostic-code")
    if value is None:
        return None
    kind, separator, rest = value.partition(";")
    if separator and re.fullmatch(r"[A-Za-z0-9-]{1,20}", kind.strip()):
        value = rest.strip()
    return value or None
