"""The read-only desk: the case list, one case's timeline, one customer's story. Each
route parses, runs one query and renders; nothing here writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from threadline.api import ReadDep
from threadline.queries.cases import recent_cases
from threadline.queries.pages import case_page, customer_page
from threadline.vocabulary import CaseStatus
from threadline.web.templating import render

LIST_LIMIT = 100

# The desk's pages are not part of the JSON API, so they stay out of the OpenAPI schema.
router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/cases", status_code=303)


@router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    db: ReadDep,
    status: Annotated[CaseStatus | None, Query()] = None,
) -> HTMLResponse:
    rows = recent_cases(db, status=status, limit=LIST_LIMIT)
    return render(
        request,
        "cases.html",
        cases=rows,
        status=status,
        statuses=list(CaseStatus),
        limit=LIST_LIMIT,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(request: Request, db: ReadDep, case_id: int) -> HTMLResponse:
    return render(request, "case.html", page=case_page(db, case_id))


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, db: ReadDep, customer_id: int) -> HTMLResponse:
    return render(request, "customer.html", page=customer_page(db, customer_id))
