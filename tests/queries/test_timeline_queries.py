"""The one timeline: touches oldest first across channels, with switch markers where the
conversation moved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import agent, inbound, receive_call, receive_email
from tests.queries.conftest import StatementCounter
from threadline.actions import (
    Actor,
    Env,
    StoreVisit,
    add_identity,
    add_note,
    log_store_visit,
    receive,
    reply,
    set_status,
    switch_channel,
)
from threadline.channels.base import IdentityRef, IncomingFile
from threadline.clock import FrozenClock
from threadline.db import ReadSession
from threadline.queries.timeline import (
    CallFigures,
    SwitchView,
    TouchView,
    case_timeline,
    customer_timeline,
)
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    Role,
    SwitchReason,
    TouchKind,
)


def _shape(entries: tuple[TouchView | SwitchView, ...]) -> list[str]:
    return [
        f"{e.from_channel}>{e.to_channel}:{e.reason}"
        if isinstance(e, SwitchView)
        else f"{e.channel}/{e.direction}"
        for e in entries
    ]


def test_a_post_moved_to_a_call_for_private_data(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    amy = agent(db, env, name="Amy Agent")
    actor = Actor.agent(amy.id)
    post = receive(
        db,
        env,
        inbound(Channel.X, IdentityKind.X, "@Ann_B", "Charged twice!", public=True, name="Ann"),
    )
    clock.advance(timedelta(minutes=2))
    add_identity(db, env, actor, post.customer_id, IdentityKind.PHONE, "+44 7700 900123")
    switch_channel(db, env, actor, post.case_id, Channel.PHONE, SwitchReason.PRIVATE_DATA)
    clock.advance(timedelta(minutes=1))
    add_note(db, env, actor, post.case_id, "Calling her")
    clock.advance(timedelta(minutes=1))
    call = receive_call(db, env)
    clock.advance(timedelta(minutes=6))
    reply(db, env, actor, post.case_id, "Refunded", channel=Channel.SMS)

    timeline = case_timeline(read, post.case_id)
    assert _shape(timeline.entries) == [
        "x/in",
        "x/internal",
        "x>phone:private_data",
        "phone/in",
        "phone>sms:agent_choice",
        "sms/out",
    ]
    assert (timeline.touch_count, timeline.truncated) == (4, False)
    first, note, moved, rang, _, sent = timeline.entries
    assert isinstance(first, TouchView)
    assert (first.public, first.author, first.logged_by) == (True, "@Ann_B", None)
    assert isinstance(note, TouchView)
    assert (note.internal, note.kind, note.author) == (True, TouchKind.NOTE, "Amy Agent")
    assert isinstance(moved, SwitchView)
    assert (moved.from_public, moved.to_public, moved.agent_name) == (True, False, "Amy Agent")
    assert moved.to_touch_id == call.touch_id
    assert not moved.pending
    assert isinstance(rang, TouchView)
    assert rang.call == CallFigures(12, 40, 0, 300)
    assert rang.author == "+44 7700 900123"
    assert isinstance(sent, TouchView)
    assert (sent.direction, sent.delivery, sent.call) == (Direction.OUT, Delivery.QUEUED, None)


def test_an_announced_switch_waits_where_its_time_puts_it(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    amy = agent(db, env)
    received = receive_email(db, env, text="Please call me")
    clock.advance(timedelta(minutes=1))
    add_identity(db, env, Actor.agent(amy.id), received.customer_id, "phone", "+447700900123")
    switch_channel(
        db, env, Actor.agent(amy.id), received.case_id, Channel.PHONE, SwitchReason.CALLBACK
    )
    clock.advance(timedelta(minutes=1))
    add_note(db, env, Actor.agent(amy.id), received.case_id, "Line busy, will retry")

    entries = case_timeline(read, received.case_id).entries
    assert _shape(entries) == ["email/in", "email>phone:callback", "email/internal"]
    assert isinstance(entries[1], SwitchView)
    assert entries[1].pending


def test_store_visit_is_the_customers_touch_logged_by_the_clerk(
    db: Session, env: Env, read: ReadSession
) -> None:
    clerk = agent(db, env, email="cleo@shop.example", name="Cleo Clerk", role=Role.CLERK)
    visit = log_store_visit(
        db,
        env,
        clerk.id,
        StoreVisit(
            topic="Return a vase",
            identity=IdentityRef(IdentityKind.EMAIL, "Vic@Example.com", "Vic Visitor"),
            note="Chipped on arrival",
            outcome="Refunded at the till",
        ),
    )
    (touch,) = case_timeline(read, visit.case_id).entries
    assert isinstance(touch, TouchView)
    assert (touch.channel, touch.kind, touch.direction) == (
        Channel.STORE,
        TouchKind.VISIT,
        Direction.IN,
    )
    assert (touch.author, touch.logged_by) == ("Vic@Example.com", "Cleo Clerk")
    assert touch.outcome == "Refunded at the till"


def test_html_and_attachments_come_along(db: Session, env: Env, read: ReadSession) -> None:
    received = receive_email(
        db,
        env,
        text="See attached",
        html="<p>See <b>attached</b></p><script>x()</script>",
        attachments=(
            IncomingFile("a.png", "image/png", b"\x89PNG" * 10),
            IncomingFile("b.txt", "text/plain", b"hello"),
        ),
    )
    (touch,) = case_timeline(read, received.case_id).entries
    assert isinstance(touch, TouchView)
    assert touch.text == "See attached"
    assert touch.html == "<p>See <b>attached</b></p>"
    assert [(a.filename, a.content_type, a.size) for a in touch.attachments] == [
        ("a.png", "image/png", 40),
        ("b.txt", "text/plain", 5),
    ]


def test_a_long_story_keeps_its_latest_part(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    first = receive_email(db, env, text="one")
    clock.advance(timedelta(minutes=1))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900999", "x"))
    add_identity(db, env, Actor.system(), first.customer_id, "phone", "+447700900123")
    clock.advance(timedelta(minutes=1))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "two"))
    clock.advance(timedelta(minutes=1))
    receive_email(db, env, text="three")
    clock.advance(timedelta(minutes=1))
    receive_email(db, env, text="four")

    whole = case_timeline(read, first.case_id)
    assert _shape(whole.entries) == [
        "email/in",
        "email>sms:customer_choice",
        "sms/in",
        "sms>email:customer_choice",
        "email/in",
        "email/in",
    ]
    latest = case_timeline(read, first.case_id, limit=2)
    assert latest.truncated
    assert [e.text for e in latest.entries if isinstance(e, TouchView)] == ["three", "four"]
    # The marker before "three" stays: that move is part of what is shown.
    assert _shape(latest.entries) == ["sms>email:customer_choice", "email/in", "email/in"]
    with pytest.raises(ValueError, match="limit"):
        case_timeline(read, first.case_id, limit=501)


def test_customer_timeline_spans_every_case(
    db: Session, env: Env, clock: FrozenClock, read: ReadSession
) -> None:
    boss = agent(db, env)
    first = receive_email(db, env, text="first matter")
    set_status(db, env, Actor.agent(boss.id), first.case_id, CaseStatus.CLOSED)
    clock.advance(timedelta(days=1))
    second = receive_email(db, env, text="second matter")
    someone_else = receive_email(db, env, "bob@example.com", "not Ann's")
    assert second.case_id != first.case_id

    timeline = customer_timeline(read, first.customer_id)
    assert [(e.case_id, e.text) for e in timeline.entries if isinstance(e, TouchView)] == [
        (first.case_id, "first matter"),
        (second.case_id, "second matter"),
    ]
    assert all(e.case_id != someone_else.case_id for e in timeline.entries)
    assert customer_timeline(read, 999_999).entries == ()


def test_a_timeline_costs_the_same_queries_however_long(
    db: Session, env: Env, clock: FrozenClock, runtime: Runtime, statements: StatementCounter
) -> None:
    first = receive_email(db, env, text="one", attachments=(IncomingFile("a", "text/plain", b"a"),))
    with runtime.db.reading() as read:
        statements.statements.clear()
        case_timeline(read, first.case_id)
        short = statements.count
    for n in range(10):
        clock.advance(timedelta(minutes=1))
        receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, f"+4477009001{n:02d}", "sms"))
        receive_email(
            db, env, text=f"mail {n}", attachments=(IncomingFile(f"{n}", "text/plain", b"n"),)
        )
    with runtime.db.reading() as read:
        statements.statements.clear()
        assert case_timeline(read, first.case_id).touch_count == 11
        assert statements.count == short == 3
