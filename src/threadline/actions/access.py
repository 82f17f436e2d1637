"""Signing in and out, and recognising who calls: browser sessions and API tokens.
Attempts are recorded and rate-limited per account and per address."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.orm import Session

from threadline.actions.agents import hash_token
from threadline.actions.base import Actor, Env, action, unit_of_work
from threadline.errors import NotFound, RateLimited, Unauthorized
from threadline.models import Agent, AgentSession, ApiToken, SignInAttempt
from threadline.passwords import password_matches
from threadline.prepared import Prepared
from threadline.vocabulary import Role

SESSION_LIFETIME = timedelta(days=14)
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
# Recording every use of a token would write on every request; once a minute is enough
# to tell an operator which tokens are alive.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the API needs it."""

    agent_id: int
    role: Role
    name: str
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_id: int | None = None


@dataclass(frozen=True)
class SignedIn:
    token: str  # goes in the cookie; only its hash is stored
    csrf_token: str
    principal: Principal


def _failures(db: Session, condition: ColumnElement[bool], since: datetime) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(SignInAttempt)
            .where(condition, SignInAttempt.at >= since, SignInAttempt.succeeded.is_(False))
        )
        or 0
    )


@action
def sign_in(
    db: Session, env: Env, email: str, password: str, *, address: str, user_agent: str = ""
) -> SignedIn:
    email = email.strip().lower()[:320]
    address = address[:64]
    now = env.clock.now()
    since = now - ATTEMPT_WINDOW
    if (
        _failures(db, SignInAttempt.email == email, since) >= MAX_FAILURES_PER_ACCOUNT
        or _failures(db, SignInAttempt.address == address, since) >= MAX_FAILURES_PER_ADDRESS
    ):
        db.rollback()
        raise RateLimited("too many failed sign-ins; wait a few minutes and try again")
    agent = db.scalars(select(Agent).where(Agent.email == email)).first()
    ok = password_matches(env.settings.env, agent.password_hash if agent else None, password)
    ok = ok and agent is not None and agent.active and agent.password_hash is not None
    actor = Actor.agent(agent.id) if agent and ok else Actor.system()
    with unit_of_work(db, env, actor) as unit:
        db.add(SignInAttempt(email=email, address=address, at=now, succeeded=ok))
        if not ok or agent is None:
            failed = True
        else:
            failed = False
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(24)
            row = AgentSession(
                agent_id=agent.id,
                token_hash=hash_token(token),
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_LIFETIME,
                address=address,
                user_agent=user_agent[:256],
            )
            db.add(row)
            db.flush()
            unit.audit("agent.signed_in", "agent", agent.id, session_id=row.id, address=address)
    if failed or agent is None:
        raise Unauthorized("wrong email or password")
    principal = Principal(
        agent_id=agent.id,
        role=agent.role,
        name=agent.name,
        via="session",
        csrf_token=csrf,
        session_id=row.id,
    )
    return SignedIn(token=token, csrf_token=csrf, principal=principal)


@action
def sign_out(db: Session, env: Env, principal: Principal) -> None:
    if principal.session_id is None:
        return
    with unit_of_work(db, env, Actor.agent(principal.agent_id)) as unit:
        db.execute(
            update(AgentSession)
            .where(AgentSession.id == principal.session_id, AgentSession.revoked_at.is_(None))
            .values(revoked_at=unit.now)
        )
        unit.audit("agent.signed_out", "agent", principal.agent_id, session_id=principal.session_id)


def _active_agent(db: Session, agent_id: int) -> Agent:
    agent = db.get(Agent, agent_id)
    if agent is None or not agent.active:
        raise Unauthorized("this account is disabled")
    return agent


def session_principal(db: Session, env: Env, token: str) -> Principal:
    row = db.scalars(
        select(AgentSession).where(AgentSession.token_hash == hash_token(token))
    ).first()
    now = env.clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("signed out; sign in again")
    agent = _active_agent(db, row.agent_id)
    return Principal(
        agent_id=agent.id,
        role=agent.role,
        name=agent.name,
        via="session",
        csrf_token=row.csrf_token,
        session_id=row.id,
    )


class TokenCaller(NamedTuple):
    principal: Principal
    note_use: int | None  # the token's id when its last use is due to be recorded
    use_due_at: datetime  # when it next will be (now, when it is already)


def token_principal(db: Session, env: Env, token: str) -> TokenCaller:
    """The caller behind a bearer token, and whether its use is to be recorded (see
    record_token_use)."""
    row = _TOKEN.first(db.connection(), {"token_hash": hash_token(token)})
    if row is None:
        raise Unauthorized("unknown or revoked token")
    token_id, revoked_at, last_used_at, agent_id, role, name, active = row
    if revoked_at is not None:
        raise Unauthorized("unknown or revoked token")
    if not active:
        raise Unauthorized("this account is disabled")
    now = env.clock.now()
    due_at = now if last_used_at is None else last_used_at + LAST_USED_RESOLUTION
    principal = Principal(agent_id=agent_id, role=role, name=name, via="token")
    return TokenCaller(principal, token_id if due_at <= now else None, due_at)


# Every API request looks its token up: one statement on the driver's cursor.
_TOKEN = Prepared(
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        Agent.id,
        Agent.role,
        Agent.name,
        Agent.active,
    )
    .join(Agent, Agent.id == ApiToken.agent_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def record_token_use(db: Session, env: Env, token_id: int) -> None:
    with unit_of_work(db, env, Actor.system()) as unit:
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=unit.now))


@action
def revoke_token(db: Session, env: Env, actor: Actor, token_id: int) -> None:
    with unit_of_work(db, env, actor) as unit:
        row = db.get(ApiToken, token_id, with_for_update=True)
        if row is None:
            raise NotFound(f"token {token_id} does not exist")
        if row.revoked_at is None:
            row.revoked_at = unit.now
            unit.audit("token.revoked", "agent", row.agent_id, token_id=row.id)
