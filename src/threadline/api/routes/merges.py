"""Merges of two customer records of one person, and undoing them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from threadline.actions import Actor, undo_merge
from threadline.actions.access import Principal
from threadline.api.deps import RuntimeDep, SessionDep, require
from threadline.api.keyset import MAX_ID
from threadline.api.schemas import ErrorOut, Timestamp, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.models import Merge
from threadline.permissions import Permission

router = APIRouter(route_class=SessionEndingRoute, prefix="/merges", tags=["customers"])

Merger = Annotated[Principal, Depends(require(Permission.MERGE_CUSTOMERS))]

# The shared 409 text speaks of cases; customers and merges conflict for their own reasons.
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorOut,
        "description": "The identity belongs to someone else, or a merge stands in the way",
    }
}


class MergeOut(BaseModel):
    id: int
    survivor_id: int = Field(description="The customer that kept the identities and cases")
    merged_id: int = Field(description="The customer merged away; its merged_into is survivor_id")
    at: Timestamp
    undone_at: Timestamp | None

    @classmethod
    def of(cls, merge: Merge) -> MergeOut:
        return cls(
            id=merge.id,
            survivor_id=merge.survivor_id,
            merged_id=merge.merged_id,
            at=merge.at,
            undone_at=merge.undone_at,
        )


@router.post("/{merge_id}/undo", responses={**error_responses(401, 403, 404, 422), **CONFLICT})
def undo(
    merge_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: Merger,
    runtime: RuntimeDep,
    db: SessionDep,
) -> MergeOut:
    """Reverse a merge exactly: every identity and case goes back to the customer it came
    from, and both customers' fields are restored (value earned since stays with the
    survivor). 409 when it was undone already or a later change depends on it (the
    survivor was merged again, or a moved identity was relinked)."""
    return MergeOut.of(undo_merge(db, runtime.env, Actor.agent(principal.agent_id), merge_id))
