"""What the case page needs beyond the core case routes: tags, the collision notice
(who else has the case open, who is typing) and the private-data check a public reply
goes through before it is sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from threadline.actions import Actor
from threadline.actions.access import Principal
from threadline.actions.cases import MAX_REPLY
from threadline.actions.tags import MAX_TAG, add_tag, remove_tag
from threadline.actions.viewing import VIEWING_TTL, note_viewing
from threadline.api.bodies import Body, NoNul
from threadline.api.deps import ReadDep, RuntimeDep, SessionDep, require
from threadline.api.schemas import CaseId, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.errors import NotFound
from threadline.models import Case
from threadline.permissions import Permission
from threadline.private_data import PrivateKind, find_private_data

router = APIRouter(route_class=SessionEndingRoute, prefix="/cases", tags=["cases"])

Worker = Annotated[Principal, Depends(require(Permission.WORK_CASES))]
Reader = Annotated[Principal, Depends(require(Permission.READ_CASES))]
TagText = Annotated[str, Field(min_length=1, max_length=MAX_TAG * 2, examples=["refund"])]


class TagIn(Body):
    tag: TagText


class TagsOut(BaseModel):
    case_id: int
    tags: list[str] = Field(description="The case's tags after the change, alphabetically")


class ViewingIn(Body):
    typing: bool = Field(default=False, description="The agent is writing in the composer")
    leaving: bool = Field(default=False, description="The agent closed the case page")
    hello: bool = Field(
        default=False, description="The page has just opened: others answer with a heartbeat"
    )


class ViewingOut(BaseModel):
    case_id: int
    ttl_seconds: int = Field(description="How long the notice stands without a heartbeat")


class ReplyCheckIn(Body):
    text: Annotated[str, Field(max_length=MAX_REPLY)]


class FindingOut(BaseModel):
    kind: PrivateKind
    label: str = Field(examples=["a card number"])
    excerpt: str = Field(description="The text that looks private")


class ReplyCheckOut(BaseModel):
    private_data: bool = Field(description="True when the text looks like it holds private data")
    findings: list[FindingOut]


@router.post("/{case_id}/tags", status_code=201, responses=error_responses(401, 403, 404, 422))
def tag_case(
    case_id: CaseId, body: TagIn, principal: Worker, runtime: RuntimeDep, db: SessionDep
) -> TagsOut:
    """Add a tag (lower-cased, spaces as dashes); adding one the case has changes nothing."""
    tags = add_tag(db, runtime.env, Actor.agent(principal.agent_id), case_id, body.tag)
    return TagsOut(case_id=case_id, tags=list(tags))


@router.delete("/{case_id}/tags", responses=error_responses(401, 403, 404, 422))
def untag_case(
    case_id: CaseId,
    tag: Annotated[str, Query(min_length=1, max_length=MAX_TAG * 2), NoNul],
    principal: Worker,
    runtime: RuntimeDep,
    db: SessionDep,
) -> TagsOut:
    """Take a tag off the case; one it does not have changes nothing."""
    tags = remove_tag(db, runtime.env, Actor.agent(principal.agent_id), case_id, tag)
    return TagsOut(case_id=case_id, tags=list(tags))


@router.post("/{case_id}/viewing", responses=error_responses(401, 403, 404, 422))
def viewing(
    case_id: CaseId, body: ViewingIn, principal: Reader, runtime: RuntimeDep, db: ReadDep
) -> ViewingOut:
    """A heartbeat from a page showing the case: the others showing it say "Sam is
    viewing" (or typing) until the heartbeats stop for `ttl_seconds`. Nothing is stored;
    an event `case.viewing` goes to the event stream."""
    note_viewing(
        db,
        runtime.env,
        Actor.agent(principal.agent_id),
        case_id,
        typing=body.typing,
        leaving=body.leaving,
        hello=body.hello,
    )
    return ViewingOut(case_id=case_id, ttl_seconds=VIEWING_TTL)


@router.post("/{case_id}/reply-check", responses=error_responses(401, 403, 404, 422))
def reply_check(
    case_id: CaseId, body: ReplyCheckIn, principal: Worker, db: ReadDep
) -> ReplyCheckOut:
    """Does this reply text look like it holds private data (a card number, an email
    address, a phone number, a postal address)? The desk asks before posting in public
    and offers to move the conversation to a private channel."""
    if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFound(f"case {case_id} does not exist")
    findings = find_private_data(body.text)
    return ReplyCheckOut(
        private_data=bool(findings),
        findings=[FindingOut(kind=f.kind, label=f.kind.label, excerpt=f.excerpt) for f in findings],
    )
