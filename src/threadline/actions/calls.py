"""Phone calls on the customer's one timeline.

A call is one touch, written when it starts ringing, whose figures fill in as the
provider's webhooks report its life: queued, answered (and by whom), held and resumed,
ended. The `calls` row keeps the moments those figures come from; `call_events` keeps
each webhook once, so a replay or a retry changes nothing. The answer clock runs from
the first ring to the pick-up, a hold clock from each hold to its end; the sweep raises
their breaches live. A caller who hangs up while waiting, or reaches voicemail, is owed
a call-back, which goes to the case's owner."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from threadline.actions import clocks
from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.actions.cases import _acting_agent, _move_status, _recipient, _set_owner
from threadline.actions.customers import resolve_sender
from threadline.actions.inbound import land
from threadline.actions.routing import route_case
from threadline.actions.timeline import NewTouch, link_switch
from threadline.channels.base import CallFigures, IdentityRef, Inbound
from threadline.channels.twilio.voice import Step
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.identities import normalise
from threadline.models import (
    Agent,
    Call,
    CallBack,
    CallEvent,
    Case,
    Customer,
    OutboxMessage,
    Touch,
)
from threadline.prepared import Prepared, returned_id
from threadline.queries.calls import SUPPORT_QUEUE
from threadline.queries.replies import previous_facing
from threadline.routing.owners import can_own
from threadline.service_levels.book import Book, Target
from threadline.service_levels.calendars import BusinessCalendar, is_open
from threadline.service_levels.clocks import REPLY_KINDS, ClockState, start, stop
from threadline.vocabulary import (
    CallStatus,
    CaseStatus,
    Channel,
    ClockKind,
    Delivery,
    Direction,
    IdentityKind,
    Presence,
    SwitchReason,
    TouchKind,
)

PENDING_SID = "pending:"


@dataclass(frozen=True)
class IncomingCall:
    """A call ringing in: its sid, the caller's E.164 number (None when withheld), the
    number they called, the name the network gave, and the request's key."""

    sid: str
    caller: str | None
    our_number: str | None
    caller_name: str | None
    key: str
    # The caller id exactly as the network sent it, kept when it is no usable number
    # (`anonymous`, a short code, a national number without its country).
    raw_caller: str = ""


@dataclass(frozen=True)
class CallAnswer:
    call_id: int
    case_id: int
    touch_id: int
    customer_id: int
    queue: str | None  # None: the line is closed and the caller gets voicemail
    duplicate: bool = False


@dataclass(frozen=True)
class CallUpdate:
    """One webhook's news about a call. `call_id` is ours, from the webhook URL of a call
    we placed (its sid is not known until the provider answers); else `sid` finds it."""

    sid: str
    key: str
    source: str
    at: datetime
    step: Step
    ended_as: CallStatus | None = None
    caller_hung_up: bool = False
    # The queue reported the caller bridged to an agent (the report comes when the call
    # has ended): answered, even if the bridge itself was never reported.
    bridged: bool = False
    agent_id: int | None = None
    wait_seconds: float | None = None
    recording_url: str | None = None
    recording_seconds: float | None = None
    transcription: str | None = None
    call_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallState:
    call_id: int
    case_id: int
    touch_id: int
    status: CallStatus
    changed: bool


# update_call runs for most webhooks of every call (five of the eight of an answered
# one), so its reads are few and lean: the call's keys and whether the request was seen
# are plain statements, the call and its touch come in one query.
_CALL_BY_SID = Prepared(select(Call.id, Call.case_id).where(Call.sid == bindparam("sid")))
_CALL_BY_ID = Prepared(select(Call.id, Call.case_id).where(Call.id == bindparam("call_id")))
_EVENT_SEEN = Prepared(select(CallEvent.id).where(CallEvent.key == bindparam("key")))
_INSERT_EVENT = Prepared(insert(CallEvent), ("call_id", "key", "kind", "at", "data"))
_AGENT_EXISTS = Prepared(select(Agent.id).where(Agent.id == bindparam("agent_id")))
_SEGMENT_OF = Prepared(select(Customer.segment_key).where(Customer.id == bindparam("customer_id")))


# A ringing call's own statements: the caller hears nothing until its transaction is
# done, so it runs plain statements where it can.
_KNOWN_CALL = Prepared(
    select(Call.id, Call.case_id, Call.touch_id, Case.customer_id, Call.queue)
    .join(Case, Case.id == Call.case_id)
    .where(Call.sid == bindparam("sid"))
)
_CASE_FOR_CALL = Prepared(
    select(Case.owner_id, Case.team_id).where(Case.id == bindparam("case_id")).with_for_update()
)
_OWNER_ONLINE = Prepared(
    select(Agent.id).where(
        Agent.id == bindparam("agent_id"),
        Agent.active.is_(True),
        Agent.presence == Presence.ONLINE,
    )
)
_INSERT_CALL = Prepared(
    insert(Call).returning(Call.id),
    (
        "sid",
        "case_id",
        "touch_id",
        "direction",
        "customer_number",
        "our_number",
        "status",
        "queue",
        "started_at",
        "queued_at",
        "updated_at",
        "recording_pauses",
    ),
)


def _queue_for(unit: Unit, owner_id: int | None, team_id: int | None, *, routed: bool) -> str:
    """The provider queue the caller waits in: their case's owner's own while the owner
    is online (an owner routing just chose is), else the case's team's, else the
    general one."""
    if owner_id is not None and (
        routed or _OWNER_ONLINE.first(unit.conn, {"agent_id": owner_id}) is not None
    ):
        return f"agent-{owner_id}"
    if team_id is not None:
        return f"team-{team_id}"
    return SUPPORT_QUEUE


def _line_open(unit: Unit) -> bool:
    name = unit.env.settings.phone_hours.strip() or None
    calendar = unit.env.book.get(unit.conn).calendar(name)
    return is_open(calendar, unit.now)


@action
def answer_incoming_call(db: Session, env: Env, incoming: IncomingCall) -> CallAnswer:
    """A call rings in. The caller is found by number (a withheld number makes a new,
    unknown customer an agent can later merge into the right one), the call lands on
    their open case or a new one, the case is routed, and the caller is queued for the
    routed agent, or offered voicemail when the line is closed. A repeat of the same
    webhook answers the same and writes nothing."""
    if not incoming.sid or len(incoming.sid) > 64:
        raise InvalidInput("CallSid must be 1-64 characters")
    normal = (
        normalise(IdentityKind.PHONE, incoming.caller, region=env.settings.default_region)
        if incoming.caller
        else None
    )

    def work() -> CallAnswer:
        with unit_of_work(db, env, Actor.channel(Channel.PHONE.value)) as unit:
            known = _KNOWN_CALL.first(unit.conn, {"sid": incoming.sid})
            if known is not None:
                call_id, case_id, touch_id, customer_id, queue = known
                return CallAnswer(call_id, case_id, touch_id, customer_id, queue, duplicate=True)
            if normal is not None:
                who = IdentityRef(IdentityKind.PHONE, normal, incoming.caller_name)
                sender = resolve_sender(unit, who, normal)
            else:
                who = IdentityRef(
                    IdentityKind.EXTERNAL, f"withheld:{incoming.sid}", "Withheld number"
                )
                sender = resolve_sender(unit, who, who.value)
            open_now = _line_open(unit)
            received = land(
                unit,
                Inbound(
                    channel=Channel.PHONE,
                    external_id=incoming.sid,
                    sender=who,
                    text=f"Call from {normal or 'a withheld number'}",
                    kind=TouchKind.CALL,
                    thread_key=f"call:{incoming.sid}",
                    # A live call starts its answer clock; one going to voicemail does not
                    # (nobody is about to pick up), so it is given its (empty) figures.
                    call=None if open_now else CallFigures(),
                    meta={"call_sid": incoming.sid}
                    if normal is not None
                    else {"call_sid": incoming.sid, "caller_id": incoming.raw_caller[:40]},
                ),
                sender,
                agent_id=None,
                outcome=None,
            )
            row = _CASE_FOR_CALL.first(unit.conn, {"case_id": received.case_id})
            assert row is not None
            owner_id, team_id = row
            queue = None
            if open_now:
                routed = False
                if owner_id is None:
                    owner_id = route_case(unit, received.case_id)
                    routed = owner_id is not None
                queue = _queue_for(unit, owner_id, team_id, routed=routed)
            status = CallStatus.QUEUED if open_now else CallStatus.IN_PROGRESS
            call_id = returned_id(
                _INSERT_CALL.first(
                    unit.conn,
                    {
                        "sid": incoming.sid,
                        "case_id": received.case_id,
                        "touch_id": received.touch_id,
                        "direction": Direction.IN,
                        "customer_number": normal,
                        "our_number": incoming.our_number,
                        "status": status,
                        "queue": queue,
                        "started_at": unit.now,
                        "queued_at": unit.now if open_now else None,
                        "updated_at": unit.now,
                        "recording_pauses": [],
                    },
                )
            )
            _INSERT_EVENT.execute(
                unit.conn,
                {
                    "call_id": call_id,
                    "key": incoming.key,
                    "kind": "incoming",
                    "at": unit.now,
                    "data": {"queue": queue, "voicemail": not open_now},
                },
            )
            _call_updated(
                unit,
                "ringing",
                case_id=received.case_id,
                customer_id=received.customer_id,
                call_id=call_id,
                touch_id=received.touch_id,
                status=status,
                agent_id=None,
            )
            return CallAnswer(
                call_id, received.case_id, received.touch_id, received.customer_id, queue
            )

    return with_retry(work)


@action
def requeue_call(db: Session, env: Env, sid: str, *, key: str, wait_seconds: float | None) -> str:
    """A caller waited too long for their own agent and left that agent's queue: they
    are queued again where the case's team (or anyone) answers. Answers the new queue;
    a repeat of the same request answers it again and changes nothing."""

    def work() -> str:
        with unit_of_work(db, env, Actor.channel(Channel.PHONE.value)) as unit:
            found = db.scalars(select(Call).where(Call.sid == sid)).first()
            if found is None:
                raise NotFound(f"no call {sid}")
            case = db.get(Case, found.case_id, with_for_update=True, populate_existing=True)
            call = db.get(Call, found.id, with_for_update=True, populate_existing=True)
            assert case is not None and call is not None
            if db.scalar(select(CallEvent.id).where(CallEvent.key == key)) is not None:
                return call.queue or SUPPORT_QUEUE
            moved = f"team-{case.team_id}" if case.team_id is not None else SUPPORT_QUEUE
            db.add(
                CallEvent(
                    call_id=call.id,
                    key=key,
                    kind="queue:requeued",
                    at=unit.now,
                    data={"from": call.queue, "to": moved, "waited": wait_seconds},
                )
            )
            call.queue = moved
            call.earlier_wait_seconds += wait_seconds or 0.0
            call.updated_at = unit.now
            _emit(unit, call, case, "requeued")
            return moved

    return with_retry(work)


def _emit(unit: Unit, call: Call, case: Case, step: str) -> None:
    _call_updated(
        unit,
        step,
        case_id=case.id,
        customer_id=case.customer_id,
        call_id=call.id,
        touch_id=call.touch_id,
        status=call.status,
        agent_id=call.agent_id,
    )


def _call_updated(
    unit: Unit,
    step: str,
    *,
    case_id: int,
    customer_id: int,
    call_id: int,
    touch_id: int,
    status: CallStatus,
    agent_id: int | None,
) -> None:
    """The desk's news of a call: `call.updated`, with the step worth telling."""
    unit.emit(
        "call.updated",
        case_id=case_id,
        customer_id=customer_id,
        call_id=call_id,
        touch_id=touch_id,
        status=status.value,
        step=step,
        agent_id=agent_id,
    )


def _find_call(unit: Unit, update: CallUpdate) -> tuple[int, int] | None:
    """The call's id and its case's, or None."""
    if update.call_id is not None:
        row = _CALL_BY_ID.first(unit.conn, {"call_id": update.call_id})
    else:
        row = _CALL_BY_SID.first(unit.conn, {"sid": update.sid})
    return None if row is None else (row[0], row[1])


def _locked_call(db: Session, call_id: int) -> Call:
    """The call, locked and read afresh. Its touch is read in the same query, into the
    session, where _write_touch finds it. Lock order: the caller has locked the case
    row first."""
    statement = (
        select(Call, Touch)
        .outerjoin(Touch, Touch.id == Call.touch_id)
        .where(Call.id == call_id)
        .with_for_update(of=Call)
        .execution_options(populate_existing=True)
    )
    call: Call = db.execute(statement).one()[0]
    return call


@action
def update_call(db: Session, env: Env, update: CallUpdate) -> CallState:
    """Apply one webhook's news to its call. Each request counts once (by its key);
    moments only fill in and a status only moves on, so late or repeated reports never
    undo what is known. Unknown calls are refused with NotFound."""

    def work() -> CallState:
        with unit_of_work(db, env, Actor.channel(Channel.PHONE.value)) as unit:
            found = _find_call(unit, update)
            if found is None:
                raise NotFound(f"no call {update.sid or update.call_id}")
            call_id, case_id = found
            # The case row first, then the call and the clocks: every action's lock order.
            case = db.get(Case, case_id, with_for_update=True, populate_existing=True)
            assert case is not None
            call = _locked_call(db, call_id)
            if _EVENT_SEEN.first(unit.conn, {"key": update.key}) is not None:
                return CallState(call.id, case.id, call.touch_id, call.status, changed=False)
            if call.sid.startswith(PENDING_SID) and update.sid:
                call.sid = update.sid
            _INSERT_EVENT.execute(
                unit.conn,
                {
                    "call_id": call.id,
                    "key": update.key,
                    "kind": f"{update.source}:{update.step.value}",
                    "at": update.at,
                    "data": update.data,
                },
            )
            step = _apply(unit, case, call, update)
            call.updated_at = unit.now
            _write_touch(unit, call)
            case.updated_at = unit.now
            if step:
                _emit(unit, call, case, step)
            return CallState(call.id, case.id, call.touch_id, call.status, changed=True)

    return with_retry(work)


def _apply(unit: Unit, case: Case, call: Call, update: CallUpdate) -> str | None:
    """Change the call as the update says; answers the step worth telling the desk."""
    at = update.at
    if update.wait_seconds is not None and call.wait_seconds is None:
        call.wait_seconds = call.earlier_wait_seconds + update.wait_seconds
    if update.recording_url is not None:
        return _voicemail(unit, case, call, update)
    if update.transcription is not None:
        call.transcription = update.transcription[:10_000]
        return "transcribed"
    step = update.step
    if step is Step.RINGING:
        if call.status is CallStatus.QUEUED or call.status.ended or call.answered_at:
            return None
        call.status = CallStatus.RINGING
        return "ringing"
    if step is Step.ANSWERED:
        return _answered(unit, case, call, update)
    if step is Step.HELD:
        return _held(unit, case, call, at)
    if step is Step.RESUMED:
        return _resumed(unit, case, call, at)
    if step is Step.ENDED:
        return _ended(unit, case, call, update)
    return None


def _answered(unit: Unit, case: Case, call: Call, update: CallUpdate) -> str | None:
    if call.answered_at is not None or call.abandoned:
        return None
    at = max(update.at, call.started_at)
    call.answered_at = at
    if update.agent_id is not None and _AGENT_EXISTS.first(
        unit.conn, {"agent_id": update.agent_id}
    ):
        call.agent_id = update.agent_id
    if call.wait_seconds is None and call.queued_at is not None:
        call.wait_seconds = max(0.0, (at - call.queued_at).total_seconds())
    if not call.status.ended:
        call.status = CallStatus.IN_PROGRESS
    # Someone picked up: the customer is served in person, every reply clock met.
    met = {*REPLY_KINDS, ClockKind.ANSWER}
    clocks.change(unit, case, lambda book, found: clocks.meet(found, book, met, at))
    if case.status is CaseStatus.NEW:
        _move_status(unit, case, CaseStatus.OPEN)
    if case.owner_id is None and call.agent_id is not None:
        agent = unit.db.get(Agent, call.agent_id)
        if agent is not None and can_own(agent):
            _set_owner(unit, case, agent.id)
    if call.direction is Direction.OUT:
        touch = unit.db.get(Touch, call.touch_id)
        if touch is not None and (touch.delivery is None or touch.delivery.rank < 2):
            touch.delivery = Delivery.DELIVERED
    return "answered"


def _hold_target(unit: Unit, case: Case) -> Target | None:
    segment = _SEGMENT_OF.scalar(unit.conn, {"customer_id": case.customer_id})
    return unit.env.book.get(unit.conn).target(
        ClockKind.HOLD, channel=Channel.PHONE, segment=segment, priority=case.priority
    )


def _held(unit: Unit, case: Case, call: Call, at: datetime) -> str | None:
    if call.status is not CallStatus.IN_PROGRESS or call.hold_started_at is not None:
        return None
    call.hold_started_at = at
    call.holds += 1
    call.status = CallStatus.ON_HOLD
    target = _hold_target(unit, case)
    if target is not None:
        # Hold is counted in plain seconds: a caller on hold waits, open hours or not.
        elapsed = replace(target, calendar=BusinessCalendar.always_open(), calendar_name=None)
        clock = start(
            elapsed,
            case_id=case.id,
            channel=Channel.PHONE,
            at=at,
            now=max(at, unit.now),
        )
        clocks.change(unit, case, lambda book, found: [*found, clock])
    return "held"


def _close_hold(unit: Unit, case: Case, call: Call, at: datetime) -> None:
    began = call.hold_started_at
    if began is None:
        return
    held = max(0.0, (at - began).total_seconds())
    call.hold_seconds += held
    call.longest_hold_seconds = max(call.longest_hold_seconds, held)
    call.hold_started_at = None
    end = max(at, began)
    clocks.change(unit, case, lambda book, found: clocks.meet(found, book, {ClockKind.HOLD}, end))


def _resumed(unit: Unit, case: Case, call: Call, at: datetime) -> str | None:
    if call.hold_started_at is None:
        return None
    _close_hold(unit, case, call, at)
    if call.status is CallStatus.ON_HOLD:
        call.status = CallStatus.IN_PROGRESS
    return "resumed"


def _ended(unit: Unit, case: Case, call: Call, update: CallUpdate) -> str | None:
    if call.status.ended:
        return None
    at = max(update.at, call.started_at)
    _close_hold(unit, case, call, at)
    call.ended_at = at
    ended_as = update.ended_as or CallStatus.COMPLETED
    if update.bridged and call.answered_at is None:
        waited = call.wait_seconds or 0.0
        picked_up = (call.queued_at or call.started_at) + timedelta(seconds=waited)
        _answered(unit, case, call, replace(update, at=min(picked_up, at)))
    call.status = ended_as
    if call.answered_at is not None:
        return "ended"
    if call.direction is Direction.OUT:
        return "ended"
    # An inbound call nobody picked up: the caller hung up waiting (abandoned), or the
    # line failed them. Either way they are owed a call-back.
    if call.queued_at is not None or call.status is CallStatus.RINGING:
        call.abandoned = update.caller_hung_up or ended_as in (
            CallStatus.COMPLETED,
            CallStatus.CANCELED,
        )
        if call.wait_seconds is None and call.queued_at is not None:
            call.wait_seconds = max(0.0, (at - call.queued_at).total_seconds())
        clocks.change(unit, case, lambda book, found: _stop_unanswered(book, found, at))
    reason = "abandoned" if call.abandoned else ("missed" if not call.voicemail else "voicemail")
    _owe_call_back(unit, case, call, reason)
    return "abandoned" if call.abandoned else "ended"


def _stop_unanswered(book: Book, found: list[ClockState], at: datetime) -> list[ClockState]:
    """The answer clock of a call nobody answered stops unmet; past its due time it is
    a breach, whether or not the sweep got there first."""
    stopped: list[ClockState] = []
    for clock in found:
        if clock.kind is ClockKind.ANSWER and clock.channel is Channel.PHONE and clock.live:
            late = clock.running and clock.due_at is not None and at > clock.due_at
            clock = stop(clock, book.calendar(clock.calendar), at, met=False)
            if late and clock.breached_at is None:
                clock = replace(clock, breached_at=clock.due_at)
        stopped.append(clock)
    return stopped


def _voicemail(unit: Unit, case: Case, call: Call, update: CallUpdate) -> str:
    call.voicemail = True
    call.recording_url = (update.recording_url or "")[:500] or None
    _owe_call_back(unit, case, call, "voicemail")
    return "voicemail"


def _owe_call_back(unit: Unit, case: Case, call: Call, reason: str) -> None:
    """One call-back per call: a voicemail reported after the missed call's end only
    says why."""
    if call.customer_number is None:
        return  # a withheld number cannot be called back
    earlier = unit.db.scalars(select(CallBack).where(CallBack.call_id == call.id)).first()
    if earlier is not None:
        if reason == "voicemail":
            earlier.reason = reason
        return
    owed = CallBack(
        case_id=case.id,
        agent_id=case.owner_id,
        number=call.customer_number,
        reason=reason,
        call_id=call.id,
        created_at=unit.now,
    )
    unit.db.add(owed)
    unit.db.flush()
    unit.audit("call_back.owed", "case", case.id, call_back_id=owed.id, reason=reason)
    unit.emit(
        "call_back.created",
        case_id=case.id,
        customer_id=case.customer_id,
        call_back_id=owed.id,
        agent_id=case.owner_id,
        reason=reason,
    )


def _seconds(start_at: datetime | None, end_at: datetime | None) -> int | None:
    if start_at is None or end_at is None:
        return None
    return max(0, round((end_at - start_at).total_seconds()))


def _write_touch(unit: Unit, call: Call) -> None:
    """The call's touch shows what is known of its figures, outcome and recording."""
    touch = unit.db.get(Touch, call.touch_id)
    if touch is None:
        return
    picked_up = call.answered_at
    touch.call_ring_seconds = _seconds(call.started_at, picked_up or call.ended_at)
    touch.call_wait_seconds = None if call.wait_seconds is None else round(call.wait_seconds)
    if picked_up is not None:
        touch.call_hold_seconds = round(call.hold_seconds)
        talked = _seconds(picked_up, call.ended_at)
        touch.call_talk_seconds = (
            None if talked is None else max(0, talked - round(call.hold_seconds))
        )
    touch.outcome = _outcome(call)
    meta = dict(touch.meta or {})
    meta.update(
        call_sid=call.sid,
        status=call.status.value,
        answered_by=call.agent_id,
        holds=call.holds,
        longest_hold_seconds=round(call.longest_hold_seconds),
        recording_paused=list(call.recording_pauses),
    )
    if call.recording_url:
        meta["recording_url"] = call.recording_url
    if call.voicemail:
        touch.text = (
            f"Voicemail: {call.transcription}"
            if call.transcription
            else f"Voicemail from {call.customer_number or 'a withheld number'}"
        )
    touch.meta = meta


def _outcome(call: Call) -> str | None:
    if not call.status.ended:
        return None
    if call.answered_at is not None:
        return "answered"
    if call.voicemail:
        return "voicemail"
    if call.abandoned:
        return "abandoned"
    return call.status.value


# --- agents' side -------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedCall:
    call_id: int
    touch_id: int
    outbox_id: int
    switch_id: int | None


@action
def place_call(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    *,
    to: IdentityRef | None = None,
    call_back_id: int | None = None,
    switch_reason: SwitchReason | None = None,
) -> PlacedCall:
    """Click-to-call: the agent calls the customer. The call's touch, its row and an
    outbox row are written together; the worker asks the provider to dial, and the
    customer, once they pick up, is put through to the agent's softphone. Placed for a
    call-back, it settles that call-back; moving a conversation to the phone records the
    switch with its reason (`private_data`, `callback`)."""
    with unit_of_work(db, env, actor) as unit:
        agent = _acting_agent(unit)
        case = db.get(Case, case_id, with_for_update=True)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        if case.status is CaseStatus.CLOSED:
            raise Conflict(f"case {case.ref} is closed")
        owed = None
        if call_back_id is not None:
            owed = db.get(CallBack, call_back_id, with_for_update=True)
            if owed is None or owed.case_id != case.id:
                raise NotFound(f"call-back {call_back_id} is not one of case {case.ref}")
            if owed.done_at is not None:
                raise Conflict(f"call-back {call_back_id} was already made")
            if to is None:
                to = IdentityRef(IdentityKind.PHONE, owed.number)
        identity = _recipient(db, env, case, Channel.PHONE, to)
        previous = previous_facing(db, case.id)
        touch = Touch(
            case_id=case.id,
            channel=Channel.PHONE,
            direction=Direction.OUT,
            kind=TouchKind.CALL,
            public=False,
            text=f"Call to {identity.value}",
            identity_id=identity.id,
            agent_id=agent.id,
            occurred_at=unit.now,
            created_at=unit.now,
            delivery=Delivery.QUEUED,
            meta={},
        )
        db.add(touch)
        db.flush()
        call = Call(
            sid=f"{PENDING_SID}{touch.id}",
            case_id=case.id,
            touch_id=touch.id,
            direction=Direction.OUT,
            customer_number=identity.value,
            our_number=env.settings.twilio_from_number,
            status=CallStatus.RINGING,
            agent_id=agent.id,
            started_at=unit.now,
            updated_at=unit.now,
        )
        db.add(call)
        db.flush()
        outbox = OutboxMessage(
            touch_id=touch.id,
            channel=Channel.PHONE,
            payload={
                "to": {"kind": identity.kind.value, "value": identity.value},
                "text": touch.text,
                "call_id": call.id,
                "agent_id": agent.id,
                "case_ref": case.ref,
            },
            next_attempt_at=unit.now,
            created_at=unit.now,
        )
        db.add(outbox)
        if owed is not None:
            owed.done_at = unit.now
            owed.done_call_id = call.id
        switch = link_switch(
            unit,
            NewTouch(touch.id, case.id, Channel.PHONE, False, touch.occurred_at, agent.id),
            previous,
            switch_reason or SwitchReason.AGENT_CHOICE,
        )
        case.channel = Channel.PHONE
        case.updated_at = unit.now
        if case.owner_id is None and can_own(agent):
            _set_owner(unit, case, agent.id)
        db.flush()
        unit.audit(
            "call.placed",
            "case",
            case.id,
            touch_id=touch.id,
            call_id=call.id,
            to=identity.value,
            call_back_id=call_back_id,
        )
        unit.emit(
            "touch.created",
            case_id=case.id,
            customer_id=case.customer_id,
            touch_id=touch.id,
            channel=Channel.PHONE.value,
            direction=Direction.OUT.value,
            switch_id=switch.id if switch else None,
        )
        _emit(unit, call, case, "placed")
        return PlacedCall(call.id, touch.id, outbox.id, switch.id if switch else None)


@action
def record_recording_pause(
    db: Session, env: Env, actor: Actor, call_id: int, *, paused: bool
) -> CallState:
    """The provider has paused (or resumed) the call's recording at the agent's word, so
    card details read out meanwhile are never stored; the span not recorded is kept on
    the call's touch."""
    with unit_of_work(db, env, actor) as unit:
        _acting_agent(unit)
        found = db.get(Call, call_id)
        if found is None:
            raise NotFound(f"call {call_id} does not exist")
        case = db.get(Case, found.case_id, with_for_update=True)
        call = db.get(Call, call_id, with_for_update=True, populate_existing=True)
        assert case is not None and call is not None
        if call.status.ended:
            raise Conflict("the call has ended")
        if paused == (call.recording_paused_at is not None):
            return CallState(call.id, case.id, call.touch_id, call.status, changed=False)
        if paused:
            call.recording_paused_at = unit.now
        else:
            began = call.recording_paused_at
            assert began is not None
            call.recording_pauses = [
                *call.recording_pauses,
                [began.isoformat(), unit.now.isoformat()],
            ]
            call.recording_paused_at = None
        call.updated_at = unit.now
        _write_touch(unit, call)
        unit.audit(
            "call.recording_paused" if paused else "call.recording_resumed",
            "case",
            case.id,
            call_id=call.id,
        )
        _emit(unit, call, case, "recording_paused" if paused else "recording_resumed")
        return CallState(call.id, case.id, call.touch_id, call.status, changed=True)


@action
def request_call_back(
    db: Session, env: Env, actor: Actor, case_id: int, *, number: str | None = None
) -> int:
    """An agent promises the customer a call: a call-back owed by the case's owner (or
    by the agent, on an unowned case), to the given number or the customer's."""
    with unit_of_work(db, env, actor) as unit:
        agent = _acting_agent(unit)
        case = db.get(Case, case_id, with_for_update=True)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        to = IdentityRef(IdentityKind.PHONE, number) if number else None
        identity = _recipient(db, env, case, Channel.PHONE, to)
        owed = CallBack(
            case_id=case.id,
            agent_id=case.owner_id or agent.id,
            number=identity.value,
            reason="requested",
            created_at=unit.now,
        )
        db.add(owed)
        db.flush()
        unit.audit("call_back.owed", "case", case.id, call_back_id=owed.id, reason="requested")
        unit.emit(
            "call_back.created",
            case_id=case.id,
            customer_id=case.customer_id,
            call_back_id=owed.id,
            agent_id=owed.agent_id,
            reason="requested",
        )
        return owed.id
