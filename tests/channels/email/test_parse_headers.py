"""Header fields and charsets: Message-IDs, case refs, addresses, dates, Thread-Index,
encoded words, and charset labels that lie."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.channels.email.charsets import (
    codec_for,
    decode_bytes,
    decode_words,
    header_text,
    lenient_base64,
    repair_header,
)
from threadline.channels.email.headers import (
    first_address,
    mail_date,
    parse_addresses,
    thread_index_root,
)
from threadline.channels.email.parse import (
    Address,
    case_ref_in_subject,
    message_ids,
    normalise_message_id,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<Abc@X.com>", "Abc@X.com"),
        ("  <abc@x.com>  ", "abc@x.com"),
        ("<abc@x.com> (Ann's mail)", "abc@x.com"),
        ("(comment first) <abc@x.com>", "abc@x.com"),
        ("abc@x.com", "abc@x.com"),
        ("<\r\n abc@x.com>", "abc@x.com"),
        ("<>", None),
        ("", None),
        ("   ", None),
        ("< >", None),
        ("two words", None),
        ("<" + "a" * 1000 + "@x>", None),
    ],
)
def test_normalise_message_id(value: str, expected: str | None) -> None:
    assert normalise_message_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@x> <b@x>", ("a@x", "b@x")),
        ("<a@x>\r\n\t<b@x> <a@x>", ("a@x", "b@x")),
        ("<a@x>,<b@x>", ("a@x", "b@x")),
        ('Your message of "Mon" <a@x>', ("a@x",)),
        ("a@x b@x, c@x", ("a@x", "b@x", "c@x")),
        ("no ids here", ()),
        ("", ()),
        ("<a@x> (comment <not@this>) <b@x>", ("a@x", "b@x")),
    ],
)
def test_message_ids_in_order_without_duplicates(value: str, expected: tuple[str, ...]) -> None:
    assert message_ids(value) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [TL-1042] Broken zip", "TL-1042"),
        ("[tl-1042]", "TL-1042"),
        ("Re: Fwd: [TL 1042] Broken", "TL-1042"),
        ("[ #TL-1042 ] hi", "TL-1042"),
        ("[TL1042]", "TL-1042"),
        ("TL-1042 without brackets", None),
        ("Order (TL-1042)", None),
        ("[XY-1042]", None),
        ("[TL-]", None),
        ("", None),
    ],
)
def test_case_ref_in_subject_only_in_brackets(subject: str, expected: str | None) -> None:
    assert case_ref_in_subject(subject) == expected


def test_addresses_are_lower_cased_named_and_deduplicated() -> None:
    raw = (
        "Ann <Ann@Example.COM>, bob@example.org, "
        "=?utf-8?q?M=C3=BCller=2C_Hans?= <h@x.de>, ann@example.com"
    )
    assert parse_addresses(raw) == (
        Address("ann@example.com", "Ann"),
        Address("bob@example.org"),
        Address("h@x.de", "Müller, Hans"),
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("undisclosed-recipients:;", None),
        ("<>", None),
        ("", None),
        (None, None),
        ("MAILER-DAEMON", None),
        ("ann@x.com (Ann Smith)", Address("ann@x.com", "Ann Smith")),
        ("Ann Example ann@example.com", Address("ann@example.com", "Ann Example")),
        ('"ann@x.com" <ann@x.com>', Address("ann@x.com")),
        ("Team: ann@x.com, bob@y.com;", Address("ann@x.com")),
    ],
)
def test_first_address_survives_odd_headers(raw: str | None, expected: Address | None) -> None:
    assert first_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mon, 3 Nov 2026 10:02:00 +0100", datetime(2026, 11, 3, 9, 2, tzinfo=UTC)),
        ("3 Nov 26 10:02 -0000", datetime(2026, 11, 3, 10, 2, tzinfo=UTC)),
        ("Mon, 3 Nov 2026 10:02:00 GMT (comment)", datetime(2026, 11, 3, 10, 2, tzinfo=UTC)),
        ("Mon, 3 Nov 1900 10:02:00 +0000", None),
        ("Mon, 3 Nov 9999 23:02:00 -1200", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        ("Mon, 31 Feb 2026 10:02:00 +0000", None),
    ],
)
def test_mail_date_is_utc_or_none(raw: str | None, expected: datetime | None) -> None:
    assert mail_date(raw) == expected


def test_thread_index_root_is_the_conversation_part() -> None:
    first = "AdtN8y3rQ1l2bWFkZW5uZXR3b3Jrcw=="  # 22 bytes: a new conversation
    reply = "AdtN8y3rQ1l2bWFkZW5uZXR3b3JrcwAAKx1hAA=="  # the same plus 5 bytes
    assert thread_index_root(first) == first
    assert thread_index_root(reply) == first
    assert thread_index_root("c2hvcnQ=") is None
    assert thread_index_root("!!!") is None
    assert thread_index_root(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
        ("=?utf-8?b?Y2Fmw6k?=", "café"),  # padding missing
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?_cr=C3=A8me?=", "café crème"),
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("plain =?utf-8?q?word?= plain", "plain word plain"),
        ("=?utf-8*en?q?hello?=", "hello"),
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?x-unknown?q?caf=E9?=", "café"),
        ("=?idna?q?caf=E9?=", "café"),
        ("=?utf-8?x?nonsense?=", "=?utf-8?x?nonsense?="),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?shift_jis?B?g4qDQw==?=", "リイ"),
    ],
)
def test_encoded_words(raw: str, expected: str) -> None:
    assert header_text(raw) == expected


def test_a_character_split_across_two_encoded_words_is_joined() -> None:
    euro = "€".encode()
    first = "=?utf-8?q?" + "".join(f"={b:02X}" for b in euro[:2]) + "?="
    second = "=?utf-8?q?" + "".join(f"={b:02X}" for b in euro[2:]) + "5?="
    assert decode_words(f"{first} {second}") == "€5"


def test_raw_eight_bit_headers_are_read_as_utf8_then_windows_1252() -> None:
    as_parsed = "Caf\udcc3\udca9".encode("ascii", "surrogateescape").decode(
        "ascii", "surrogateescape"
    )
    assert repair_header(as_parsed) == "Café"
    assert repair_header("Caf\udce9 \udc80") == "Café €"
    assert repair_header("plain") == "plain"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("iso-8859-1", "cp1252"),
        ("ISO_8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("us-ascii", "ascii"),
        ("Shift_JIS", "cp932"),
        ("x-sjis", "cp932"),
        ("gb2312", "gb18030"),
        ("ks_c_5601-1987", "cp949"),
        ('"utf-8"', "utf-8"),
        ("utf-7", "utf-7"),
        ("iso-2022-jp", "iso2022_jp"),
        ("iso-8859-8-i", "iso8859-8"),
        ("x-unknown", None),
        ("base64", None),
        ("idna", None),
        ("rot13", None),
        ("", None),
        (None, None),
        ("a" * 100, None),
        ("utf\x00-8", None),
    ],
)
def test_charset_labels_are_widened_to_what_senders_mean(
    label: str | None, codec: str | None
) -> None:
    assert codec_for(label) == codec


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        (b"\x93quoted\x94 \x80", "iso-8859-1", "“quoted” €"),
        (b"caf\xc3\xa9", None, "café"),
        (b"caf\xe9", None, "café"),
        (b"caf\xe9", "us-ascii", "café"),
        (b"caf\xc3\xa9", "x-martian", "café"),
        (b"caf\xe9", "x-martian", "café"),
        (b"caf\xe9", "utf-8", "caf\ufffd"),
        (b"+AOk-", "utf-7", "é"),
        (b"\x1b$B%F%9%H\x1b(B", "iso-2022-jp", "テスト"),
        (b"\x87@", "shift_jis", "①"),
        (b"x", "base64", "x"),
        (b"\x81", None, "\ufffd"),
    ],
)
def test_decode_bytes_never_raises(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("aGVsbG8=", b"hello"),
        ("aGVsbG8", b"hello"),
        ("aGVs\nbG8=", b"hello"),
        ("aGVs!!bG8", b"hello"),
        ("aGVsbG8x2", b"hello1"),  # a stray last character is dropped
        ("", b""),
    ],
)
def test_lenient_base64(encoded: str, expected: bytes) -> None:
    assert lenient_base64(encoded) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["utf-8", "iso-8859-1", "shift_jis", "x-bogus", "utf-7"]))
def test_header_text_never_raises_and_never_keeps_control_characters(
    text: str, charset: str
) -> None:
    for value in (text, f"=?{charset}?q?{text}?=", f"=?{charset}?b?{text}?="):
        decoded = header_text(value)
        assert "\x00" not in decoded
        assert "\n" not in decoded
    assert isinstance(normalise_message_id(text), str | None)
    assert isinstance(message_ids(text), tuple)
    assert isinstance(parse_addresses(text), tuple)
    assert mail_date(text) is None or mail_date(text).tzinfo is not None  # type: ignore[union-attr]
