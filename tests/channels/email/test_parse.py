"""The email parser against a corpus of awkward mail (tests/channels/email/corpus), and
against the mails too big or too binary to keep there: each assertion is something a
person reading the mail in Threadline would see."""

from __future__ import annotations

import base64
import io
import tomllib
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from threadline.channels.email.parse import (
    MailKind,
    ParsedMail,
    case_ref_in_subject,
    parse_mail,
)
from threadline.errors import InvalidInput

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text())
MAILS = sorted(path.name for path in CORPUS.glob("*.eml"))


def test_the_corpus_is_large_and_every_mail_has_expectations() -> None:
    assert len(MAILS) >= 40
    assert sorted(EXPECTED) == MAILS


def _none_if_empty(value: str) -> str | None:
    return value or None


def _check_addresses(mail: ParsedMail, want: dict[str, Any]) -> None:
    if "sender" in want:
        address = mail.sender.address if mail.sender else None
        assert address == _none_if_empty(want["sender"])
    if "sender_name" in want:
        assert mail.sender is not None
        assert mail.sender.name == want["sender_name"]
    if "reply_to" in want:
        assert mail.reply_to is not None
        assert mail.reply_to.address == want["reply_to"]
    for field in ("to", "cc"):
        if field in want:
            assert [a.address for a in getattr(mail, field)] == want[field]
    if "forwarded_from" in want:
        forwarded = mail.forwarded_from.address if mail.forwarded_from else None
        assert forwarded == _none_if_empty(want["forwarded_from"])


def _check_threading(mail: ParsedMail, want: dict[str, Any]) -> None:
    if "message_id" in want:
        assert mail.message_id == _none_if_empty(want["message_id"])
    if "date" in want:
        expected = datetime.fromisoformat(want["date"]) if want["date"] else None
        assert mail.date == expected
        if mail.date is not None:
            assert mail.date.utcoffset() is not None
    for field in ("in_reply_to", "references"):
        if field in want:
            assert list(getattr(mail, field)) == want[field]
    if "thread_index_root" in want:
        assert mail.thread_index_root == want["thread_index_root"]
    if "case_ref" in want:
        assert case_ref_in_subject(mail.subject) == _none_if_empty(want["case_ref"])
    if "marker" in want:
        assert mail.marker == want["marker"]


def _check_body(mail: ParsedMail, want: dict[str, Any]) -> None:
    if "text" in want:
        assert mail.text == want["text"]
    if "quoted" in want:
        assert mail.quoted == want["quoted"]
    for phrase in want.get("text_has", []):
        assert phrase in mail.text
    for phrase in want.get("text_lacks", []):
        assert phrase not in mail.text
    for phrase in want.get("quoted_has", []):
        assert phrase in mail.quoted
    if "html" in want:
        assert (mail.html is not None) == want["html"]
    for phrase in want.get("html_has", []):
        assert mail.html is not None
        assert phrase in mail.html
    for phrase in want.get("html_lacks", []):
        assert phrase not in (mail.html or "")


def _check_files(mail: ParsedMail, want: dict[str, Any]) -> None:
    if "attachments" in want:
        assert [f.filename for f in mail.attachments] == want["attachments"]
    if "inline" in want:
        assert [f.filename for f in mail.attachments if f.inline] == want["inline"]
    if "content_types" in want:
        assert [f.content_type for f in mail.attachments] == want["content_types"]
    for file in mail.attachments:
        assert file.filename
        assert "/" not in file.filename
        assert "\\" not in file.filename


def _check_kind(mail: ParsedMail, want: dict[str, Any]) -> None:
    assert mail.kind == MailKind(want["kind"])
    if mail.kind is MailKind.PERSON:
        assert mail.kind_reason is None
    if "kind_reason" in want:
        assert mail.kind_reason == want["kind_reason"]
    if "suppress" in want:
        assert mail.suppress_auto_response is want["suppress"]
    if "damaged" in want:
        assert mail.damaged is want["damaged"]
    if "receipt_for" in want:
        assert mail.receipt_for == want["receipt_for"]
    assert (mail.bounce is not None) == (mail.kind is MailKind.BOUNCE)
    bounce_fields = {
        "bounce_permanent": "permanent",
        "bounce_recipient": "final_recipient",
        "bounce_action": "action",
        "bounce_status": "status",
        "bounce_diagnostic": "diagnostic",
        "bounce_original": "original_message_id",
    }
    for key, attribute in bounce_fields.items():
        if key in want:
            assert getattr(mail.bounce, attribute) == want[key]


@pytest.mark.parametrize("name", MAILS)
def test_corpus_mail_reads_as_a_person_would_see_it(name: str) -> None:
    mail = parse_mail((CORPUS / name).read_bytes())
    want = EXPECTED[name]
    assert mail.subject == want.get("subject", mail.subject)
    _check_addresses(mail, want)
    _check_threading(mail, want)
    _check_body(mail, want)
    _check_files(mail, want)
    _check_kind(mail, want)


@pytest.mark.parametrize("name", MAILS)
def test_corpus_mail_survives_crlf_and_lf_line_endings_alike(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    unix = parse_mail(raw.replace(b"\r\n", b"\n"))
    windows = parse_mail(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert windows.text == unix.text
    assert windows.subject == unix.subject
    assert [f.filename for f in windows.attachments] == [f.filename for f in unix.attachments]


def _mail(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def test_a_zip_inside_a_zip_is_one_file_never_unpacked() -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("secret.txt", "inside")
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("inner.zip", inner.getvalue())
    raw = _mail(
        """
From: a@example.com
Content-Type: multipart/mixed; boundary=z
""",
        b"--z\r\nContent-Type: text/plain\r\n\r\nsee zip\r\n--z\r\n"
        b"Content-Type: application/zip; name=outer.zip\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.encodebytes(outer.getvalue()) + b"--z--\r\n",
    )
    mail = parse_mail(raw)
    assert [f.filename for f in mail.attachments] == ["outer.zip"]
    assert mail.attachments[0].content == outer.getvalue()
    with zipfile.ZipFile(io.BytesIO(mail.attachments[0].content)) as archive:
        assert archive.namelist() == ["inner.zip"]


def test_the_committed_zip_of_a_zip_is_kept_as_sent() -> None:
    mail = parse_mail((CORPUS / "zip_in_zip.eml").read_bytes())
    with zipfile.ZipFile(io.BytesIO(mail.attachments[0].content)) as archive:
        assert archive.namelist() == ["inner.zip"]
        with zipfile.ZipFile(io.BytesIO(archive.read("inner.zip"))) as nested:
            assert nested.namelist() == ["invoice-2026-11.csv"]


def test_a_15_mb_attachment_comes_through_byte_for_byte() -> None:
    blob = bytes(range(256)) * (15 * 1024 * 4)  # 15 MiB
    raw = _mail(
        """
From: Big Sender <big@example.com>
Subject: Large file
Content-Type: multipart/mixed; boundary=big
""",
        b"--big\r\nContent-Type: text/plain\r\n\r\nHere is the video.\r\n--big\r\n"
        b"Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(blob).replace(b"\n", b"\r\n")
        + b"--big--\r\n",
    )
    mail = parse_mail(raw)
    assert mail.text == "Here is the video."
    assert [f.filename for f in mail.attachments] == ["video.mp4"]
    assert mail.attachments[0].content == blob


def test_mail_over_the_size_limit_is_refused() -> None:
    raw = _mail("From: a@example.com", b"x" * 2000)
    with pytest.raises(InvalidInput, match="limit"):
        parse_mail(raw, max_bytes=1000)
    assert parse_mail(raw, max_bytes=len(raw)).text == "x" * 2000


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n",
        b"just some words, no header at all\n",
        b'{"json": true}',
        b"\x89PNG\r\n",
    ],
)
def test_what_is_not_a_mail_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_mail(raw)


def test_a_leading_byte_order_mark_and_blank_lines_are_forgiven() -> None:
    mail = parse_mail(b"\xef\xbb\xbf\r\nFrom: a@example.com\r\nSubject: hi\r\n\r\nbody")
    assert mail.subject == "hi"
    assert mail.text == "body"


def test_nesting_deeper_than_any_client_writes_is_cut_off_not_fatal() -> None:
    depth = 40
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--" % i for i in reversed(range(depth)))
    raw = b"From: a@example.com\r\n" + head + b"Content-Type: text/plain\r\n\r\ndeep" + tail
    mail = parse_mail(raw)
    assert mail.damaged
    assert isinstance(mail.text, str)


def test_nesting_too_deep_for_the_parser_still_gives_the_headers() -> None:
    depth = 1500  # past the recursion limit of the standard library parser
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)
    )
    raw = b"From: a@example.com\nSubject: deep\n" + head + b"Content-Type: text/plain\n\nx\n"
    mail = parse_mail(raw)
    assert mail.subject == "deep"
    assert mail.sender is not None
    assert mail.damaged


def test_cid_reference_marks_an_image_inline_even_without_disposition() -> None:
    raw = _mail(
        """
From: a@example.com
Content-Type: multipart/related; boundary=r
""",
        b'--r\r\nContent-Type: text/html\r\n\r\n<p>logo <img src="cid:Logo%40x"></p>\r\n'
        b"--r\r\nContent-Type: image/gif\r\nContent-ID: <Logo@x>\r\n\r\nGIF89a\r\n"
        b"--r\r\nContent-Type: image/gif\r\nContent-ID: <unused@x>\r\n\r\nGIF89a!\r\n--r--",
    )
    files = parse_mail(raw).attachments
    assert [(f.filename, f.inline, f.content_id) for f in files] == [
        ("image.gif", True, "Logo@x"),
        ("image.gif", False, "unused@x"),
    ]


def test_related_root_is_found_by_its_start_parameter() -> None:
    raw = _mail(
        """
From: a@example.com
Content-Type: multipart/related; boundary=r; start="<root@x>"
""",
        b"--r\r\nContent-Type: image/png\r\nContent-ID: <pic@x>\r\n\r\nPNG\r\n"
        b"--r\r\nContent-Type: text/html\r\nContent-ID: <root@x>\r\n\r\n<p>the root</p>\r\n--r--",
    )
    mail = parse_mail(raw)
    assert mail.text == "the root"
    assert [f.filename for f in mail.attachments] == ["image.png"]


def test_a_plain_piece_between_html_pieces_is_escaped_into_the_html() -> None:
    raw = _mail(
        """
From: a@example.com
Content-Type: multipart/mixed; boundary=m
""",
        b"--m\r\nContent-Type: text/html\r\n\r\n<p>first</p>\r\n"
        b"--m\r\nContent-Type: text/plain\r\n\r\n<b>not markup</b>\r\n--m--",
    )
    mail = parse_mail(raw)
    assert mail.text == "first\n\n<b>not markup</b>"
    assert mail.html is not None
    assert "&lt;b&gt;not markup&lt;/b&gt;" in mail.html


def test_a_forward_of_a_forward_is_read_to_the_bottom() -> None:
    innermost = b"From: c@example.com\r\nSubject: root\r\n\r\nthe original words"
    middle = (
        b"From: b@example.com\r\nSubject: Fwd: root\r\nContent-Type: message/rfc822\r\n\r\n"
        + innermost
    )
    raw = b"From: a@example.com\r\nSubject: Fwd: Fwd: root\r\nContent-Type: message/rfc822\r\n\r\n"
    mail = parse_mail(raw + middle)
    assert "the original words" in mail.text
    assert mail.forwarded_from is not None
    assert mail.forwarded_from.address == "b@example.com"
    assert [f.filename for f in mail.attachments] == ["Fwd_ root.eml"]


def test_a_bounce_without_a_readable_part_still_says_what_failed() -> None:
    raw = _mail(
        """
From: MAILER-DAEMON@example.net
Content-Type: multipart/report; report-type=delivery-status; boundary=d
""",
        b"--d\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 no such user\r\n--d--",
    )
    mail = parse_mail(raw)
    assert mail.kind is MailKind.BOUNCE
    assert mail.text == "Delivery to gone@example.org failed: 550 no such user"


def test_a_base64_encoded_delivery_status_is_still_read() -> None:
    status = b"Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; b@example.org\nStatus: 5.2.2\n"
    raw = _mail(
        """
From: postmaster@example.net
Content-Type: multipart/report; report-type=delivery-status; boundary=d
""",
        b"--d\r\nContent-Type: text/plain\r\n\r\nmailbox full\r\n"
        b"--d\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(status)
        + b"--d--",
    )
    bounce = parse_mail(raw).bounce
    assert bounce is not None
    assert (bounce.final_recipient, bounce.status, bounce.permanent) == (
        "b@example.org",
        "5.2.2",
        True,
    )


def test_text_and_quoted_together_keep_every_word_of_the_body() -> None:
    for name in MAILS:
        mail = parse_mail((CORPUS / name).read_bytes())
        assert isinstance(mail.text, str)
        assert isinstance(mail.quoted, str)
        if mail.quoted:
            assert mail.text.strip(), name  # never everything quoted away


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (b"attachment; filename*=utf-8''na%C3%AFve.pdf", "naïve.pdf"),
        (b"attachment; filename*=utf-8''na\xc3\xafve.pdf", "naïve.pdf"),
        (b"attachment; filename*=iso-8859-1''na%EFve.pdf", "naïve.pdf"),
        (b"attachment; filename*=x-unknown''na%EFve.pdf", "naïve.pdf"),
        (b'attachment; filename="na\xc3\xafve.pdf"', "naïve.pdf"),
        (b'attachment; filename="na\xefve.pdf"', "naïve.pdf"),
        (b'attachment; filename="=?iso-8859-1?q?na=EFve?=.pdf"', "naïve.pdf"),
        (b"attachment; filename=C:\\Users\\ann\\report.pdf", "report.pdf"),
        (b'attachment; filename="../../etc/passwd"', "passwd"),
        (b'attachment; filename="..."', "attachment.pdf"),
        (b'attachment; filename="a\x01b?.pdf"', "ab_.pdf"),
        (b"attachment; filename=" + b"x" * 300 + b".pdf", "x" * 196 + ".pdf"),
        (b"attachment", "attachment.pdf"),
    ],
)
def test_attachment_names_are_decoded_and_made_safe(disposition: bytes, filename: str) -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: " + disposition + b"\r\n\r\n%PDF"
    )
    assert [f.filename for f in parse_mail(raw).attachments] == [filename]


def test_html_that_sanitises_to_nothing_is_no_html() -> None:
    raw = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<script>x()</script>"
    mail = parse_mail(raw)
    assert mail.html is None
    assert mail.text == ""


def test_nul_and_control_characters_never_reach_the_text() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: a\x00b\x07c\r\n"
        b"Content-Type: multipart/alternative; boundary=absent\r\n\r\n\x00one\x1btwo\tthree"
    )
    mail = parse_mail(raw)
    assert mail.subject == "abc"
    assert mail.text == "onetwo\tthree"
