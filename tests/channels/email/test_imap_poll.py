"""Polling a real Dovecot mailbox: every message stored once, across polls, restarts,
a crash in the middle of a batch and a renumbered folder."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.mail_server_support import ImapFolder
from threadline.actions import Actor
from threadline.actions.mailboxes import add_mailbox
from threadline.channels.email import imap_poll, intake
from threadline.channels.email.imap_poll import idle_loop, poll_mailbox
from threadline.clock import FrozenClock
from threadline.models import InboundMail, Mailbox
from threadline.runtime import Runtime


def message(n: int, *, message_id: bool = True) -> bytes:
    header = f"Message-ID: <m{n}@customer.example>\r\n" if message_id else ""
    return (
        f"From: Ann <ann@customer.example>\r\nTo: support@shop.example\r\n"
        f"Subject: question {n}\r\n{header}\r\nPlease help with number {n}.\r\n"
    ).encode()


@pytest.fixture
def mailbox(db: Session, runtime: Runtime, imap_folder: ImapFolder) -> Mailbox:
    return add_mailbox(
        db,
        runtime.env,
        Actor.system(),
        "support@shop.example",
        team=None,
        imap_url=imap_folder.url,
    )


def stored(runtime: Runtime) -> list[bytes]:
    """The raw bytes of every stored message, in the order they were stored."""
    with runtime.db.reading() as db:
        rows = db.scalars(select(InboundMail).order_by(InboundMail.id)).all()
    return [runtime.env.files.read(row.sha256) for row in rows]


def position(runtime: Runtime, mailbox_id: int) -> Mailbox:
    with runtime.db.reading() as db:
        mailbox = db.get(Mailbox, mailbox_id)
        assert mailbox is not None
        return mailbox


def test_each_message_is_stored_once_across_polls_and_restarts(
    runtime: Runtime, mailbox: Mailbox, imap_folder: ImapFolder, clock: FrozenClock
) -> None:
    imap_folder.append(message(1), message(2), message(3))
    assert poll_mailbox(runtime, mailbox.id) == 3
    assert stored(runtime) == [message(1), message(2), message(3)]
    with runtime.db.reading() as db:
        rows = db.scalars(select(InboundMail).order_by(InboundMail.id)).all()
    assert [row.message_id for row in rows] == [f"m{n}@customer.example" for n in (1, 2, 3)]
    assert {(row.source, row.mailbox_id) for row in rows} == {("imap", mailbox.id)}
    assert rows[0].rcpt_to == ["support@shop.example"]
    # No envelope over IMAP: the sender comes from the headers (here From).
    assert rows[0].mail_from == "ann@customer.example"
    after_first = position(runtime, mailbox.id)
    assert after_first.imap_last_uid == 3
    assert after_first.imap_uidvalidity is not None
    assert after_first.imap_error is None
    with imap_folder.client() as client:
        flags = client.get_flags([1, 2, 3])
    assert all(b"\\Seen" in flags[uid] for uid in (1, 2, 3))

    assert poll_mailbox(runtime, mailbox.id) == 0

    imap_folder.append(message(4), message(5))
    assert poll_mailbox(runtime, mailbox.id) == 2
    assert stored(runtime)[3:] == [message(4), message(5)]

    # A new process on the same database starts where the last one stopped.
    restarted = Runtime.start(runtime.settings, clock=clock)
    try:
        assert poll_mailbox(restarted, mailbox.id) == 0
        imap_folder.append(message(6))
        assert poll_mailbox(restarted, mailbox.id) == 1
    finally:
        restarted.close()
    assert stored(runtime) == [message(n) for n in range(1, 7)]


def test_a_crash_in_the_middle_of_a_batch_neither_skips_nor_repeats(
    runtime: Runtime, mailbox: Mailbox, imap_folder: ImapFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap_folder.append(message(1), message(2), message(3))
    real_store: Callable[..., int] = intake.store
    calls = 0

    def store_then_crash(*args: object, **kwargs: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(intake, "store", store_then_crash)
    with pytest.raises(OSError, match="disk full"):
        poll_mailbox(runtime, mailbox.id)
    assert stored(runtime) == [message(1)]
    failed = position(runtime, mailbox.id)
    assert failed.imap_last_uid == 1
    assert failed.imap_error == "OSError: disk full"
    monkeypatch.undo()

    assert poll_mailbox(runtime, mailbox.id) == 2
    assert stored(runtime) == [message(1), message(2), message(3)]
    assert position(runtime, mailbox.id).imap_error is None


def test_a_renumbered_folder_is_read_again_without_storing_twice(
    runtime: Runtime, mailbox: Mailbox, imap_folder: ImapFolder
) -> None:
    imap_folder.append(message(1), message(2))
    assert poll_mailbox(runtime, mailbox.id) == 2
    before = position(runtime, mailbox.id)

    # The server rebuilt the folder: the same messages under new UIDs, and one new one.
    imap_folder.recreate()
    imap_folder.append(message(1), message(2), message(3))
    assert poll_mailbox(runtime, mailbox.id) == 1
    assert stored(runtime) == [message(1), message(2), message(3)]
    after = position(runtime, mailbox.id)
    assert after.imap_uidvalidity != before.imap_uidvalidity
    assert after.imap_last_uid == 3

    imap_folder.append(message(4))
    assert poll_mailbox(runtime, mailbox.id) == 1
    assert stored(runtime)[-1] == message(4)


def test_messages_without_a_message_id_are_stored(
    runtime: Runtime, mailbox: Mailbox, imap_folder: ImapFolder
) -> None:
    imap_folder.append(message(1, message_id=False))
    assert poll_mailbox(runtime, mailbox.id) == 1
    with runtime.db.reading() as db:
        row = db.scalars(select(InboundMail)).one()
    assert row.message_id is None
    assert runtime.env.files.read(row.sha256) == message(1, message_id=False)


def test_an_unreachable_server_is_recorded_on_the_mailbox(
    db: Session, runtime: Runtime, imap_folder: ImapFolder
) -> None:
    wrong = imap_folder.url.replace(":secret@", ":wrong@")
    mailbox = add_mailbox(
        db, runtime.env, Actor.system(), "help@shop.example", team=None, imap_url=wrong
    )
    with pytest.raises(Exception, match=r"(?i)auth"):
        poll_mailbox(runtime, mailbox.id)
    recorded = position(runtime, mailbox.id)
    assert recorded.imap_error is not None
    assert "auth" in recorded.imap_error.lower()
    assert "wrong" not in recorded.imap_error
    assert recorded.imap_last_uid == 0


def test_a_mailbox_without_imap_is_not_polled(db: Session, runtime: Runtime) -> None:
    mailbox = add_mailbox(
        db, runtime.env, Actor.system(), "desk@shop.example", team=None, imap_url=None
    )
    assert poll_mailbox(runtime, mailbox.id) == 0


def _wait_for(count: int, runtime: Runtime, timeout: float = 10.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while len(found := stored(runtime)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_idle_loop_picks_up_new_mail_and_stops_when_told(
    runtime: Runtime,
    mailbox: Mailbox,
    imap_folder: ImapFolder,
    monkeypatch: pytest.MonkeyPatch,
    idle: bool,
) -> None:
    if not idle:
        monkeypatch.setattr(imap_poll.IMAPClient, "has_capability", lambda self, name: False)
    imap_folder.append(message(1))
    stop = threading.Event()
    thread = threading.Thread(
        target=idle_loop, args=(runtime, mailbox.id, stop), kwargs={"poll_seconds": 0.1}
    )
    thread.start()
    try:
        assert _wait_for(1, runtime) == [message(1)]
        imap_folder.append(message(2))
        assert _wait_for(2, runtime) == [message(1), message(2)]
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert position(runtime, mailbox.id).imap_last_uid == 2


def test_workers_poll_mailboxes_one_at_a_time_and_the_mail_becomes_cases(
    runtime: Runtime, mailbox: Mailbox, imap_folder: ImapFolder
) -> None:
    from threadline.leases import holder_of
    from threadline.models import Case, Touch
    from threadline.worker import Worker, standard_jobs

    imap_folder.append(message(1), message(2))
    first = Worker(runtime, "w1", {}, jobs=standard_jobs())
    second = Worker(runtime, "w2", {}, jobs=standard_jobs())
    first.run_forever(_stopped_after_one_round())
    second.run_forever(_stopped_after_one_round())  # the lease is w1's for this period
    with runtime.db.reading() as db:
        rows = db.scalars(select(InboundMail)).all()
        touches = db.scalars(select(Touch)).all()
        cases = db.scalars(select(Case)).all()
        holder = holder_of(db, runtime.env, "job:mail:poll")
    assert holder == "w1"
    assert len(rows) == 2 and len(touches) == 2 and len(cases) == 1
    assert sorted(t.text for t in touches) == [
        "Please help with number 1.",
        "Please help with number 2.",
    ]


def _stopped_after_one_round() -> threading.Event:
    """A stop signal a round's wait will find set: run_forever does one round."""
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    return stop
