"""The customer as the side panel shows them: who they are, how to reach them, what they
are worth, and the cases they had before."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.errors import NotFound
from threadline.models import Case, Customer, Identity, Segment, format_ref
from threadline.vocabulary import CaseStatus, IdentityKind, JourneyStage

PANEL_CASES = 10


@dataclass(frozen=True)
class IdentityView:
    id: int
    kind: IdentityKind
    value: str  # normalised: what matching uses
    display: str  # as the customer gave it


@dataclass(frozen=True)
class IdentityGroup:
    kind: IdentityKind
    values: tuple[str, ...]  # as the customer gave them, e.g. "+44 7700 900123"


@dataclass(frozen=True)
class CaseSummary:
    id: int
    ref: str
    subject: str
    status: CaseStatus
    updated_at: datetime


@dataclass(frozen=True)
class CustomerPanel:
    id: int
    name: str
    segment_key: str
    segment_name: str
    journey_stage: JourneyStage
    lifetime_value: Decimal
    merged_into_id: int | None
    created_at: datetime
    identities: tuple[IdentityGroup, ...]
    other_cases: tuple[CaseSummary, ...]  # newest first, without the case on screen
    other_case_count: int


def customer_panel(
    db: Session, customer_id: int, *, exclude_case_id: int | None = None
) -> CustomerPanel:
    row = db.execute(
        select(Customer, Segment.name.label("segment_name"))
        .join(Segment, Segment.key == Customer.segment_key)
        .where(Customer.id == customer_id)
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    customer = row[0]
    cases = _other_cases(db, customer_id, exclude_case_id)
    return CustomerPanel(
        id=customer.id,
        name=customer.name,
        segment_key=customer.segment_key,
        segment_name=row.segment_name,
        journey_stage=customer.journey_stage,
        lifetime_value=customer.lifetime_value,
        merged_into_id=customer.merged_into_id,
        created_at=customer.created_at,
        identities=_identities(db, customer_id),
        other_cases=tuple(cases[:PANEL_CASES]),
        other_case_count=len(cases),
    )


def _identities(db: Session, customer_id: int) -> tuple[IdentityGroup, ...]:
    by_kind: dict[IdentityKind, list[str]] = defaultdict(list)
    for identity in identities_by_customer(db, [customer_id]).get(customer_id, ()):
        by_kind[identity.kind].append(identity.display)
    # The vocabulary's order (email, phone, social ...), not the order they were added.
    return tuple(
        IdentityGroup(kind=kind, values=tuple(by_kind[kind]))
        for kind in IdentityKind
        if kind in by_kind
    )


def identities_by_customer(
    db: Session, customer_ids: Sequence[int]
) -> dict[int, tuple[IdentityView, ...]]:
    """Each customer's identities, in the order they were added, in one query."""
    if not customer_ids:
        return {}
    found: dict[int, list[IdentityView]] = defaultdict(list)
    for row in db.execute(
        select(Identity.customer_id, Identity.id, Identity.kind, Identity.value, Identity.display)
        .where(Identity.customer_id.in_(customer_ids))
        .order_by(Identity.id)
    ):
        found[row.customer_id].append(
            IdentityView(id=row.id, kind=row.kind, value=row.value, display=row.display)
        )
    return {customer_id: tuple(views) for customer_id, views in found.items()}


def _other_cases(db: Session, customer_id: int, exclude_case_id: int | None) -> list[CaseSummary]:
    query = (
        select(Case.id, Case.subject, Case.status, Case.updated_at)
        .where(Case.customer_id == customer_id)
        .order_by(Case.updated_at.desc(), Case.id.desc())
    )
    if exclude_case_id is not None:
        query = query.where(Case.id != exclude_case_id)
    return [
        CaseSummary(
            id=row.id,
            ref=format_ref(row.id),
            subject=row.subject,
            status=row.status,
            updated_at=row.updated_at,
        )
        for row in db.execute(query)
    ]


def segment_names(db: Session) -> dict[str, str]:
    """Segment keys to names, highest rank first: a handful of rows."""
    rows = db.execute(select(Segment.key, Segment.name).order_by(Segment.rank.desc(), Segment.key))
    return dict(rows.all())
