"""The inbound SMTP listener, spoken to with a real SMTP client (and raw sockets) on
loopback: what it accepts, what it refuses, and that a message it said 250 to is stored
with its exact bytes, whatever happens to its processing."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from threadline.actions import Actor
from threadline.actions.mailboxes import KeptMail, add_mailbox, store_mails
from threadline.channels.email import intake, smtp_server
from threadline.channels.email.smtp_server import GroupCommit, SmtpListener
from threadline.config import Settings
from threadline.models import InboundMail, Mailbox
from threadline.runtime import Runtime
from threadline.vocabulary import MailState

MAX_BYTES = 64 * 1024

MESSAGE = (
    b"From: Ann Customer <ann@customer.example>\r\n"
    b"To: support@shop.example\r\n"
    b"Subject: Where is my order?\r\n"
    b"Message-ID: <order-question-1@customer.example>\r\n"
    b"\r\n"
    b"Hello,\r\n"
    b".. a line that starts with a dot survives dot-stuffing\r\n"
    b"Ann\r\n"
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path / "data",
        smtp_listen="127.0.0.1:0",
        smtp_max_bytes=MAX_BYTES,
    )


@pytest.fixture
def mailbox(db: Session, runtime: Runtime) -> Mailbox:
    return add_mailbox(
        db, runtime.env, Actor.system(), "Support@Shop.example", team=None, imap_url=None
    )


@pytest.fixture
def listener(runtime: Runtime, mailbox: Mailbox) -> Iterator[SmtpListener]:
    with SmtpListener(runtime) as running:
        yield running


def _client(listener: SmtpListener) -> smtplib.SMTP:
    return smtplib.SMTP(listener.host, listener.port, timeout=10)


def _rows(runtime: Runtime) -> list[InboundMail]:
    with runtime.db.reading() as db:
        return list(db.scalars(select(InboundMail).order_by(InboundMail.id)))


def _settled(runtime: Runtime, mail_id: int, timeout: float = 10.0) -> InboundMail:
    """The row once processing (which runs after the 250) has left `stored`."""
    deadline = time.monotonic() + timeout
    while True:
        with runtime.db.reading() as db:
            row = db.get(InboundMail, mail_id)
            assert row is not None
            if row.state is not MailState.STORED or time.monotonic() > deadline:
                return row
        time.sleep(0.02)


def test_ehlo_advertises_the_size_limit(listener: SmtpListener) -> None:
    with _client(listener) as client:
        client.ehlo()
        assert client.has_extn("size")
        assert client.esmtp_features["size"] == str(MAX_BYTES)


def test_mail_to_a_mailbox_is_stored_with_its_exact_bytes(
    runtime: Runtime, listener: SmtpListener, mailbox: Mailbox
) -> None:
    with _client(listener) as client:
        refused = client.sendmail("ann@customer.example", ["Support+TL-1042@SHOP.example"], MESSAGE)
    assert refused == {}
    [row] = _rows(runtime)
    assert row.mailbox_id == mailbox.id
    assert row.source == "smtp"
    assert row.mail_from == "ann@customer.example"
    assert row.rcpt_to == ["Support+TL-1042@SHOP.example"]
    assert row.message_id == "order-question-1@customer.example"
    assert row.size == len(MESSAGE)
    assert runtime.env.files.read(row.sha256) == MESSAGE
    settled = _settled(runtime, row.id)
    # Until processing is written it fails; either way the message is kept.
    assert settled.state in {MailState.PROCESSED, MailState.IGNORED, MailState.FAILED}
    if settled.state is MailState.FAILED:
        assert settled.reason
        assert settled.attempts == 1


def test_the_answer_names_the_stored_message(runtime: Runtime, listener: SmtpListener) -> None:
    with _client(listener) as client:
        client.ehlo()
        client.mail("ann@customer.example")
        client.rcpt("support@shop.example")
        code, reply = client.data(MESSAGE)
    [row] = _rows(runtime)
    assert code == 250
    assert reply.decode().endswith(f"stored as {row.id}")


def test_unknown_recipient_is_refused_at_rcpt_and_nothing_is_stored(
    runtime: Runtime, listener: SmtpListener
) -> None:
    with _client(listener) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("ann@customer.example", ["sales@shop.example"], MESSAGE)
    code, reply = refused.value.recipients["sales@shop.example"]
    assert code == 550
    assert reply.startswith(b"5.1.1")
    assert _rows(runtime) == []


def test_of_several_recipients_only_ours_are_kept(
    runtime: Runtime, listener: SmtpListener, mailbox: Mailbox
) -> None:
    with _client(listener) as client:
        refused = client.sendmail(
            "ann@customer.example",
            ["nobody@elsewhere.example", "support@shop.example", "root@shop.example"],
            MESSAGE,
        )
    assert set(refused) == {"nobody@elsewhere.example", "root@shop.example"}
    [row] = _rows(runtime)
    assert row.rcpt_to == ["support@shop.example"]
    assert row.mailbox_id == mailbox.id


def test_an_inactive_mailbox_takes_no_mail(
    runtime: Runtime, listener: SmtpListener, mailbox: Mailbox
) -> None:
    with runtime.db.session() as db:
        db.execute(update(Mailbox).where(Mailbox.id == mailbox.id).values(active=False))
        db.commit()
    with _client(listener) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE)
    assert _rows(runtime) == []


def test_a_declared_size_over_the_limit_is_refused_at_mail(
    runtime: Runtime, listener: SmtpListener
) -> None:
    big = MESSAGE + b"x" * 76 * 1000 + b"\r\n"
    with _client(listener) as client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        # smtplib declares SIZE= because the listener advertises SIZE.
        client.sendmail("ann@customer.example", ["support@shop.example"], big)
    assert refused.value.smtp_code == 552
    assert _rows(runtime) == []


def test_data_over_the_limit_is_refused_and_nothing_is_stored(
    runtime: Runtime, listener: SmtpListener
) -> None:
    lines = b"".join(b"%06d " % n + b"y" * 70 + b"\r\n" for n in range(1200))
    with _client(listener) as client:
        client.ehlo()
        client.mail("ann@customer.example")  # no SIZE declared
        client.rcpt("support@shop.example")
        code, reply = client.data(MESSAGE + lines)
    assert code == 552, reply
    assert _rows(runtime) == []


def test_a_failed_store_answers_451_and_keeps_nothing(
    runtime: Runtime, listener: SmtpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_away(*args: object, **kwargs: object) -> int:
        raise OperationalError("INSERT", {}, Exception("the database is away"))

    monkeypatch.setattr(intake, "store_mails", database_away)
    with _client(listener) as client:
        client.ehlo()
        client.mail("ann@customer.example")
        client.rcpt("support@shop.example")
        code, reply = client.data(MESSAGE)
    assert code == 451
    assert reply.startswith(b"4.3.0")
    assert _rows(runtime) == []
    monkeypatch.undo()
    # The sender tries again, and now it is kept.
    with _client(listener) as client:
        assert client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE) == {}
    assert len(_rows(runtime)) == 1


def test_a_processing_failure_keeps_the_message_with_its_reason(
    runtime: Runtime, listener: SmtpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser fell over")

    monkeypatch.setattr(intake, "process_mails", broken)
    with _client(listener) as client:
        assert client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE) == {}
    [row] = _rows(runtime)
    settled = _settled(runtime, row.id)
    assert settled.state is MailState.FAILED
    assert settled.reason == "RuntimeError: parser fell over"
    assert settled.attempts == 1
    assert runtime.env.files.read(settled.sha256) == MESSAGE


def _numbered(n: int) -> bytes:
    return MESSAGE.replace(b"order-question-1@", b"order-question-%d@" % n)


def test_concurrent_senders_each_hear_250_for_their_own_stored_message(
    runtime: Runtime, listener: SmtpListener
) -> None:
    """Messages whose DATA ends together are committed together; each answer still
    names its own row, and every row holds its own bytes."""

    def send(n: int) -> tuple[int, bytes]:
        with _client(listener) as client:
            client.ehlo()
            client.mail(f"sender{n}@customer.example")
            client.rcpt("support@shop.example")
            return client.data(_numbered(n))

    with ThreadPoolExecutor(8) as senders:
        answers = list(senders.map(send, range(16)))
    assert {code for code, _ in answers} == {250}
    named = [int(reply.decode().rsplit(" ", 1)[1]) for _, reply in answers]
    rows = {row.id: row for row in _rows(runtime)}
    assert sorted(named) == sorted(rows)
    for n, mail_id in enumerate(named):
        assert rows[mail_id].mail_from == f"sender{n}@customer.example"
        assert runtime.env.files.read(rows[mail_id].sha256) == _numbered(n)
    for mail_id in named:
        assert _settled(runtime, mail_id).state is MailState.PROCESSED


def test_one_row_that_cannot_be_stored_costs_no_other_its_250(
    runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing_the_bad(db: Session, env: object, mails: Sequence[KeptMail]) -> list[int]:
        if any(mail.mail_from == "bad@customer.example" for mail in mails):
            raise OperationalError("INSERT", {}, Exception("value too long"))
        return store_mails(db, runtime.env, mails)

    monkeypatch.setattr(intake, "store_mails", refusing_the_bad)
    kept = [
        intake.keep(
            runtime,
            _numbered(n),
            source="smtp",
            mail_from=sender,
            rcpt_to=["support@shop.example"],
            mailbox_id=mailbox.id,
        )
        for n, sender in enumerate(["a@customer.example", "bad@customer.example", "c@x.example"])
    ]
    with ThreadPoolExecutor(1) as pool:
        first, bad, last = GroupCommit(runtime, pool)._commit(kept)
    assert isinstance(first, int) and isinstance(last, int)
    assert isinstance(bad, OperationalError)
    assert [row.mail_from for row in _rows(runtime)] == ["a@customer.example", "c@x.example"]


def test_a_mailbox_switched_off_is_refused_once_its_lookup_is_stale(
    runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real = smtp_server.mailbox_for_address

    def counted(db: Session, address: str) -> Mailbox | None:
        lookups.append(address)
        return real(db, address)

    monkeypatch.setattr(smtp_server, "mailbox_for_address", counted)
    with SmtpListener(runtime) as listener:
        for _ in range(3):
            with _client(listener) as client:
                assert (
                    client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE) == {}
                )
    assert lookups == ["support@shop.example"]  # read once, reused while fresh

    monkeypatch.setattr(smtp_server, "MAILBOX_TTL_SECONDS", 0.0)
    with SmtpListener(runtime) as listener:
        with _client(listener) as client:
            assert client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE) == {}
        with runtime.db.session() as db:
            db.execute(update(Mailbox).where(Mailbox.id == mailbox.id).values(active=False))
            db.commit()
        with _client(listener) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE)


def _exchange(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line)
    return _reply(sock)


def _reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") or data.split(b"\r\n")[-2][3:4] == b"-":
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_the_listener_survives_garbage(runtime: Runtime, listener: SmtpListener) -> None:
    address = (listener.host, listener.port)
    with socket.create_connection(address, timeout=10) as sock:
        assert _reply(sock).startswith(b"220")
        assert _exchange(sock, b"\x00\xff\xfe\x80junk\r\n")[:1] == b"5"
        assert _exchange(sock, b"EHLO client.example\n")[:3] == b"250"
        assert _exchange(sock, b"A" * 5000 + b"\r\n")[:3] == b"500"
        assert _exchange(sock, b"MAIL FROM:<ann\x00@customer.example>\r\n")[:1] in {b"2", b"5"}
        assert _exchange(sock, b"RSET\r\n")[:3] == b"250"
        assert _exchange(sock, b"MAIL FROM:<\xff\xfe@customer.example>\r\n")[:3] == b"250"
        assert _exchange(sock, b"RCPT TO:<supp\x00ort@shop.example>\r\n")[:1] == b"5"
        assert _exchange(sock, b"RCPT TO:<\xffsupport@shop.example>\r\n")[:1] == b"5"
        assert _exchange(sock, b"RCPT TO:<support@shop.example>\r\n")[:3] == b"250"
        assert _exchange(sock, b"DATA\r\n")[:3] == b"354"
        # Bare LFs and NULs in the body; only CRLF.CRLF ends it.
        sock.sendall(b"Subject: \x00odd\n\nbare\nLF\n.\nstill the body\x00\r\n")
        assert _exchange(sock, b".\r\n")[:3] == b"250"
    # A client that disappears in the middle of DATA.
    with socket.create_connection(address, timeout=10) as sock:
        _reply(sock)
        _exchange(sock, b"HELO x\r\n")
        _exchange(sock, b"MAIL FROM:<a@b.example>\r\n")
        _exchange(sock, b"RCPT TO:<support@shop.example>\r\n")
        _exchange(sock, b"DATA\r\n")
        sock.sendall(b"Subject: cut short\r\n\r\nhalf a mess")
    # Still serving, and nothing was stored for the message cut short.
    with _client(listener) as client:
        assert client.sendmail("ann@customer.example", ["support@shop.example"], MESSAGE) == {}
    rows = _rows(runtime)
    assert len(rows) == 2
    odd = runtime.env.files.read(rows[0].sha256)
    assert odd == b"Subject: \x00odd\n\nbare\nLF\n.\nstill the body\x00\r\n"
    assert rows[0].mail_from == "\ufffd\ufffd@customer.example"
    assert runtime.env.files.read(rows[1].sha256) == MESSAGE
