"""One case's page and one customer's page, and the server-rendered fragments their
scripts fetch for live updates (the timeline, the customer panel, a merge preview).
Each route parses, runs its queries and renders; nothing here writes: the page's
scripts change things through the JSON API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from threadline.api import ReadDep
from threadline.api.keyset import MAX_ID
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission
from threadline.queries.pages import (
    case_page,
    case_timeline_only,
    customer_page,
    customer_side,
    merge_preview,
)
from threadline.vocabulary import CaseStatus, Priority, SwitchReason
from threadline.web.desk_user import DeskUser, DeskUserDep, home_for, page_requires
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

CaseReader = Annotated[DeskUser, Depends(page_requires(Permission.READ_CASES))]
CustomerReader = Annotated[DeskUser, Depends(page_requires(Permission.LOOK_UP_CUSTOMERS))]
Merger = Annotated[DeskUser, Depends(page_requires(Permission.MERGE_CUSTOMERS))]
OptionalCase = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _case_context(user: DeskUser) -> dict[str, Any]:
    return {
        "may_work": user.may("work_cases"),
        "may_reassign": user.may("reassign_cases"),
        "may_note": user.may("work_cases") and user.may("read_private"),
        "may_merge": user.may("merge_customers"),
        "statuses": list(CaseStatus),
        "priorities": list(Priority),
        "reasons": list(SwitchReason),
    }


@router.get("/")
def home(user: DeskUserDep) -> RedirectResponse:
    return RedirectResponse(home_for(user.role), status_code=303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(request: Request, db: ReadDep, user: CaseReader, case_id: int) -> HTMLResponse:
    page = case_page(db, case_id, private=user.may("read_private"))
    return render(request, "case.html", user=user, page=page, **_case_context(user))


@router.get("/cases/{case_id}/timeline", response_class=HTMLResponse)
def case_timeline(request: Request, db: ReadDep, user: CaseReader, case_id: int) -> HTMLResponse:
    """The timeline alone, for the case page's live updates."""
    timeline = case_timeline_only(db, case_id, private=user.may("read_private"))
    return render(request, "_case_timeline.html", user=user, timeline=timeline)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, db: ReadDep, user: CustomerReader, customer_id: int) -> HTMLResponse:
    page = customer_page(db, customer_id, private=user.may("read_private"))
    return render(request, "customer.html", user=user, page=page, **_case_context(user))


@router.get("/customers/{customer_id}/panel", response_class=HTMLResponse)
def customer_panel(
    request: Request,
    db: ReadDep,
    user: CustomerReader,
    customer_id: int,
    case_id: OptionalCase = None,
) -> HTMLResponse:
    """The customer panel alone (after a merge or an undo, or a change by someone else)."""
    side = customer_side(db, customer_id, exclude_case_id=case_id)
    return render(
        request,
        "_customer_panel.html",
        user=user,
        panel=side.panel,
        merges=side.merges,
        case_id=case_id,
        **_case_context(user),
    )


@router.get("/customers/{customer_id}/merge-preview", response_class=HTMLResponse)
def preview_merge(
    request: Request,
    db: ReadDep,
    user: Merger,
    customer_id: int,
    other_id: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> HTMLResponse:
    """What merging `other_id` into this customer would move, before anyone confirms."""
    preview = merge_preview(db, customer_id, other_id)
    return render(request, "_customer_merge_preview.html", user=user, preview=preview)
