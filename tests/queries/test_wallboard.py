"""The wallboard's figures, on both databases: what waits (cases nobody owns, callers in
the queue) per channel and segment and for how long, today's service level per kind of
promise, and every agent's presence and load."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from tests.factories import agent, inbound, receive_email
from threadline.actions import Actor, Env, assign, create_customer, receive, reply, set_presence
from threadline.actions.calls import IncomingCall, answer_incoming_call
from threadline.actions.service_level_admin import seed_default_service_levels
from threadline.clock import FrozenClock
from threadline.queries.wallboard import Figures, Wallboard, day_start, wallboard
from threadline.vocabulary import Channel, ClockKind, IdentityKind, Presence

MINUTE = 60


def board(db: Session, env: Env) -> Wallboard:
    now = env.clock.now()
    return wallboard(db, now, day_start(db, env.settings.phone_hours, now))


def row(rows: tuple[Figures, ...], key: str) -> Figures:
    return next(r for r in rows if r.key == key)


def test_waiting_cases_and_calls_per_channel_and_segment(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    seed_default_service_levels(db, env)
    create_customer(
        db,
        env,
        Actor.system(),
        name="Vera Vip",
        segment="vip",
        identities=[],
    )
    first = receive_email(db, env, "ann@example.com", "Where is my order?")
    clock.advance(timedelta(minutes=10))
    receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900111", "Hi"))
    answer_incoming_call(
        db,
        env,
        IncomingCall(
            sid="CA-wallboard-1",
            caller="+447700900222",
            our_number="+441134960000",
            caller_name=None,
            key="incoming-1",
        ),
    )
    clock.advance(timedelta(minutes=2))

    seen = board(db, env)

    assert (seen.total.waiting_cases, seen.total.waiting_calls) == (3, 1)
    # The mail waited longest: 12 minutes since the customer wrote.
    assert seen.total.longest_wait_seconds == 12 * MINUTE
    assert row(seen.channels, "email").waiting_cases == 1
    assert row(seen.channels, "email").longest_wait_seconds == 12 * MINUTE
    phone = row(seen.channels, "phone")
    assert (phone.waiting_cases, phone.waiting_calls) == (1, 1)
    assert phone.longest_wait_seconds == 2 * MINUTE
    assert {r.key for r in seen.channels} == {"email", "sms", "phone"}
    # Every segment stays on the board, busy or not.
    assert row(seen.segments, "standard").waiting_cases == 3
    assert row(seen.segments, "vip").waiting_cases == 0
    assert not row(seen.segments, "vip").active

    amy = agent(db, env)
    assign(db, env, Actor.system(), first.case_id, amy.id)

    after = board(db, env)
    assert after.total.waiting_cases == 2
    assert all(r.key != "email" for r in after.channels)


def test_service_level_today_counts_met_and_breached_clocks_per_kind(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    seed_default_service_levels(db, env)
    amy = agent(db, env)
    answered = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900301", "Hi"))
    late = receive(db, env, inbound(Channel.SMS, IdentityKind.PHONE, "+447700900302", "Hello?"))
    clock.advance(timedelta(minutes=20))
    reply(db, env, Actor.agent(amy.id), answered.case_id, "Hello, how can I help?")
    clock.advance(timedelta(hours=1))  # the second text's hour is up: breached, unanswered

    seen = board(db, env)

    first_reply = next(k for k in seen.kinds if k.kind is ClockKind.FIRST_REPLY)
    assert (first_reply.met, first_reply.breaches, first_reply.due) == (1, 1, 2)
    assert first_reply.attainment == 0.5
    assert first_reply.standing == "poor"
    sms = row(seen.channels, "sms")
    assert (sms.met, sms.breaches, sms.attainment) == (1, 1, 0.5)
    assert seen.total.breaches == 1
    assert next(k for k in seen.kinds if k.kind is ClockKind.ANSWER).standing == "none"
    assert late.case_id != answered.case_id

    # Tomorrow is another day: yesterday's promises no longer count.
    clock.advance(timedelta(days=1))
    assert board(db, env).total.due == 0


def test_agents_by_presence_with_their_load_against_capacity(
    db: Session, env: Env, clock: FrozenClock
) -> None:
    amy = agent(db, env)
    bob = agent(db, env, email="bob@shop.example", name="Bob Away")
    set_presence(db, env, Actor.agent(amy.id), amy.id, Presence.ONLINE)
    set_presence(db, env, Actor.agent(bob.id), bob.id, Presence.AWAY)
    carl = receive_email(db, env, "carl@example.com", "Amy takes this one")
    assign(db, env, Actor.agent(amy.id), carl.case_id, amy.id)

    seen = board(db, env)

    by_name = {a.name: a for a in seen.agents}
    assert (by_name["Amy Agent"].presence, by_name["Amy Agent"].load) == (Presence.ONLINE, 1)
    assert by_name["Amy Agent"].capacity == 16  # routing's defaults: 1 call, 3 chats, 12 more
    assert (by_name["Bob Away"].presence, by_name["Bob Away"].load) == (Presence.AWAY, 0)
    assert [a.name for a in seen.agents] == ["Amy Agent", "Bob Away"]  # online first
    assert seen.presence[Presence.ONLINE] == 1
    assert seen.presence[Presence.AWAY] == 1
    assert seen.total.waiting_cases == 0
