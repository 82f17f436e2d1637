"""Building reply mail and sending it through a real SMTP server: the threading headers,
the case ref in the subject, the relay URL's forms, and what each relay answer means
for the outbox (sent, try again, failed for good)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.mail_support import PASSWORD, USER, SmtpSink, make_certificate
from threadline.channels.base import IdentityRef, Outbound
from threadline.channels.email.outgoing import (
    MAX_REFERENCES,
    Relay,
    SmtpSender,
    build_message,
    reply_subject,
    thread_references,
)
from threadline.vocabulary import Channel, Delivery, IdentityKind

DOMAIN = "desk.example"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def outbound(
    text: str = "Your parcel ships today.",
    *,
    to: str = "ann@example.com",
    subject: str | None = "Where is order 1001?",
    **meta: object,
) -> Outbound:
    return Outbound(
        outbox_id=7,
        touch_id=11,
        channel=Channel.EMAIL,
        to=IdentityRef(IdentityKind.EMAIL, to),
        text=text,
        subject=subject,
        meta={
            "message_id": "<abc123@desk.example>",
            "in_reply_to": "<cust-2@example.com>",
            "references": ["<cust-1@example.com>"],
            "case_ref": "TL-1042",
            "from": "help@shop.example",
            **meta,
        },
    )


# Building the message


def test_a_reply_carries_our_id_the_customers_thread_and_the_ref() -> None:
    message = build_message(
        outbound(),
        mail_domain=DOMAIN,
        from_address="help@shop.example",
        message_id="<abc123@desk.example>",
        in_reply_to="cust-2@example.com",
        references=["<cust-1@example.com>"],
        case_ref="TL-1042",
        date=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
    )
    assert message["Message-ID"] == "<abc123@desk.example>"
    assert message["In-Reply-To"] == "<cust-2@example.com>"
    assert message["References"] == "<cust-1@example.com> <cust-2@example.com>"
    assert message["Subject"] == "Re: Where is order 1001? [TL-1042]"
    assert message["X-Threadline-Ref"] == "TL-1042"
    assert message["From"] == "help@shop.example"
    assert message["To"] == "ann@example.com"
    assert message["Date"] == "Mon, 23 Nov 2026 09:30:00 +0000"
    # A person wrote this: autoresponders may answer it.
    assert "Auto-Submitted" not in message
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"


def test_the_text_survives_in_utf8() -> None:
    text = "Grüße aus Köln — your refund of £12 is on its way. 🚚"
    message = build_message(
        outbound(text),
        mail_domain=DOMAIN,
        from_address="help@shop.example",
        message_id="<x@desk.example>",
        in_reply_to=None,
        references=[],
        case_ref="TL-1042",
    )
    assert message.get_content().strip() == text
    assert "In-Reply-To" not in message and "References" not in message


@pytest.mark.parametrize(
    ("subject", "is_reply", "expected"),
    [
        ("Order 1001", True, "Re: Order 1001 [TL-1042]"),
        ("Re: Order 1001", True, "Re: Order 1001 [TL-1042]"),
        ("RE: Order 1001 [TL-1042]", True, "RE: Order 1001 [TL-1042]"),
        ("Aw: Bestellung [tl-1042]", True, "Aw: Bestellung [tl-1042]"),
        ("Re: Order [#TL 1042]", True, "Re: Order [#TL 1042]"),
        # Another case's ref is not ours: ours is still added.
        ("Re: Order [TL-10421]", True, "Re: Order [TL-10421] [TL-1042]"),
        ("Order 1001", False, "Order 1001 [TL-1042]"),
        ("", True, "Re: Your request [TL-1042]"),
        (None, False, "Your request [TL-1042]"),
        # A line break in a subject would start a new header: never.
        (
            "Order\r\nBcc: everyone@example.com",
            True,
            "Re: Order Bcc: everyone@example.com [TL-1042]",
        ),
    ],
)
def test_subject_has_re_once_and_the_ref_once(
    subject: str | None, is_reply: bool, expected: str
) -> None:
    assert reply_subject(subject, "TL-1042", is_reply=is_reply) == expected


def test_references_are_the_parents_plus_the_parent_each_once() -> None:
    assert thread_references(["<a@x>", "b@x", "<a@x>"], "<c@x>") == ["<a@x>", "<b@x>", "<c@x>"]
    assert thread_references(["<a@x>", "<c@x>"], "c@x") == ["<a@x>", "<c@x>"]
    assert thread_references([], None) == []
    assert thread_references(["", "<>"], None) == []


def test_a_long_thread_keeps_its_root_and_newest_references() -> None:
    chain = [f"<m{i}@x>" for i in range(60)]
    kept = thread_references(chain, "<parent@x>")
    assert len(kept) == MAX_REFERENCES
    assert kept[0] == "<m0@x>" and kept[-1] == "<parent@x>" and kept[-2] == "<m59@x>"


@pytest.mark.parametrize(
    ("url", "relay"),
    [
        ("smtp://mail.example.com", Relay("mail.example.com", 25, "plain")),
        ("smtp://u:p@mail.example.com:2525", Relay("mail.example.com", 2525, "plain", "u", "p")),
        ("smtp://mail.example.com?starttls=1", Relay("mail.example.com", 587, "starttls")),
        ("smtp://mail.example.com:25?starttls=true", Relay("mail.example.com", 25, "starttls")),
        ("smtp://mail.example.com?starttls=0", Relay("mail.example.com", 25, "plain")),
        ("smtps://mail.example.com", Relay("mail.example.com", 465, "tls")),
        (
            "smtps://me%40shop.example:p%3Ass@mail.example.com:4650",
            Relay("mail.example.com", 4650, "tls", "me@shop.example", "p:ss"),
        ),
    ],
)
def test_relay_urls(url: str, relay: Relay) -> None:
    assert Relay.from_url(url) == relay


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com"])
def test_a_relay_url_that_is_not_one_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="smtp://"):
        Relay.from_url(url)


# Sending through a real SMTP server


def test_sent_mail_arrives_as_built(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.url(), mail_domain=DOMAIN)
    result = sender.send(outbound())
    assert result.status is Delivery.SENT and not result.retry
    assert result.external_id == "<abc123@desk.example>"
    (got,) = sink.received
    assert got.mail_from == "help@shop.example"
    assert got.rcpt_tos == ("ann@example.com",)
    assert got.login is None
    message = got.message
    assert message["Message-ID"] == "<abc123@desk.example>"
    assert message["In-Reply-To"] == "<cust-2@example.com>"
    assert message["References"] == "<cust-1@example.com> <cust-2@example.com>"
    assert message["Subject"] == "Re: Where is order 1001? [TL-1042]"
    assert message.get_content().strip() == "Your parcel ships today."


def test_without_a_known_mailbox_mail_comes_from_support_at_our_domain(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.url(), mail_domain=DOMAIN)
    assert sender.send(outbound(**{"from": None})).status is Delivery.SENT
    (got,) = sink.received
    assert got.message["From"] == f"support@{DOMAIN}"
    assert got.mail_from == f"support@{DOMAIN}"


def test_a_row_without_a_message_id_gets_a_stable_one(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.url(), mail_domain=DOMAIN)
    first = sender.send(outbound(message_id=None))
    again = sender.send(outbound(message_id=None))
    assert first.external_id == again.external_id == f"<outbox-7.11@{DOMAIN}>"
    assert [r.message["Message-ID"] for r in sink.received] == [first.external_id] * 2


def test_the_relay_login_is_used_when_the_url_has_one(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.url(login=True), mail_domain=DOMAIN)
    assert sender.send(outbound()).status is Delivery.SENT
    assert sink.received[0].login == USER


def test_a_refused_login_is_tried_again_later(sink: SmtpSink) -> None:
    url = sink.url(login=True).replace(PASSWORD.replace(" ", "%20"), "wrong")
    result = SmtpSender(url, mail_domain=DOMAIN).send(outbound())
    # Our configuration, not the message, is wrong: keep it until someone fixes it.
    assert result.status is Delivery.FAILED and result.retry
    assert "login" in (result.error or "") and "535" in (result.error or "")
    assert sink.received == []


@pytest.mark.parametrize("at", ["RCPT", "DATA"])
def test_a_4xx_answer_is_tried_again(sink: SmtpSink, at: str) -> None:
    sink.answer("451 4.3.0 Relay temporarily down", at=at)
    result = SmtpSender(sink.url(), mail_domain=DOMAIN).send(outbound())
    assert result.status is Delivery.FAILED and result.retry
    assert result.error is not None and result.error.startswith("451")
    assert "temporarily down" in result.error


@pytest.mark.parametrize("at", ["RCPT", "DATA"])
def test_a_5xx_answer_is_final(sink: SmtpSink, at: str) -> None:
    sink.answer("550 5.1.1 No such user here", at=at)
    result = SmtpSender(sink.url(), mail_domain=DOMAIN).send(outbound())
    assert result.status is Delivery.FAILED and not result.retry
    assert result.error == "550 5.1.1 No such user here"


def test_an_unreachable_relay_is_tried_again() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        result = SmtpSender(f"smtp://127.0.0.1:{port}", mail_domain=DOMAIN, timeout=5).send(
            outbound()
        )
    assert result.status is Delivery.FAILED and result.retry
    assert "unreachable" in (result.error or "")


def test_a_relay_that_never_answers_times_out_and_is_tried_again() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()  # accepts the connection but never greets
        port = server.getsockname()[1]
        result = SmtpSender(f"smtp://127.0.0.1:{port}", mail_domain=DOMAIN, timeout=0.5).send(
            outbound()
        )
    assert result.status is Delivery.FAILED and result.retry


def test_an_unbuildable_address_fails_for_good_without_calling_the_relay(sink: SmtpSink) -> None:
    result = SmtpSender(sink.url(), mail_domain=DOMAIN).send(outbound(to="not an address"))
    assert result.status is Delivery.FAILED and not result.retry
    assert "could not be built" in (result.error or "")
    assert sink.received == []


def test_starttls(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    with SmtpSink(tls=certificate.server_context()) as sink:
        sender = SmtpSender(
            sink.url(login=True), mail_domain=DOMAIN, ssl_context=certificate.client_context()
        )
        assert sender.relay.security == "starttls"
        assert sender.send(outbound()).status is Delivery.SENT
        assert sink.received[0].login == USER
        # Without trusting the certificate the connection is refused, and tried again.
        untrusting = SmtpSender(sink.url(), mail_domain=DOMAIN)
        result = untrusting.send(outbound())
        assert result.status is Delivery.FAILED and result.retry
        assert len(sink.received) == 1


def test_implicit_tls(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    with SmtpSink(tls=certificate.server_context(), implicit_tls=True) as sink:
        sender = SmtpSender(
            sink.url(login=True), mail_domain=DOMAIN, ssl_context=certificate.client_context()
        )
        assert sender.relay.security == "tls"
        assert sender.send(outbound()).status is Delivery.SENT
        assert sink.received[0].login == USER
