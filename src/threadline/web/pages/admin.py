"""The administrator's page: who works on the desk (role, teams, presence, capacity), a
form to add someone, and the service levels in force with their calendars. Read here;
the form adds people through POST /api/v1/agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from threadline.api import ReadDep
from threadline.api.threads import SessionEndingRoute
from threadline.models import Agent, Team
from threadline.permissions import Permission
from threadline.queries.service_levels import list_calendars, list_policies
from threadline.routing.router import Limits
from threadline.vocabulary import ClockKind, Role
from threadline.web.desk_user import DeskUser, page_requires
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

AdminDep = Annotated[DeskUser, Depends(page_requires(Permission.MANAGE_AGENTS))]
SHOWN = 200  # policies and calendars on the page; a shop has a dozen or two


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, db: ReadDep, user: AdminDep) -> HTMLResponse:
    agents = db.scalars(select(Agent).options(selectinload(Agent.teams)).order_by(Agent.name)).all()
    capacity = {agent.id: Limits.of(agent.capacity).groups for agent in agents}
    policies, _ = list_policies(db, limit=SHOWN)
    calendars, _ = list_calendars(db, limit=SHOWN)
    return render(
        request,
        "admin.html",
        user=user,
        agents=agents,
        capacity=capacity,
        teams=db.scalars(select(Team.name).order_by(Team.name)).all(),
        roles=list(Role),
        policies=policies,
        calendars=calendars,
        kinds=list(ClockKind),
    )
