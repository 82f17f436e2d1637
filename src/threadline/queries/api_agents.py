"""The staff directory as the JSON API shows it: who serves customers, in what role,
whether they are available, and their teams and skills."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.models import Agent, Team, agent_teams
from threadline.vocabulary import Presence, Role


@dataclass(frozen=True)
class AgentView:
    id: int
    name: str
    email: str
    role: Role
    presence: Presence
    teams: tuple[str, ...]
    skills: tuple[str, ...]


def list_agents(
    db: Session, *, limit: int, after_id: int | None = None
) -> tuple[list[AgentView], bool]:
    """At most `limit` active agents with ids above `after_id`, and whether more follow."""
    query = select(Agent).where(Agent.active.is_(True))
    if after_id is not None:
        query = query.where(Agent.id > after_id)
    rows = list(db.scalars(query.order_by(Agent.id).limit(limit + 1)))
    page = rows[:limit]
    teams = _teams(db, [agent.id for agent in page])
    return [
        AgentView(
            id=agent.id,
            name=agent.name,
            email=agent.email,
            role=agent.role,
            presence=agent.presence,
            teams=teams.get(agent.id, ()),
            skills=tuple(agent.skills),
        )
        for agent in page
    ], len(rows) > limit


def _teams(db: Session, agent_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not agent_ids:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    for agent_id, name in db.execute(
        select(agent_teams.c.agent_id, Team.name)
        .join(Team, Team.id == agent_teams.c.team_id)
        .where(agent_teams.c.agent_id.in_(agent_ids))
        .order_by(Team.name)
    ):
        found[agent_id].append(name)
    return {agent_id: tuple(names) for agent_id, names in found.items()}
