"""The case list, one case's timeline, one customer's story. Each route parses, runs
its queries and renders; nothing here writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from threadline.api import ReadDep
from threadline.queries.cases import recent_cases
from threadline.queries.pages import case_page, customer_page
from threadline.vocabulary import CaseStatus
from threadline.web.desk_user import DeskUserDep, home_for
from threadline.web.templating import render

LIST_LIMIT = 100

router = APIRouter()


@router.get("/")
def home(user: DeskUserDep) -> RedirectResponse:
    return RedirectResponse(home_for(user.role), status_code=303)


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


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(request: Request, db: ReadDep, user: DeskUserDep, case_id: int) -> HTMLResponse:
    return render(request, "case.html", user=user, page=case_page(db, case_id))


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, db: ReadDep, user: DeskUserDep, customer_id: int) -> HTMLResponse:
    return render(request, "customer.html", user=user, page=customer_page(db, customer_id))
