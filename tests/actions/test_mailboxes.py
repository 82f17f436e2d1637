"""Support addresses and stored mail: adding a mailbox, storing a message, recording an
IMAP position or a processing failure, and finding the mailbox of a recipient."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from threadline.actions import Actor, Env, NewAgent, create_agent
from threadline.actions.mailboxes import (
    KeptMail,
    add_mailbox,
    keep_mail,
    parse_imap_url,
    record_imap_position,
    record_mail_failure,
    store_mail,
    store_mails,
)
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import AuditEntry, InboundMail, Mailbox
from threadline.queries.mail import base_address, mailbox_for_address
from threadline.vocabulary import MailState, Role


def _add(db: Session, env: Env, address: str, **options: str | None) -> Mailbox:
    return add_mailbox(
        db,
        env,
        Actor.system(),
        address,
        team=options.get("team"),
        imap_url=options.get("imap_url"),
    )


def test_add_mailbox_lower_cases_and_audits_without_the_password(db: Session, env: Env) -> None:
    mailbox = _add(
        db, env, "  Support@Shop.Example ", imap_url="imaps://desk:s3cret@imap.shop.example/INBOX"
    )
    assert mailbox.address == "support@shop.example"
    assert mailbox.active
    assert mailbox.imap_last_uid == 0
    assert mailbox.imap_url == "imaps://desk:s3cret@imap.shop.example/INBOX"
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "mailbox.added")).all()
    assert entry.subject_id == mailbox.id
    assert entry.data["imap"] == "imaps://desk@imap.shop.example:993/INBOX"
    assert "s3cret" not in str(entry.data)


def test_a_mailbox_may_be_on_a_private_domain(db: Session, env: Env) -> None:
    assert _add(db, env, "Support@Threadline.localhost").address == "support@threadline.localhost"
    assert _add(db, env, "help@shop.lan").address == "help@shop.lan"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "support",
        "support@",
        "@shop.example",
        "a b@shop.example",
        "x@bad_domain.localhost",
        "support+sales@shop.example",
    ],
)
def test_a_bad_address_changes_nothing(db: Session, env: Env, address: str) -> None:
    with pytest.raises(InvalidInput):
        _add(db, env, address)
    assert table_rows(db, "mailboxes") == []


def test_the_same_address_twice_is_a_conflict(db: Session, env: Env) -> None:
    _add(db, env, "support@shop.example")
    with pytest.raises(Conflict, match="exists"):
        _add(db, env, "SUPPORT@shop.example")
    assert len(table_rows(db, "mailboxes")) == 1


def test_the_team_must_exist(db: Session, env: Env) -> None:
    with pytest.raises(NotFound, match="Billing"):
        _add(db, env, "billing@shop.example", team="Billing")
    assert table_rows(db, "mailboxes") == []
    create_agent(
        db,
        env,
        Actor.system(),
        NewAgent(email="bea@shop.example", name="Bea", role=Role.AGENT, teams=("Billing",)),
    )
    mailbox = _add(db, env, "billing@shop.example", team=" Billing ")
    assert mailbox.team_id is not None


def test_imap_urls_are_understood() -> None:
    plain = parse_imap_url("imap://desk%40shop.example:p%3Ass@127.0.0.1:10143/Support%20Mail")
    assert (plain.tls, plain.host, plain.port) == (False, "127.0.0.1", 10143)
    assert (plain.user, plain.password, plain.folder) == (
        "desk@shop.example",
        "p:ss",
        "Support Mail",
    )
    secure = parse_imap_url("imaps://desk:pw@imap.shop.example")
    assert (secure.tls, secure.port, secure.folder) == (True, 993, "INBOX")
    assert "pw" not in secure.safe


@pytest.mark.parametrize(
    "url",
    [
        "http://desk:pw@imap.shop.example/INBOX",
        "imaps://imap.shop.example/INBOX",
        "imaps://desk@imap.shop.example/INBOX",
        "imaps://desk:pw@/INBOX",
        "imaps://desk:pw@imap.shop.example:99999/INBOX",
        "imaps://desk:pw@imap.shop.example:port/INBOX",
        "imaps://desk:pw@imap.shop.example/INBOX?x=1",
        "imaps://desk:pw@imap.shop.example/IN%0DBOX",
    ],
)
def test_a_bad_imap_url_changes_nothing(db: Session, env: Env, url: str) -> None:
    with pytest.raises(InvalidInput):
        _add(db, env, "support@shop.example", imap_url=url)
    assert table_rows(db, "mailboxes") == []


def test_the_mailbox_of_a_recipient(db: Session, env: Env) -> None:
    support = _add(db, env, "support@shop.example")
    assert mailbox_for_address(db, "support@shop.example") == support
    assert mailbox_for_address(db, " SUPPORT@Shop.Example") == support
    assert mailbox_for_address(db, "support+TL-1042@shop.example") == support
    assert mailbox_for_address(db, "sales@shop.example") is None
    assert mailbox_for_address(db, "support@shop.example.evil") is None
    assert mailbox_for_address(db, "supp\x00ort@shop.example") is None
    assert mailbox_for_address(db, "\udcffsupport@shop.example") is None
    assert mailbox_for_address(db, "") is None
    assert base_address("Sales+x+y@Shop.example") == "sales@shop.example"
    assert base_address("no-at-sign") == "no-at-sign"


def test_store_mail_keeps_the_bytes_and_a_row(db: Session, env: Env) -> None:
    mailbox = _add(db, env, "support@shop.example")
    raw = b"Subject: hi\r\n\r\n\x00binary\xff\r\n"
    mail_id = store_mail(
        db,
        env,
        raw,
        source="smtp",
        mail_from="ann\x00@customer.example",
        rcpt_to=["support@shop.example"],
        mailbox_id=mailbox.id,
        message_id=" <id-1@customer.example> ",
    )
    row = db.get(InboundMail, mail_id)
    assert row is not None
    assert row.state is MailState.STORED
    assert row.attempts == 0
    assert row.mail_from == "ann\ufffd@customer.example"
    assert row.message_id == "<id-1@customer.example>"
    assert env.files.read(row.sha256) == raw
    assert row.size == len(raw)
    assert row.received_at == env.clock.now()


def test_store_mail_refuses_what_it_cannot_file(db: Session, env: Env) -> None:
    with pytest.raises(InvalidInput):
        store_mail(
            db, env, b"x", source="fax", mail_from="", rcpt_to=[], mailbox_id=None, message_id=None
        )
    with pytest.raises(NotFound):
        store_mail(
            db, env, b"x", source="imap", mail_from="", rcpt_to=[], mailbox_id=999, message_id=None
        )
    assert table_rows(db, "inbound_mail") == []


def test_store_mails_keeps_several_in_one_transaction(db: Session, env: Env) -> None:
    mailbox = _add(db, env, "support@shop.example")
    raws = [b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n", b"x"]
    kept = [
        keep_mail(
            env,
            raw,
            source="smtp",
            mail_from=f"sender{n}@customer.example",
            rcpt_to=["support@shop.example"],
            mailbox_id=mailbox.id if n < 2 else None,
            message_id=None,
        )
        for n, raw in enumerate(raws)
    ]
    ids = store_mails(db, env, kept)
    assert len(ids) == 3 and ids == sorted(ids)
    rows = [db.get(InboundMail, mail_id) for mail_id in ids]
    assert [env.files.read(row.sha256) for row in rows if row] == raws
    assert [row.mail_from for row in rows if row] == [
        "sender0@customer.example",
        "sender1@customer.example",
        "sender2@customer.example",
    ]
    assert [row.mailbox_id for row in rows if row] == [mailbox.id, mailbox.id, None]
    assert {row.state for row in rows if row} == {MailState.STORED}
    stored = db.scalars(
        select(AuditEntry.subject_id).where(AuditEntry.action == "mail.stored")
    ).all()
    assert sorted(stored) == ids


def test_store_mails_stores_none_when_one_cannot_be_filed(db: Session, env: Env) -> None:
    mailbox = _add(db, env, "support@shop.example")

    def kept(raw: bytes, mailbox_id: int) -> KeptMail:
        return keep_mail(
            env,
            raw,
            source="smtp",
            mail_from="",
            rcpt_to=[],
            mailbox_id=mailbox_id,
            message_id=None,
        )

    good, stray = kept(b"good", mailbox.id), kept(b"stray", 999)
    with pytest.raises(NotFound):
        store_mails(db, env, [good, stray])
    assert table_rows(db, "inbound_mail") == []


def test_store_mails_refuses_a_row_without_its_file(db: Session, env: Env) -> None:
    kept = keep_mail(
        env, b"gone", source="imap", mail_from="", rcpt_to=[], mailbox_id=None, message_id=None
    )
    env.files.path_for(kept.sha256).unlink()
    with pytest.raises(InvalidInput):
        store_mails(db, env, [kept])
    assert table_rows(db, "inbound_mail") == []


def test_a_failure_is_counted_and_never_undoes_processing(db: Session, env: Env) -> None:
    mail_id = store_mail(
        db, env, b"x", source="smtp", mail_from="", rcpt_to=[], mailbox_id=None, message_id=None
    )
    record_mail_failure(db, env, mail_id, reason="ValueError: \x00bad")
    record_mail_failure(db, env, mail_id, reason="ValueError: worse")
    row = db.get(InboundMail, mail_id, populate_existing=True)
    assert row is not None
    assert (row.state, row.attempts, row.reason) == (MailState.FAILED, 2, "ValueError: worse")
    row.state = MailState.PROCESSED
    db.commit()
    record_mail_failure(db, env, mail_id, reason="late")
    row = db.get(InboundMail, mail_id, populate_existing=True)
    assert row is not None
    assert (row.state, row.attempts) == (MailState.PROCESSED, 2)


def test_the_imap_position_moves_forward_and_resets_on_a_new_uidvalidity(
    db: Session, env: Env
) -> None:
    mailbox = _add(db, env, "support@shop.example", imap_url="imap://u:p@127.0.0.1/INBOX")

    def now() -> tuple[int | None, int, str | None]:
        row = db.get(Mailbox, mailbox.id, populate_existing=True)
        assert row is not None
        return row.imap_uidvalidity, row.imap_last_uid, row.imap_error

    record_imap_position(db, env, mailbox.id, uidvalidity=7, last_uid=5)
    assert now() == (7, 5, None)
    record_imap_position(db, env, mailbox.id, uidvalidity=7, last_uid=3)  # a late writer
    assert now() == (7, 5, None)
    record_imap_position(db, env, mailbox.id, uidvalidity=None, last_uid=0, error="timeout")
    assert now() == (7, 5, "timeout")
    record_imap_position(db, env, mailbox.id, uidvalidity=9, last_uid=2)
    assert now() == (9, 2, None)
    actions = db.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.subject_type == "mailbox")
        .order_by(AuditEntry.id)
    ).all()
    assert actions == [
        "mailbox.added",
        "mailbox.poll_error",
        "mailbox.uidvalidity",
        "mailbox.poll_error",
    ]
    with pytest.raises(NotFound):
        record_imap_position(db, env, 999, uidvalidity=1, last_uid=1)
