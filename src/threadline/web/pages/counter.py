"""The shop counter: the clerk's home page, made for a tablet on the counter.

Find the customer (a GET form, so the results are on the page before any script runs),
see their open case in brief, and log the visit in three taps: the customer, a topic,
Log visit. Logging goes through POST /api/v1/store-visits from the page's script, like
every change on the desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from threadline.api import ReadDep, RuntimeDep
from threadline.api.keyset import MAX_ID
from threadline.api.threads import SessionEndingRoute
from threadline.errors import NotFound
from threadline.permissions import Permission
from threadline.queries.counter import (
    COUNTER_KINDS,
    CounterCustomer,
    CounterSearch,
    LoggedVisit,
    counter_customer,
    counter_search,
    logged_visit,
)
from threadline.web.desk_user import DeskUser, page_requires
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

ClerkDep = Annotated[DeskUser, Depends(page_requires(Permission.LOG_STORE_VISITS))]

# What customers come in about most; the customer's open case's topic is offered first.
TOPICS = (
    "Collecting an order",
    "Return",
    "Exchange",
    "Product question",
    "Purchase",
    "Delivery",
    "Complaint",
)


@router.get("/counter", response_class=HTMLResponse)
def counter(
    request: Request,
    user: ClerkDep,
    db: ReadDep,
    runtime: RuntimeDep,
    find: Annotated[str, Query(max_length=200)] = "",
    customer: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    logged: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    search: CounterSearch | None = None
    chosen: CounterCustomer | None = None
    visit: LoggedVisit | None = None
    if customer is not None:
        try:
            chosen = counter_customer(db, customer)
        except NotFound:
            chosen = None
    elif find.strip():
        search = counter_search(db, find, region=runtime.settings.default_region)
        if len(search.customers) == 1:
            chosen = search.customers[0]  # one match: straight to the visit, a tap saved
    if chosen is not None and logged is not None:
        visit = logged_visit(db, logged, chosen.id)
    topics = list(TOPICS)
    if chosen is not None and chosen.open_case and chosen.open_case.topic:
        topic = chosen.open_case.topic
        topics = [topic, *(t for t in TOPICS if t.lower() != topic.lower())]
    return render(
        request,
        "counter.html",
        user=user,
        find=find,
        search=search,
        chosen=chosen,
        visit=visit,
        topics=topics,
        counter_kinds=COUNTER_KINDS,
        missing_customer=customer is not None and chosen is None,
    )
