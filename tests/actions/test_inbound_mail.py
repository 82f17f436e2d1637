"""A stored mail becomes a touch on the right case, or is recorded without one: what an
agent would find on the case afterwards, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import agent
from threadline.actions import Actor, Env, merge_customers, reply
from threadline.actions.inbound_mail import MailOutcome, StoredMail, process_mail, process_mails
from threadline.actions.mailboxes import add_mailbox, store_mail
from threadline.actions.outbox import claim_outbox, record_delivery
from threadline.channels.base import DeliveryResult
from threadline.models import (
    Attachment,
    AuditEntry,
    Case,
    Identity,
    InboundMail,
    OutboxMessage,
    Touch,
    format_ref,
)
from threadline.vocabulary import CaseStatus, Delivery, Direction, MailState, TouchKind

SUPPORT = "support@shop.example"


def mail(
    sender: str = "Ann Smith <ann@example.com>",
    subject: str = "My order has not arrived",
    body: str = "Hello, order 1042 is late.",
    *,
    message_id: str | None = "<m1@mail.example.com>",
    headers: dict[str, str] | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 23, 8, 30, tzinfo=UTC))
    if message_id:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if attachment:
        filename, content_type, data = attachment
        main, sub = content_type.split("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return message.as_bytes()


@pytest.fixture
def mailbox_id(db: Session, env: Env) -> int:
    return add_mailbox(db, env, Actor.system(), SUPPORT, team=None, imap_url=None).id


def deliver(db: Session, env: Env, raw: bytes, mailbox_id: int, mail_from: str = "") -> MailOutcome:
    mail_id = store_mail(
        db,
        env,
        raw,
        source="smtp",
        mail_from=mail_from or "ann@example.com",
        rcpt_to=[SUPPORT],
        mailbox_id=mailbox_id,
        message_id=None,
    )
    return process_mail(db, env, mail_id)


def touches_of(db: Session, case_id: int) -> list[Touch]:
    db.expire_all()
    return list(db.scalars(select(Touch).where(Touch.case_id == case_id).order_by(Touch.id)))


def test_a_customer_mail_opens_a_case_with_its_text_and_files(
    db: Session, env: Env, mailbox_id: int
) -> None:
    raw = mail(
        body="Hello, order 1042 is late.\n\nOn Mon, Ann wrote:\n> old text\n",
        attachment=("receipt.pdf", "application/pdf", b"%PDF-1.4 receipt"),
    )
    outcome = deliver(db, env, raw, mailbox_id)
    assert outcome.state is MailState.PROCESSED and outcome.case_id is not None
    [touch] = touches_of(db, outcome.case_id)
    assert touch.direction is Direction.IN and touch.subject == "My order has not arrived"
    assert "order 1042 is late" in touch.text and "old text" not in touch.text
    assert "old text" in touch.meta["quoted"]
    assert touch.meta["message_id"] == "m1@mail.example.com"
    files = db.scalars(select(Attachment).where(Attachment.touch_id == touch.id)).all()
    assert [(f.filename, f.content_type) for f in files] == [("receipt.pdf", "application/pdf")]
    stored = db.get(InboundMail, outcome.mail_id)
    assert stored is not None and stored.touch_id == touch.id


def test_the_same_mail_twice_is_one_touch(db: Session, env: Env, mailbox_id: int) -> None:
    first = deliver(db, env, mail(), mailbox_id)
    again = deliver(db, env, mail(), mailbox_id)
    assert again.state is MailState.PROCESSED and again.touch_id == first.touch_id
    assert db.scalar(select(func.count()).select_from(Touch)) == 1
    assert again.reason is not None and "duplicate" in again.reason


def test_processing_twice_changes_nothing(db: Session, env: Env, mailbox_id: int) -> None:
    first = deliver(db, env, mail(), mailbox_id)
    assert process_mail(db, env, first.mail_id).touch_id == first.touch_id
    assert db.scalar(select(func.count()).select_from(Touch)) == 1


def two_open_cases(db: Session, env: Env, mailbox_id: int, first_raw: bytes) -> tuple[int, int]:
    """Ann's case from `first_raw`, and a later case of hers from her work address (two
    records merged), which the open-case rule alone would pick: only the reference can
    thread to the first."""
    first = deliver(db, env, first_raw, mailbox_id)
    work = mail(sender="Ann <ann@work.example>", subject="Invoice", message_id="<w@work>")
    second = deliver(db, env, work, mailbox_id, mail_from="ann@work.example")
    assert first.case_id and second.case_id and first.case_id != second.case_id
    survivor = db.get(Case, first.case_id)
    other = db.get(Case, second.case_id)
    assert survivor is not None and other is not None
    merge_customers(db, env, Actor.system(), survivor.customer_id, other.customer_id)
    return first.case_id, second.case_id


def test_a_reply_threads_by_in_reply_to_even_without_references(
    db: Session, env: Env, mailbox_id: int
) -> None:
    first, _later = two_open_cases(db, env, mailbox_id, mail())
    answer = mail(
        subject="RE: My order has not arrived",
        body="Any news?",
        message_id="<m2@mail.example.com>",
        headers={"In-Reply-To": "<m1@mail.example.com>"},
    )
    assert deliver(db, env, answer, mailbox_id).case_id == first


def test_without_a_reference_the_customer_s_latest_open_case_continues(
    db: Session, env: Env, mailbox_id: int
) -> None:
    _first, later = two_open_cases(db, env, mailbox_id, mail())
    fresh = mail(subject="Hello again", message_id="<m3@mail.example.com>")
    assert deliver(db, env, fresh, mailbox_id).case_id == later


def test_a_stranger_answering_our_thread_gets_their_own_case(
    db: Session, env: Env, mailbox_id: int
) -> None:
    first = deliver(db, env, mail(), mailbox_id)
    assert first.case_id is not None
    forwarded = mail(
        sender="Bob <bob@elsewhere.example>",
        subject=f"Re: [{format_ref(first.case_id)}] My order has not arrived",
        body="I was cc'd on this",
        message_id="<b1@elsewhere.example>",
        headers={"In-Reply-To": "<m1@mail.example.com>", "References": "<m1@mail.example.com>"},
    )
    bob = deliver(db, env, forwarded, mailbox_id, mail_from="bob@elsewhere.example")
    assert bob.case_id is not None and bob.case_id != first.case_id
    assert [t.text for t in touches_of(db, first.case_id)] == ["Hello, order 1042 is late."]


def test_the_case_ref_in_the_subject_threads_when_headers_are_gone(
    db: Session, env: Env, mailbox_id: int
) -> None:
    first, _later = two_open_cases(db, env, mailbox_id, mail())
    ref_mail = mail(
        subject=f"Re: [{format_ref(first)}] My order", body="It came!", message_id="<r@x>"
    )
    assert deliver(db, env, ref_mail, mailbox_id).case_id == first


def test_outlook_conversation_threads_by_thread_index(
    db: Session, env: Env, mailbox_id: int
) -> None:
    conversation = base64.b64decode("AdmJ8Nk3V2x0eHnHSe6PvsH0ctgT7w==")  # 22 bytes
    started = base64.b64encode(conversation).decode()
    first, _later = two_open_cases(db, env, mailbox_id, mail(headers={"Thread-Index": started}))
    # Outlook's reply: no References, no In-Reply-To we know, the same conversation
    # (its Thread-Index is the conversation's 22 bytes plus a 5-byte child block).
    child = base64.b64encode(conversation + b"\x00\x00\x01\x5e\x10").decode()
    reply_mail = mail(
        subject="RE: My order has not arrived",
        message_id="<o2@x>",
        headers={"Thread-Index": child},
    )
    assert deliver(db, env, reply_mail, mailbox_id).case_id == first


def test_an_out_of_office_is_recorded_on_its_case_and_opens_nothing(
    db: Session, env: Env, mailbox_id: int
) -> None:
    first = deliver(db, env, mail(), mailbox_id)
    assert first.case_id is not None
    db.execute(
        Case.__table__.update().where(Case.id == first.case_id).values(status=CaseStatus.RESOLVED)
    )
    db.commit()
    ooo = mail(
        subject="Automatic reply: My order has not arrived",
        body="I am away until Monday.",
        message_id="<ooo@x>",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": "<m1@mail.example.com>"},
    )
    outcome = deliver(db, env, ooo, mailbox_id)
    assert outcome.state is MailState.PROCESSED and outcome.case_id == first.case_id
    event = touches_of(db, first.case_id)[-1]
    assert event.kind is TouchKind.EVENT and "away until Monday" in event.text
    case = db.get(Case, first.case_id)
    assert case is not None and case.status is CaseStatus.RESOLVED  # not reopened
    assert db.scalar(select(func.count()).select_from(Case)) == 1


def test_an_auto_reply_about_nothing_we_know_is_ignored_with_a_reason(
    db: Session, env: Env, mailbox_id: int
) -> None:
    bulk = mail(sender="news@shop-news.example", headers={"List-Id": "<news.shop.example>"})
    outcome = deliver(db, env, bulk, mailbox_id, mail_from="bounces@shop-news.example")
    assert outcome.state is MailState.IGNORED and outcome.reason
    assert db.scalar(select(func.count()).select_from(Case)) == 0
    assert db.scalar(select(func.count()).select_from(InboundMail)) == 1  # kept


def test_our_own_mail_coming_back_is_ignored(db: Session, env: Env, mailbox_id: int) -> None:
    ours = mail(
        sender=f"support@{env.settings.mail_domain}",
        message_id=f"<abc@{env.settings.mail_domain}>",
    )
    outcome = deliver(db, env, ours, mailbox_id)
    assert outcome.state is MailState.IGNORED
    assert db.scalar(select(func.count()).select_from(Case)) == 0


def test_a_forward_from_an_agent_is_the_customer_s_mail(
    db: Session, env: Env, mailbox_id: int
) -> None:
    agent(db, env, email="kim@shop.example")
    forward = mail(
        sender="Kim <kim@shop.example>",
        subject="Fwd: broken kettle",
        body=(
            "Can we help her?\n\n---------- Forwarded message ---------\n"
            "From: Carla Diaz <carla@example.net>\nDate: Mon, 23 Nov 2026\n"
            "Subject: broken kettle\nTo: <kim@shop.example>\n\nMy kettle broke.\n"
        ),
        message_id="<fw@shop.example>",
    )
    outcome = deliver(db, env, forward, mailbox_id, mail_from="kim@shop.example")
    assert outcome.state is MailState.PROCESSED and outcome.case_id is not None
    case = db.get(Case, outcome.case_id)
    assert case is not None
    touch = touches_of(db, case.id)[0]
    assert touch.meta["forwarded_by"] == "kim@shop.example"
    identity = db.get(Identity, touch.identity_id)
    assert identity is not None and identity.value == "carla@example.net"


def test_a_bounce_fails_the_reply_and_tells_the_owner(
    db: Session, env: Env, mailbox_id: int
) -> None:
    first = deliver(db, env, mail(), mailbox_id)
    assert first.case_id is not None
    staff = agent(db, env)
    sent = reply(db, env, Actor.agent(staff.id), first.case_id, "It ships today.")
    [claimed] = claim_outbox(db, env, "w1", limit=5, lease_seconds=60)
    row = db.get(OutboxMessage, claimed.outbox_id)
    assert row is not None
    message_id = row.payload["message_id"]
    record_delivery(
        db,
        env,
        claimed.outbox_id,
        DeliveryResult(status=Delivery.SENT, external_id=message_id),
        worker_id="w1",
    )
    bounce = _dsn(message_id.strip("<>"), "ann@example.com")
    outcome = deliver(db, env, bounce, mailbox_id, mail_from="<>")
    assert outcome.state is MailState.PROCESSED
    db.expire_all()
    out = db.get(Touch, sent.touch_id)
    assert out is not None and out.delivery is Delivery.FAILED
    notes = [t for t in touches_of(db, first.case_id) if t.direction is Direction.INTERNAL]
    assert notes and "ann@example.com" in notes[-1].text
    assert db.scalar(select(func.count()).select_from(Case)) == 1


def _dsn(original_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: support@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{original_id}>\r\nSubject: Re: My order\r\n"
        "--B--\r\n"
    ).encode()


def test_an_unreadable_message_is_kept_with_its_reason(
    db: Session, env: Env, mailbox_id: int
) -> None:
    outcome = deliver(db, env, b"\r\n\r\n", mailbox_id)
    assert outcome.state is MailState.IGNORED and outcome.reason
    assert outcome.reason.startswith("unreadable")


def _stored(db: Session, env: Env, raw: bytes, mailbox_id: int, mail_from: str) -> StoredMail:
    """A freshly stored message as the SMTP listener hands it over: bytes in memory."""
    mail_id = store_mail(
        db,
        env,
        raw,
        source="smtp",
        mail_from=mail_from,
        rcpt_to=[SUPPORT],
        mailbox_id=mailbox_id,
        message_id=None,
    )
    row = db.get(InboundMail, mail_id)
    assert row is not None
    return StoredMail(mail_id, row.sha256, mail_from, SUPPORT, None, raw=raw)


def test_a_batch_lands_each_message_and_records_them_all(
    db: Session, env: Env, mailbox_id: int
) -> None:
    agent(db, env, email="kim@shop.example")
    first = _stored(db, env, mail(), mailbox_id, "ann@example.com")
    answer = mail(
        subject="Re: My order has not arrived",
        body="Any news?",
        message_id="<m2@mail.example.com>",
        headers={"In-Reply-To": "<m1@mail.example.com>"},
    )
    batch = [
        first,
        _stored(db, env, answer, mailbox_id, "ann@example.com"),
        _stored(db, env, b"\r\n\r\n", mailbox_id, "ann@example.com"),
        _stored(
            db,
            env,
            mail(sender="kim@shop.example", message_id="<k@x>"),
            mailbox_id,
            "kim@shop.example",
        ),
        _stored(db, env, mail(message_id="<m3@x>"), mailbox_id, "ann@example.com"),
    ]
    # The last one's bytes are gone from memory and disk alike: it fails, alone.
    env.files.path_for(batch[-1].sha256).unlink()
    batch[-1] = StoredMail(batch[-1].id, batch[-1].sha256, "ann@example.com", SUPPORT, None)

    results = process_mails(db, env, batch)

    opened, answered, unreadable, from_agent, lost = results
    assert isinstance(opened, MailOutcome) and isinstance(answered, MailOutcome)
    assert opened.state is answered.state is MailState.PROCESSED
    assert opened.case_id is not None and answered.case_id == opened.case_id
    assert isinstance(unreadable, MailOutcome) and unreadable.state is MailState.IGNORED
    assert isinstance(from_agent, MailOutcome) and from_agent.state is MailState.IGNORED
    assert from_agent.reason is not None and "agent kim@shop.example" in from_agent.reason
    assert isinstance(lost, FileNotFoundError)
    db.expire_all()
    rows = {mail.id: db.get(InboundMail, mail.id) for mail in batch}
    assert [(r.state, r.touch_id) for r in rows.values() if r] == [
        (MailState.PROCESSED, opened.touch_id),
        (MailState.PROCESSED, answered.touch_id),
        (MailState.IGNORED, None),
        (MailState.IGNORED, None),
        (MailState.STORED, None),  # the caller records the failure
    ]
    assert all(r.processed_at is not None for r in list(rows.values())[:4] if r)
    recorded = db.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.subject_type == "inbound_mail", AuditEntry.action != "mail.stored")
        .order_by(AuditEntry.subject_id)
    ).all()
    assert recorded == ["mail.processed", "mail.processed", "mail.ignored", "mail.ignored"]


def test_a_batch_uses_the_bytes_it_is_given(db: Session, env: Env, mailbox_id: int) -> None:
    stored = _stored(db, env, mail(), mailbox_id, "ann@example.com")
    env.files.path_for(stored.sha256).unlink()  # not read again: the bytes are in hand
    [outcome] = process_mails(db, env, [stored])
    assert isinstance(outcome, MailOutcome) and outcome.state is MailState.PROCESSED


def test_a_message_landed_twice_in_batches_is_one_touch(
    db: Session, env: Env, mailbox_id: int
) -> None:
    """A crash after landing a batch and before recording it: the retry lands the
    messages again, and receive() knows them."""
    stored = _stored(db, env, mail(), mailbox_id, "ann@example.com")
    [first] = process_mails(db, env, [stored])
    [again] = process_mails(db, env, [stored])
    assert isinstance(first, MailOutcome) and isinstance(again, MailOutcome)
    assert again.touch_id == first.touch_id
    assert again.reason is not None and "duplicate" in again.reason
    assert db.scalar(select(func.count()).select_from(Touch)) == 1
