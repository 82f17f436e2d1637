"""The case list, one case's timeline, one customer's story. Each route parses, runs
its queries and renders; nothing here writes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from threadline.api import ReadDep
from threadline.queries.pages import case_page, customer_page
from threadline.web.desk_user import DeskUserDep, home_for
from threadline.web.templating import render

LIST_LIMIT = 100

router = APIRouter()


@router.get("/")
def home(user: DeskUserDep) -> RedirectResponse:
    return RedirectResponse(home_for(user.role), status_code=303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(request: Request, db: ReadDep, user: DeskUserDep, case_id: int) -> HTMLResponse:
    return render(request, "case.html", user=user, page=case_page(db, case_id))


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, db: ReadDep, user: DeskUserDep, customer_id: int) -> HTMLResponse:
    return render(request, "customer.html", user=user, page=customer_page(db, customer_id))
