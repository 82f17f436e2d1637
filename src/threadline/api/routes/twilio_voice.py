"""Twilio-compatible voice webhooks. Every request's signature is checked first
(api/twilio_auth.py); each is then read by channels/twilio/voice.py and handed to the
call actions, and answered with TwiML (`text/xml`) or 204.

- `POST /webhooks/twilio/voice`: a call rings in (or an agent's softphone asks for the
  next caller); answers TwiML that queues the caller, or offers voicemail when closed.
- `/voice/wait`: the wait message, fetched again and again while the caller waits.
- `/voice/queue`: the caller left the queue: bridged to an agent (when the call ends)
  or hung up (abandoned).
- `/voice/bridged?agent=ID`: an agent picked up the caller.
- `/voice/status[?call=ID]`: status callbacks (ringing, answered, completed, busy, ...)
  and conference hold / unhold.
- `/voice/voicemail`, `/voice/transcription`: the recording and its text.
- `/voice/outbound?call=ID`: a customer picked up a call an agent placed."""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from threadline.actions.calls import (
    CallUpdate,
    IncomingCall,
    answer_incoming_call,
    requeue_call,
    update_call,
)

# Reads go through ReadDep: a read on the writing session would open a write transaction
# (on SQLite, the process's writer turn) that no action commits.
from threadline.api.deps import ReadDep, RuntimeDep, SessionDep
from threadline.api.keyset import MAX_ID
from threadline.api.schemas import error_responses
from threadline.api.threads import SessionEndingRoute, for_a_caller
from threadline.api.twilio_auth import SignedForm, SignedFormDep
from threadline.channels.twilio import voice
from threadline.channels.twilio.voice import Step
from threadline.db import ReadSession
from threadline.errors import InvalidInput, NotFound
from threadline.queries.calls import call_agent, next_queue_for
from threadline.runtime import Runtime
from threadline.vocabulary import CallStatus

log = logging.getLogger(__name__)

router = APIRouter(
    route_class=SessionEndingRoute, prefix="/webhooks/twilio/voice", tags=["webhooks"]
)

GREETING = "Thank you for calling. Please hold and we will be with you shortly."
CLOSED = (
    "Thank you for calling. We are closed just now. "
    "Please leave a message after the tone and we will call you back."
)

# What every webhook may answer besides its TwiML: 403 for a request the provider did not
# sign, 404 while the channel is off, 422 for one missing what it must carry.
REFUSALS = error_responses(403, 404, 422)
TWIML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/xml": {}}, "description": "TwiML"},
    **REFUSALS,
}

CallParam = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Our call id")]


def _xml(body: str) -> Response:
    return Response(body, media_type="text/xml")


def _sid(form: SignedForm) -> str:
    sid = form.get("CallSid").strip()
    if not sid or len(sid) > 64:
        raise InvalidInput("CallSid must be 1-64 characters")
    return sid


def _apply(runtime: Runtime, db: SessionDep, update: CallUpdate) -> None:
    """Hand the update to its action. A report about a call Threadline never saw is
    logged and acknowledged: asking the provider to retry would not make it known."""
    try:
        update_call(db, runtime.env, update)
    except NotFound:
        log.warning("voice webhook %s for unknown call %s", update.source, update.sid)


@router.post("", response_class=Response, responses=TWIML)
async def incoming(
    request: Request, form: SignedFormDep, runtime: RuntimeDep, db: SessionDep, read: ReadDep
) -> Response:
    """A call rings in: the caller is queued for their routed agent (or their team), or
    offered voicemail outside the phone line's hours. An agent's softphone
    (`client:agent-ID`) calling in is given the caller waiting longest in their queues."""
    return await for_a_caller(request, partial(_incoming, form, runtime, db, read))


def _incoming(form: SignedForm, runtime: Runtime, db: Session, read: ReadSession) -> Response:
    public = runtime.settings.public_url
    agent_id = voice.agent_of_client(form.get("From"))
    if agent_id is not None:
        queue = next_queue_for(read, agent_id)
        if queue is None:
            return _xml(voice.nobody_waiting())
        return _xml(voice.dequeue(queue, public, agent_id))
    call = IncomingCall(
        sid=_sid(form),
        caller=voice.caller_number(form.get("From")),
        our_number=form.get("To").strip()[:40] or None,
        caller_name=form.get("CallerName").strip()[:200] or None,
        key=voice.event_key("/voice", form.pairs),
        raw_caller=form.get("From").strip(),
    )
    answer = answer_incoming_call(db, runtime.env, call)
    if answer.queue is None:
        return _xml(voice.voicemail(public, CLOSED))
    return _xml(voice.enqueue(answer.queue, public, GREETING))


@router.post("/wait", response_class=Response, responses=TWIML)
async def wait(
    form: SignedFormDep,
    queue: Annotated[str | None, Query(max_length=64, description="The caller's queue")] = None,
) -> Response:
    """The wait message: read nothing from the database, answer at once. A caller who
    has waited OWNER_WAIT_SECONDS for their own agent leaves that agent's queue, to be
    queued where the whole team answers."""
    position = form.get("QueuePosition")
    leave = voice.waited_too_long_for_owner(queue, voice.seconds(form.get("QueueTime")))
    return _xml(voice.wait_message(int(position) if position.isdigit() else None, leave=leave))


@router.post("/queue", response_class=Response, responses=TWIML)
def queue_result(form: SignedFormDep, runtime: RuntimeDep, db: SessionDep) -> Response:
    """The caller left the queue. `bridged` arrives when the bridged call has ended;
    `hangup` means the caller gave up waiting."""
    result = form.get("QueueResult").strip().lower()
    now = runtime.env.clock.now()
    wait_seconds = voice.seconds(form.get("QueueTime"))
    if result == "bridged":
        step, ended_as, hung_up = Step.ENDED, CallStatus.COMPLETED, False
    elif result == "hangup":
        step, ended_as, hung_up = Step.ENDED, CallStatus.COMPLETED, True
    elif result in ("queue-full", "error", "system-error"):
        step, ended_as, hung_up = Step.ENDED, CallStatus.FAILED, False
    elif result == "leave":
        moved = requeue_call(
            db,
            runtime.env,
            _sid(form),
            key=voice.event_key("/voice/queue", form.pairs),
            wait_seconds=wait_seconds,
        )
        return _xml(voice.enqueue(moved, runtime.settings.public_url, None))
    else:  # redirected, bridging-in-process: kept as an event only
        step, ended_as, hung_up = Step.NONE, None, False
    _apply(
        runtime,
        db,
        CallUpdate(
            sid=_sid(form),
            key=voice.event_key("/voice/queue", form.pairs),
            source="queue",
            at=now,
            step=step,
            ended_as=ended_as,
            caller_hung_up=hung_up,
            bridged=result == "bridged",
            wait_seconds=wait_seconds,
            data={"queue_result": result, "queue_time": form.get("QueueTime")},
        ),
    )
    return _xml(voice.empty())


@router.post("/bridged", response_class=Response, responses=TWIML)
def bridged(
    form: SignedFormDep,
    runtime: RuntimeDep,
    db: SessionDep,
    agent: Annotated[int, Query(ge=1, le=MAX_ID, description="The agent who dequeued")],
) -> Response:
    """An agent took the caller off the queue: the call is answered, by them."""
    _apply(
        runtime,
        db,
        CallUpdate(
            sid=_sid(form),
            key=voice.event_key(f"/voice/bridged?agent={agent}", form.pairs),
            source="bridged",
            at=runtime.env.clock.now(),
            step=Step.ANSWERED,
            agent_id=agent,
            wait_seconds=voice.seconds(form.get("QueueTime")),
            data={"agent_id": agent, "dequeued_by": form.get("DequeingCallSid")},
        ),
    )
    return _xml(voice.empty())


@router.post("/status", status_code=204, response_class=Response, responses=REFUSALS)
def status(
    form: SignedFormDep, runtime: RuntimeDep, db: SessionDep, call: CallParam = None
) -> Response:
    """A status callback: the call (or an agent's leg of it, which names its parent)
    rang, was answered, held, resumed or ended. Ordered by its own Timestamp."""
    report = voice.read_status(form.get("CallStatus"), form.get("StatusCallbackEvent"))
    parent = form.get("ParentCallSid").strip()
    own = _sid(form)
    _apply(
        runtime,
        db,
        CallUpdate(
            sid=own if call is not None or not parent else parent,
            call_id=call,
            key=voice.event_key(f"/voice/status?call={call}", form.pairs),
            source="status",
            at=voice.provider_time(form.get("Timestamp"), runtime.env.clock.now()),
            step=report.step,
            ended_as=report.status,
            agent_id=voice.agent_of_client(form.get("To")),
            data={
                "leg": own,
                "call_status": form.get("CallStatus"),
                "event": form.get("StatusCallbackEvent"),
                "sequence": form.get("SequenceNumber"),
                "duration": form.get("CallDuration"),
            },
        ),
    )
    return Response(status_code=204)


@router.post("/voicemail", response_class=Response, responses=TWIML)
def voicemail(form: SignedFormDep, runtime: RuntimeDep, db: SessionDep) -> Response:
    """The caller's message was recorded: its URL goes on the call's touch, and a
    call-back is owed."""
    url = form.get("RecordingUrl").strip()
    if url:
        _apply(
            runtime,
            db,
            CallUpdate(
                sid=_sid(form),
                key=voice.event_key("/voice/voicemail", form.pairs),
                source="voicemail",
                at=runtime.env.clock.now(),
                step=Step.NONE,
                recording_url=url,
                recording_seconds=voice.seconds(form.get("RecordingDuration")),
                data={
                    "recording_sid": form.get("RecordingSid"),
                    "recording_seconds": form.get("RecordingDuration"),
                },
            ),
        )
    return _xml(voice.voicemail_thanks())


@router.post("/transcription", status_code=204, response_class=Response, responses=REFUSALS)
def transcription(form: SignedFormDep, runtime: RuntimeDep, db: SessionDep) -> Response:
    """The voicemail's text, when the provider transcribed it."""
    text = form.get("TranscriptionText").strip()
    if form.get("TranscriptionStatus").strip().lower() == "completed" and text:
        _apply(
            runtime,
            db,
            CallUpdate(
                sid=_sid(form),
                key=voice.event_key("/voice/transcription", form.pairs),
                source="transcription",
                at=runtime.env.clock.now(),
                step=Step.NONE,
                transcription=text,
            ),
        )
    return Response(status_code=204)


@router.post("/outbound", response_class=Response, responses=TWIML)
def outbound(
    form: SignedFormDep,
    runtime: RuntimeDep,
    db: SessionDep,
    read: ReadDep,
    call: Annotated[int, Query(ge=1, le=MAX_ID, description="Our call id")],
) -> Response:
    """The customer picked up a call an agent placed: put them through to that agent."""
    agent_id = call_agent(read, call)
    if agent_id is None:
        raise NotFound(f"no call {call}")
    _apply(
        runtime,
        db,
        CallUpdate(
            sid=_sid(form),
            call_id=call,
            key=voice.event_key(f"/voice/outbound?call={call}", form.pairs),
            source="outbound",
            at=runtime.env.clock.now(),
            step=Step.ANSWERED,
        ),
    )
    return _xml(voice.connect_agent(agent_id, runtime.settings.twilio_from_number))
