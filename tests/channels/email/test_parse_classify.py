"""Which mails a machine sent: auto-replies, list mail, bounces and read receipts, told
apart from people, and what a bounce says."""

from __future__ import annotations

import pytest

from threadline.channels.email.parse import MailKind, parse_mail


def _mail(headers: str, body: str = "Hello.") -> bytes:
    head = "From: Ann <ann@example.com>\nTo: support@shop.example\n" + headers.strip()
    return (head.strip() + "\n\n" + body).encode()


@pytest.mark.parametrize(
    ("headers", "kind", "reason"),
    [
        ("Subject: hi", MailKind.PERSON, None),
        ("Auto-Submitted: no", MailKind.PERSON, None),
        ("Auto-Submitted: NO (a person)", MailKind.PERSON, None),
        ("Auto-Submitted: auto-replied", MailKind.AUTO_REPLY, "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: Auto-Generated", MailKind.AUTO_REPLY, "Auto-Submitted: auto-generated"),
        (
            "Auto-Submitted: auto-replied; owner-email=x@y",
            MailKind.AUTO_REPLY,
            "Auto-Submitted: auto-replied",
        ),
        ("Auto-Submitted: auto-notified", MailKind.AUTO_REPLY, "Auto-Submitted: auto-notified"),
        ("X-Autoreply: yes", MailKind.AUTO_REPLY, "X-Autoreply header"),
        ("X-Autorespond: on", MailKind.AUTO_REPLY, "X-Autorespond header"),
        ("Precedence: auto_reply", MailKind.AUTO_REPLY, "Precedence: auto_reply"),
        ("Subject: Automatic reply: Your order", MailKind.AUTO_REPLY, None),
        ("Subject: Out of Office: until Monday", MailKind.AUTO_REPLY, None),
        ("Subject: [Out of Office] until Monday", MailKind.AUTO_REPLY, None),
        ("Subject: Abwesenheitsnotiz: Bestellung", MailKind.AUTO_REPLY, None),
        ("Subject: Re: my colleague is out of office", MailKind.PERSON, None),
        ("Precedence: bulk", MailKind.BULK, "Precedence: bulk"),
        ("Precedence: list", MailKind.BULK, "Precedence: list"),
        ("Precedence: junk", MailKind.BULK, "Precedence: junk"),
        ("Precedence: first-class", MailKind.PERSON, None),
        ("List-Id: <makers.example.org>", MailKind.BULK, "List-Id header"),
        ("List-Unsubscribe: <mailto:u@x>", MailKind.BULK, "List-Unsubscribe header"),
        ("List-Post: NO", MailKind.BULK, "List-Post header"),
        ("Precedence: bulk\nAuto-Submitted: auto-replied", MailKind.AUTO_REPLY, None),
    ],
)
def test_kind_from_headers(headers: str, kind: MailKind, reason: str | None) -> None:
    mail = parse_mail(_mail(headers))
    assert mail.kind is kind
    if reason is not None or kind is MailKind.PERSON:
        assert mail.kind_reason == reason
    else:
        assert mail.kind_reason
    assert mail.suppress_auto_response is (kind is not MailKind.PERSON)


@pytest.mark.parametrize(
    ("value", "suppress"),
    [("All", True), ("OOF, AutoReply", True), ("DR", True), ("None", False), ("", False)],
)
def test_x_auto_response_suppress_is_honoured_for_people(value: str, suppress: bool) -> None:
    mail = parse_mail(_mail(f"X-Auto-Response-Suppress: {value}"))
    assert mail.kind is MailKind.PERSON
    assert mail.suppress_auto_response is suppress


def _report(report_type: str, machine: str, returned: str = "") -> bytes:
    parts = (
        "--r\nContent-Type: text/plain\n\nA report.\n"
        f"--r\nContent-Type: message/{report_type}\n\n{machine}\n"
        + (f"--r\n{returned}\n" if returned else "")
        + "--r--\n"
    )
    return _mail(
        f"Content-Type: multipart/report; report-type={report_type}; boundary=r\nSubject: r",
        parts,
    )


def test_a_bounce_names_the_first_failed_recipient() -> None:
    raw = _report(
        "delivery-status",
        "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; ok@x.example\nAction: delivered\n"
        "Status: 2.0.0\n\nFinal-Recipient: rfc822; <Gone@X.example>\nAction: Failed\n"
        "Status: 5.1.1 (no such user)\nDiagnostic-Code: X-Postfix; host said 550 5.1.1",
        "Content-Type: message/rfc822\n\nMessage-ID: <tl-out-1@shop.example>\nSubject: x\n\nbody",
    )
    mail = parse_mail(raw)
    assert mail.kind is MailKind.BOUNCE
    assert mail.bounce is not None
    assert mail.bounce.final_recipient == "gone@x.example"
    assert mail.bounce.action == "failed"
    assert mail.bounce.status == "5.1.1"
    assert mail.bounce.diagnostic == "host said 550 5.1.1"
    assert mail.bounce.permanent
    assert mail.bounce.original_message_id == "tl-out-1@shop.example"
    assert mail.forwarded_from is None


@pytest.mark.parametrize(
    ("fields", "permanent", "status"),
    [
        ("Action: delayed\nStatus: 4.4.7", False, "4.4.7"),
        ("Action: failed\nStatus: 4.4.7", True, "4.4.7"),
        ("Action: relayed\nStatus: 5.0.0", True, "5.0.0"),
        ("Action: failed", True, None),
        ("Action: delayed\nDiagnostic-Code: smtp; 451 4.2.0 try later", False, "4.2.0"),
    ],
)
def test_bounce_permanence(fields: str, permanent: bool, status: str | None) -> None:
    raw = _report(
        "delivery-status", f"Reporting-MTA: x\n\nFinal-Recipient: rfc822; a@b.c\n{fields}"
    )
    bounce = parse_mail(raw).bounce
    assert bounce is not None
    assert (bounce.permanent, bounce.status) == (permanent, status)


def test_a_report_with_no_fields_is_still_a_bounce() -> None:
    mail = parse_mail(_report("delivery-status", "garbage without fields"))
    assert mail.kind is MailKind.BOUNCE
    assert mail.bounce is not None
    assert mail.bounce.final_recipient is None


@pytest.mark.parametrize(
    ("subject", "permanent"),
    [("Mail delivery failed: returning message to sender", True), ("Warning: delayed mail", False)],
)
def test_plain_text_bounces_from_mailer_daemon(subject: str, permanent: bool) -> None:
    raw = f"From: Mail Delivery System <MAILER-DAEMON@mx.example>\nSubject: {subject}\n\nfailed"
    mail = parse_mail(raw.encode())
    if permanent:
        assert mail.kind is MailKind.BOUNCE
        assert mail.bounce is not None
        assert mail.bounce.permanent
    else:
        assert mail.kind is MailKind.PERSON  # "delayed" alone is not a bounce subject


def test_an_exim_bounce_marked_auto_submitted_is_still_a_bounce() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example>\n"
        b"Subject: Mail delivery failed: returning message to sender\n"
        b"Auto-Submitted: auto-replied\n\nA message that you sent could not be delivered."
    )
    mail = parse_mail(raw)
    assert mail.kind is MailKind.BOUNCE
    assert mail.kind_reason == "non-standard bounce from mailer-daemon@mx.example"


def test_a_person_writing_to_postmaster_about_delivery_is_a_person() -> None:
    mail = parse_mail(b"From: ann@example.com\nSubject: Delivery failed?\n\nMy parcel...")
    assert mail.kind is MailKind.PERSON


def test_a_read_receipt_names_the_message_it_confirms() -> None:
    raw = _report(
        "disposition-notification",
        "Final-Recipient: rfc822; ann@example.com\nOriginal-Message-ID: <tl-out-9@shop.example>\n"
        "Disposition: manual-action/MDN-sent-manually; displayed",
    )
    mail = parse_mail(raw)
    assert mail.kind is MailKind.RECEIPT
    assert mail.receipt_for == "tl-out-9@shop.example"
    assert mail.bounce is None
    assert mail.suppress_auto_response
