"""Working a case: reply, note, assign, change status or priority.

The routes that change the case itself (assign, status, priority) take its version, as
the ETag in an If-Match header or as `version` in the body: a stale one answers 409 and
changes nothing. Without either, the change applies to whatever the case is now."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from threadline.actions import (
    Actor,
    add_note,
    assign,
    reply,
    set_priority,
    set_status,
    switch_channel,
)
from threadline.actions.access import Principal
from threadline.actions.cases import MAX_REPLY
from threadline.actions.reply_keys import KEY_PATTERN, MAX_KEY
from threadline.api.deps import RuntimeDep, SessionDep, require
from threadline.api.routes.cases import etag
from threadline.api.schemas import (
    WITH_ETAG,
    CaseId,
    CaseStateOut,
    IdField,
    NoteOut,
    ReplyOut,
    error_responses,
)
from threadline.api.threads import SessionEndingRoute
from threadline.channels.base import IdentityRef
from threadline.errors import Conflict, Forbidden, InvalidInput
from threadline.models import Case, format_ref
from threadline.permissions import Permission, allows
from threadline.queries.api_cases import case_state
from threadline.vocabulary import CaseStatus, Channel, IdentityKind, Priority, SwitchReason

router = APIRouter(route_class=SessionEndingRoute, prefix="/cases", tags=["cases"])

Worker = Annotated[Principal, Depends(require(Permission.WORK_CASES))]

_ETAG = re.compile(r'^(?:W/)?"([0-9]{1,9})"$|^([0-9]{1,9})$')


def if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            pattern=r'^\s*(\*|(W/)?"[0-9]{1,9}"|[0-9]{1,9})\s*$',
            description='The case\'s ETag from GET /cases/{id}, e.g. "3"; * for any version',
        ),
    ] = None,
) -> int | None:
    """The version the caller last read, from If-Match; None for `*` or no header."""
    if value is None or value.strip() == "*":
        return None
    found = _ETAG.match(value.strip())
    if found is None:
        raise InvalidInput('If-Match must be one ETag of the case, e.g. "3"')
    return int(found.group(1) or found.group(2))


IfMatch = Annotated[int | None, Depends(if_match)]

VersionField = Annotated[
    int | None,
    Field(ge=1, description="The version the caller last read (or send If-Match)"),
]


def _expected(header: int | None, body: int | None) -> int | None:
    if header is not None and body is not None and header != body:
        raise InvalidInput(f"If-Match says version {header} but the body says {body}")
    return header if header is not None else body


def _answer(case: Case, response: Response) -> CaseStateOut:
    response.headers["ETag"] = etag(case.version)
    return CaseStateOut.model_validate(case)


class Input(BaseModel):
    # A misspelt field must not be silently ignored: "chanel" would reply on the default
    # channel instead of the one the agent chose.
    model_config = ConfigDict(extra="forbid")


# At least one character that is not a space.
Text = Annotated[str, Field(min_length=1, max_length=MAX_REPLY, pattern=r"\S")]


class Recipient(Input):
    kind: IdentityKind
    value: Annotated[str, Field(min_length=1, max_length=320)]


class ReplyIn(Input):
    text: Text
    channel: Channel | None = Field(
        default=None, description="Default: the channel of the customer's last message"
    )
    to: Recipient | None = Field(
        default=None, description="Default: the identity the customer last wrote from"
    )
    switch_reason: SwitchReason | None = Field(
        default=None, description="Why the conversation moves, when the channel changes"
    )
    public: bool | None = Field(
        default=None, description="Answer in public (X only); default: as the customer wrote"
    )


class NoteIn(Input):
    text: Text


class AssignIn(Input):
    agent_id: IdField | None = Field(description="The new owner; null to release the case")
    version: VersionField = None


class StatusIn(Input):
    status: CaseStatus
    version: VersionField = None


class PriorityIn(Input):
    priority: Priority
    version: VersionField = None


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY,
        pattern=KEY_PATTERN,
        description=(
            "Makes the request safe to retry: 1 to 200 printable ASCII characters, "
            "unique per request among the calling agent's keys (e.g. a UUID)"
        ),
    ),
]


@router.post(
    "/{case_id}/replies", status_code=202, responses=error_responses(401, 403, 404, 409, 422)
)
def post_reply(
    case_id: CaseId,
    body: ReplyIn,
    principal: Worker,
    response: Response,
    runtime: RuntimeDep,
    db: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> ReplyOut:
    """Reply to the customer. The reply is queued and the worker delivers it; by default
    on the channel of the customer's last message. A reply on another channel is a
    recorded channel switch, with `switch_reason` (default agent_choice).

    Send an `Idempotency-Key` header to make the request safe to retry when no answer
    came back: the same request again with the same key (the calling agent's keys only)
    answers 202 with the first reply's `touch_id`, an `Idempotent-Replayed: true`
    header, and sends nothing more. Reusing a key for another request (another case or
    text) answers 409 and changes nothing."""
    sent = reply(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        body.text,
        channel=body.channel,
        to=IdentityRef(body.to.kind, body.to.value) if body.to else None,
        switch_reason=body.switch_reason,
        public=body.public,
        idempotency_key=idempotency_key,
    )
    if sent.repeated:
        response.headers["Idempotent-Replayed"] = "true"
    return ReplyOut(
        touch_id=sent.touch_id,
        delivery="queued",
        case_id=sent.case_id,
        channel=sent.channel,
        switch_id=sent.switch_id,
    )


@router.post("/{case_id}/notes", status_code=201, responses=error_responses(401, 403, 404, 422))
def post_note(
    case_id: CaseId, body: NoteIn, principal: Worker, runtime: RuntimeDep, db: SessionDep
) -> NoteOut:
    """An internal note on the case: never sent, never shown to clerks or customers."""
    touch_id = add_note(db, runtime.env, Actor.agent(principal.agent_id), case_id, body.text)
    return NoteOut(touch_id=touch_id)


@router.post("/{case_id}/assign", responses=WITH_ETAG | error_responses(401, 403, 404, 409, 422))
def assign_case(
    case_id: CaseId,
    body: AssignIn,
    principal: Worker,
    version: IfMatch,
    response: Response,
    runtime: RuntimeDep,
    db: SessionDep,
) -> CaseStateOut:
    """Give the case an owner, or release it with `agent_id: null`. Anyone who works
    cases may take an unowned case for themselves or release their own; giving a case
    to someone else, or taking one that someone else owns, needs REASSIGN_CASES."""
    expected = _expected(version, body.version)
    if not allows(principal.role, Permission.REASSIGN_CASES):
        expected = _own_assignment(db, principal, case_id, body.agent_id, expected)
    case = assign(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        body.agent_id,
        expected_version=expected,
    )
    return _answer(case, response)


def _own_assignment(
    db: Session, principal: Principal, case_id: int, agent_id: int | None, expected: int | None
) -> int:
    """Check a take or a release against the case as it is, and answer the version that
    check saw: the assignment then applies only to that version, so an owner who
    arrived in between (another agent, routing) turns it into a 409, never a theft."""
    state = case_state(db, case_id)
    if expected is not None and expected != state.version:
        raise Conflict(
            f"case {format_ref(case_id)} was changed by someone else (version "
            f"{state.version}, you had {expected}); reload it"
        )
    me = principal.agent_id
    taking = agent_id == me and state.owner_id in (None, me)
    releasing = agent_id is None and state.owner_id in (None, me)
    if not (taking or releasing):
        raise Forbidden(
            f"a {principal.role.value} may only take an unowned case or release their own"
        )
    return state.version


@router.post("/{case_id}/status", responses=WITH_ETAG | error_responses(401, 403, 404, 409, 422))
def change_status(
    case_id: CaseId,
    body: StatusIn,
    principal: Worker,
    version: IfMatch,
    response: Response,
    runtime: RuntimeDep,
    db: SessionDep,
) -> CaseStateOut:
    """Move the case to another status (new → open, pending, on_hold, resolved, closed;
    closed is final)."""
    case = set_status(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        body.status,
        expected_version=_expected(version, body.version),
    )
    return _answer(case, response)


@router.post("/{case_id}/priority", responses=WITH_ETAG | error_responses(401, 403, 404, 409, 422))
def change_priority(
    case_id: CaseId,
    body: PriorityIn,
    principal: Worker,
    version: IfMatch,
    response: Response,
    runtime: RuntimeDep,
    db: SessionDep,
) -> CaseStateOut:
    """Set the case's priority (low, normal, high, urgent)."""
    case = set_priority(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        body.priority,
        expected_version=_expected(version, body.version),
    )
    return _answer(case, response)


class SwitchIn(Input):
    to_channel: Channel
    reason: SwitchReason
    public: bool = Field(default=False, description="Moving to a public post (rare)")


class SwitchAnnouncedOut(BaseModel):
    switch_id: int
    case_id: int
    from_channel: Channel
    to_channel: Channel
    reason: SwitchReason
    pending: bool = Field(description="True until a touch on the new channel follows")


@router.post(
    "/{case_id}/switches", status_code=201, responses=error_responses(401, 403, 404, 409, 422)
)
def announce_switch(
    case_id: CaseId, body: SwitchIn, principal: Worker, runtime: RuntimeDep, db: SessionDep
) -> SwitchAnnouncedOut:
    """Move the conversation on purpose, e.g. from a public post to a call because card
    details must not be public (`private_data`), or to a call-back (`callback`). The
    switch is recorded now with its reason; the first touch on the new channel (the
    customer's call, an agent's call or message) completes it, on this case."""
    switch = switch_channel(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        body.to_channel,
        body.reason,
        public=body.public,
    )
    return SwitchAnnouncedOut(
        switch_id=switch.id,
        case_id=switch.case_id,
        from_channel=switch.from_channel,
        to_channel=switch.to_channel,
        reason=switch.reason,
        pending=switch.to_touch_id is None,
    )
