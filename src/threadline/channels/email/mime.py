"""Walking a mail's MIME tree: which parts are the body, which are files, which are
attached messages, and what a delivery or disposition report says.

The body is a list of pieces in the order they appear, each with a plain-text and an
HTML form where the sender gave them: Apple Mail interleaves text and pictures in
multipart/mixed, and a mailing list appends its footer as a separate part, so taking
"the" text/plain part would lose text. multipart/alternative gives one piece (its last,
richest alternative of each kind), multipart/related its root, multipart/report its
human-readable first part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32

from threadline.channels.email.charsets import decode_bytes
from threadline.channels.email.classify import ReportParts
from threadline.channels.email.flowed import unflow
from threadline.channels.email.headers import Headers, normalise_message_id
from threadline.channels.email.invites import invite_summary
from threadline.channels.email.parsed import MailFile
from threadline.channels.email.parts import (
    FRAGILE,
    PartInfo,
    decoded_with_defects,
    describe,
    message_bytes,
    payload_bytes,
    payload_text,
    raw_payload,
    safe_filename,
    undo_transfer_encoding,
)

MAX_DEPTH = 20  # deeper nesting than any mail client writes: an attack or a loop
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
_STATUS_TYPES = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/global-disposition-notification",
    }
)
_HEADERS_TYPES = frozenset({"text/rfc822-headers", "text/global-headers"})
_BOUNDARY_LINE = re.compile(rb"^--([^\s][^\r\n]{0,100}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_MIME_HEADER = re.compile(rb"^content-[a-z-]+\s*:", re.IGNORECASE | re.MULTILINE)


@dataclass
class BodyPiece:
    """One stretch of body, in plain text, HTML, or both."""

    plain: str | None = None
    html: str | None = None


@dataclass
class MimeContent:
    """Everything the walk found, in the order the parts appear."""

    pieces: list[BodyPiece] = field(default_factory=list)
    files: list[MailFile] = field(default_factory=list)
    forwarded: list[Message] = field(default_factory=list)
    invites: list[str] = field(default_factory=list)
    report: ReportParts = field(default_factory=ReportParts)
    damaged: bool = False

    def absorb(self, other: MimeContent) -> None:
        """Takes in what a sub-walk found, except its body pieces."""
        self.files.extend(other.files)
        self.forwarded.extend(other.forwarded)
        self.invites.extend(other.invites)
        self.report.status_blocks.extend(other.report.status_blocks)
        self.report.original_message_ids.extend(other.report.original_message_ids)
        self.report.report_type = self.report.report_type or other.report.report_type
        self.damaged = self.damaged or other.damaged


def read_mime(message: Message) -> MimeContent:
    """The body pieces, files, attached messages and report of a parsed mail."""
    content = MimeContent()
    _visit(message, content, 0)
    return content


def _visit(part: Message, content: MimeContent, depth: int) -> None:
    if depth > MAX_DEPTH:
        content.damaged = True
        return
    info = describe(part)
    if info.maintype == "multipart":
        _visit_multipart(part, info, content, depth)
    elif info.content_type in _STATUS_TYPES:
        content.report.status_blocks.extend(_status_blocks(part, info))
    elif info.content_type in _HEADERS_TYPES:
        _note_original_id(content, _headers_in_text(payload_text(part, info)))
    elif info.maintype == "message":
        _visit_attached_message(part, info, content, returned=False)
    else:
        _visit_leaf(part, info, content)


def _visit_multipart(part: Message, info: PartInfo, content: MimeContent, depth: int) -> None:
    children = _listed_children(part)
    if not children:
        # The parser found no parts: a missing or wrong boundary. Guess one.
        content.damaged = True
        children = _salvage_parts(raw_payload(part)) or []
    if not children:
        # No boundary to split on and none to guess: the best reading is as text.
        text = decode_bytes(payload_bytes(part, info), info.charset)
        if text.strip():
            content.pieces.append(BodyPiece(plain=text))
        return
    subtype = info.content_type.split("/", 1)[1]
    if subtype == "alternative":
        _visit_alternative(children, content, depth)
    elif subtype == "related":
        _visit_related(children, info, content, depth)
    elif subtype == "report":
        _visit_report(children, info, content, depth)
    else:
        for child in children:
            _visit(child, content, depth + 1)


def _listed_children(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [child for child in payload if isinstance(child, Message)]
    return []


def _salvage_parts(data: bytes) -> list[Message] | None:
    """Parts split on the first "--something" line that MIME headers follow."""
    boundary = None
    for match in _BOUNDARY_LINE.finditer(data):
        following = data[match.end() : match.end() + 200].lstrip(b"\r\n")
        if _MIME_HEADER.match(following):
            boundary = match.group(1)
            break
    if boundary is None:
        return None
    delimiter = re.compile(rb"^--" + re.escape(boundary) + rb"(?:--)?[ \t]*\r?\n?", re.MULTILINE)
    chunks = delimiter.split(data)[1:]
    parser = BytesParser(policy=compat32)
    parts: list[Message] = []
    for chunk in chunks:
        if not chunk.strip():
            continue
        try:
            parts.append(parser.parsebytes(chunk))
        except FRAGILE:
            continue
    return parts or None


def _visit_alternative(children: list[Message], content: MimeContent, depth: int) -> None:
    """One piece: the last plain-text and the last HTML alternative (RFC 2046 puts the
    sender's preferred form last); files in any alternative (Outlook's invite) kept."""
    piece = BodyPiece()
    for child in children:
        found = MimeContent()
        _visit(child, found, depth + 1)
        content.absorb(found)
        plain = _joined(found_piece.plain for found_piece in found.pieces)
        html = _joined(found_piece.html for found_piece in found.pieces)
        if plain and plain.strip():
            piece.plain = plain
        if html and html.strip():
            piece.html = html
    if piece.plain is not None or piece.html is not None:
        content.pieces.append(piece)


def _joined(texts: Iterable[str | None]) -> str | None:
    present = [text for text in texts if text is not None]
    return "\n".join(present) if present else None


def _visit_related(
    children: list[Message], info: PartInfo, content: MimeContent, depth: int
) -> None:
    """The root (named by `start`, else the first part) is body; the rest are the
    images and styles it refers to."""
    start = (info.params.get("start") or "").strip().strip("<>")
    described = [describe(child) for child in children]
    ids = [child_info.content_id for child_info in described]
    root_index = ids.index(start) if start and start in ids else 0
    for index, (child, child_info) in enumerate(zip(children, described, strict=True)):
        if index == root_index or child_info.maintype in ("multipart", "message"):
            _visit(child, content, depth + 1)
        else:
            _add_file(child, child_info, content)


def _visit_report(
    children: list[Message], info: PartInfo, content: MimeContent, depth: int
) -> None:
    """RFC 6522: a human-readable part, the machine-readable report, then the returned
    message or its headers."""
    content.report.report_type = content.report.report_type or (
        (info.params.get("report-type") or "").strip().lower() or None
    )
    for index, child in enumerate(children):
        child_info = describe(child)
        if index > 0 and child_info.content_type in ("message/rfc822", "message/global"):
            _visit_attached_message(child, child_info, content, returned=True)
        else:
            _visit(child, content, depth + 1)


def _visit_attached_message(
    part: Message, info: PartInfo, content: MimeContent, *, returned: bool
) -> None:
    """A message inside the mail: a forward, or the original a bounce returns. Kept
    whole as an .eml file; its sender and text are read later from `forwarded`."""
    inner = _inner_message(part, info)
    if inner is None:
        _add_file(part, info, content)
        return
    data = message_bytes(inner)
    inner_headers = Headers.of(inner)
    subject = inner_headers.text("subject")
    fallback = f"{subject}.eml" if subject else "message.eml"
    name = info.filename if info.filename and "." in info.filename else None
    content.files.append(
        MailFile(
            filename=safe_filename(name or fallback, info, fallback="message.eml"),
            content_type="message/rfc822",
            content=data,
            inline=info.disposition == "inline",
            content_id=info.content_id,
        )
    )
    if returned:
        _note_original_id(content, inner_headers)
    else:
        content.forwarded.append(inner)


def _inner_message(part: Message, info: PartInfo) -> Message | None:
    """The attached message, re-parsed when its sender (wrongly) base64-encoded it."""
    listed = _listed_children(part)
    inner = listed[0] if listed else None
    if inner is not None and len(Headers.of(inner).fields) > 0:
        return inner
    if info.transfer_encoding in ("base64", "quoted-printable"):
        encoded = raw_payload(inner) if inner is not None else raw_payload(part)
        decoded = undo_transfer_encoding(encoded, info.transfer_encoding)
        try:
            reparsed = BytesParser(policy=compat32).parsebytes(decoded)
        except FRAGILE:
            return None
        if Headers.of(reparsed).fields:
            return reparsed
    return None


def _visit_leaf(part: Message, info: PartInfo, content: MimeContent) -> None:
    is_body = (
        info.content_type in _BODY_TYPES
        and info.disposition != "attachment"
        and info.filename is None
    )
    if is_body:
        text = payload_text(part, info)
        content.damaged = content.damaged or decoded_with_defects(part)
        if info.content_type == "text/html":
            content.pieces.append(BodyPiece(html=text))
        else:
            content.pieces.append(BodyPiece(plain=_unflowed(text, info)))
        return
    if info.content_type in _CALENDAR_TYPES:
        summary = invite_summary(payload_text(part, info))
        if summary:
            content.invites.append(summary)
    _add_file(part, info, content)


def _unflowed(text: str, info: PartInfo) -> str:
    if info.params.get("format", "").lower() != "flowed":
        return text
    return unflow(text, delsp=info.params.get("delsp", "").lower() == "yes")


def _add_file(part: Message, info: PartInfo, content: MimeContent) -> None:
    data = payload_bytes(part, info)
    content.damaged = content.damaged or decoded_with_defects(part)
    content.files.append(
        MailFile(
            filename=safe_filename(info.filename, info),
            content_type=info.content_type,
            content=data,
            inline=info.disposition == "inline",
            content_id=info.content_id,
        )
    )


def _status_blocks(part: Message, info: PartInfo) -> list[dict[str, str]]:
    """The field blocks of a delivery-status or disposition report, by lower-cased name.

    The parser splits message/delivery-status into blocks itself; a report that was
    (wrongly) base64-encoded, or that it did not split, is split here."""
    blocks = [_first_values(Headers.of(block)) for block in _listed_children(part)]
    blocks = [block for block in blocks if block]
    if blocks:
        return blocks
    listed = _listed_children(part)
    raw = b"".join(raw_payload(block) for block in listed) if listed else raw_payload(part)
    text = decode_bytes(undo_transfer_encoding(raw, info.transfer_encoding), None)
    found = []
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
        block = _first_values(_headers_in_text(chunk))
        if block:
            found.append(block)
    return found


def _first_values(headers: Headers) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in headers.fields:
        values.setdefault(name, value)
    return values


def _headers_in_text(text: str) -> Headers:
    try:
        parsed = HeaderParser(policy=compat32).parsestr(text.lstrip("\r\n"), headersonly=True)
    except FRAGILE:
        return Headers(())
    return Headers.of(parsed)


def _note_original_id(content: MimeContent, headers: Headers) -> None:
    raw = headers.first("message-id")
    message_id = normalise_message_id(raw) if raw else None
    if message_id and message_id not in content.report.original_message_ids:
        content.report.original_message_ids.append(message_id)
