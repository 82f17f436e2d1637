"""The search page: what the header's search box finds, as three ranked lists
(customers, cases, touches) from the query behind `GET /api/v1/search`, and only what
the signed-in role may read: a clerk never finds the words of an internal note."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from threadline.api import ReadDep
from threadline.api.deps import RuntimeDep
from threadline.api.threads import SessionEndingRoute
from threadline.errors import InvalidInput
from threadline.permissions import Permission
from threadline.queries.customers import IdentityView, identities_by_customer, segment_names
from threadline.queries.search import MAX_WORDS, CustomerHit, Found, search
from threadline.search_index import refresh
from threadline.web.desk_user import DeskUser, page_requires
from threadline.web.templating import render

router = APIRouter(route_class=SessionEndingRoute)

LookUpDep = Annotated[DeskUser, Depends(page_requires(Permission.LOOK_UP_CUSTOMERS))]

MAX_QUERY = 200  # what the header's box lets one type, and the API's own limit
RESULTS = 20  # each list: search narrows rather than pages


@dataclass(frozen=True)
class CustomerResult:
    hit: CustomerHit
    segment_name: str
    identities: tuple[IdentityView, ...]


@dataclass(frozen=True)
class Results:
    found: Found
    customers: tuple[CustomerResult, ...]
    words: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.found.customers or self.found.cases or self.found.touches)


def marked(text: str, words: tuple[str, ...]) -> list[tuple[str, bool]]:
    """`text` cut into pieces, each saying whether it is one of the words searched for,
    so the template can wrap those in <mark> and still escape everything."""
    tokens = sorted({w for w in words if w.strip()}, key=len, reverse=True)
    if not tokens:
        return [(text, False)]
    pattern = re.compile("|".join(re.escape(t) for t in tokens), re.IGNORECASE)
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    runtime: RuntimeDep,
    db: ReadDep,
    user: LookUpDep,
    q: Annotated[str, Query(max_length=10_000)] = "",
) -> HTMLResponse:
    text = " ".join(q.split())
    problem: str | None = None
    results: Results | None = None
    if not text:
        problem = "Type a name, an email address, a phone number, a case ref or a few words."
    elif len(text) > MAX_QUERY:
        problem = f"That is too long to search for: use at most {MAX_QUERY} characters."
    else:
        # On SQLite, index what arrived since the indexer last ran, before `db` reads.
        refresh(runtime.db)
        try:
            found = search(
                db,
                text,
                region=runtime.settings.default_region,
                cases=user.may(Permission.READ_CASES),
                private=user.may(Permission.READ_PRIVATE),
                limit=RESULTS,
            )
        except InvalidInput:
            problem = f"Search for at most {MAX_WORDS} words at a time."
        else:
            names = segment_names(db)
            identities = identities_by_customer(db, [hit.id for hit in found.customers])
            results = Results(
                found=found,
                customers=tuple(
                    CustomerResult(
                        hit=hit,
                        segment_name=names.get(hit.segment, hit.segment),
                        identities=identities.get(hit.id, ()),
                    )
                    for hit in found.customers
                ),
                words=tuple(text.split()),
            )
    return render(
        request,
        "search.html",
        user=user,
        query=q[:MAX_QUERY],
        problem=problem,
        results=results,
        marked=marked,
    )
