"""GET /api/v1/search: customers, cases and touches matching the words of a query, in
three short ranked lists, only what the caller may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from threadline.actions.access import Principal
from threadline.api.bodies import NoNul
from threadline.api.deps import DataVersionDep, PagesDep, RuntimeDep, require
from threadline.api.page_cache import Built, json_body
from threadline.api.schemas import Schema, Timestamp, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission, allows
from threadline.queries.search import MAX_LIMIT, MAX_WORDS, search
from threadline.search_index import refresh
from threadline.vocabulary import CaseStatus, Channel, Direction, TouchKind

router = APIRouter(route_class=SessionEndingRoute, tags=["search"])

LookUp = Annotated[Principal, Depends(require(Permission.LOOK_UP_CUSTOMERS))]

DEFAULT_LIMIT = 10


class CustomerHitOut(Schema):
    id: int
    name: str
    segment: str
    exact: bool = Field(description="Found by an identity the whole query names")


class CaseHitOut(Schema):
    id: int
    ref: str = Field(examples=["TL-1042"])
    subject: str
    status: CaseStatus
    customer_id: int
    customer_name: str
    updated_at: Timestamp
    exact: bool = Field(description="Found by its ref, the whole query")


class TouchHitOut(Schema):
    id: int
    case_id: int
    case_ref: str
    customer_id: int
    channel: Channel
    direction: Direction
    kind: TouchKind
    occurred_at: Timestamp
    snippet: str = Field(description="One line of the text around the first word found")


class SearchOut(BaseModel):
    customers: list[CustomerHitOut] = Field(
        description="Exact identity hits first, then names with every word, newest first"
    )
    cases: list[CaseHitOut] = Field(
        description="The case the ref names first, then subjects with every word, newest "
        "first; empty for callers who may not read cases"
    )
    touches: list[TouchHitOut] = Field(
        description="Texts with every word, newest first; internal notes and system events "
        "only for callers who may read them"
    )


@router.get("/search", response_model=SearchOut, responses=error_responses(401, 403, 422))
async def search_everything(
    principal: LookUp,
    runtime: RuntimeDep,
    pages: PagesDep,
    version: DataVersionDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description=f"Up to {MAX_WORDS} words, all of which must match as whole "
            "words, in any case. A whole email address, phone number (any format) or "
            "other identity also finds its customer, a case ref (TL-1042) its case.",
            examples=["lamp broken", "07700 900123", "TL-1042"],
        ),
        NoNul,
    ],
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT} items in each list")
    ] = DEFAULT_LIMIT,
) -> Response:
    """Customers (by name or identity), cases (by ref or subject) and touches (by text)
    matching the words, each list ranked: exact identity or ref hits first, then the
    newest. Search narrows rather than pages: there is no cursor, add a word instead.

    Only what the caller may read: cases and touches need the right to read cases, and
    the words of internal notes and system events are found only for callers who may
    read those (never for shop clerks)."""
    region = runtime.settings.default_region
    cases = allows(principal.role, Permission.READ_CASES)
    private = allows(principal.role, Permission.READ_PRIVATE)

    def build() -> Built:
        # On SQLite, rows written since the indexer last ran are indexed first (a short
        # write, only when there are any), so that what just arrived is found; the
        # reading session's snapshot begins after this.
        refresh(runtime.db)
        with runtime.db.reading() as db:
            found = search(db, q, region=region, cases=cases, private=private, limit=limit)
        answer = SearchOut(
            customers=[CustomerHitOut.model_validate(hit) for hit in found.customers],
            cases=[CaseHitOut.model_validate(hit) for hit in found.cases],
            touches=[TouchHitOut.model_validate(hit) for hit in found.touches],
        )
        return Built(json_body(answer))

    return await pages.respond(("search", q, region, cases, private, limit), build, version)
