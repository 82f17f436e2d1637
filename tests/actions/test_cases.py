"""What agents do on a case: reply on the right channel, note, assign, change status and
move the conversation, each refusing bad input without changing anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import table_rows
from tests.factories import agent, inbound, receive_email
from threadline.actions import (
    Actor,
    Env,
    add_identity,
    add_note,
    assign,
    receive,
    reply,
    set_priority,
    set_status,
    switch_channel,
)
from threadline.channels.base import IdentityRef
from threadline.clock import FrozenClock
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import Case, ChannelSwitch, OutboxMessage, Touch
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Delivery,
    Direction,
    IdentityKind,
    Priority,
    Role,
    SwitchReason,
    TouchKind,
)

CASE_TABLES = ("cases", "touches", "outbox", "channel_switches", "audit_log")


def test_reply_goes_back_on_the_customers_last_channel(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    amy = agent(db, env)
    first = receive_email(db, env, "ann@example.com", "Where is order 1001?")
    add_identity(db, env, Actor.system(), first.customer_id, "phone", "+447700900123")
    clock.advance(timedelta(minutes=2))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "any news?"))
    events = env.bus.subscribe()

    result = reply(db, env, Actor.agent(amy.id), first.case_id, "It ships today.")

    assert result.channel is Channel.SMS
    assert result.delivery is Delivery.QUEUED
    touch = db.get(Touch, result.touch_id)
    assert touch is not None
    assert (touch.direction, touch.agent_id, touch.delivery) == (
        Direction.OUT,
        amy.id,
        Delivery.QUEUED,
    )
    outbox = db.scalars(select(OutboxMessage)).one()
    assert outbox.touch_id == touch.id
    assert outbox.payload["to"] == {"kind": "phone", "value": "+447700900123"}
    case = db.get(Case, first.case_id)
    assert case is not None
    # Replying takes an ownerless case and opens a new one.
    assert (case.owner_id, case.status) == (amy.id, CaseStatus.OPEN)
    assert [e.type for e in iter(lambda: events.get(0), None)] == [
        "case.status_changed",
        "case.assigned",
        "touch.created",
    ]


def test_reply_on_another_channel_is_a_recorded_switch(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive(
        db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900123", "need an invoice")
    )
    add_identity(db, env, Actor.system(), first.customer_id, "email", "ann@example.com")
    result = reply(
        db,
        env,
        Actor.agent(amy.id),
        first.case_id,
        "Invoice attached",
        channel=Channel.EMAIL,
        switch_reason=SwitchReason.AGENT_CHOICE,
    )
    switch = db.scalars(select(ChannelSwitch)).one()
    assert (switch.from_channel, switch.to_channel, switch.reason) == (
        Channel.SMS,
        Channel.EMAIL,
        SwitchReason.AGENT_CHOICE,
    )
    assert switch.to_touch_id == result.touch_id
    assert switch.agent_id == amy.id


def test_public_post_moved_to_a_call_for_card_details(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    """The story of the product: a tweet, a DM, a call because card details must not be
    public; one case, each move recorded with its reason."""
    amy = agent(db, env)
    tweet = receive(
        db,
        env,
        inbound(Channel.X, IdentityKind.X, "AnnLee", "@shop charged twice!", public=True),
    )
    add_identity(db, env, Actor.system(), tweet.customer_id, "phone", "+447700900123")
    answer = reply(db, env, Actor.agent(amy.id), tweet.case_id, "Sorry! DM us?")
    assert db.get(Touch, answer.touch_id).public is True  # type: ignore[union-attr]
    switch_channel(
        db, env, Actor.agent(amy.id), tweet.case_id, Channel.PHONE, SwitchReason.PRIVATE_DATA
    )
    clock.advance(timedelta(minutes=4))
    call = receive(
        db,
        env,
        inbound(Channel.PHONE, IdentityKind.PHONE, "+447700900123", "", kind=TouchKind.CALL),
    )
    assert call.case_id == tweet.case_id
    switches = db.scalars(select(ChannelSwitch).order_by(ChannelSwitch.id)).all()
    assert [(s.from_channel, s.from_public, s.to_channel, s.reason) for s in switches] == [
        (Channel.X, True, Channel.PHONE, SwitchReason.PRIVATE_DATA)
    ]
    assert switches[0].to_touch_id == call.touch_id


def test_switch_channel_refuses_a_move_to_nowhere(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    before = {t: table_rows(db, t) for t in CASE_TABLES}
    acting = Actor.agent(amy.id)
    with pytest.raises(InvalidInput, match="already on Email"):
        switch_channel(db, env, acting, first.case_id, "email", "callback")
    with pytest.raises(InvalidInput, match="no identity reachable by Phone"):
        switch_channel(db, env, acting, first.case_id, "phone", "callback")
    with pytest.raises(InvalidInput, match="is not a valid SwitchReason"):
        switch_channel(db, env, acting, first.case_id, "sms", "because")
    with pytest.raises(NotFound):
        switch_channel(db, env, acting, 4040, "sms", "callback")
    assert {t: table_rows(db, t) for t in CASE_TABLES} == before


def test_notes_are_internal_and_never_queued_for_sending(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    events = env.bus.subscribe()
    note_id = add_note(db, env, Actor.agent(amy.id), first.case_id, "VIP: be generous")
    note = db.get(Touch, note_id)
    assert note is not None
    assert (note.direction, note.kind, note.public) == (Direction.INTERNAL, TouchKind.NOTE, False)
    assert db.scalars(select(OutboxMessage)).all() == []
    event = events.get(0)
    assert event is not None
    assert event.private
    # A note is not the customer's last channel: the reply still goes by email.
    assert reply(db, env, Actor.agent(amy.id), first.case_id, "Hi").channel is Channel.EMAIL


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        ([CaseStatus.CLOSED, CaseStatus.OPEN], InvalidInput, "cannot go from closed to open"),
        ([CaseStatus.OPEN, CaseStatus.NEW], InvalidInput, "cannot go from open to new"),
        (["solved"], InvalidInput, "unknown status 'solved'"),
    ],
)
def test_status_moves_that_are_not_allowed(
    db: Session, env: Env, path: list[str], error: type[Exception], message: str
) -> None:
    first = receive_email(db, env)
    for status in path[:-1]:
        set_status(db, env, Actor.system(), first.case_id, status)
    before = {t: table_rows(db, t) for t in CASE_TABLES}
    with pytest.raises(error, match=message):
        set_status(db, env, Actor.system(), first.case_id, path[-1])
    assert {t: table_rows(db, t) for t in CASE_TABLES} == before


def test_resolve_and_reopen_track_resolved_at(db: Session, env: Env, clock: FrozenClock) -> None:
    first = receive_email(db, env)
    case = set_status(db, env, Actor.system(), first.case_id, "resolved")
    assert case.resolved_at == clock.now()
    case = set_status(db, env, Actor.system(), first.case_id, "open")
    assert case.resolved_at is None


def test_stale_version_is_a_conflict(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    seen = db.get(Case, first.case_id)
    assert seen is not None
    version = seen.version
    set_priority(
        db, env, Actor.agent(amy.id), first.case_id, Priority.HIGH, expected_version=version
    )
    with pytest.raises(Conflict, match="changed by someone else"):
        assign(db, env, Actor.agent(amy.id), first.case_id, amy.id, expected_version=version)
    assert db.get(Case, first.case_id).owner_id is None  # type: ignore[union-attr]


def test_assign_checks_the_agent(db: Session, env: Env) -> None:
    clerk = agent(db, env, "cleo@shop.example", Role.CLERK, "Cleo Clerk")
    first = receive_email(db, env)
    before = {t: table_rows(db, t) for t in CASE_TABLES}
    with pytest.raises(InvalidInput, match="cannot own cases"):
        assign(db, env, Actor.system(), first.case_id, clerk.id)
    with pytest.raises(NotFound, match="agent 777"):
        assign(db, env, Actor.system(), first.case_id, 777)
    with pytest.raises(NotFound, match="case 888"):
        assign(db, env, Actor.system(), 888, None)
    assert {t: table_rows(db, t) for t in CASE_TABLES} == before


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"text": "   "}, InvalidInput, "needs text"),
        ({"channel": Channel.PHONE}, InvalidInput, "takes no written replies"),
        ({"channel": Channel.WHATSAPP}, InvalidInput, "no identity reachable by WhatsApp"),
        (
            {"to": IdentityRef(IdentityKind.EMAIL, "someone@else.example")},
            InvalidInput,
            "not an identity of this case's customer",
        ),
        ({"case_id": 5150}, NotFound, "case 5150"),
    ],
)
def test_reply_refuses_bad_input_and_changes_nothing(
    db: Session, env: Env, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    receive_email(db, env, "someone@else.example")
    before = {t: table_rows(db, t) for t in CASE_TABLES}
    arguments: dict[str, object] = {"case_id": first.case_id, "text": "Hello"} | kwargs
    case_id = arguments.pop("case_id")
    text = arguments.pop("text")
    with pytest.raises(error, match=message):
        reply(db, env, Actor.agent(amy.id), case_id, text, **arguments)  # type: ignore[arg-type]
    assert {t: table_rows(db, t) for t in CASE_TABLES} == before


def test_closed_case_takes_no_reply(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    set_status(db, env, Actor.system(), first.case_id, CaseStatus.CLOSED)
    with pytest.raises(Conflict, match="closed"):
        reply(db, env, Actor.agent(amy.id), first.case_id, "late answer")


def test_a_text_goes_to_the_mobile_not_the_landline(db: Session, env: Env) -> None:
    amy = agent(db, env)
    first = receive_email(db, env)
    add_identity(db, env, Actor.system(), first.customer_id, "phone", "+447700900123")
    add_identity(db, env, Actor.system(), first.customer_id, "phone", "+442079460000")
    result = reply(db, env, Actor.agent(amy.id), first.case_id, "Ready", channel=Channel.SMS)
    outbox = db.get(OutboxMessage, result.outbox_id)
    assert outbox is not None
    assert outbox.payload["to"] == {"kind": "phone", "value": "+447700900123"}


def test_agent_teams_and_skills_are_checked_and_deduplicated(db: Session, env: Env) -> None:
    from threadline.actions import NewAgent, create_agent

    made = create_agent(
        db,
        env,
        Actor.system(),
        NewAgent(
            email="t@shop.example",
            name="T",
            role=Role.AGENT,
            teams=("Social", " Social ", "Shop"),
            skills=("fr", "fr"),
        ),
    )
    assert sorted(t.name for t in made.teams) == ["Shop", "Social"]
    assert made.skills == ["fr"]
    with pytest.raises(InvalidInput, match="team names"):
        create_agent(
            db,
            env,
            Actor.system(),
            NewAgent(email="u@shop.example", name="U", role=Role.AGENT, teams=("x" * 81,)),
        )
