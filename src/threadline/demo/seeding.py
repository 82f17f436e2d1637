"""Building the demo business: hire the staff, sign the customers up over the years
before the history, then play every customer's life in time order up to the present."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from threadline.actions import Actor, Env, NewAgent, create_agent, create_customer, set_presence
from threadline.actions.mailboxes import add_mailbox
from threadline.actions.service_level_admin import seed_default_service_levels
from threadline.clock import FrozenClock
from threadline.demo.arrivals import fresh_arrivals
from threadline.demo.data import (
    ADMIN_EMAIL,
    CONTACT_CENTRE,
    DEMO_PASSWORD,
    HISTORY,
    MAX_CUSTOMERS,
    MIN_CUSTOMERS,
    SHOP,
    SPEND,
    SPEND_FACTOR,
    STAGES,
    TRADE_DESK,
)
from threadline.demo.people import STAFF, Person, Pool, new_person, staff_email
from threadline.demo.scheduler import Story, run
from threadline.demo.stories import KINDS, everyday, life, waiting
from threadline.demo.world import World, daytime, opening
from threadline.errors import InvalidInput
from threadline.models import Agent, Base, Case, ChannelSwitch, Customer, Merge, Touch
from threadline.vocabulary import Presence, Role


@dataclass(frozen=True)
class DemoSummary:
    """What the demo database holds. `created` is False when it was seeded before."""

    created: bool
    agents: int
    customers: int
    cases: int
    touches: int
    switches: int
    merges: int

    def describe(self) -> str:
        return (
            f"{SHOP}: {self.agents} staff, {self.customers} customers, {self.cases} cases, "
            f"{self.touches} touches, {self.switches} channel switches, {self.merges} merges"
        )


def is_seeded(db: Session) -> bool:
    return db.scalar(select(Agent.id).where(Agent.email == ADMIN_EMAIL)) is not None


def seed(db: Session, env: Env, *, customers: int = 300, seed: int = 7) -> DemoSummary:
    """Build Harbour & Vine: staff, `customers` customers and 45 days of their cases,
    ending at `env`'s present. Does nothing when the demo is already there."""
    if not MIN_CUSTOMERS <= customers <= MAX_CUSTOMERS:
        raise InvalidInput(f"the demo needs {MIN_CUSTOMERS}-{MAX_CUSTOMERS} customers")
    if is_seeded(db):
        return summarise(db, created=False)
    end = env.clock.now()
    start = end - HISTORY
    # The demo's own clock: the shop opened three years ago, its customers signed up
    # since, and the stories run from `start` to `end`.
    clock = FrozenClock(start - timedelta(days=3 * 365))
    rng = random.Random(seed)
    demo_env = dataclasses.replace(env, clock=clock)
    # The shop set its service levels up when it opened; every story's clocks follow them.
    seed_default_service_levels(db, demo_env)
    w = _hire_staff(db, demo_env, clock, rng)
    _open_mailboxes(w)
    people = _sign_up_customers(w, customers, start)
    _clock_in(w, final=False)
    run(w, _lives(w, people, start, end), end)
    clock.set(end)
    _clock_in(w, final=True)
    fresh_arrivals(w, end, _sign_up)
    return summarise(db, created=True)


# The shop's support addresses: mail sent to them over SMTP (THREADLINE_SMTP_LISTEN)
# lands on the desk like any customer's mail.
MAILBOXES = ((staff_email("help"), CONTACT_CENTRE), (staff_email("trade"), TRADE_DESK))


def _open_mailboxes(w: World) -> None:
    for address, team in MAILBOXES:
        add_mailbox(w.db, w.env, Actor.system(), address, team=team, imap_url=None)


def _hire_staff(db: Session, env: Env, clock: FrozenClock, rng: random.Random) -> World:
    ids = [
        create_agent(
            db,
            env,
            Actor.system(),
            NewAgent(
                email=staff_email(member.mailbox),
                name=member.name,
                role=member.role,
                # Hashing a password costs a noticeable fraction of a second, so only one
                # persona per role gets one.
                password=DEMO_PASSWORD if member.signs_in else None,
                skills=member.skills,
                teams=member.teams,
            ),
        ).id
        for member in STAFF
    ]
    staff = list(zip(ids, STAFF, strict=True))
    return World(
        db=db,
        env=env,
        clock=clock,
        rng=rng,
        pool=Pool(rng),
        teams={t: [i for i, m in staff if t in m.teams] for m in STAFF for t in m.teams},
        names={i: m.name for i, m in staff},
        supervisor=next(i for i, m in staff if m.role is Role.SUPERVISOR),
    )


def _clock_in(w: World, *, final: bool) -> None:
    """Everyone who owns cases is online while the history plays, so that returning
    customers are routed back to the agent who served them; at the end each takes the
    presence the wallboard should show."""
    for agent_id, member in zip(w.names, STAFF, strict=True):
        if final:
            set_presence(w.db, w.env, Actor.agent(agent_id), agent_id, member.presence)
        elif member.role is not Role.CLERK:
            set_presence(w.db, w.env, Actor.agent(agent_id), agent_id, Presence.ONLINE)


def _sign_up_customers(w: World, count: int, start: datetime) -> list[Person]:
    """The first customers get what their showcase story needs; sign-ups spread over
    the years before the history starts, oldest first."""
    since = w.clock.now()
    moments = sorted(
        since + timedelta(seconds=w.rng.uniform(0, (start - since).total_seconds()))
        for _ in range(count)
    )
    people = []
    for n, at in enumerate(moments):
        w.clock.set(at)
        needs = KINDS[n].needs if n < len(KINDS) else frozenset()
        people.append(_sign_up(w, new_person(w.pool, needs)))
    return people


def _sign_up(w: World, person: Person) -> Person:
    rng = w.rng
    stages, weights = zip(*STAGES[person.segment], strict=True)
    stage = rng.choices(stages, weights)[0]
    low, high = SPEND[stage]
    value = rng.uniform(low, high) * SPEND_FACTOR[person.segment]
    customer = create_customer(
        w.db,
        w.env,
        Actor.system(),
        name=person.name,
        identities=person.identities(),
        segment=person.segment,
        journey_stage=stage,
        lifetime_value=Decimal(f"{value:.2f}"),
    )
    return dataclasses.replace(person, id=customer.id)


def _lives(
    w: World, people: list[Person], start: datetime, end: datetime
) -> list[tuple[datetime, Story]]:
    lives: list[tuple[datetime, Story]] = []
    rng = w.rng
    for n, person in enumerate(people):
        if n < len(KINDS):
            # Showcase stories start early enough to finish before the present.
            at = daytime(rng, start + timedelta(days=1), HISTORY / 2)
            lives.append((at, life(w, person, [KINDS[n]])))
        elif rng.random() < 0.1:
            # Written in the last day and a half, not answered yet: the live queue.
            at = opening(rng, end - timedelta(seconds=rng.uniform(300, 36 * 3600)))
            lives.append((at, waiting(w, person, everyday(w, person, 1)[0])))
        elif kinds := everyday(w, person, rng.choices((0, 1, 2, 3), weights=(30, 45, 18, 7))[0]):
            lives.append((daytime(rng, start, end - start), life(w, person, kinds)))
    return lives


def summarise(db: Session, *, created: bool) -> DemoSummary:
    def count(model: type[Base], *where: ColumnElement[bool]) -> int:
        return db.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return DemoSummary(
        created=created,
        agents=count(Agent),
        customers=count(Customer, Customer.merged_into_id.is_(None)),
        cases=count(Case),
        touches=count(Touch),
        switches=count(ChannelSwitch),
        merges=count(Merge),
    )
