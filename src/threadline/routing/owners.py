"""Who may own a case at all. Choosing an owner is routing/router.py's."""

from __future__ import annotations

from threadline.models import Agent
from threadline.vocabulary import Role

OWNING_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


def can_own(agent: Agent) -> bool:
    return agent.active and agent.role in OWNING_ROLES
