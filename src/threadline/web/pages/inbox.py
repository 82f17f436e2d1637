"""The inbox (being built): for now the case list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from threadline.api import ReadDep
from threadline.queries.cases import recent_cases
from threadline.vocabulary import CaseStatus
from threadline.web.desk_user import DeskUserDep
from threadline.web.templating import render

LIST_LIMIT = 100

router = APIRouter()


@router.get("/inbox")
def inbox(_user: DeskUserDep) -> RedirectResponse:
    return RedirectResponse("/cases", status_code=303)


@router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    db: ReadDep,
    user: DeskUserDep,
    status: Annotated[CaseStatus | None, Query()] = None,
) -> HTMLResponse:
    rows = recent_cases(db, status=status, limit=LIST_LIMIT)
    return render(
        request,
        "cases.html",
        user=user,
        cases=rows,
        status=status,
        statuses=list(CaseStatus),
        limit=LIST_LIMIT,
    )
