"""The people who serve customers: the directory, adding someone, and one's own
presence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from threadline.actions import Actor, NewAgent, create_agent, set_presence
from threadline.actions.access import Principal
from threadline.api.bodies import Body
from threadline.api.deps import CurrentPrincipal, ReadDep, RuntimeDep, SessionDep, require
from threadline.api.keyset import after_id, next_cursor
from threadline.api.pagination import Cursor, Limit, Page
from threadline.api.schemas import ErrorOut, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission
from threadline.queries.api_agents import AgentView, list_agents
from threadline.vocabulary import Presence, Role

router = APIRouter(route_class=SessionEndingRoute, prefix="/agents", tags=["agents"])

Manager = Annotated[Principal, Depends(require(Permission.MANAGE_AGENTS))]
Label = Annotated[str, Field(min_length=1, max_length=80)]


class AgentIn(Body):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role
    password: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=1024,
            description="At least 10 characters; without one the agent signs in only by token",
        ),
    ] = None
    teams: Annotated[list[Label], Field(max_length=50, description="Created when new")] = []
    skills: Annotated[list[Label], Field(max_length=100)] = []


class AgentOut(BaseModel):
    id: int
    name: str
    email: str
    role: Role
    presence: Presence
    teams: list[str]
    skills: list[str]

    @classmethod
    def of(cls, view: AgentView) -> AgentOut:
        return cls(
            id=view.id,
            name=view.name,
            email=view.email,
            role=view.role,
            presence=view.presence,
            teams=list(view.teams),
            skills=list(view.skills),
        )


class PresenceIn(Body):
    status: Presence


class PresenceOut(BaseModel):
    agent_id: int
    status: Presence


@router.get("", responses=error_responses(401, 422))
def directory(
    principal: CurrentPrincipal, db: ReadDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[AgentOut]:
    """Every active agent, with role, presence, teams and skills; any signed-in caller
    may read it. Ordered by id."""
    views, more = list_agents(db, limit=limit, after_id=after_id(cursor))
    return Page(items=[AgentOut.of(v) for v in views], next_cursor=next_cursor(views, more))


@router.post(
    "",
    status_code=201,
    responses={
        **error_responses(401, 403, 422),
        409: {"model": ErrorOut, "description": "An agent with that email exists"},
    },
)
def create(body: AgentIn, principal: Manager, runtime: RuntimeDep, db: SessionDep) -> AgentOut:
    """Add an agent (offline until they say otherwise). The password is never echoed.
    409 when an agent with that email exists."""
    agent = create_agent(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        NewAgent(
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            # Listed twice is meant once.
            teams=tuple(dict.fromkeys(body.teams)),
            skills=tuple(body.skills),
        ),
    )
    return AgentOut(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        role=agent.role,
        presence=agent.presence,
        teams=sorted(team.name for team in agent.teams),
        skills=list(agent.skills),
    )


@router.post("/me/presence", responses=error_responses(401, 403, 422))
def presence(
    body: PresenceIn, principal: CurrentPrincipal, runtime: RuntimeDep, db: SessionDep
) -> PresenceOut:
    """Say whether you are online, away or offline; routing only offers cases to agents
    who are online."""
    agent = set_presence(
        db, runtime.env, Actor.agent(principal.agent_id), principal.agent_id, body.status
    )
    return PresenceOut(agent_id=agent.id, status=agent.presence)
