"""The inbox: one view of the cases at a time, filtered by channel and segment, a keyset
page at a time. `/inbox/rows` answers the same listing as a fragment, which inbox.js
fetches again when events say the view may have changed."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BeforeValidator

from threadline.api import ReadDep
from threadline.api.deps import RuntimeDep
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission
from threadline.queries.inbox import (
    InboxPage,
    Narrowing,
    View,
    Viewer,
    inbox_page,
)
from threadline.vocabulary import CaseStatus, Channel
from threadline.web.desk_user import DeskUser, page_requires
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

WorkerDep = Annotated[DeskUser, Depends(page_requires(Permission.WORK_CASES))]
ViewQuery = Annotated[View, Query()]
# The filter form sends `channel=` and `segment=` for "all": empty means no filter.
ChannelQuery = Annotated[Channel | None, BeforeValidator(lambda value: value or None), Query()]
SegmentQuery = Annotated[str | None, Query(max_length=32)]
CursorQuery = Annotated[str | None, Query(max_length=512)]

# What `/cases?status=` meant before the inbox: the view that shows those cases.
STATUS_VIEWS = {
    CaseStatus.NEW: View.OPEN,
    CaseStatus.OPEN: View.OPEN,
    CaseStatus.ON_HOLD: View.OPEN,
    CaseStatus.PENDING: View.PENDING,
    CaseStatus.RESOLVED: View.RESOLVED,
    CaseStatus.CLOSED: View.RESOLVED,
}


def listing(
    db: ReadDep,
    runtime: RuntimeDep,
    user: WorkerDep,
    view: ViewQuery = View.MINE,
    channel: ChannelQuery = None,
    segment: SegmentQuery = None,
    after: CursorQuery = None,
) -> InboxPage:
    """The page of the view the query asks for: what both the page and its live
    fragment show."""
    return inbox_page(
        db,
        view,
        Viewer(
            agent_id=user.agent_id,
            team_ids=user.team_ids,
            private=user.may(Permission.READ_PRIVATE),
        ),
        Narrowing(channel=channel, segment=segment or None),
        cursor=after or None,
        now=runtime.env.clock.now(),
    )


ListingDep = Annotated[InboxPage, Depends(listing)]


def view_link(page: InboxPage, view: View | None = None, after: str | None = None) -> str:
    """The address of a view (this one by default) under the page's filters."""
    params = {"view": (view or page.view).value}
    if page.narrowing.channel is not None:
        params["channel"] = page.narrowing.channel.value
    if page.narrowing.segment is not None:
        params["segment"] = page.narrowing.segment
    if after is not None:
        params["after"] = after
    return "?" + urlencode(params)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, runtime: RuntimeDep, user: WorkerDep, page: ListingDep) -> HTMLResponse:
    return render(
        request,
        "inbox.html",
        user=user,
        page=page,
        views=list(View),
        channels=list(Channel),
        segments=page.segments,
        link=view_link,
    )


@router.get("/inbox/rows", response_class=HTMLResponse)
def inbox_rows(request: Request, user: WorkerDep, page: ListingDep) -> HTMLResponse:
    """The listing alone (counts, rows, pager): what inbox.js swaps in on live events."""
    return render(
        request,
        "_inbox_rows.html",
        user=user,
        page=page,
        views=list(View),
        link=view_link,
    )


@router.get("/cases")
def cases(
    user: WorkerDep, status: Annotated[CaseStatus | None, Query()] = None
) -> RedirectResponse:
    """The old case list lives on as the inbox's views."""
    view = STATUS_VIEWS[status] if status is not None else View.OPEN
    return RedirectResponse(f"/inbox?view={view.value}", status_code=303)
