"""The demo business as a newcomer meets it: staff of every role, customers reachable on
every channel, cases that move between channels for every reason, a merge, weeks of
history, and a `threadline demo` that seeds once and resets on request."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from tests.conftest import START
from threadline.actions import Actor, Env, create_customer
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.demo import ADMIN_EMAIL, DEMO_PASSWORD, prepare_demo, seed
from threadline.models import (
    Agent,
    Base,
    CallBack,
    Case,
    ChannelSwitch,
    Customer,
    Merge,
    Segment,
    Team,
    Touch,
)
from threadline.models import Clock as ServiceClock
from threadline.runtime import Runtime
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    Direction,
    Presence,
    Role,
    SwitchReason,
    TouchKind,
)

CUSTOMERS = 30


def _count(db: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_the_demo_has_staff_and_customers_and_seeds_once(db: Session, env: Env) -> None:
    summary = seed(db, env, customers=CUSTOMERS)

    assert summary.created
    roles = dict(db.execute(select(Agent.role, func.count()).group_by(Agent.role)).all())
    assert sum(roles.values()) >= 12
    assert roles[Role.CLERK] >= 2
    assert roles[Role.SUPERVISOR] >= 1
    assert roles[Role.ADMIN] >= 1
    assert {"Shop floor", "Contact centre", "Social"} <= set(db.scalars(select(Team.name)))
    assert _count(db, Agent, Agent.presence == Presence.ONLINE) >= 3
    admin = db.scalars(select(Agent).where(Agent.email == ADMIN_EMAIL)).one()
    assert admin.password_hash is not None
    assert PasswordHasher().verify(admin.password_hash, DEMO_PASSWORD)
    live = Customer.merged_into_id.is_(None)
    assert _count(db, Customer, live) >= CUSTOMERS
    segments = set(db.scalars(select(Customer.segment_key).distinct()))
    assert segments <= set(db.scalars(select(Segment.key)))
    assert "standard" in segments

    again = seed(db, env, customers=CUSTOMERS)

    assert not again.created
    assert again == dataclasses.replace(summary, created=False)
    assert _count(db, Agent) == summary.agents


def test_the_demo_tells_weeks_of_stories_on_every_channel(db: Session, env: Env) -> None:
    seed(db, env, customers=CUSTOMERS)

    heard = set(db.scalars(select(Touch.channel).where(Touch.direction == Direction.IN).distinct()))
    assert {
        Channel.EMAIL,
        Channel.PHONE,
        Channel.SMS,
        Channel.CHAT,
        Channel.X,
        Channel.WHATSAPP,
        Channel.STORE,
    } <= heard
    assert _count(db, Touch, Touch.kind == TouchKind.CALL, Touch.call_talk_seconds > 0) > 0
    assert _count(db, Touch, Touch.kind == TouchKind.VISIT, Touch.agent_id.is_not(None)) > 0
    assert _count(db, Touch, Touch.channel == Channel.X, Touch.public.is_(True)) > 0
    assert _count(db, Touch, Touch.direction == Direction.OUT) > 0
    assert _count(db, Touch, Touch.kind == TouchKind.NOTE) > 0

    completed = set(
        db.scalars(select(ChannelSwitch.reason).where(ChannelSwitch.to_touch_id.is_not(None)))
    )
    assert completed == set(SwitchReason)
    private = db.scalars(
        select(ChannelSwitch).where(ChannelSwitch.reason == SwitchReason.PRIVATE_DATA)
    ).first()
    assert private is not None
    assert (private.from_public, private.to_public) == (True, False)

    merge = db.scalars(select(Merge).order_by(Merge.id)).first()
    assert merge is not None
    merged = db.get(Customer, merge.merged_id)
    assert merged is not None
    assert merged.merged_into_id == merge.survivor_id

    statuses = set(db.scalars(select(Case.status).distinct()))
    assert {CaseStatus.RESOLVED, CaseStatus.PENDING, CaseStatus.CLOSED} <= statuses

    first, last = db.execute(select(func.min(Touch.occurred_at), func.max(Touch.occurred_at))).one()
    now = env.clock.now()
    assert now == START  # the demo ran on a clock of its own
    assert now - timedelta(days=46) <= first <= now - timedelta(days=30)
    assert last <= now


def test_every_screen_has_something_live_when_the_demo_opens(db: Session, env: Env) -> None:
    seed(db, env, customers=CUSTOMERS)
    now = env.clock.now()

    waiting = (Case.owner_id.is_(None), Case.status.in_((CaseStatus.NEW, CaseStatus.OPEN)))
    assert _count(db, Case, *waiting) >= 2  # the wallboard's queue
    running = (ServiceClock.stopped_at.is_(None), ServiceClock.paused_at.is_(None))
    assert _count(db, ServiceClock, *running, ServiceClock.due_at <= now) >= 1  # breached
    # Near due: warned already, not yet late (an amber countdown on the inbox).
    near = (ServiceClock.warns_at <= now, ServiceClock.due_at > now)
    assert _count(db, ServiceClock, *running, *near) >= 1
    today = now - timedelta(hours=2)
    assert _count(db, ServiceClock, ServiceClock.met_at >= today) >= 1  # met on time today
    assert _count(db, CallBack, CallBack.done_at.is_(None)) >= 1
    presences = set(db.scalars(select(Agent.presence).where(Agent.role != Role.CLERK)))
    assert {Presence.ONLINE, Presence.AWAY} <= presences
    assert _count(db, Touch, Touch.kind == TouchKind.VISIT) > 0
    assert _count(db, Touch, Touch.kind == TouchKind.CALL) > 0


def test_prepare_demo_seeds_once_and_resets(tmp_path: Path) -> None:
    settings = Settings(
        env="test", database_url=f"sqlite:///{tmp_path / 'demo.db'}", data_dir=tmp_path / "var"
    )
    runtime = Runtime.start(settings, clock=FrozenClock(START))
    said: list[str] = []
    try:
        login = prepare_demo(runtime, echo=said.append, customers=20)
        assert login.startswith(f"{ADMIN_EMAIL} / {DEMO_PASSWORD}")
        assert said[-1].startswith("seeded Harbour & Vine")
        with runtime.db.session() as db:
            for local, role in (
                ("priya", Role.SUPERVISOR),
                ("tom", Role.AGENT),
                ("ollie", Role.CLERK),
            ):
                assert f"{local}@" in login
                named = db.scalars(
                    select(Agent).where(Agent.email == f"{local}@harbourandvine.example")
                ).one()
                assert named.role is role and named.password_hash is not None
                assert PasswordHasher().verify(named.password_hash, DEMO_PASSWORD)
            names = list(db.scalars(select(Customer.name).order_by(Customer.id)))
            create_customer(db, runtime.env, Actor.system(), name="Not in the demo", identities=[])

        prepare_demo(runtime, echo=said.append, customers=20)
        assert "already seeded" in said[-1]
        with runtime.db.session() as db:
            assert _count(db, Customer, Customer.name == "Not in the demo") == 1

        assert prepare_demo(runtime, reset=True, echo=said.append, customers=20) == login
        assert said[-1].startswith("seeded Harbour & Vine")
        with runtime.db.session() as db:
            assert _count(db, Customer, Customer.name == "Not in the demo") == 0
            # The same seed tells the same story.
            assert list(db.scalars(select(Customer.name).order_by(Customer.id))) == names
    finally:
        runtime.close()
