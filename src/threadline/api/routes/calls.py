"""Calls from the desk: click-to-call, pausing the recording while card details are read
out, a call's figures, and the call-backs owed to customers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from threadline.actions import Actor
from threadline.actions.access import Principal
from threadline.actions.calls import place_call, record_recording_pause, request_call_back
from threadline.api.deps import ReadDep, RuntimeDep, SessionDep, require
from threadline.api.keyset import MAX_ID
from threadline.api.pagination import Page, decode_cursor, encode_cursor
from threadline.api.routes.case_actions import Input, Recipient
from threadline.api.schemas import CaseId, Timestamp, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.channels.base import IdentityRef
from threadline.channels.twilio.rest import TwilioApi, TwilioApiError
from threadline.errors import Conflict, NotFound, Unavailable
from threadline.permissions import Permission
from threadline.queries.calls import call_backs, call_view
from threadline.vocabulary import CallStatus, Direction, SwitchReason

router = APIRouter(route_class=SessionEndingRoute, tags=["calls"])

Worker = Annotated[Principal, Depends(require(Permission.WORK_CASES))]
Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]
CallId = Annotated[int, Field(ge=1, le=MAX_ID)]


class CallIn(Input):
    to: Recipient | None = Field(
        default=None, description="A phone identity of the customer; default: their number"
    )
    call_back_id: Annotated[int | None, Field(ge=1, le=MAX_ID)] = Field(
        default=None, description="The call-back this call makes good"
    )
    switch_reason: SwitchReason | None = Field(
        default=None,
        description="Why the conversation moves to the phone (private_data, callback, ...)",
    )


class PlacedOut(BaseModel):
    call_id: int
    touch_id: int
    delivery: Literal["queued"]
    switch_id: int | None


class CallOut(BaseModel):
    id: int
    sid: str | None = Field(description="The provider's call sid; null until it dialled")
    case_id: int
    case_ref: str
    touch_id: int
    direction: Direction
    status: CallStatus
    customer_number: str | None = Field(description="E.164; null for a withheld number")
    queue: str | None
    agent_id: int | None = Field(description="Who answered (inbound) or placed it")
    started_at: Timestamp
    answered_at: Timestamp | None
    ended_at: Timestamp | None
    wait_seconds: float | None
    hold_seconds: float
    holds: int
    longest_hold_seconds: float
    on_hold: bool
    abandoned: bool
    voicemail: bool
    recording_url: str | None
    transcription: str | None
    recording_paused: bool
    recording_pauses: list[list[str]] = Field(
        description="[paused_at, resumed_at] spans that were not recorded"
    )


class RecordingIn(Input):
    paused: bool


class CallBackIn(Input):
    number: Annotated[str | None, Field(min_length=1, max_length=40)] = Field(
        default=None, description="One of the customer's numbers; default: their usual one"
    )


class CallBackOut(BaseModel):
    id: int
    case_id: int
    case_ref: str
    customer_id: int
    agent_id: int | None
    number: str
    reason: str = Field(description="abandoned, voicemail, missed or requested")
    call_id: int | None = Field(description="The call that was missed")
    created_at: Timestamp
    done_at: Timestamp | None
    done_call_id: int | None


class CreatedOut(BaseModel):
    id: int


@router.post(
    "/cases/{case_id}/calls", status_code=202, responses=error_responses(401, 403, 404, 409, 422)
)
def post_call(
    case_id: CaseId, body: CallIn, principal: Worker, runtime: RuntimeDep, db: SessionDep
) -> PlacedOut:
    """Click-to-call: the provider dials the customer and puts them through to the
    agent's softphone. Queued in the outbox like a reply; the call's touch shows it."""
    if runtime.settings.twilio_auth_token is None or not runtime.settings.twilio_from_number:
        raise Conflict("the phone channel is off: no Twilio account or number is set")
    placed = place_call(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        to=IdentityRef(body.to.kind, body.to.value) if body.to else None,
        call_back_id=body.call_back_id,
        switch_reason=body.switch_reason,
    )
    return PlacedOut(
        call_id=placed.call_id,
        touch_id=placed.touch_id,
        delivery="queued",
        switch_id=placed.switch_id,
    )


@router.get("/calls/{call_id}", responses=error_responses(401, 403, 404, 422))
def get_call(call_id: CallId, principal: Reader, db: ReadDep) -> CallOut:
    """A call's state and figures, live while it lasts."""
    found = call_view(db, call_id)
    if found is None:
        raise NotFound(f"call {call_id} does not exist")
    return CallOut.model_validate(found, from_attributes=True)


@router.post("/calls/{call_id}/recording", responses=error_responses(401, 403, 404, 409, 422))
def post_recording(
    call_id: CallId,
    body: RecordingIn,
    principal: Worker,
    runtime: RuntimeDep,
    db: SessionDep,
    read: ReadDep,
) -> CallOut:
    """Pause the call's recording before the customer reads out card details, resume it
    after. The provider is told first; only once it has paused is the span recorded."""
    found = call_view(read, call_id)
    if found is None:
        raise NotFound(f"call {call_id} does not exist")
    if found.status.ended:
        raise Conflict("the call has ended")
    if found.sid is None:
        raise Conflict("the call has not connected yet")
    api = TwilioApi.from_settings(runtime.settings)
    if api is None:
        raise Conflict("the phone channel is off: no Twilio account is set")
    if body.paused != found.recording_paused:
        try:
            api.set_recording(found.sid, paused=body.paused)
        except TwilioApiError as exc:
            raise Unavailable(f"the provider did not change the recording: {exc}") from None
    record_recording_pause(
        db, runtime.env, Actor.agent(principal.agent_id), call_id, paused=body.paused
    )
    with runtime.db.reading() as fresh:
        after = call_view(fresh, call_id)
    assert after is not None
    return CallOut.model_validate(after, from_attributes=True)


@router.get("/call-backs", responses=error_responses(401, 403, 422))
def get_call_backs(
    principal: Reader,
    db: ReadDep,
    agent: Annotated[
        str | None,
        Query(pattern=r"^(me|none|[1-9][0-9]{0,17})$", description="me, none or an agent id"),
    ] = None,
    done: Annotated[bool, Query(description="Include call-backs already made")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[CallBackOut]:
    """The calls owed to customers who hung up waiting, left a voicemail, or were
    promised one; oldest first."""
    parts = decode_cursor(cursor, 2)
    after_id = int(parts[1]) if parts is not None and parts[0] == "call_back" else None
    who = None
    if agent == "me":
        who = principal.agent_id
    elif agent is not None and agent != "none":
        who = int(agent)
    found = call_backs(
        db,
        agent=who,
        unassigned=agent == "none",
        include_done=done,
        after_id=after_id,
        limit=limit + 1,
    )
    items = found[:limit]
    more = len(found) > limit
    return Page[CallBackOut](
        items=[CallBackOut.model_validate(item, from_attributes=True) for item in items],
        next_cursor=encode_cursor("call_back", items[-1].id) if more and items else None,
    )


@router.post(
    "/cases/{case_id}/call-backs", status_code=201, responses=error_responses(401, 403, 404, 422)
)
def post_call_back(
    case_id: CaseId, body: CallBackIn, principal: Worker, runtime: RuntimeDep, db: SessionDep
) -> CreatedOut:
    """Promise the customer a call: a call-back owed by the case's owner."""
    owed = request_call_back(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        number=body.number,
    )
    return CreatedOut(id=owed)
