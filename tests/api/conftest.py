"""Fixtures for the JSON API: the real app on the real databases, agents of every role
with API tokens, and a browser-like client signed in with a cookie."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from threadline.actions import Actor, Env, NewAgent, create_agent, create_token
from threadline.vocabulary import Role

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Caller:
    agent_id: int
    email: str
    role: Role
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_caller(db: Session, env: Env, role: Role, name: str | None = None) -> Caller:
    email = f"{name or role.value}@shop.example"
    agent = create_agent(
        db,
        env,
        Actor.system(),
        NewAgent(email=email, name=(name or role.value).title(), role=role, password=PASSWORD),
    )
    token = create_token(db, env, Actor.system(), email, "tests").token
    return Caller(agent_id=agent.id, email=email, role=role, token=token)


@pytest.fixture
def callers(db: Session, env: Env) -> dict[Role, Caller]:
    """One agent of every role, each with an API token."""
    return {role: make_caller(db, env, role) for role in Role}
