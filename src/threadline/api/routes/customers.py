"""Customers: finding them, creating them, linking the ways to reach them, and merging
two records of one person."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from threadline.actions import (
    Actor,
    IdentityInput,
    add_identity,
    create_customer,
    merge_customers,
)
from threadline.actions.access import Principal
from threadline.api.bodies import Body, NoNul
from threadline.api.deps import ReadDep, RuntimeDep, SessionDep, require
from threadline.api.keyset import MAX_ID, after_id, next_cursor
from threadline.api.pagination import Cursor, Limit, Page
from threadline.api.routes.merges import CONFLICT, MergeOut, Merger
from threadline.api.schemas import Timestamp, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.models import Identity
from threadline.permissions import Permission
from threadline.queries.api_customers import (
    CustomerSearch,
    CustomerView,
    customer_view,
    find_customers,
)
from threadline.vocabulary import IdentityKind, JourneyStage

router = APIRouter(route_class=SessionEndingRoute, prefix="/customers", tags=["customers"])

LookUp = Annotated[Principal, Depends(require(Permission.LOOK_UP_CUSTOMERS))]
Editor = Annotated[Principal, Depends(require(Permission.EDIT_CUSTOMERS))]
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]


class IdentityIn(Body):
    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320, examples=["+44 7700 900123"])]


class CustomerIdentityOut(BaseModel):
    id: int
    kind: IdentityKind
    value: str = Field(description="Normalised (E.164 phone, lower-case email): what matches")
    display: str = Field(description="As the customer gave it")

    @classmethod
    def of(cls, identity: Identity) -> CustomerIdentityOut:
        return cls(
            id=identity.id, kind=identity.kind, value=identity.value, display=identity.display
        )


class CustomerIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    segment: Annotated[str, Field(min_length=1, max_length=32)] = "standard"
    identities: Annotated[list[IdentityIn], Field(max_length=50)] = []


class CustomerOut(BaseModel):
    id: int
    name: str
    segment: str = Field(description="The segment's key, e.g. vip, trade, standard")
    journey_stage: JourneyStage
    lifetime_value: str = Field(
        description='A decimal string with two places, e.g. "1250.00": money is never a float',
        examples=["1250.00"],
    )
    merged_into: int | None = Field(
        description="The customer this record was merged into; null while it stands alone"
    )
    created_at: Timestamp
    updated_at: Timestamp
    identities: list[CustomerIdentityOut]

    @classmethod
    def of(cls, view: CustomerView) -> CustomerOut:
        return cls(
            id=view.id,
            name=view.name,
            segment=view.segment,
            journey_stage=view.journey_stage,
            lifetime_value=str(view.lifetime_value.quantize(Decimal("0.01"))),
            merged_into=view.merged_into_id,
            created_at=view.created_at,
            updated_at=view.updated_at,
            identities=[
                CustomerIdentityOut(id=i.id, kind=i.kind, value=i.value, display=i.display)
                for i in view.identities
            ],
        )


class MergeIn(Body):
    other_id: Annotated[int, Field(ge=1, le=MAX_ID, description="The customer merged away")]


@router.get("", responses=error_responses(401, 403, 422))
def find(
    principal: LookUp,
    runtime: RuntimeDep,
    db: ReadDep,
    identity: Annotated[
        str | None,
        Query(
            max_length=400,
            description="KIND:VALUE, e.g. phone:07700 900123; normalised before matching",
        ),
        NoNul,
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Part of a name or identity, any case"),
        NoNul,
    ] = None,
    segment: Annotated[str | None, Query(max_length=32), NoNul] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CustomerOut]:
    """Find customers by identity, by words in their name or identities, or by segment;
    every filter given must match. Records merged into another customer are left out
    (the survivor carries their identities). Ordered by id."""
    views, more = find_customers(
        db,
        CustomerSearch(identity=identity, q=q, segment=segment),
        region=runtime.settings.default_region,
        limit=limit,
        after_id=after_id(cursor),
    )
    return Page(items=[CustomerOut.of(v) for v in views], next_cursor=next_cursor(views, more))


@router.post("", status_code=201, responses={**error_responses(401, 403, 422), **CONFLICT})
def create(body: CustomerIn, principal: Editor, runtime: RuntimeDep, db: SessionDep) -> CustomerOut:
    """Create a customer with the ways to reach them. 409 when one of the identities
    already belongs to another customer (link it there, or merge the two)."""
    customer = create_customer(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        name=body.name,
        segment=body.segment,
        identities=[IdentityInput(kind=i.kind, value=i.value) for i in body.identities],
    )
    # A fresh read session: the one that recognised the caller began before this commit
    # and, on SQLite, would still see the database as it was then.
    with runtime.db.reading() as read:
        return CustomerOut.of(customer_view(read, customer.id))


@router.get("/{customer_id}", responses=error_responses(401, 403, 404, 422))
def get(customer_id: CustomerId, principal: LookUp, db: ReadDep) -> CustomerOut:
    """One customer with every identity, segment, journey stage and lifetime value. A
    record merged into another still answers, with `merged_into` set."""
    return CustomerOut.of(customer_view(db, customer_id))


@router.post(
    "/{customer_id}/identities",
    status_code=201,
    responses={**error_responses(401, 403, 404, 422), **CONFLICT},
)
def link_identity(
    customer_id: CustomerId,
    body: IdentityIn,
    principal: Editor,
    runtime: RuntimeDep,
    db: SessionDep,
) -> CustomerIdentityOut:
    """Link another way to reach this customer. 409 when the identity belongs to someone
    else (merge the two customers instead), is already linked here, or this customer
    was merged away."""
    identity = add_identity(
        db, runtime.env, Actor.agent(principal.agent_id), customer_id, body.kind, body.value
    )
    return CustomerIdentityOut.of(identity)


@router.post("/{customer_id}/merge", responses={**error_responses(401, 403, 404, 422), **CONFLICT})
def merge(
    customer_id: CustomerId,
    body: MergeIn,
    principal: Merger,
    runtime: RuntimeDep,
    db: SessionDep,
) -> MergeOut:
    """Merge the other customer into this one: its identities and cases move here, this
    customer keeps the better-served segment and the summed lifetime value. Answers the
    merge record; `POST /api/v1/merges/{id}/undo` reverses it exactly."""
    record = merge_customers(
        db, runtime.env, Actor.agent(principal.agent_id), customer_id, body.other_id
    )
    return MergeOut.of(record)
