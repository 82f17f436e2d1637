"""Reading calls and call-backs: which queue an agent's softphone serves next, a call as
the API shows it, and the call-backs owed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.models import Call, CallBack, Case, agent_teams, format_ref
from threadline.vocabulary import CallStatus, Direction

SUPPORT_QUEUE = "support"


def queues_of(db: Session, agent_id: int) -> list[str]:
    """The provider queues an agent answers: their own, their teams', the general one."""
    teams = db.scalars(select(agent_teams.c.team_id).where(agent_teams.c.agent_id == agent_id))
    return [f"agent-{agent_id}", *(f"team-{team}" for team in teams), SUPPORT_QUEUE]


def next_queue_for(db: Session, agent_id: int) -> str | None:
    """The queue holding the caller who has waited longest among the agent's queues."""
    return db.scalar(
        select(Call.queue)
        .where(Call.status == CallStatus.QUEUED, Call.queue.in_(queues_of(db, agent_id)))
        .order_by(Call.queued_at, Call.id)
        .limit(1)
    )


def call_agent(db: Session, call_id: int) -> int | None:
    """The agent who placed an outbound call."""
    return db.scalar(
        select(Call.agent_id).where(Call.id == call_id, Call.direction == Direction.OUT)
    )


@dataclass(frozen=True)
class CallView:
    id: int
    sid: str | None
    case_id: int
    case_ref: str
    touch_id: int
    direction: Direction
    status: CallStatus
    customer_number: str | None
    queue: str | None
    agent_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
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
    recording_pauses: list[list[str]]


def call_view(db: Session, call_id: int) -> CallView | None:
    call = db.get(Call, call_id)
    if call is None:
        return None
    return CallView(
        id=call.id,
        sid=None if call.sid.startswith("pending:") else call.sid,
        case_id=call.case_id,
        case_ref=format_ref(call.case_id),
        touch_id=call.touch_id,
        direction=call.direction,
        status=call.status,
        customer_number=call.customer_number,
        queue=call.queue,
        agent_id=call.agent_id,
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        wait_seconds=call.wait_seconds,
        hold_seconds=call.hold_seconds,
        holds=call.holds,
        longest_hold_seconds=call.longest_hold_seconds,
        on_hold=call.hold_started_at is not None,
        abandoned=call.abandoned,
        voicemail=call.voicemail,
        recording_url=call.recording_url,
        transcription=call.transcription,
        recording_paused=call.recording_paused_at is not None,
        recording_pauses=list(call.recording_pauses),
    )


@dataclass(frozen=True)
class CallBackView:
    id: int
    case_id: int
    case_ref: str
    customer_id: int
    agent_id: int | None
    number: str
    reason: str
    call_id: int | None
    created_at: datetime
    done_at: datetime | None
    done_call_id: int | None


def call_backs(
    db: Session,
    *,
    agent: int | None,
    unassigned: bool,
    include_done: bool,
    case_id: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[CallBackView]:
    """Call-backs, oldest first (by id, after `after_id`): one agent's, the unassigned
    ones, or all."""
    query = select(CallBack, Case.customer_id).join(Case, Case.id == CallBack.case_id)
    if agent is not None:
        query = query.where(CallBack.agent_id == agent)
    elif unassigned:
        query = query.where(CallBack.agent_id.is_(None))
    if case_id is not None:
        query = query.where(CallBack.case_id == case_id)
    if not include_done:
        query = query.where(CallBack.done_at.is_(None))
    if after_id is not None:
        query = query.where(CallBack.id > after_id)
    rows = db.execute(query.order_by(CallBack.id).limit(limit))
    return [
        CallBackView(
            id=owed.id,
            case_id=owed.case_id,
            case_ref=format_ref(owed.case_id),
            customer_id=customer_id,
            agent_id=owed.agent_id,
            number=owed.number,
            reason=owed.reason,
            call_id=owed.call_id,
            created_at=owed.created_at,
            done_at=owed.done_at,
            done_call_id=owed.done_call_id,
        )
        for owed, customer_id in rows
    ]
