"""The case list and a case's header, as the desk reads them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import agent, inbound, receive_email
from tests.queries.conftest import StatementCounter
from threadline.actions import Actor, Env, add_note, receive, reply, set_status
from threadline.clock import FrozenClock
from threadline.db import ReadSession
from threadline.errors import NotFound
from threadline.queries.cases import case_header, preview, recent_cases
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, Direction, IdentityKind, Priority


def test_recent_cases_newest_first_with_customer_segment_and_owner(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    amy = agent(db, env, name="Amy Agent")
    older = receive_email(db, env, "old@example.com", "Old question", name="Olive Old")
    clock.advance(timedelta(minutes=5))
    newer = receive_email(db, env, "new@example.com", "New question", name="Ned New")
    clock.advance(timedelta(minutes=5))
    reply(db, env, Actor.agent(amy.id), older.case_id, "Answered")

    rows = recent_cases(read)
    assert [row.id for row in rows] == [older.case_id, newer.case_id]
    first = rows[0]
    assert first.ref == f"TL-{1000 + older.case_id}"
    assert (first.customer_id, first.customer_name) == (older.customer_id, "Olive Old")
    assert (first.segment_key, first.segment_name) == ("standard", "Standard")
    assert first.owner_name == "Amy Agent"
    assert first.status is CaseStatus.OPEN
    assert first.priority is Priority.NORMAL
    assert first.subject == "Old question"
    assert first.updated_at == clock.now()
    assert rows[1].owner_name is None


def test_channels_in_order_of_first_use_without_notes(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    amy = agent(db, env)
    sms = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900111", "Hi"))
    clock.advance(timedelta(minutes=1))
    receive(db, env, inbound(Channel.WHATSAPP, IdentityKind.PHONE, "+447700900111", "Hi again"))
    clock.advance(timedelta(minutes=1))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900111", "And again"))
    clock.advance(timedelta(minutes=1))
    add_note(db, env, Actor.agent(amy.id), sms.case_id, "internal")
    only_note = receive_email(db, env, "quiet@example.com", "Hello")

    by_id = {row.id: row for row in recent_cases(read)}
    assert by_id[sms.case_id].channels == (Channel.SMS, Channel.WHATSAPP)
    assert by_id[only_note.case_id].channels == (Channel.EMAIL,)


def test_last_touch_is_the_latest_of_any_kind(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    amy = agent(db, env)
    received = receive_email(db, env, text="Where is\n\n   my parcel?")
    quiet = receive_email(db, env, "other@example.com", "x" * 1000)
    clock.advance(timedelta(minutes=1))
    add_note(db, env, Actor.agent(amy.id), received.case_id, "Checking with the courier")

    by_id = {row.id: row for row in recent_cases(read)}
    last = by_id[received.case_id].last_touch
    assert last is not None
    assert (last.direction, last.preview) == (Direction.INTERNAL, "Checking with the courier")
    assert last.occurred_at == clock.now()
    long = by_id[quiet.case_id].last_touch
    assert long is not None
    assert long.preview == "x" * 159 + "…"
    assert long.direction is Direction.IN


def test_recent_cases_filters_by_status_and_customer(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    boss = agent(db, env)
    one = receive_email(db, env, "one@example.com")
    two = receive_email(db, env, "two@example.com")
    set_status(db, env, Actor.agent(boss.id), two.case_id, CaseStatus.RESOLVED)

    assert [r.id for r in recent_cases(read, status=CaseStatus.RESOLVED)] == [two.case_id]
    assert [r.id for r in recent_cases(read, status=CaseStatus.NEW)] == [one.case_id]
    assert recent_cases(read, status=CaseStatus.CLOSED) == []
    assert [r.id for r in recent_cases(read, customer_id=one.customer_id)] == [one.case_id]


def test_recent_cases_honours_its_limit(db: Session, env: Env, read: ReadSession) -> None:
    for n in range(3):
        receive_email(db, env, f"c{n}@example.com")
    assert len(recent_cases(read, limit=2)) == 2
    with pytest.raises(ValueError, match="limit"):
        recent_cases(read, limit=0)


def test_a_page_of_cases_costs_the_same_queries_however_many_rows(
    db: Session, env: Env, runtime: Runtime, statements: StatementCounter
) -> None:
    receive_email(db, env, "first@example.com")
    with runtime.db.reading() as read:
        statements.statements.clear()
        assert len(recent_cases(read)) == 1
        one_row = statements.count

    for n in range(12):
        receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, f"+4477009002{n:02d}", "Hi"))
        receive_email(db, env, f"c{n}@example.com")
    with runtime.db.reading() as read:
        statements.statements.clear()
        assert len(recent_cases(read)) == 25
        assert statements.count == one_row == 3


def test_case_header(db: Session, env: Env, read: ReadSession) -> None:
    amy = agent(db, env, name="Amy Agent")
    received = receive_email(db, env, text="Broken lamp", subject="Lamp")
    reply(db, env, Actor.agent(amy.id), received.case_id, "Sorry to hear that")

    header = case_header(read, received.case_id)
    assert header.ref == f"TL-{1000 + received.case_id}"
    assert header.subject == "Lamp"
    assert header.owner_name == "Amy Agent"
    assert header.customer_id == received.customer_id
    assert header.previous_case_ref is None
    with pytest.raises(NotFound, match="case 999999 does not exist"):
        case_header(read, 999_999)


def test_preview_collapses_whitespace_and_shortens() -> None:
    assert preview("  a\n\n b\tc ") == "a b c"
    assert preview("word " * 10, limit=12) == "word word w…"
