"""The email parser: the bytes of one mail in, a `ParsedMail` out. No database, no I/O.

Whatever a mail client, a relay or a spammer did to the mail, it is read as well as it
can be: only something that is not a mail at all (empty, over the size limit, no
header fields) is refused. The pieces live in small modules beside this one: charsets,
headers, parts and mime (the MIME tree), htmltext, quoting (history and signatures),
classify (auto-replies, lists, bounces) and invites.
"""

from __future__ import annotations

import html as html_escaping
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from urllib.parse import unquote

from threadline.channels.email.charsets import clean_text, decode_bytes, header_text
from threadline.channels.email.classify import (
    ReportParts,
    asks_no_auto_response,
    bounce_details,
    classify,
    receipt_for,
)
from threadline.channels.email.headers import (
    Headers,
    case_ref_in_subject,
    first_address,
    mail_date,
    message_ids,
    normalise_message_id,
    parse_addresses,
    thread_index_root,
)
from threadline.channels.email.htmltext import html_to_text, without_head
from threadline.channels.email.mime import BodyPiece, MimeContent, read_mime
from threadline.channels.email.parsed import Address, Bounce, MailFile, MailKind, ParsedMail
from threadline.channels.email.parts import FRAGILE
from threadline.channels.email.quoting import forwarded_sender, split_reply
from threadline.errors import InvalidInput
from threadline.html import sanitise

__all__ = [
    "Address",
    "Bounce",
    "MailFile",
    "MailKind",
    "ParsedMail",
    "case_ref_in_subject",
    "message_ids",
    "normalise_message_id",
    "parse_mail",
]

DEFAULT_MAX_BYTES = 40 * 1024 * 1024
_FIELD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CID = re.compile(r"""cid:([^"'\s>)]+)""", re.IGNORECASE)
_QUOTED_MESSAGE_ID = re.compile(r"^\s*Message-ID\s*:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_FORWARD_DEPTH = 3  # a forward of a forward of a forward is read; deeper is only attached


def parse_mail(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedMail:
    """Reads one mail. Raises InvalidInput only when `raw` is empty, larger than
    `max_bytes`, or has no header fields; every other defect is read around."""
    message, damaged = _parse_structure(_checked(raw, max_bytes))
    headers = Headers.of(message)
    if not any(_FIELD_NAME.match(name) for name in headers.names()):
        raise InvalidInput("This is not a mail: it has no header fields.")
    subject = headers.text("subject")
    sender = first_address(headers.first("from")) or first_address(headers.first("sender"))
    content = _read_content(message)
    body = clean_text(_body_text(content.pieces) or _substitute_text(content))
    kind, kind_reason = classify(headers, content.report, subject, sender)
    if kind == MailKind.BOUNCE:
        _find_quoted_message_id(content.report, body)
    reply = split_reply(body, subject=subject)
    return ParsedMail(
        message_id=_first_message_id(headers),
        in_reply_to=message_ids(" ".join(headers.all("in-reply-to"))),
        references=message_ids(" ".join(headers.all("references"))),
        thread_index_root=thread_index_root(headers.first("thread-index")),
        subject=subject,
        sender=sender,
        reply_to=first_address(headers.first("reply-to")),
        to=parse_addresses(", ".join(headers.all("to"))),
        cc=parse_addresses(", ".join(headers.all("cc"))),
        date=mail_date(headers.first("date")),
        text=reply.text,
        quoted=reply.quoted,
        html=_body_html(content.pieces),
        attachments=_attachments(content),
        kind=kind,
        kind_reason=kind_reason,
        suppress_auto_response=kind != MailKind.PERSON or asks_no_auto_response(headers),
        bounce=bounce_details(content.report, subject) if kind == MailKind.BOUNCE else None,
        forwarded_from=_forwarded_from(content, body, subject, kind),
        marker=_marker(headers),
        receipt_for=receipt_for(content.report) if kind == MailKind.RECEIPT else None,
        damaged=damaged or content.damaged,
    )


def _checked(raw: bytes, max_bytes: int) -> bytes:
    if len(raw) > max_bytes:
        raise InvalidInput(f"The mail is {len(raw)} bytes; the limit is {max_bytes}.")
    data = bytes(raw).removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")
    if not data.strip():
        raise InvalidInput("The mail is empty.")
    return data


def _parse_structure(data: bytes) -> tuple[Message, bool]:
    """The parsed tree, and whether the parser had to fall back to a headers-only
    reading (which survives anything, nesting too deep to recurse through included).

    compat32 keeps header values as the raw strings that Headers decodes itself; the
    header objects of `email.policy.default` cost about half of all parsing time, and
    raise on some malformed headers besides."""
    try:
        return BytesParser(policy=compat32).parsebytes(data), False
    except FRAGILE:
        pass
    try:
        return BytesParser(policy=compat32).parsebytes(data, headersonly=True), True
    except FRAGILE as error:
        raise InvalidInput("This is not a mail: its header could not be read.") from error


def _read_content(message: Message) -> MimeContent:
    """The MIME walk, or when it fails on something unforeseen, the whole payload as
    text: a mail is never refused for its body."""
    try:
        return read_mime(message)
    except FRAGILE:
        payload = message.get_payload()
        text = payload if isinstance(payload, str) else ""
        data = text.encode("utf-8", errors="surrogateescape")
        return MimeContent(pieces=[BodyPiece(plain=decode_bytes(data, None))], damaged=True)


def _body_text(pieces: list[BodyPiece]) -> str:
    """The body as plain text: each piece's text/plain form, or its HTML made readable
    when the plain form is missing or blank (some clients send an empty one)."""
    texts = []
    for piece in pieces:
        if piece.plain is not None and piece.plain.strip():
            texts.append(piece.plain)
        elif piece.html is not None:
            texts.append(html_to_text(piece.html))
    joined = "\n\n".join(text.strip("\r\n") for text in texts if text.strip())
    return joined.replace("\r\n", "\n").replace("\r", "\n").strip()


def _substitute_text(content: MimeContent, depth: int = 0) -> str:
    """Something to read when the mail has no body of its own: a mail forwarded as an
    attachment, a calendar invitation, or the bare report of a bounce."""
    if content.forwarded and depth < _FORWARD_DEPTH:
        return _forward_as_text(content.forwarded[0], depth)
    if content.invites:
        return "\n".join(f"Calendar invitation: {summary}" for summary in content.invites)
    return _report_as_text(content.report)


def _forward_as_text(message: Message, depth: int) -> str:
    headers = Headers.of(message)
    inner = _read_content(message)
    lines = ["---------- Forwarded message ---------"]
    for name, label in (("from", "From"), ("date", "Date"), ("subject", "Subject"), ("to", "To")):
        value = headers.text(name)
        if value:
            lines.append(f"{label}: {value}")
    body = _body_text(inner.pieces) or _substitute_text(inner, depth + 1)
    return "\n".join(lines) + "\n\n" + body


def _report_as_text(report: ReportParts) -> str:
    if report.report_type != "delivery-status" or not report.status_blocks:
        return ""
    bounce = bounce_details(report, "")
    what = "failed" if bounce.permanent else "was delayed"
    line = f"Delivery to {bounce.final_recipient or 'a recipient'} {what}"
    return f"{line}: {bounce.diagnostic}" if bounce.diagnostic else f"{line}."


def _body_html(pieces: list[BodyPiece]) -> str | None:
    """The body as sanitised HTML, when the sender wrote any; plain pieces between
    HTML ones (a list footer, Apple Mail's text around pictures) are escaped in."""
    if not any(piece.html for piece in pieces):
        return None
    parts = []
    for piece in pieces:
        if piece.html:
            parts.append(piece.html)
        elif piece.plain:
            escaped = html_escaping.escape(piece.plain).replace("\n", "<br>\n")
            parts.append(f"<p>{escaped}</p>")
    cleaned = sanitise(without_head("\n".join(parts)))
    return cleaned if cleaned.strip() else None


def _attachments(content: MimeContent) -> tuple[MailFile, ...]:
    """The files, each once, marked inline where the HTML shows them by cid:."""
    referenced = {
        unquote(match.group(1)).strip("<>").lower()
        for piece in content.pieces
        if piece.html
        for match in _CID.finditer(piece.html)
    }
    files: list[MailFile] = []
    seen: set[tuple[str, str, bytes]] = set()
    for file in content.files:
        key = (file.filename, file.content_type, file.content)
        if key in seen:
            continue
        seen.add(key)
        if not file.inline and file.content_id and file.content_id.lower() in referenced:
            file = MailFile(file.filename, file.content_type, file.content, True, file.content_id)
        files.append(file)
    return tuple(files)


def _forwarded_from(
    content: MimeContent, body: str, subject: str, kind: MailKind
) -> Address | None:
    """The original sender of a forwarded mail: the From of an attached message, else
    the "From:" line under a forward mark in the body. A report returns a message; it
    does not forward one."""
    if kind in (MailKind.BOUNCE, MailKind.RECEIPT):
        return None
    for message in content.forwarded:
        sender = first_address(Headers.of(message).first("from"))
        if sender is not None:
            return sender
    return forwarded_sender(body, subject=subject)


def _first_message_id(headers: Headers) -> str | None:
    for value in headers.all("message-id"):
        message_id = normalise_message_id(value)
        if message_id is not None:
            return message_id
    return None


def _find_quoted_message_id(report: ReportParts, body: str) -> None:
    """A bounce that returns the original as text rather than as a part still names
    its Message-ID in that text."""
    if report.original_message_ids:
        return
    match = _QUOTED_MESSAGE_ID.search(body)
    message_id = normalise_message_id(match.group(1)) if match else None
    if message_id is not None:
        report.original_message_ids.append(message_id)


def _marker(headers: Headers) -> str | None:
    raw = headers.first("x-threadline-ref")
    if raw is None:
        return None
    return header_text(raw) or None
