"""Turning the bytes of a mail into text whatever charset it claims.

Mail in the wild lies about its charset: windows-1252 is sent as iso-8859-1, Windows
Japanese as Shift_JIS, parts carry no charset at all or one nobody has heard of. Here
every label is widened to the charset senders actually mean (the same choices browsers
make), and nothing ever raises: the last resort decodes with replacement characters.
RFC 2047 encoded words are decoded here too, because they are a charset problem.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

# Labels that senders use for a narrower charset than the one they really wrote in.
_WIDER = {
    "ascii": "ascii",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
}

# Labels Python does not know under the name mail uses.
_ALIASES = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "ms_kanji": "cp932",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "x-mac-roman": "mac-roman",
    "ks_c_5601": "cp949",
    "x-gbk": "gb18030",
    "cp-850": "cp850",
    "x-user-defined": "cp1252",
}

# Codecs Python finds by these names that are not charsets a mail could be written in;
# some of them refuse errors="replace" or turn text into something else entirely.
_NOT_MAIL = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"}
)

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_BASE64_JUNK = re.compile(r"[^A-Za-z0-9+/]")
# C0 controls other than tab and line breaks, DEL, and the byte-order mark some clients
# put in the middle of a quoted body.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff]")


def codec_for(charset: str | None) -> str | None:
    """The Python codec to read `charset` with, or None when it is unknown or not a
    text charset."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    label = _ALIASES.get(label, label)
    if not label or len(label) > 40:
        return None
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    if name in _NOT_MAIL:
        return None
    try:
        b"a".decode(name, errors="replace")  # refuses bytes-to-bytes codecs: base64, rot13
    except (LookupError, UnicodeError, ValueError):
        return None
    return _WIDER.get(name, name)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from `data` written in `charset`, never raising.

    No charset (or us-ascii) means us-ascii, then UTF-8, then windows-1252: the bytes say
    which. A known charset is trusted, with replacement characters where it is wrong. An
    unknown one is tried as UTF-8 and then windows-1252."""
    codec = codec_for(charset)
    if codec is None or codec == "ascii":
        return _first_that_fits(data, ("ascii", "utf-8"), fallback="cp1252")
    return _decode_replacing(data, codec)


def strict_decode(data: bytes, charset: str | None) -> str | None:
    """`data` read in `charset` (UTF-8 when none is named), or None if it does not
    read that way."""
    try:
        return data.decode(codec_for(charset) or "utf-8")
    except (UnicodeError, LookupError, ValueError):
        return None


def _first_that_fits(data: bytes, codecs_to_try: tuple[str, ...], fallback: str) -> str:
    for codec in codecs_to_try:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return _decode_replacing(data, fallback)


def _decode_replacing(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return data.decode("utf-8", errors="replace")


def repair_header(value: str) -> str:
    """A header value as parsed from bytes, with any raw 8-bit bytes read as text.

    The parser keeps 8-bit header bytes as surrogate escapes. SMTPUTF8 senders write
    UTF-8 there; older software writes its local charset, usually windows-1252."""
    try:
        data = value.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", errors="replace").decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_replacing(data, "cp1252")


def decode_words(value: str) -> str:
    """`value` with its RFC 2047 encoded words decoded.

    Whitespace between two encoded words is dropped, as the RFC says. Adjacent words in
    one charset are joined before decoding, because senders split a multi-byte character
    across two words."""
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, between))
        charset, encoding, encoded = match.groups()
        data = _b_decode(encoded) if encoding in "bB" else _q_decode(encoded)
        _append_word(pieces, charset.split("*", 1)[0].lower(), data)
        position = match.end()
    pieces.append((None, value[position:]))
    return "".join(
        text if isinstance(text, str) else decode_bytes(text, charset) for charset, text in pieces
    )


def _append_word(pieces: list[tuple[str | None, bytes | str]], charset: str, data: bytes) -> None:
    if pieces:
        last_charset, last = pieces[-1]
        if last_charset == charset and isinstance(last, bytes):
            pieces[-1] = (charset, last + data)
            return
    pieces.append((charset, data))


def _b_decode(encoded: str) -> bytes:
    return lenient_base64(encoded)


def _q_decode(encoded: str) -> bytes:
    data = encoded.replace("_", " ").encode("utf-8", errors="surrogateescape")
    return _QP_ESCAPE.sub(lambda match: bytes([int(match.group(1), 16)]), data)


def lenient_base64(encoded: str) -> bytes:
    """Base64 decoded despite junk characters, missing padding or a stray last character."""
    cleaned = _BASE64_JUNK.sub("", encoded.split("=", 1)[0])
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]  # one character cannot encode a byte: a cut-off word
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return b""


def clean_text(value: str) -> str:
    """`value` without NUL and other control characters that no person typed (tabs and
    line breaks stay)."""
    return _CONTROL.sub("", value)


def header_text(raw: str) -> str:
    """A header's value for a person to read: 8-bit repaired, encoded words decoded,
    folding and runs of whitespace made single spaces."""
    text = decode_words(repair_header(raw))
    return " ".join(clean_text(text).split())
