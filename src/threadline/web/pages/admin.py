"""The administrator's page: who works on the desk, in which role and teams."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from threadline.api import ReadDep
from threadline.models import Agent
from threadline.permissions import Permission
from threadline.web.desk_user import DeskUser, page_requires
from threadline.web.templating import render

router = APIRouter()

AdminDep = Annotated[DeskUser, Depends(page_requires(Permission.MANAGE_AGENTS))]


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, db: ReadDep, user: AdminDep) -> HTMLResponse:
    agents = db.scalars(select(Agent).options(selectinload(Agent.teams)).order_by(Agent.name)).all()
    return render(request, "admin.html", user=user, agents=agents)
