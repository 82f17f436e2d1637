"""Presence moves work: what an agent who goes away or offline cannot serve goes to
someone else, and an agent who comes online picks up the waiting cases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.conftest import START
from tests.mail_support import drain
from tests.routing.support import contact, owner, owners, staff
from threadline.actions import Actor, Env, assign, set_presence, set_status
from threadline.vocabulary import CaseStatus, Channel, Presence


def _amys_cases(db: Session, env: Env, amy: int) -> dict[str, int]:
    cases = {
        "waiting email": contact(db, env, due_at=START),
        "answered email": contact(db, env),
        "call": contact(db, env, channel=Channel.PHONE),
        "chat": contact(db, env, channel=Channel.CHAT),
        "pending chat": contact(db, env, channel=Channel.CHAT),
    }
    for case_id in cases.values():
        assign(db, env, Actor.agent(amy), case_id, amy)
    set_status(db, env, Actor.agent(amy), cases["pending chat"], CaseStatus.PENDING)
    return cases


def test_going_offline_hands_on_waiting_and_live_cases(db: Session, env: Env) -> None:
    amy, bob = staff(db, env, "Amy"), staff(db, env, "Bob")
    cases = _amys_cases(db, env, amy)
    events = env.bus.subscribe()

    set_presence(db, env, Actor.agent(amy), amy, Presence.OFFLINE)

    assert {name: owner(db, case_id) for name, case_id in cases.items()} == {
        "waiting email": bob,
        "answered email": amy,
        "call": bob,
        "chat": bob,
        "pending chat": amy,
    }
    moved = [e for e in drain(events) if e.type == "case.assigned"]
    assert sorted(e.case_id for e in moved if e.case_id) == sorted(
        [cases["waiting email"], cases["call"], cases["chat"]]
    )
    assert all(e.data["old_owner_id"] == amy and e.data["owner_id"] == bob for e in moved)


def test_going_away_hands_on_live_cases_only(db: Session, env: Env) -> None:
    amy, bob = staff(db, env, "Amy"), staff(db, env, "Bob")
    cases = _amys_cases(db, env, amy)

    set_presence(db, env, Actor.agent(amy), amy, Presence.AWAY)

    assert {name: owner(db, case_id) for name, case_id in cases.items()} == {
        "waiting email": amy,
        "answered email": amy,
        "call": bob,
        "chat": bob,
        "pending chat": amy,
    }


def test_with_nobody_to_take_them_they_wait_for_the_next_agent_online(
    db: Session, env: Env
) -> None:
    amy = staff(db, env, "Amy")
    bob = staff(db, env, "Bob", presence=Presence.OFFLINE)
    call = contact(db, env, channel=Channel.PHONE)
    assign(db, env, Actor.agent(amy), call, amy)
    unowned = contact(db, env)  # nobody routed it yet
    events = env.bus.subscribe()

    set_presence(db, env, Actor.agent(amy), amy, Presence.OFFLINE)

    assert owners(db, [call, unowned]) == [None, None]
    (event,) = [e for e in drain(events) if e.type == "case.assigned"]
    assert event.case_id == call and event.data["owner_id"] is None

    set_presence(db, env, Actor.agent(bob), bob, Presence.ONLINE)
    assert owners(db, [call, unowned]) == [bob, bob]


def test_coming_back_online_does_not_take_back_what_was_handed_on(db: Session, env: Env) -> None:
    amy, bob = staff(db, env, "Amy"), staff(db, env, "Bob")
    call = contact(db, env, channel=Channel.PHONE)
    assign(db, env, Actor.agent(amy), call, amy)
    set_presence(db, env, Actor.agent(amy), amy, Presence.OFFLINE)
    set_presence(db, env, Actor.agent(amy), amy, Presence.ONLINE)
    assert owner(db, call) == bob
