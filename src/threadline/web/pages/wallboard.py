"""The supervisor's wallboard: the live state of every queue on one screen.

The page is rendered whole on the server; its script swaps in the figures fragment
(`/wallboard/figures`) when events say something changed, and on a slow timer for the
clocks that breach without any event of their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from threadline.api.routes.wallboard import current_board
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission
from threadline.queries.wallboard import Wallboard
from threadline.web.desk_user import DeskUser, page_requires
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

SupervisorDep = Annotated[DeskUser, Depends(page_requires(Permission.SEE_ALL_QUEUES))]
BoardDep = Annotated[Wallboard, Depends(current_board)]


@router.get("/wallboard", response_class=HTMLResponse)
def wallboard_page(request: Request, user: SupervisorDep, board: BoardDep) -> HTMLResponse:
    return render(request, "wallboard.html", user=user, board=board)


@router.get("/wallboard/figures", response_class=HTMLResponse)
def wallboard_figures(request: Request, user: SupervisorDep, board: BoardDep) -> HTMLResponse:
    """The board's figures alone, for the live refresh."""
    return render(request, "_wallboard_figures.html", user=user, board=board)
