"""Fuzzing the email parser with generated MIME: random headers, nested multiparts,
charsets and transfer encodings, then random damage to the bytes. Whatever comes in,
parse_mail answers a ParsedMail or raises InvalidInput, nothing else."""

from __future__ import annotations

import base64
import quopri
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.channels.email.parse import ParsedMail, parse_mail
from threadline.errors import InvalidInput

CORPUS = Path(__file__).parent / "corpus"
CORPUS_MAILS = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]

CHARSETS = [
    "utf-8",
    "iso-8859-1",
    "windows-1252",
    "shift_jis",
    "iso-2022-jp",
    "utf-7",
    "us-ascii",
    "koi8-r",
    "gb2312",
    "x-unknown",
    "base64",
    "idna",
    "",
]
TRANSFER_ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "junk"]
LEAF_TYPES = [
    "text/plain",
    "text/html",
    "text/calendar",
    "text/rfc822-headers",
    "image/png",
    "application/octet-stream",
    "application/ms-tnef",
    "message/delivery-status",
    "message/disposition-notification",
    "message/rfc822",
    "garbage",
]
MULTIPART_SUBTYPES = ["mixed", "alternative", "related", "report", "signed", "digest", "x-odd"]
HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Thread-Index",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "X-Auto-Response-Suppress",
    "X-Threadline-Ref",
    "Content-Type",
    "Content-Disposition",
    "Content-Transfer-Encoding",
]

printable_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], max_codepoint=0x2FFF), max_size=60
)


def _encode(text: str, charset: str) -> bytes:
    try:
        return text.encode(charset or "ascii", errors="replace")
    except (LookupError, UnicodeError):  # labels no text can be written in: idna, base64
        return text.encode("utf-8")


def _transfer(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.encodebytes(data)
    if encoding == "quoted-printable":
        return quopri.encodestring(data)
    return data


@st.composite
def header_values(draw: st.DrawFn) -> bytes:
    """A header value that may be plain, RFC 2047 encoded (B or Q), raw 8-bit or junk."""
    text = draw(printable_text)
    charset = draw(st.sampled_from(CHARSETS))
    form = draw(st.sampled_from(["plain", "b", "q", "raw", "junk", "address", "id"]))
    if form == "b":
        return f"=?{charset}?B?".encode() + base64.b64encode(_encode(text, charset)) + b"?="
    if form == "q":
        return f"=?{charset}?Q?".encode() + quopri.encodestring(_encode(text, charset)) + b"?="
    if form == "raw":
        return _encode(text, charset)
    if form == "junk":
        return draw(st.binary(max_size=40))
    if form == "address":
        return f'"{text}" <{draw(st.emails())}>'.encode(errors="replace")
    if form == "id":
        return f"<{text}@example.com>".encode(errors="replace")
    return text.encode("ascii", errors="replace")


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    lines = [b"From: " + draw(header_values())]
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(HEADER_NAMES)).encode()
        lines.append(name + b": " + draw(header_values()))
    return b"\r\n".join(line.replace(b"\r", b"").replace(b"\n", b" ") for line in lines)


@st.composite
def leaf_parts(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(TRANSFER_ENCODINGS))
    text = draw(printable_text)
    if content_type == "message/rfc822":
        body = draw(headers()) + b"\r\n\r\n" + _encode(text, charset)
    elif content_type.startswith("message/"):
        body = b"Final-Recipient: rfc822; " + _encode(text, "utf-8") + b"\r\nStatus: 5.1.1\r\n"
    else:
        body = _encode(text, charset)
    lines = [f"Content-Type: {content_type}; charset={charset}".encode()]
    lines.append(f"Content-Transfer-Encoding: {encoding}".encode())
    if draw(st.booleans()):
        disposition = draw(st.sampled_from(["attachment", "inline", "bogus"]))
        name = draw(header_values())
        if draw(st.booleans()):
            lines.append(f"Content-Disposition: {disposition}; filename*=utf-8''".encode() + name)
        else:
            lines.append(f'Content-Disposition: {disposition}; filename="'.encode() + name + b'"')
    if draw(st.booleans()):
        lines.append(b"Content-ID: <" + draw(header_values()) + b">")
    head = b"\r\n".join(line.replace(b"\r", b"").replace(b"\n", b" ") for line in lines)
    return head + b"\r\n\r\n" + _transfer(body, encoding)


def _multipart(draw: st.DrawFn, children: list[bytes]) -> bytes:
    subtype = draw(st.sampled_from(MULTIPART_SUBTYPES))
    boundary = draw(st.text(alphabet="abcXYZ0123456789=_-.", min_size=1, max_size=20))
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"; report-type=delivery-status'
    parts = b"".join(b"--" + boundary.encode() + b"\r\n" + child + b"\r\n" for child in children)
    closing = b"--" + boundary.encode() + b"--\r\n" if draw(st.booleans()) else b""
    return head.encode() + b"\r\n\r\n" + parts + closing


@st.composite
def mime_trees(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(leaf_parts())
    children = [draw(mime_trees(depth + 1)) for _ in range(draw(st.integers(0, 4)))]
    return _multipart(draw, children)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    return draw(headers()) + b"\r\n" + draw(mime_trees())


@st.composite
def damaged(draw: st.DrawFn, source: st.SearchStrategy[bytes]) -> bytes:
    """`source` with some bytes deleted, replaced or inserted."""
    data = bytearray(draw(source))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "insert":
            data[position:position] = draw(
                st.sampled_from(
                    [b"\r\n", b"\n\n", b"--", b"=?", b"?=", b"\xff", b"\x00", b";", b'"']
                )
            )
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 30))]
        elif action == "replace" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[position:]
    return bytes(data)


def _check(raw: bytes) -> None:
    try:
        mail = parse_mail(raw)
    except InvalidInput:
        return
    assert isinstance(mail, ParsedMail)
    assert isinstance(mail.text, str)
    assert isinstance(mail.quoted, str)
    assert isinstance(mail.subject, str)
    assert "\x00" not in mail.text
    assert mail.sender is None or mail.sender.address
    assert all(file.filename and "/" not in file.filename for file in mail.attachments)
    assert mail.date is None or mail.date.tzinfo is not None
    assert (mail.bounce is not None) == (mail.kind == "bounce")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mails())
def test_generated_mime_always_parses(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged(mails()))
def test_damaged_generated_mime_never_raises(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=200, deadline=None)
@given(damaged(st.sampled_from(CORPUS_MAILS)))
def test_damaged_corpus_mail_never_raises(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(raw)
