"""Reading cases: the inbox, one case, its touches, and a customer's whole timeline.

Who sees what: every role with READ_CASES (clerks included) reads every case. Teams and
queues do not restrict the inbox yet, so SEE_ALL_QUEUES changes nothing here until the
team model arrives. Internal notes and system events are left out for callers without
READ_PRIVATE (clerks), in lists, previews and timelines alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from threadline.actions.access import Principal
from threadline.api.deps import DataVersionDep, PagesDep, ReadDep, RuntimeDep, require
from threadline.api.keyset import MAX_ID
from threadline.api.page_cache import Built, json_body
from threadline.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from threadline.api.schemas import (
    WITH_ETAG,
    CaseId,
    CaseOut,
    CaseSummaryOut,
    CustomerId,
    TouchOut,
    error_responses,
)
from threadline.api.threads import SessionEndingRoute
from threadline.errors import InvalidInput
from threadline.permissions import Permission, allows
from threadline.queries.api_cases import (
    NOBODY,
    InboxFilter,
    InboxSort,
    Key,
    SlaState,
    case_detail,
    inbox,
)
from threadline.queries.api_touches import case_touches, customer_touches
from threadline.queries.clocks import next_breach
from threadline.vocabulary import CaseStatus, Channel

router = APIRouter(route_class=SessionEndingRoute, tags=["cases"])

Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]

DEFAULT_LIMIT = 50


def etag(version: int) -> str:
    """The case's version as a strong entity tag: send it back as If-Match."""
    return f'"{version}"'


@router.get("/cases", response_model=Page[CaseSummaryOut], responses=error_responses(401, 403, 422))
async def list_cases(
    principal: Reader,
    runtime: RuntimeDep,
    pages: PagesDep,
    version: DataVersionDep,
    status: Annotated[
        list[CaseStatus] | None, Query(description="Repeat for any of several")
    ] = None,
    owner: Annotated[
        str | None,
        Query(
            pattern=r"^(me|none|[1-9][0-9]{0,17})$",
            description="me (the caller), none (unowned) or an agent id",
        ),
    ] = None,
    channel: Annotated[
        Channel | None, Query(description="Cases with a customer-facing touch on it")
    ] = None,
    segment: Annotated[
        str | None, Query(max_length=32, description="The customer's segment key")
    ] = None,
    sla: Annotated[
        SlaState | None,
        Query(
            description="breached: a running clock is past its due time; due_soon: one has "
            "passed its warning time and is not yet due"
        ),
    ] = None,
    sort: Annotated[
        InboxSort,
        Query(
            description="updated: most recently changed first. due: earliest due time "
            "first (of the case's running clocks, whatever the channel), then the cases "
            "with no running clock, oldest first"
        ),
    ] = InboxSort.UPDATED,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The inbox: cases matching every filter given, one page at a time.

    Every caller who may read cases sees every case for now (teams do not restrict the
    inbox yet). Pass the same filters with `cursor` to continue; a cursor from another
    `sort` is refused."""
    filters = InboxFilter(
        statuses=tuple(status or ()),
        owner=_owner(owner, principal),
        channel=channel,
        segment=segment,
        sla=sla,
        sort=sort,
    )
    private = allows(principal.role, Permission.READ_PRIVATE)
    after = _key(cursor, sort.value)

    def build() -> Built:
        now = runtime.env.clock.now()
        with runtime.db.reading() as db:
            found = inbox(db, filters, private=private, after=after, limit=limit, now=now)
        page = Page[CaseSummaryOut](
            items=[CaseSummaryOut.model_validate(item) for item in found.items],
            next_cursor=_cursor(found.next_key, sort.value),
        )
        # A page picked by service-level state changes as clocks pass their warning
        # and due times, anywhere in the inbox: it is built for every request.
        turns_at = next_breach(view for item in found.items for view in item.service_levels)
        return Built(json_body(page), stale_at=now if sla is not None else turns_at)

    return await pages.respond(("inbox", filters, private, after, limit), build, version)


@router.get("/cases/{case_id}", responses=WITH_ETAG | error_responses(401, 403, 404, 422))
def get_case(
    case_id: CaseId, response: Response, principal: Reader, db: ReadDep, runtime: RuntimeDep
) -> CaseOut:
    """One case with its channels, channel switches, tags and service-level clocks. The
    ETag header carries its version, for If-Match on the routes that change it."""
    case = CaseOut.model_validate(case_detail(db, case_id, runtime.env.clock.now()))
    response.headers["ETag"] = etag(case.version)
    return case


@router.get(
    "/cases/{case_id}/touches",
    response_model=Page[TouchOut],
    responses=error_responses(401, 403, 404, 422),
)
async def list_case_touches(
    case_id: CaseId,
    principal: Reader,
    runtime: RuntimeDep,
    pages: PagesDep,
    version: DataVersionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The case's touches, oldest first, a page at a time: walk `next_cursor` to the
    newest. Internal notes are left out for callers who may not read them (clerks)."""
    private = allows(principal.role, Permission.READ_PRIVATE)
    after = _key(cursor, "touch")

    def build() -> Built:
        with runtime.db.reading() as db:
            found = case_touches(db, case_id, private=private, after=after, limit=limit)
        page = Page[TouchOut](
            items=[TouchOut.model_validate(touch) for touch in found.items],
            next_cursor=_cursor(found.next_key, "touch"),
        )
        return Built(json_body(page))

    return await pages.respond(("touches", case_id, private, after, limit), build, version)


@router.get(
    "/customers/{customer_id}/timeline",
    tags=["customers"],
    responses=error_responses(401, 403, 404, 422),
)
def customer_timeline(
    customer_id: CustomerId,
    principal: Reader,
    db: ReadDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TouchOut]:
    """Every touch of every case of this customer, all channels, oldest first, a page at
    a time; each names its case. Internal notes are left out for clerks."""
    found = customer_touches(
        db,
        customer_id,
        private=allows(principal.role, Permission.READ_PRIVATE),
        after=_key(cursor, "touch"),
        limit=limit,
    )
    return Page[TouchOut](
        items=[TouchOut.model_validate(touch) for touch in found.items],
        next_cursor=_cursor(found.next_key, "touch"),
    )


def _owner(owner: str | None, principal: Principal) -> int | Literal["none"] | None:
    if owner == "me":
        return principal.agent_id
    if owner == "none":
        return NOBODY
    return int(owner) if owner is not None else None


def _cursor(key: Key | None, list_name: str) -> str | None:
    """The list's name goes into the cursor, so that one list's cursor is never read as
    another's (the inbox by `updated` and by `due` run in opposite directions)."""
    if key is None:
        return None
    at, last_id = key
    return encode_cursor(list_name, at.isoformat(), last_id)


def _key(cursor: str | None, list_name: str) -> Key | None:
    parts = decode_cursor(cursor, 3)
    if parts is None:
        return None
    name, at, last_id = parts
    if name != list_name:
        raise InvalidInput("this cursor belongs to another list or another sort order")
    when: datetime | None
    try:
        when = datetime.fromisoformat(at)
        # A forged offset can push a time outside what a datetime holds.
        when = when.astimezone(UTC) if when.tzinfo is not None else None
    except (TypeError, ValueError, OverflowError):
        when = None
    # bool is an int to Python, but never an id.
    if when is None or type(last_id) is not int or not 0 <= last_id <= MAX_ID:
        raise InvalidInput("cursor is not one this API gave out")
    return when, last_id
