"""Routing waiting cases, as the desk sees it: who owns each case after the worker's
routing round, and the events it publishes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.factories import receive_email
from tests.mail_support import drain
from tests.routing.support import contact, customer, owner, owners, staff, team_id
from threadline.actions import Actor, Env, assign, set_presence, set_status
from threadline.actions.base import unit_of_work
from threadline.actions.routing import route_case, route_waiting
from threadline.errors import InvalidInput
from threadline.models import Agent, AuditEntry, Case
from threadline.routing.jobs import routing_job
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, Presence, Role


def test_a_waiting_case_goes_to_an_online_agent_and_says_so(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy")
    ann = customer(db, env)
    case_id = contact(db, env, ann)
    events = env.bus.subscribe()

    assert route_waiting(db, env) == [(case_id, amy)]

    assert owner(db, case_id) == amy
    (event,) = drain(events)
    assert event.type == "case.assigned" and event.case_id == case_id
    assert event.customer_id == ann and event.data["owner_id"] == amy
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.assigned")).one()
    assert audit.subject_id == case_id and audit.data["by"] == "routing"
    assert db.scalar(select(Agent.last_routed_at).where(Agent.id == amy)) == START
    assert route_waiting(db, env) == []
    with pytest.raises(InvalidInput):
        route_waiting(db, env, limit=0)


def test_the_previous_owner_gets_the_customers_new_case(db: Session, env: Env) -> None:
    amy, bob = staff(db, env, "Amy"), staff(db, env, "Bob")
    ann = customer(db, env)
    first = contact(db, env, ann)
    assign(db, env, Actor.system(), first, bob)
    set_status(db, env, Actor.system(), first, CaseStatus.CLOSED)
    busy = contact(db, env)
    assign(db, env, Actor.system(), busy, bob)  # Bob is busier than Amy

    second = contact(db, env, ann)
    route_waiting(db, env)

    assert second != first and owner(db, second) == bob
    fresh = contact(db, env)
    route_waiting(db, env)
    assert owner(db, fresh) == amy  # no relationship: the least loaded


def test_not_the_previous_owner_when_offline(db: Session, env: Env) -> None:
    amy, bob = staff(db, env, "Amy"), staff(db, env, "Bob")
    ann = customer(db, env)
    first = contact(db, env, ann)
    assign(db, env, Actor.system(), first, bob)
    set_status(db, env, Actor.system(), first, CaseStatus.CLOSED)
    set_presence(db, env, Actor.agent(bob), bob, Presence.OFFLINE)

    second = contact(db, env, ann)
    route_waiting(db, env)

    assert owner(db, second) == amy


def test_not_the_previous_owner_when_full(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy")
    bob = staff(db, env, "Bob", capacity={"messaging": 1})
    ann = customer(db, env)
    first = contact(db, env, ann)
    assign(db, env, Actor.system(), first, bob)
    set_status(db, env, Actor.system(), first, CaseStatus.CLOSED)
    other = contact(db, env)
    assign(db, env, Actor.system(), other, bob)  # Bob's one messaging slot

    second = contact(db, env, ann)
    route_waiting(db, env)

    assert owner(db, second) == amy


def test_skills(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy", skills=["lang:fr", "product:wine"])
    bob = staff(db, env, "Bob", skills=["lang:fr"])
    assign(db, env, Actor.system(), contact(db, env), amy)  # Amy is busier

    french = contact(db, env, needs=["lang:fr"])
    wine = contact(db, env, needs=["lang:fr", "product:wine"])
    german = contact(db, env, needs=["lang:de"])
    route_waiting(db, env)

    assert owners(db, [french, wine, german]) == [bob, amy, None]


def test_capacity_per_channel_group(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy")  # the defaults: 1 call, 3 chats, 12 written cases
    calls = [contact(db, env, channel=Channel.PHONE) for _ in range(2)]
    chats = [contact(db, env, channel=Channel.CHAT) for _ in range(4)]
    written = [contact(db, env, channel=Channel.EMAIL) for _ in range(7)]
    written += [contact(db, env, channel=Channel.WHATSAPP) for _ in range(6)]

    route_waiting(db, env)

    assert owners(db, calls) == [amy, None]
    assert owners(db, chats) == [amy, amy, amy, None]
    # Email and WhatsApp share one pool of 12.
    assert owners(db, written) == [amy] * 12 + [None]

    # A pending case waits on the customer and frees its slot; closing a call frees it.
    set_status(db, env, Actor.agent(amy), written[0], CaseStatus.PENDING)
    set_status(db, env, Actor.agent(amy), calls[0], CaseStatus.RESOLVED)
    route_waiting(db, env)
    assert owner(db, written[-1]) == amy and owner(db, calls[1]) == amy


def test_a_channel_cap_within_the_messaging_pool(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy", capacity={"messaging": 5, "email": 2})
    emails = [contact(db, env, channel=Channel.EMAIL) for _ in range(3)]
    texts = [contact(db, env, channel=Channel.SMS) for _ in range(4)]
    route_waiting(db, env)
    assert owners(db, emails) == [amy, amy, None]
    assert owners(db, texts) == [amy, amy, amy, None]


def test_offline_and_away_agents_and_clerks_get_nothing(db: Session, env: Env) -> None:
    staff(db, env, "Amy", presence=Presence.OFFLINE)
    staff(db, env, "Bob", presence=Presence.AWAY)
    staff(db, env, "Cat", role=Role.CLERK)
    case_id = contact(db, env)
    assert route_waiting(db, env) == []
    assert owner(db, case_id) is None


def test_team_cases_go_to_the_team_or_wait(db: Session, env: Env) -> None:
    staff(db, env, "Amy")
    bob = staff(db, env, "Bob", teams=["Wine"])
    wine = team_id(db, "Wine")
    assign(db, env, Actor.system(), contact(db, env), bob)  # Bob is busier

    first = contact(db, env, team=wine)
    route_waiting(db, env)
    assert owner(db, first) == bob

    set_presence(db, env, Actor.agent(bob), bob, Presence.OFFLINE)
    second = contact(db, env, team=wine)
    route_waiting(db, env)
    assert owner(db, second) is None  # Amy is free, but not on the team: it waits
    set_presence(db, env, Actor.agent(bob), bob, Presence.ONLINE)
    assert owner(db, second) == bob


def test_fair_among_equals_over_1000_cases(db: Session, env: Env) -> None:
    agents = [staff(db, env, f"Agent{n}", capacity={"messaging": 100}) for n in range(12)]
    cases: list[int] = []
    for round_ in range(10):
        cases += [
            receive_email(db, env, f"fair{round_}.{n}@example.com").case_id for n in range(100)
        ]
        route_waiting(db, env, limit=64)
        counts = [owners(db, cases).count(agent) for agent in agents]
        assert sum(counts) == len(cases)
        assert max(counts) - min(counts) <= 1, counts


def test_vip_first_then_earliest_due_when_capacity_frees_up(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy")
    current = contact(db, env, channel=Channel.PHONE)
    assign(db, env, Actor.system(), current, amy)
    soon, later = START + timedelta(minutes=5), START + timedelta(minutes=30)
    oldest = contact(db, env, channel=Channel.PHONE)  # no clock running
    due_later = contact(db, env, channel=Channel.PHONE, due_at=later)
    due_soon = contact(db, env, channel=Channel.PHONE, due_at=soon)
    vip = contact(db, env, customer(db, env, segment="vip"), Channel.PHONE, due_at=later)
    assert route_waiting(db, env) == []  # Amy is on a call

    for expected in (vip, due_soon, due_later, oldest):
        set_status(db, env, Actor.agent(amy), current, CaseStatus.RESOLVED)
        assert route_waiting(db, env) == [(expected, amy)]
        current = expected


def test_a_case_another_transaction_holds_waits_for_the_next_round(
    runtime: Runtime, db: Session, env: Env
) -> None:
    if runtime.db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing else can hold a row")
    amy = staff(db, env, "Amy")
    held, free = contact(db, env), contact(db, env)
    with runtime.db.session() as other:
        other.execute(select(Case.id).where(Case.id == held).with_for_update())
        assert route_waiting(db, env) == [(free, amy)]  # without waiting for `other`
        other.rollback()
    assert route_waiting(db, env) == [(held, amy)]


def test_route_case_inside_another_action(db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy")
    case_id = contact(db, env)
    with unit_of_work(db, env, Actor.system()) as unit:
        assert route_case(unit, case_id) == amy
        assert route_case(unit, case_id) is None  # owned now
    assert owner(db, case_id) == amy


def test_the_routing_job(runtime: Runtime, db: Session, env: Env) -> None:
    amy = staff(db, env, "Amy")
    case_id = contact(db, env)
    job = routing_job(every_seconds=5)
    assert (job.name, job.every_seconds) == ("routing", 5)
    assert job.run(runtime) == 1
    db.rollback()  # a new transaction, which sees the job's
    assert owner(db, case_id) == amy
