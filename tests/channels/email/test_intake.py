"""Mail in: stored first, processed after, and a processing failure kept with its
reason and retried up to a cap."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from threadline.actions import Actor
from threadline.actions.inbound_mail import MailOutcome, StoredMail
from threadline.actions.mailboxes import add_mailbox
from threadline.channels.email import intake
from threadline.channels.email.intake import MAX_ATTEMPTS, accept, message_id_of, retry_stored
from threadline.clock import FrozenClock
from threadline.models import InboundMail
from threadline.runtime import Runtime
from threadline.vocabulary import MailState

RAW = b"Subject: hi\r\nMessage-ID: <abc@customer.example>\r\n\r\nHello\r\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (RAW, "abc@customer.example"),
        (b"Message-Id:\r\n  <folded@x.example>\r\n\r\nbody", "folded@x.example"),
        (b"message-id: <lf@x.example>\n\nMessage-ID: <body@x.example>\n", "lf@x.example"),
        (b"Message-ID: bare@x.example\r\n\r\n", "bare@x.example"),
        (b"Message-ID: <a@x> (comment) <b@x>\r\n\r\n", "a@x"),
        (b"Subject: none\r\n\r\nMessage-ID: <in-body@x.example>\r\n", None),
        (b"Message-ID: <\xff\xfe@x.example>\r\n\r\n", "\ufffd\ufffd@x.example"),
        (b"Message-ID: \r\n\r\n", None),
        (b"", None),
        (b"\x00\x01\x02 not mail at all", None),
    ],
)
def test_message_id_is_read_from_the_headers_only(raw: bytes, expected: str | None) -> None:
    assert message_id_of(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"Return-Path: <ann@customer.example>\r\nFrom: x@y.example\r\n\r\n",
            "ann@customer.example",
        ),
        (b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example\r\n\r\n", "<>"),
        (b"Return-Path: bare@customer.example\r\n\r\n", "bare@customer.example"),
        (b"From: Ann Example <ann@customer.example>\r\n\r\n", "ann@customer.example"),
        (b"From: =?utf-8?q?Ann?= <ann@customer.example>\n\nbody", "ann@customer.example"),
        (b"Subject: no sender\r\n\r\n", ""),
        (b"", ""),
    ],
)
def test_the_sender_of_mail_without_an_envelope(raw: bytes, expected: str) -> None:
    assert intake.sender_of(raw) == expected


def test_message_id_of_a_message_without_a_blank_line() -> None:
    assert message_id_of(b"Message-ID: <x@y>\r\n" + b"X-Long: " + b"z" * 300_000) == "x@y"


@pytest.fixture
def mailbox_id(db: Session, runtime: Runtime) -> int:
    mailbox = add_mailbox(
        db, runtime.env, Actor.system(), "support@shop.example", team=None, imap_url=None
    )
    return mailbox.id


def _row(runtime: Runtime, mail_id: int) -> InboundMail:
    with runtime.db.reading() as db:
        row = db.get(InboundMail, mail_id)
        assert row is not None
        return row


def _accept(runtime: Runtime, mailbox_id: int) -> int:
    return accept(
        runtime,
        RAW,
        source="smtp",
        mail_from="ann@customer.example",
        rcpt_to=["support@shop.example"],
        mailbox_id=mailbox_id,
    )


def test_a_failure_to_process_is_kept_with_its_reason_and_retried_up_to_a_cap(
    runtime: Runtime, mailbox_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> MailOutcome:
        raise ValueError("no parser for this")

    monkeypatch.setattr(intake, "process_mail", broken)
    mail_id = _accept(runtime, mailbox_id)
    row = _row(runtime, mail_id)
    assert (row.state, row.attempts) == (MailState.FAILED, 1)
    assert row.reason == "ValueError: no parser for this"
    assert row.message_id == "abc@customer.example"
    assert runtime.env.files.read(row.sha256) == RAW

    for attempt in range(2, MAX_ATTEMPTS + 1):
        assert retry_stored(runtime) == 1
        assert _row(runtime, mail_id).attempts == attempt
    assert retry_stored(runtime) == 0  # given up: it waits for a person


def test_a_retry_that_succeeds(
    runtime: Runtime, mailbox_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "process_mail", _raises)
    mail_id = _accept(runtime, mailbox_id)
    processed: list[int] = []

    def works(db: Session, env: object, mail_id: int) -> MailOutcome:
        processed.append(mail_id)
        return MailOutcome(mail_id, MailState.PROCESSED)

    monkeypatch.setattr(intake, "process_mail", works)
    assert retry_stored(runtime) == 1
    assert processed == [mail_id]


def _raises(*args: object, **kwargs: object) -> MailOutcome:
    raise RuntimeError("down")


def test_stored_mail_is_retried_only_once_its_process_had_time(
    runtime: Runtime, mailbox_id: int, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[int] = []

    def works(db: Session, env: object, mail_id: int) -> MailOutcome:
        tried.append(mail_id)
        return MailOutcome(mail_id, MailState.PROCESSED)

    monkeypatch.setattr(intake, "process_mail", works)
    # Stored by a process that stopped before processing it.
    mail_id = intake.store(
        runtime, RAW, source="imap", mail_from="", rcpt_to=[], mailbox_id=mailbox_id
    )
    assert retry_stored(runtime) == 0
    clock.advance(timedelta(minutes=2))
    assert retry_stored(runtime) == 1
    assert tried == [mail_id]


def test_a_failure_that_cannot_even_be_recorded_is_logged_and_swallowed(
    runtime: Runtime,
    mailbox_id: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(intake, "process_mail", _raises)

    def database_away(*args: object, **kwargs: object) -> None:
        raise OSError("database away")

    monkeypatch.setattr(intake, "record_mail_failure", database_away)
    mail_id = _accept(runtime, mailbox_id)
    assert _row(runtime, mail_id).state is MailState.STORED
    assert f"inbound mail {mail_id} kept, not processed: RuntimeError: down" in caplog.text
    assert "could not record the failure" in caplog.text


def _fresh(runtime: Runtime, mailbox_id: int, n: int) -> StoredMail:
    raw = RAW.replace(b"<abc@", b"<abc%d@" % n)
    mail_id = intake.store(
        runtime,
        raw,
        source="smtp",
        mail_from="ann@customer.example",
        rcpt_to=["support@shop.example"],
        mailbox_id=mailbox_id,
    )
    sha256 = _row(runtime, mail_id).sha256
    return StoredMail(mail_id, sha256, "ann@customer.example", "support@shop.example", None, raw)


def _wait_ended(runtime: Runtime, mail_ids: list[int], timeout: float = 10.0) -> list[MailState]:
    deadline = time.monotonic() + timeout
    while True:
        states = [_row(runtime, mail_id).state for mail_id in mail_ids]
        if MailState.STORED not in states or time.monotonic() > deadline:
            return states
        time.sleep(0.02)


def test_the_processor_lands_what_it_is_handed_with_or_without_its_bytes(
    runtime: Runtime, mailbox_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "QUEUED_WITH_BYTES", 1)
    mails = [_fresh(runtime, mailbox_id, n) for n in range(6)]
    processor = intake.Processor(runtime)
    for mail in mails:  # queued before it starts: all but the first wait without bytes
        processor.submit(mail)
    processor.start()
    try:
        states = _wait_ended(runtime, [mail.id for mail in mails])
    finally:
        processor.stop()
    assert states == [MailState.PROCESSED] * 6


def test_what_a_stopped_processor_left_is_taken_by_the_retry(
    runtime: Runtime, mailbox_id: int, clock: FrozenClock
) -> None:
    processor = intake.Processor(runtime, threads=2)
    processor.start()
    processor.stop()
    mail = _fresh(runtime, mailbox_id, 1)
    processor.submit(mail)  # stopped: left stored
    assert _row(runtime, mail.id).state is MailState.STORED
    clock.advance(timedelta(minutes=2))
    assert retry_stored(runtime) == 1
    assert _row(runtime, mail.id).state is MailState.PROCESSED


def test_a_batch_that_breaks_as_a_whole_is_recorded_on_each_message(
    runtime: Runtime, mailbox_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_away(*args: object, **kwargs: object) -> list[MailOutcome]:
        raise OSError("database away")

    monkeypatch.setattr(intake, "process_mails", database_away)
    mails = [_fresh(runtime, mailbox_id, n) for n in range(2)]
    assert intake.process_batch(runtime, mails) == [None, None]
    for mail in mails:
        row = _row(runtime, mail.id)
        assert (row.state, row.attempts, row.reason) == (
            MailState.FAILED,
            1,
            "OSError: database away",
        )
