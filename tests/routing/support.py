"""A small desk for routing tests: agents, customers reaching us on a channel, and what
the desk shows afterwards (each case's owner), all through the real actions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.factories import inbound
from threadline.actions import (
    Actor,
    Env,
    IdentityInput,
    NewAgent,
    create_agent,
    create_customer,
    receive,
    set_presence,
)
from threadline.models import Case, Identity, Team
from threadline.vocabulary import Channel, IdentityKind, Presence, Role, TouchKind

_numbers = itertools.count(100)

KIND_FOR = {
    Channel.EMAIL: IdentityKind.EMAIL,
    Channel.PHONE: IdentityKind.PHONE,
    Channel.SMS: IdentityKind.PHONE,
    Channel.CHAT: IdentityKind.CHAT,
    Channel.WHATSAPP: IdentityKind.WHATSAPP,
}


def staff(
    db: Session,
    env: Env,
    name: str,
    *,
    presence: Presence = Presence.ONLINE,
    skills: Sequence[str] = (),
    teams: Sequence[str] = (),
    capacity: dict[str, int] | None = None,
    role: Role = Role.AGENT,
) -> int:
    """An agent, online unless told otherwise."""
    made = create_agent(
        db,
        env,
        Actor.system(),
        NewAgent(
            email=f"{name.lower()}@desk.example",
            name=name,
            role=role,
            skills=tuple(skills),
            teams=tuple(teams),
            capacity=capacity,
        ),
    )
    if presence is not Presence.OFFLINE:
        set_presence(db, env, Actor.agent(made.id), made.id, presence)
    return made.id


def team_id(db: Session, name: str) -> int:
    found = db.scalar(select(Team.id).where(Team.name == name))
    assert found is not None
    return found


def customer(db: Session, env: Env, *, segment: str = "standard") -> int:
    """A customer reachable by email, phone, chat and WhatsApp."""
    n = next(_numbers)
    made = create_customer(
        db,
        env,
        Actor.system(),
        name=f"Customer {n}",
        segment=segment,
        identities=[
            IdentityInput(IdentityKind.EMAIL, f"customer{n}@example.com"),
            IdentityInput(IdentityKind.PHONE, f"+44 7700 {n:06d}"),
            IdentityInput(IdentityKind.CHAT, f"visitor-{n}"),
            IdentityInput(IdentityKind.WHATSAPP, f"1555{n:07d}"),
        ],
    )
    return made.id


def _identity(db: Session, customer_id: int, kind: IdentityKind) -> str:
    value = db.scalar(
        select(Identity.value).where(Identity.customer_id == customer_id, Identity.kind == kind)
    )
    assert value is not None
    return value


def contact(
    db: Session,
    env: Env,
    customer_id: int | None = None,
    channel: Channel = Channel.EMAIL,
    *,
    needs: Sequence[str] = (),
    due_at: datetime | None = None,
    team: int | None = None,
) -> int:
    """The customer (a new one unless given) reaches us on `channel`; answers the case.
    What later stages would have worked out (the skills the case needs, the due time of
    a running service-level clock, the current channel) is written onto the case."""
    if customer_id is None:
        customer_id = customer(db, env)
    kind = KIND_FOR[channel]
    message = inbound(
        channel,
        kind,
        _identity(db, customer_id, kind),
        "Hello",
        team_id=team,
        kind=TouchKind.CALL if channel is Channel.PHONE else TouchKind.MESSAGE,
    )
    case_id = receive(db, env, message).case_id
    db.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(channel=channel, needs=list(needs), due_at=due_at)
    )
    db.commit()
    return case_id


def owner(db: Session, case_id: int) -> int | None:
    return db.execute(select(Case.owner_id).where(Case.id == case_id)).scalar_one()


def owners(db: Session, case_ids: Sequence[int]) -> list[int | None]:
    rows = dict(db.execute(select(Case.id, Case.owner_id).where(Case.id.in_(case_ids))).all())
    return [rows[case_id] for case_id in case_ids]
