"""Everything one screen shows, gathered in one call so that a route stays one line:
the case page and the customer page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from threadline.queries.cases import (
    CaseHeader,
    CaseRow,
    case_header,
    channels_by_case,
    recent_cases,
)
from threadline.queries.customers import CustomerPanel, customer_panel
from threadline.queries.timeline import Timeline, case_timeline, customer_timeline
from threadline.vocabulary import Channel

CUSTOMER_PAGE_CASES = 200


@dataclass(frozen=True)
class CasePage:
    case: CaseHeader
    channels: tuple[Channel, ...]
    timeline: Timeline
    customer: CustomerPanel


@dataclass(frozen=True)
class CustomerPage:
    customer: CustomerPanel
    cases: tuple[CaseRow, ...]
    timeline: Timeline


def case_page(db: Session, case_id: int) -> CasePage:
    case = case_header(db, case_id)
    return CasePage(
        case=case,
        channels=channels_by_case(db, [case.id]).get(case.id, ()),
        timeline=case_timeline(db, case.id),
        customer=customer_panel(db, case.customer_id, exclude_case_id=case.id),
    )


def customer_page(db: Session, customer_id: int) -> CustomerPage:
    panel = customer_panel(db, customer_id)
    return CustomerPage(
        customer=panel,
        cases=tuple(recent_cases(db, customer_id=customer_id, limit=CUSTOMER_PAGE_CASES)),
        timeline=customer_timeline(db, customer_id),
    )
