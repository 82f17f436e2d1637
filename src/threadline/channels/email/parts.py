"""One MIME part at a time: its type, charset, disposition and file name, its decoded
bytes and text, and a serialised copy of an attached message.

Every reader here survives a malformed part. Parameters are read from the raw header
values (8-bit bytes repaired first) rather than through `email.policy.default`'s header
objects, which raise on some malformed values and mangle others (an unquoted Windows
path, a file name in windows-1252 bytes).
"""

from __future__ import annotations

import email.errors
import io
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32

from threadline.channels.email.charsets import (
    clean_text,
    decode_bytes,
    header_text,
    lenient_base64,
    strict_decode,
)
from threadline.channels.email.headers import Headers

# What the standard library raises from deep inside on malformed input. A parser that
# must never refuse a mail catches these where it calls into it, and degrades.
FRAGILE = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    LookupError,
    UnicodeError,
    AssertionError,
    RecursionError,
    email.errors.MessageError,
)

_DECODING_DEFECTS = (
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64LengthDefect,
)
_TOKEN = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.+-]{1,40})", re.I
)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")
_LONGEST_NAME = 200
_EXTENSIONS = {
    "application/ics": ".ics",
    "application/json": ".json",
    "application/msword": ".doc",
    "application/ms-tnef": ".dat",
    "application/octet-stream": "",
    "application/pdf": ".pdf",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "audio/mpeg": ".mp3",
    "image/jpeg": ".jpg",
    "image/svg+xml": ".svg",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/plain": ".txt",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "video/mp4": ".mp4",
}
# Names a part without one gets, where "attachment" would puzzle the person opening it.
_DEFAULT_NAMES = {
    "application/ms-tnef": "winmail.dat",
    "text/calendar": "invite.ics",
    "application/ics": "invite.ics",
}


@dataclass(frozen=True)
class PartInfo:
    """A part's MIME header fields, read once."""

    content_type: str
    params: dict[str, str]
    charset: str | None
    disposition: str | None
    filename: str | None
    content_id: str | None
    transfer_encoding: str

    @property
    def maintype(self) -> str:
        return self.content_type.split("/", 1)[0]


def describe(part: Message) -> PartInfo:
    """The part's type, parameters, disposition and file name, never raising."""
    headers = Headers.of(part)
    helper = Message(policy=compat32)
    for name in ("content-type", "content-disposition"):
        raw = headers.first(name)
        if raw is not None:
            helper[name] = raw
    content_type = _content_type(helper, part)
    disposition = _safe_str(helper.get_content_disposition)
    filename = _param(helper, "filename", "content-disposition") or _param(helper, "name")
    content_id = headers.first("content-id")
    return PartInfo(
        content_type=content_type,
        params=_params(helper),
        charset=_param(helper, "charset"),
        disposition=disposition.lower() if disposition else None,
        filename=header_text(filename) if filename else None,
        content_id=_content_id(content_id),
        transfer_encoding=(headers.first("content-transfer-encoding") or "").strip().lower(),
    )


def _content_type(helper: Message, part: Message) -> str:
    value = _safe_str(helper.get_content_type) or "text/plain"
    if not _TOKEN.match(value):
        # A garbled type: what the parser decided the part is, by its defaults.
        value = _safe_str(part.get_default_type) or "text/plain"
    return value


def _safe_str(read: Callable[[], object]) -> str | None:
    try:
        value = read()
    except FRAGILE:
        return None
    return value if isinstance(value, str) else None


def _param(helper: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = helper.get_param(name, header=header)
    except FRAGILE:
        return None
    if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
        charset, _language, text = value
        return clean_text(_rfc2231_text(str(text), charset or None)).strip() or None
    if isinstance(value, str):
        return clean_text(value).strip() or None
    return None


def _rfc2231_text(text: str, charset: str | None) -> str:
    """An RFC 2231 value: its percent-escapes were decoded one character per byte, to be
    read in `charset`. Characters that do not read that way were sent raw (8-bit, which
    the RFC forbids but senders do) and were repaired to text already."""
    try:
        return strict_decode(text.encode("latin-1"), charset) or text
    except UnicodeEncodeError:
        return text


def _params(helper: Message) -> dict[str, str]:
    try:
        pairs = helper.get_params() or []
    except FRAGILE:
        return {}
    found: dict[str, str] = {}
    for key, value in pairs[1:]:
        if isinstance(value, str) and str(key).lower() not in found:
            found[str(key).lower()] = clean_text(value).strip()
    return found


def _content_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = clean_text(raw).strip().strip("<>").strip()
    return value or None


def payload_bytes(part: Message, info: PartInfo) -> bytes:
    """The part's content with its transfer encoding undone; broken base64 gives what
    could be read of it."""
    try:
        data = part.get_payload(decode=True)
    except FRAGILE:
        data = None
    if isinstance(data, bytes):
        return data
    return undo_transfer_encoding(raw_payload(part), info.transfer_encoding)


def decoded_with_defects(part: Message) -> bool:
    """Whether undoing the transfer encoding met broken base64 (the parser records it
    on the part rather than raising)."""
    return any(isinstance(defect, _DECODING_DEFECTS) for defect in part.defects)


def raw_payload(part: Message) -> bytes:
    """The part's payload exactly as it was in the mail, transfer encoding and all."""
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", errors="surrogateescape")
    return b""


def undo_transfer_encoding(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return lenient_base64(data.decode("ascii", errors="ignore"))
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def payload_text(part: Message, info: PartInfo) -> str:
    """The part's text, in its declared charset (an HTML part without one may name
    its charset in a <meta> tag)."""
    data = payload_bytes(part, info)
    charset = info.charset
    if charset is None and info.content_type == "text/html":
        meta = _META_CHARSET.search(data[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    return clean_text(decode_bytes(data, charset))


def message_bytes(message: Message) -> bytes:
    """An attached message serialised back to bytes. Generated with compat32 so that
    header bytes come out as they came in rather than refolded."""
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=compat32).flatten(message)
    except FRAGILE:
        return b""
    return buffer.getvalue()


def safe_filename(name: str | None, info: PartInfo, *, fallback: str | None = None) -> str:
    """A file name to store and offer for download: no directories, no characters that
    Windows refuses, not empty, not absurdly long; the default names a type by its kind."""
    candidate = ""
    if name:
        candidate = re.split(r"[\\/]", name)[-1]
        candidate = _UNSAFE_NAME.sub("_", candidate).strip(" .")
    if not candidate:
        candidate = fallback or _default_name(info.content_type)
    if len(candidate) > _LONGEST_NAME:
        stem, dot, extension = candidate.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            candidate = f"{stem[: _LONGEST_NAME - len(extension) - 1]}.{extension}"
        else:
            candidate = candidate[:_LONGEST_NAME]
    return candidate


def _default_name(content_type: str) -> str:
    if content_type in _DEFAULT_NAMES:
        return _DEFAULT_NAMES[content_type]
    maintype, _, subtype = content_type.partition("/")
    extension = _EXTENSIONS.get(content_type)
    if extension is None:
        extension = f".{subtype}" if re.fullmatch(r"[a-z0-9]{2,5}", subtype) else ""
    stem = maintype if maintype in ("image", "audio", "video") else "attachment"
    return f"{stem}{extension}"
