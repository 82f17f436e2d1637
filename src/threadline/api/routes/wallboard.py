"""GET /api/v1/wallboard: the supervisor's wallboard figures as JSON, the same figures the
/wallboard page shows (for a TV screen of one's own, or a chat bot)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from threadline.actions.access import Principal
from threadline.api.deps import ReadDep, RuntimeDep, require
from threadline.api.schemas import Timestamp, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission
from threadline.queries.wallboard import (
    Wallboard,
    day_start,
    wallboard,
)
from threadline.vocabulary import ClockKind, Presence, Role

router = APIRouter(route_class=SessionEndingRoute, tags=["wallboard"])

Supervisor = Annotated[Principal, Depends(require(Permission.SEE_ALL_QUEUES))]

Standing = Field(
    description="The attainment in words: good (90% or more), fair (75% or more), poor, "
    "or none when nothing was due yet"
)


class FiguresOut(BaseModel):
    key: str = Field(description="A channel (email, phone, ...), a segment key, or all")
    label: str
    waiting_cases: int = Field(description="Active cases nobody owns yet")
    waiting_calls: int = Field(description="Inbound calls ringing or queued")
    longest_wait_seconds: float | None = Field(description="The longest of either; null if none")
    met: int = Field(description="Clocks settled today and met on time")
    breaches: int = Field(description="Clocks breached today")
    due: int = Field(description="Clocks settled today: met + breaches")
    attainment: float | None = Field(description="met / due, 0 to 1; null before any is due")
    standing: str = Standing


class KindOut(BaseModel):
    kind: ClockKind
    met: int
    breaches: int
    due: int
    attainment: float | None
    standing: str = Standing


class AgentLoadOut(BaseModel):
    id: int
    name: str
    role: Role
    presence: Presence
    load: int = Field(description="Active (new or open) cases they own")
    capacity: int = Field(description="How many active cases routing gives them at most")


class WallboardOut(BaseModel):
    at: Timestamp
    day_start: Timestamp = Field(description="Midnight in the contact centre's time zone")
    total: FiguresOut
    channels: list[FiguresOut] = Field(description="Only channels with something to show")
    segments: list[FiguresOut] = Field(description="Every segment, highest rank first")
    kinds: list[KindOut] = Field(description="Today's service level per kind of clock")
    presence: dict[Presence, int] = Field(description="How many agents are in each presence")
    agents: list[AgentLoadOut] = Field(description="Agents who may own cases, online first")

    @classmethod
    def of(cls, board: Wallboard) -> WallboardOut:
        # The query's dataclasses carry the same names, nested alike.
        return cls.model_validate(board, from_attributes=True)


def current_board(db: ReadDep, runtime: RuntimeDep) -> Wallboard:
    """The board as of now; the page and the JSON route both read it through this."""
    now = runtime.env.clock.now()
    return wallboard(db, now, day_start(db, runtime.settings.phone_hours, now))


@router.get("/wallboard", responses=error_responses(401, 403))
def get_wallboard(
    principal: Supervisor, board: Annotated[Wallboard, Depends(current_board)]
) -> WallboardOut:
    """Per channel and per customer segment: waiting cases and calls, the longest wait,
    today's service level and breaches; and every agent's presence and load. Supervisors
    and admins only."""
    return WallboardOut.of(board)
