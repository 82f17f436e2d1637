"""Choosing an owner for a case that has none. The relationship matters most: the agent
who last served this customer gets the case when they are available."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from threadline.models import Agent, Case
from threadline.prepared import Prepared
from threadline.vocabulary import Presence, Role

OWNING_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


def can_own(agent: Agent) -> bool:
    return agent.active and agent.role in OWNING_ROLES


_PREVIOUS_OWNER = Prepared(
    select(Agent.id, Agent.presence, Agent.active, Agent.role)
    .join(Case, Case.owner_id == Agent.id)
    .where(Case.customer_id == bindparam("customer_id"), Case.id != bindparam("case_id"))
    .order_by(Case.updated_at.desc(), Case.id.desc())
    .limit(1)
)


def previous_owner(db: Session, customer_id: int, *, exclude_case_id: int) -> int | None:
    """The owner of the customer's most recent other case, if they are online now."""
    row = _PREVIOUS_OWNER.first(
        db.connection(), {"customer_id": customer_id, "case_id": exclude_case_id}
    )
    if row is None:
        return None
    agent_id, presence, active, role = row
    if active and presence is Presence.ONLINE and role in OWNING_ROLES:
        return int(agent_id)
    return None
