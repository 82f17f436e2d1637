"""Service levels, the admin side: business calendars (when the business counts time) and
the policies that set each clock's target per channel, segment and priority.

Admins change them; supervisors and admins read them, because targets are management
information read beside the reports (a case shows its own targets to whoever may read
the case)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from threadline.actions import Actor
from threadline.actions.access import Principal
from threadline.actions.service_level_admin import (
    MAX_CLOSURES,
    CalendarInput,
    PolicyInput,
    create_calendar,
    create_policy,
    delete_calendar,
    delete_policy,
    update_calendar,
    update_policy,
)
from threadline.api.bodies import Body
from threadline.api.deps import ReadDep, RuntimeDep, SessionDep, require
from threadline.api.keyset import MAX_ID, after_id, next_cursor
from threadline.api.pagination import Cursor, Limit, Page
from threadline.api.schemas import ErrorOut, IdField, Timestamp, error_responses
from threadline.api.threads import SessionEndingRoute
from threadline.permissions import Permission
from threadline.queries.service_levels import (
    CalendarView,
    PolicyView,
    calendar_view,
    list_calendars,
    list_policies,
    policy_view,
)
from threadline.runtime import Runtime
from threadline.service_levels.policies import MAX_TARGET
from threadline.vocabulary import Channel, Priority

router = APIRouter(route_class=SessionEndingRoute, tags=["service levels"])

Reader = Annotated[Principal, Depends(require(Permission.READ_REPORTS))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_SERVICE_LEVELS))]
CalendarId = Annotated[int, Path(ge=1, le=MAX_ID, description="The calendar's id")]
PolicyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The policy's id")]

CALENDAR_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorOut,
        "description": "Another calendar has the name, or policies or running clocks count in it",
    }
}
POLICY_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorOut,
        "description": "Another policy has the same channel, segment and priority, or "
        "this is the last policy (with none stored, the built-in defaults apply)",
    }
}


class Input(Body):
    # A misspelt field must not be silently dropped: "calendar" for "calendar_id" would
    # quietly make a policy count around the clock.
    model_config = ConfigDict(extra="forbid")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WallTime = Annotated[str, Field(min_length=5, max_length=5, examples=["09:00"])]
Span = Annotated[list[WallTime], Field(min_length=2, max_length=2, examples=[["09:00", "17:30"]])]
Seconds = Annotated[int, Field(ge=1, le=MAX_TARGET)]


class CalendarIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=80, examples=["Contact centre"])]
    time_zone: Annotated[
        str, Field(min_length=1, max_length=64, description="IANA", examples=["Europe/London"])
    ]
    hours: dict[Weekday, Annotated[list[Span], Field(max_length=48)]] = Field(
        description='Opening spans in local time, e.g. {"mon": [["09:00", "17:30"]]}: '
        "HH:MM, a span ending at midnight ends at 24:00; a day left out is closed",
        examples=[{"mon": [["09:00", "17:30"]], "sat": [["10:00", "16:00"]]}],
    )
    holidays_country: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=16,
            description="Closed on this country's public holidays",
            examples=["GB", "GB-ENG"],
        ),
    ] = None
    closures: Annotated[
        list[Annotated[str, Field(min_length=10, max_length=10, examples=["2026-12-24"])]],
        Field(max_length=MAX_CLOSURES, description="The business's own closed days, YYYY-MM-DD"),
    ] = []

    def to_input(self) -> CalendarInput:
        return CalendarInput(
            name=self.name,
            time_zone=self.time_zone,
            hours={str(day): spans for day, spans in self.hours.items()},
            holidays_country=self.holidays_country,
            closures=tuple(self.closures),
        )


class CalendarOut(BaseModel):
    id: int
    name: str
    time_zone: str
    hours: dict[str, list[list[str]]] = Field(description="Days in order; closed days left out")
    holidays_country: str | None
    closures: list[str] = Field(description="Sorted")
    policies: int = Field(description="How many service-level policies count in it")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: CalendarView) -> CalendarOut:
        return cls(
            id=view.id,
            name=view.name,
            time_zone=view.time_zone,
            hours=view.hours,
            holidays_country=view.holidays_country,
            closures=view.closures,
            policies=view.policies,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class TargetsIn(Input):
    """Seconds per clock; at least one."""

    answer: Seconds | None = None
    first_reply: Seconds | None = None
    next_reply: Seconds | None = None
    hold: Seconds | None = None
    resolution: Seconds | None = None


class EscalationIn(Input):
    notify: Annotated[
        list[Literal["owner", "supervisors"]],
        Field(max_length=2, description="Who hears of a breach"),
    ] = ["owner", "supervisors"]
    raise_priority: bool = Field(default=False, description="Raise the case's priority a step")
    reassign_offline_owner: bool = Field(
        default=True, description="Route the case again when its owner is offline"
    )


class EscalationOut(BaseModel):
    notify: list[str]
    raise_priority: bool
    reassign_offline_owner: bool


class PolicyIn(Input):
    channel: Channel | None = Field(default=None, description="Left out: any channel")
    segment: Annotated[
        str | None,
        Field(min_length=1, max_length=32, description="A segment's key; left out: any"),
    ] = None
    priority: Priority | None = Field(default=None, description="Left out: any priority")
    calendar_id: IdField | None = Field(
        default=None, description="The calendar its clocks count in; left out: 24/7"
    )
    targets: TargetsIn
    warn_at: float = Field(
        default=0.8, gt=0, lt=1, description="The share of a target after which it warns"
    )
    escalation: EscalationIn | None = Field(
        default=None, description="What a breach sets off; left out: the defaults"
    )

    def to_input(self) -> PolicyInput:
        return PolicyInput(
            targets=self.targets.model_dump(exclude_none=True),
            channel=self.channel,
            segment=self.segment,
            priority=self.priority,
            calendar_id=self.calendar_id,
            warn_at=self.warn_at,
            escalation=None if self.escalation is None else self.escalation.model_dump(),
        )


class PolicyOut(BaseModel):
    id: int
    channel: Channel | None
    segment: str | None
    priority: Priority | None
    calendar_id: int | None
    calendar_name: str | None = Field(description="Null: the clocks count 24/7")
    targets: dict[str, int] = Field(
        description="Seconds per clock it sets: answer, first_reply, next_reply, hold, resolution",
        examples=[{"first_reply": 14400, "next_reply": 28800}],
    )
    warn_at: float
    escalation: EscalationOut
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, view: PolicyView) -> PolicyOut:
        return cls(
            id=view.id,
            channel=view.channel,
            segment=view.segment,
            priority=view.priority,
            calendar_id=view.calendar_id,
            calendar_name=view.calendar_name,
            targets=view.targets,
            warn_at=view.warn_at,
            escalation=EscalationOut.model_validate(view.escalation),
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


@router.get("/calendars", responses=error_responses(401, 403, 422))
def calendars(
    principal: Reader, db: ReadDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[CalendarOut]:
    """The business calendars, ordered by id. Policies without a calendar count plain
    elapsed time (24/7), which is not listed as a calendar."""
    views, more = list_calendars(db, limit=limit, after_id=after_id(cursor))
    return Page(items=[CalendarOut.of(v) for v in views], next_cursor=next_cursor(views, more))


@router.post(
    "/calendars", status_code=201, responses={**error_responses(401, 403, 422), **CALENDAR_CONFLICT}
)
def add_calendar(
    body: CalendarIn, principal: Manager, runtime: RuntimeDep, db: SessionDep
) -> CalendarOut:
    """Add a business calendar. 409 when another has the name (in any case)."""
    row = create_calendar(db, runtime.env, Actor.agent(principal.agent_id), body.to_input())
    return _calendar_out(runtime, row.id)


@router.get("/calendars/{calendar_id}", responses=error_responses(401, 403, 404, 422))
def calendar(calendar_id: CalendarId, principal: Reader, db: ReadDep) -> CalendarOut:
    return CalendarOut.of(calendar_view(db, calendar_id))


@router.put(
    "/calendars/{calendar_id}",
    responses={**error_responses(401, 403, 404, 422), **CALENDAR_CONFLICT},
)
def replace_calendar(
    calendar_id: CalendarId,
    body: CalendarIn,
    principal: Manager,
    runtime: RuntimeDep,
    db: SessionDep,
) -> CalendarOut:
    """Replace a calendar whole. Running clocks count in the new hours from their next
    start or resume. 409 when another calendar has the name."""
    row = update_calendar(
        db, runtime.env, Actor.agent(principal.agent_id), calendar_id, body.to_input()
    )
    return _calendar_out(runtime, row.id)


@router.delete(
    "/calendars/{calendar_id}",
    status_code=204,
    responses={**error_responses(401, 403, 404, 422), **CALENDAR_CONFLICT},
)
def remove_calendar(
    calendar_id: CalendarId, principal: Manager, runtime: RuntimeDep, db: SessionDep
) -> None:
    """Delete a calendar nothing counts in. 409 while a policy names it or a clock that
    has not stopped counts in it."""
    delete_calendar(db, runtime.env, Actor.agent(principal.agent_id), calendar_id)


@router.get("/service-levels", responses=error_responses(401, 403, 422))
def policies(
    principal: Reader, db: ReadDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[PolicyOut]:
    """The service-level policies, ordered by id. For each clock of a case the most
    specific matching policy that sets its target wins. `threadline init` stores the
    built-in defaults; on a database with none stored, the defaults apply unlisted."""
    views, more = list_policies(db, limit=limit, after_id=after_id(cursor))
    return Page(items=[PolicyOut.of(v) for v in views], next_cursor=next_cursor(views, more))


@router.post(
    "/service-levels",
    status_code=201,
    responses={**error_responses(401, 403, 422), **POLICY_CONFLICT},
)
def add_policy(
    body: PolicyIn, principal: Manager, runtime: RuntimeDep, db: SessionDep
) -> PolicyOut:
    """Add a policy; clocks started from now on follow it. 409 when another policy has
    the same channel, segment and priority; 422 for an unknown segment or calendar."""
    row = create_policy(db, runtime.env, Actor.agent(principal.agent_id), body.to_input())
    return _policy_out(runtime, row.id)


@router.get("/service-levels/{policy_id}", responses=error_responses(401, 403, 404, 422))
def policy(policy_id: PolicyId, principal: Reader, db: ReadDep) -> PolicyOut:
    return PolicyOut.of(policy_view(db, policy_id))


@router.put(
    "/service-levels/{policy_id}",
    responses={**error_responses(401, 403, 404, 422), **POLICY_CONFLICT},
)
def replace_policy(
    policy_id: PolicyId,
    body: PolicyIn,
    principal: Manager,
    runtime: RuntimeDep,
    db: SessionDep,
) -> PolicyOut:
    """Replace a policy whole. A running clock keeps the target it started with."""
    row = update_policy(
        db, runtime.env, Actor.agent(principal.agent_id), policy_id, body.to_input()
    )
    return _policy_out(runtime, row.id)


@router.delete(
    "/service-levels/{policy_id}",
    status_code=204,
    responses={**error_responses(401, 403, 404, 422), **POLICY_CONFLICT},
)
def remove_policy(
    policy_id: PolicyId, principal: Manager, runtime: RuntimeDep, db: SessionDep
) -> None:
    """Delete a policy. Clocks it started run on with their targets and escalate the
    default way. 409 for the last policy: change it instead."""
    delete_policy(db, runtime.env, Actor.agent(principal.agent_id), policy_id)


# A fresh read session after a change: the one that recognised the caller began before
# the commit and, on SQLite, would still see the database as it was then.
def _calendar_out(runtime: Runtime, calendar_id: int) -> CalendarOut:
    with runtime.db.reading() as read:
        return CalendarOut.of(calendar_view(read, calendar_id))


def _policy_out(runtime: Runtime, policy_id: int) -> PolicyOut:
    with runtime.db.reading() as read:
        return PolicyOut.of(policy_view(read, policy_id))
