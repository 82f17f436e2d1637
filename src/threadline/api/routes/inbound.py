"""Contact handed over by integrations and by the shop counter: both land on the
customer's one timeline through the same action as every channel's messages."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from threadline.actions import Actor, StoreVisit, log_store_visit, receive
from threadline.actions.access import Principal
from threadline.actions.inbound import Purchase
from threadline.api.bodies import Body
from threadline.api.deps import RuntimeDep, SessionDep, require
from threadline.api.keyset import MAX_ID
from threadline.api.routes.customers import IdentityIn
from threadline.api.schemas import error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.channels.base import IdentityRef, Inbound
from threadline.permissions import Permission
from threadline.vocabulary import Channel, IdentityKind

router = APIRouter(route_class=SessionEndingRoute, tags=["inbound"])

Integration = Annotated[Principal, Depends(require(Permission.POST_INBOUND))]
Clerk = Annotated[Principal, Depends(require(Permission.LOG_STORE_VISITS))]


def _plausible(at: datetime) -> datetime:
    # Year 1 with a positive offset is before datetime.min in UTC: the database layer
    # would fail converting it, so refuse such times here as bad input.
    try:
        year = at.astimezone(UTC).year
    except OverflowError:
        year = 1
    if not 1970 <= year <= 9998:
        raise ValueError("a contact time must lie between 1970 and 9998")
    return at


ContactTime = Annotated[AwareDatetime, AfterValidator(_plausible)]


class FromIn(Body):
    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320, examples=["ann@example.com"])]
    name: Annotated[str | None, Field(max_length=200)] = None


class InboundIn(Body):
    channel: Channel
    external_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=250,
            description="The message's id at its source; a second copy answers duplicate",
        ),
    ]
    sender: Annotated[FromIn, Field(alias="from", description="Who wrote")]
    text: str
    subject: Annotated[str | None, Field(max_length=300)] = None
    public: bool = Field(default=False, description="Posted where anyone can see it")
    occurred_at: ContactTime | None = Field(default=None, description="Defaults to now")
    case_ref: Annotated[
        str | None,
        Field(max_length=40, description="A case ref the customer quoted, e.g. TL-1042"),
    ] = None


class InboundOut(BaseModel):
    touch_id: int
    case_id: int
    customer_id: int
    duplicate: bool = Field(description="True when this (channel, external_id) was seen")


class PurchaseIn(Body):
    amount: Annotated[Decimal, Field(gt=0, lt=10_000_000, max_digits=10, decimal_places=2)]
    description: Annotated[str | None, Field(max_length=200)] = None


class VisitIn(Body):
    customer_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None
    identity: IdentityIn | None = Field(
        default=None,
        description="Instead of customer_id; an identity nobody has yet makes a new customer",
    )
    customer_name: Annotated[str | None, Field(min_length=1, max_length=200)] = Field(
        default=None,
        description="With identity: the name of the customer it makes when nobody has the "
        "identity yet (a known customer keeps their name)",
    )
    topic: Annotated[str, Field(min_length=1, max_length=80)]
    note: Annotated[str, Field(max_length=1_000_000)] = ""
    outcome: Annotated[str | None, Field(max_length=200)] = None
    occurred_at: ContactTime | None = Field(default=None, description="Defaults to now")
    purchase: PurchaseIn | None = Field(
        default=None, description="What the customer bought: adds to their lifetime value"
    )


class VisitOut(BaseModel):
    touch_id: int
    case_id: int
    customer_id: int


@router.post(
    "/inbound",
    status_code=201,
    responses={
        200: {"model": InboundOut, "description": "A copy of a message already received"},
        **error_responses(401, 403, 422),
    },
)
def post_inbound(
    body: InboundIn,
    response: Response,
    principal: Integration,
    runtime: RuntimeDep,
    db: SessionDep,
) -> InboundOut:
    """A customer's message from an integration. It lands on the customer behind the
    sender's identity (a new customer when nobody has it) and on the case it continues:
    the quoted `case_ref`, else their open case, else a new one. A copy of a message
    already received (same channel and external_id) changes nothing and answers 200
    with the first copy's ids."""
    inbound = Inbound(
        channel=body.channel,
        external_id=body.external_id,
        sender=IdentityRef(body.sender.kind, body.sender.value, body.sender.name),
        text=body.text,
        subject=body.subject,
        public=body.public,
        occurred_at=body.occurred_at,
        case_ref=body.case_ref,
    )
    received = receive(db, runtime.env, inbound, actor=Actor.agent(principal.agent_id))
    if received.duplicate:
        response.status_code = 200
    return InboundOut(
        touch_id=received.touch_id,
        case_id=received.case_id,
        customer_id=received.customer_id,
        duplicate=received.duplicate,
    )


@router.post("/store-visits", status_code=201, responses=error_responses(401, 403, 404, 422))
def post_store_visit(
    body: VisitIn, principal: Clerk, runtime: RuntimeDep, db: SessionDep
) -> VisitOut:
    """A visit to the shop, logged by the signed-in clerk. Give the customer by
    `customer_id` or by `identity` (exactly one); the visit lands on their open case or
    a new one, like any other contact."""
    visit = StoreVisit(
        topic=body.topic,
        customer_id=body.customer_id,
        identity=IdentityRef(body.identity.kind, body.identity.value, body.customer_name)
        if body.identity
        else None,
        note=body.note,
        outcome=body.outcome,
        occurred_at=body.occurred_at,
        purchase=Purchase(body.purchase.amount, body.purchase.description)
        if body.purchase
        else None,
    )
    received = log_store_visit(db, runtime.env, principal.agent_id, visit)
    return VisitOut(
        touch_id=received.touch_id, case_id=received.case_id, customer_id=received.customer_id
    )
