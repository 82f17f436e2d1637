"""Customers as the JSON API shows them: one customer with every identity, and the search
behind `GET /api/v1/customers`, in pages ordered by id (a keyset, so that pages stay
stable while customers are added)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from threadline.errors import InvalidInput, NotFound
from threadline.identities import normalise
from threadline.models import Customer, Identity
from threadline.queries.customers import IdentityView, identities_by_customer
from threadline.vocabulary import IdentityKind, JourneyStage


@dataclass(frozen=True)
class CustomerView:
    id: int
    name: str
    segment: str
    journey_stage: JourneyStage
    lifetime_value: Decimal
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    identities: tuple[IdentityView, ...]


@dataclass(frozen=True)
class CustomerSearch:
    """What to look for; every part given must match, and an empty one is not given.
    `identity` is `KIND:VALUE` as a caller writes it, e.g. `phone:07700 900123`; it is
    normalised before matching."""

    identity: str | None = None
    q: str | None = None
    segment: str | None = None


def customer_view(db: Session, customer_id: int) -> CustomerView:
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return _view(customer, identities_by_customer(db, [customer.id]).get(customer.id, ()))


def find_customers(
    db: Session, search: CustomerSearch, *, region: str, limit: int, after_id: int | None = None
) -> tuple[list[CustomerView], bool]:
    """At most `limit` customers with ids above `after_id`, and whether more follow.
    Records merged into another customer are left out: the survivor stands for them."""
    query = select(Customer).where(Customer.merged_into_id.is_(None))
    if after_id is not None:
        query = query.where(Customer.id > after_id)
    for condition in _conditions(search, region):
        query = query.where(condition)
    rows = list(db.scalars(query.order_by(Customer.id).limit(limit + 1)))
    more = len(rows) > limit
    page = rows[:limit]
    identities = identities_by_customer(db, [c.id for c in page])
    return [_view(c, identities.get(c.id, ())) for c in page], more


def parse_identity(text: str, *, region: str) -> tuple[IdentityKind, str]:
    """`KIND:VALUE` as kind and normalised value, or InvalidInput saying what is wrong."""
    kind, colon, value = text.partition(":")
    if not colon:
        raise InvalidInput("identity must be written KIND:VALUE, e.g. email:ann@example.com")
    normal = normalise(kind.strip(), value, region=region)
    return IdentityKind(kind.strip()), normal


def _conditions(search: CustomerSearch, region: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if search.identity and search.identity.strip():  # `?identity=` left empty: no filter
        kind, value = parse_identity(search.identity, region=region)
        conditions.append(
            exists().where(
                Identity.customer_id == Customer.id,
                Identity.kind == kind,
                Identity.value == value,
            )
        )
    words = " ".join((search.q or "").split()).lower()
    if words:
        # lower() on both sides rather than ILIKE: the same on SQLite and PostgreSQL.
        conditions.append(
            or_(
                func.lower(Customer.name).contains(words, autoescape=True),
                exists().where(
                    Identity.customer_id == Customer.id,
                    or_(
                        func.lower(Identity.value).contains(words, autoescape=True),
                        func.lower(Identity.display).contains(words, autoescape=True),
                    ),
                ),
            )
        )
    if search.segment:
        conditions.append(Customer.segment_key == search.segment)
    return conditions


def _view(customer: Customer, identities: tuple[IdentityView, ...]) -> CustomerView:
    return CustomerView(
        id=customer.id,
        name=customer.name,
        segment=customer.segment_key,
        journey_stage=customer.journey_stage,
        lifetime_value=customer.lifetime_value,
        merged_into_id=customer.merged_into_id,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        identities=identities,
    )
