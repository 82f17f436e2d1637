"""The people who serve customers: creating agents, their API tokens and presence."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.actions.routing import ONLINE_BATCH, release_for_presence, route_in
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.models import Agent, ApiToken, Team
from threadline.passwords import hash_password
from threadline.routing.owners import can_own
from threadline.routing.router import DEFAULT_LIMITS, ChannelGroup
from threadline.vocabulary import Channel, Presence, Role

MIN_PASSWORD = 10
TOKEN_PREFIX = "tl_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for

# One call at a time, three chats, a dozen written cases in all (the routing defaults,
# written out on each new agent so that the desk shows them).
DEFAULT_CAPACITY = {group.value: slots for group, slots in DEFAULT_LIMITS.items()}

# A channel's name, or a channel group's (threadline.routing.router explains both).
CAPACITY_KEYS = frozenset(c.value for c in Channel) | frozenset(g.value for g in ChannelGroup)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_STAFF_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.][^@\s]{0,252}$")


def _agent_email(email: str) -> str:
    """Staff sign in with this address; internal domains (`desk.localhost`, `shop.lan`)
    are fine here, unlike for customers, so only the shape is checked."""
    address = email.strip().lower()
    if not _STAFF_EMAIL.match(address):
        raise InvalidInput(f"{email!r} is not an email address")
    return address


@dataclass(frozen=True)
class NewAgent:
    email: str
    name: str
    role: Role
    password: str | None = None
    skills: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    capacity: dict[str, int] | None = None


@action
def create_agent(db: Session, env: Env, actor: Actor, new: NewAgent) -> Agent:
    email = _agent_email(new.email)
    name = " ".join(new.name.split())
    if not name or len(name) > 200:
        raise InvalidInput("an agent needs a name of at most 200 characters")
    try:
        role = Role(new.role)
    except ValueError:
        raise InvalidInput(
            f"unknown role {new.role!r}; use one of: {', '.join(r.value for r in Role)}"
        ) from None
    if new.password is not None and len(new.password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    capacity = dict(DEFAULT_CAPACITY if new.capacity is None else new.capacity)
    for key, slots in capacity.items():
        if key not in CAPACITY_KEYS or not 0 <= slots <= 100:
            raise InvalidInput(f"capacity {key}={slots} is not valid")
    team_names = list(dict.fromkeys(" ".join(t.split()) for t in new.teams))
    if any(not t or len(t) > 80 for t in team_names):
        raise InvalidInput("team names are 1-80 characters")
    skills = sorted({s.strip() for s in new.skills})
    if any(not s or len(s) > 64 for s in skills):
        raise InvalidInput("skills are 1-64 characters")
    password_hash = hash_password(env.settings.env, new.password) if new.password else None

    def work() -> Agent:
        with unit_of_work(db, env, actor) as unit:
            return _create(unit, email, name, role, password_hash, team_names, skills, capacity)

    # A concurrent twin loses on the unique email; the retry answers it with a conflict.
    return with_retry(work)


def _create(
    unit: Unit,
    email: str,
    name: str,
    role: Role,
    password_hash: str | None,
    team_names: list[str],
    skills: list[str],
    capacity: dict[str, int],
) -> Agent:
    db = unit.db
    if db.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise Conflict(f"an agent with email {email} exists")
    teams = []
    for team_name in team_names:
        team = db.scalars(select(Team).where(Team.name == team_name)).first()
        if team is None:
            team = Team(name=team_name)
            db.add(team)
        teams.append(team)
    agent = Agent(
        email=email,
        name=name,
        role=role,
        password_hash=password_hash,
        presence=Presence.OFFLINE,
        skills=skills,
        capacity=capacity,
        active=True,
        created_at=unit.now,
        teams=teams,
    )
    db.add(agent)
    db.flush()
    unit.audit("agent.created", "agent", agent.id, email=email, role=role.value)
    unit.emit("agent.created", agent_id=agent.id)
    return agent


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once; only its hash is kept
    token_id: int
    agent_id: int


@action
def create_token(db: Session, env: Env, actor: Actor, email: str, label: str) -> IssuedToken:
    label = label.strip() or "token"
    if len(label) > 80:
        raise InvalidInput("a token label is at most 80 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(db, env, actor) as unit:
        agent = db.scalars(select(Agent).where(Agent.email == _agent_email(email))).first()
        if agent is None or not agent.active:
            raise NotFound(f"no active agent with email {email}")
        row = ApiToken(
            agent_id=agent.id, label=label, token_hash=hash_token(token), created_at=unit.now
        )
        db.add(row)
        db.flush()
        unit.audit("token.created", "agent", agent.id, token_id=row.id, label=label)
        return IssuedToken(token=token, token_id=row.id, agent_id=agent.id)


@action
def set_presence(
    db: Session, env: Env, actor: Actor, agent_id: int, presence: Presence | str
) -> Agent:
    """Online, away or offline; routing gives cases to online agents only. In the same
    transaction, so that no customer is left with nobody:

    - going offline, the agent's new and open cases on a live channel (phone, chat) and
      those whose customer waits for an answer (a running service-level clock, i.e. a
      due time) go to other agents by the routing rules, or back to the waiting cases
      when nobody can take them now; their other cases stay theirs;
    - going away, only the live-channel cases move: the customer is on the line or in
      the chat window now, while written cases can wait for a short break;
    - coming online, the waiting cases are routed (to this agent or another, by the
      rules), so that the agent picks up work at once."""
    try:
        target = Presence(presence)
    except ValueError:
        raise InvalidInput(f"unknown presence {presence!r}") from None
    with unit_of_work(db, env, actor) as unit:
        agent = db.get(Agent, agent_id, with_for_update=True, populate_existing=True)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        if agent.presence is not target:
            old = agent.presence
            agent.presence = target
            unit.audit("agent.presence", "agent", agent.id, old=old.value, new=target.value)
            unit.emit("agent.presence", agent_id=agent.id, presence=target.value)
            if target is Presence.ONLINE:
                if can_own(agent):
                    route_in(unit, limit=ONLINE_BATCH)
            else:
                release_for_presence(unit, agent.id, target)
        return agent
