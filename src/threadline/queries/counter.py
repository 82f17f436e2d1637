"""What the shop counter shows: the customers a clerk's search finds, and one customer's
open case in brief.

A clerk types whatever the customer gives them: a phone number (in any national or
international form), an email address, a loyalty-card number, or a name. The search tries
each kind of identity the text can be, normalised as the API does, and falls back to the
name. Clerks may not read internal notes, so the case's last touch is the last
customer-facing one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.errors import InvalidInput, NotFound
from threadline.identities import normalise
from threadline.models import Agent, Case, Customer, Segment, Touch, format_ref
from threadline.queries.api_customers import CustomerSearch, find_customers
from threadline.queries.cases import LastTouch, last_touches
from threadline.queries.customers import IdentityView, identities_by_customer
from threadline.vocabulary import OPEN_STATUSES, CaseStatus, IdentityKind, TouchKind

MAX_RESULTS = 8
# The kinds a customer hands over at the counter, in the order they are tried.
COUNTER_KINDS = (IdentityKind.EMAIL, IdentityKind.PHONE, IdentityKind.LOYALTY_CARD)


@dataclass(frozen=True)
class CaseBrief:
    id: int
    ref: str
    topic: str | None
    subject: str
    status: CaseStatus
    owner_name: str | None
    updated_at: datetime
    last_touch: LastTouch | None


@dataclass(frozen=True)
class CounterCustomer:
    id: int
    name: str
    segment_key: str
    segment_name: str
    identities: tuple[IdentityView, ...]
    open_case: CaseBrief | None  # the most recently active one
    open_cases: int


@dataclass(frozen=True)
class NewIdentity:
    """The identity a new customer would be created with, read from the search."""

    kind: IdentityKind
    value: str  # as typed


@dataclass(frozen=True)
class CounterSearch:
    text: str
    customers: tuple[CounterCustomer, ...]
    by: str  # what matched: an identity kind's label, "name", or "" when nothing did
    new_identity: NewIdentity | None


@dataclass(frozen=True)
class LoggedVisit:
    touch_id: int
    case_id: int
    case_ref: str
    topic: str | None
    occurred_at: datetime


def identity_kinds(text: str, region: str) -> list[IdentityKind]:
    """Every kind of counter identity `text` can be read as."""
    kinds = []
    for kind in COUNTER_KINDS:
        if kind is IdentityKind.EMAIL and "@" not in text:
            continue
        # A card "number" with no digit in it is a word: a name, not a card.
        if kind is IdentityKind.LOYALTY_CARD and not any(ch.isdigit() for ch in text):
            continue
        try:
            normalise(kind, text, region=region)
        except InvalidInput:
            continue
        kinds.append(kind)
    return kinds


def counter_search(db: Session, text: str, *, region: str) -> CounterSearch:
    """Customers whose identity the text is, else whose name contains it."""
    text = " ".join(text.split())
    kinds = identity_kinds(text, region)
    for kind in kinds:
        found, _ = find_customers(
            db, CustomerSearch(identity=f"{kind.value}:{text}"), region=region, limit=MAX_RESULTS
        )
        if found:
            ids = [c.id for c in found]
            return CounterSearch(text, counter_customers(db, ids), kind.label, None)
    if any(ch.isalpha() for ch in text) and "@" not in text:
        found, _ = find_customers(db, CustomerSearch(q=text), region=region, limit=MAX_RESULTS)
        if found:
            return CounterSearch(text, counter_customers(db, [c.id for c in found]), "name", None)
    # A phone number reads as digits only; a card number usually carries letters.
    guess = _likely_kind(text, kinds)
    return CounterSearch(text, (), "", NewIdentity(guess, text) if guess else None)


def _likely_kind(text: str, kinds: list[IdentityKind]) -> IdentityKind | None:
    if not kinds:
        return None
    has_letters = any(ch.isalpha() for ch in text)
    if has_letters and IdentityKind.LOYALTY_CARD in kinds and IdentityKind.EMAIL not in kinds:
        return IdentityKind.LOYALTY_CARD
    return kinds[0]


def counter_customers(db: Session, customer_ids: list[int]) -> tuple[CounterCustomer, ...]:
    """These customers, in the order given, each with their open case in brief."""
    if not customer_ids:
        return ()
    rows = db.execute(
        select(Customer.id, Customer.name, Customer.segment_key, Segment.name)
        .join(Segment, Segment.key == Customer.segment_key)
        .where(Customer.id.in_(customer_ids))
    ).all()
    by_id = {row[0]: row for row in rows}
    identities = identities_by_customer(db, customer_ids)
    cases = _open_cases(db, customer_ids)
    latest = {customer_id: found[0] for customer_id, found in cases.items() if found}
    touches = last_touches(db, [case.id for case in latest.values()], private=False)
    result = []
    for customer_id in customer_ids:
        if customer_id not in by_id:
            continue
        _, name, segment_key, segment_name = by_id[customer_id]
        case = latest.get(customer_id)
        result.append(
            CounterCustomer(
                id=customer_id,
                name=name,
                segment_key=segment_key,
                segment_name=segment_name,
                identities=identities.get(customer_id, ()),
                open_case=None
                if case is None
                else CaseBrief(
                    id=case.id,
                    ref=format_ref(case.id),
                    topic=case.topic,
                    subject=case.subject,
                    status=case.status,
                    owner_name=case.owner_name,
                    updated_at=case.updated_at,
                    last_touch=touches.get(case.id),
                ),
                open_cases=len(cases.get(customer_id, [])),
            )
        )
    return tuple(result)


def counter_customer(db: Session, customer_id: int) -> CounterCustomer:
    """One customer, the survivor when they were merged into another."""
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if customer.merged_into_id is not None:
        return counter_customer(db, customer.merged_into_id)
    return counter_customers(db, [customer.id])[0]


def logged_visit(db: Session, touch_id: int, customer_id: int) -> LoggedVisit | None:
    """The visit just logged, to confirm it: only a visit on this customer's case."""
    row = db.execute(
        select(Touch.id, Touch.case_id, Case.topic, Touch.occurred_at)
        .join(Case, Case.id == Touch.case_id)
        .where(
            Touch.id == touch_id,
            Touch.kind == TouchKind.VISIT,
            Case.customer_id == customer_id,
        )
    ).first()
    if row is None:
        return None
    return LoggedVisit(row[0], row[1], format_ref(row[1]), row[2], row[3])


@dataclass(frozen=True)
class _OpenCase:
    id: int
    topic: str | None
    subject: str
    status: CaseStatus
    owner_name: str | None
    updated_at: datetime


def _open_cases(db: Session, customer_ids: list[int]) -> dict[int, list[_OpenCase]]:
    found: dict[int, list[_OpenCase]] = {}
    for row in db.execute(
        select(
            Case.customer_id,
            Case.id,
            Case.topic,
            Case.subject,
            Case.status,
            Agent.name,
            Case.updated_at,
        )
        .outerjoin(Agent, Agent.id == Case.owner_id)
        .where(Case.customer_id.in_(customer_ids), Case.status.in_(OPEN_STATUSES))
        .order_by(Case.updated_at.desc(), Case.id.desc())
    ):
        found.setdefault(row[0], []).append(_OpenCase(*row[1:]))
    return found
