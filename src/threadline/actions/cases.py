"""What agents do to a case: reply, note, assign, change status, move the conversation
to another channel."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threadline.actions import clocks
from threadline.actions.base import Actor, Env, Unit, action, unit_of_work
from threadline.actions.email_replies import email_threading, keep_thread_key
from threadline.actions.reply_keys import ReplyRequest, earlier_reply, keep_key
from threadline.actions.sms import refuse_if_opted_out
from threadline.actions.text import clean
from threadline.actions.timeline import NewTouch, link_switch
from threadline.channels.base import IdentityRef
from threadline.errors import Conflict, InvalidInput, NotFound
from threadline.identities import normalise
from threadline.models import Agent, Case, ChannelSwitch, Identity, OutboxMessage, Touch
from threadline.queries.replies import default_recipient, default_reply_channel, previous_facing
from threadline.routing.owners import can_own
from threadline.service_levels.clocks import REPLY_KINDS
from threadline.vocabulary import (
    REACHABLE_BY,
    STATUS_MOVES,
    CaseStatus,
    Channel,
    ClockKind,
    Delivery,
    Direction,
    Priority,
    SwitchReason,
    TouchKind,
)

MAX_REPLY = 100_000


def case_for_update(unit: Unit, case_id: int, expected_version: int | None) -> Case:
    case = unit.db.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    if expected_version is not None and case.version != expected_version:
        raise Conflict(
            f"case {case.ref} was changed by someone else (version {case.version}, "
            f"you had {expected_version}); reload it"
        )
    return case


def _acting_agent(unit: Unit) -> Agent:
    if unit.actor.agent_id is None:
        raise InvalidInput("only an agent can do this")
    agent = unit.db.get(Agent, unit.actor.agent_id)
    if agent is None or not agent.active:
        raise NotFound(f"agent {unit.actor.agent_id} does not exist")
    return agent


@dataclass(frozen=True)
class ReplyResult:
    touch_id: int
    case_id: int
    outbox_id: int
    channel: Channel
    delivery: Delivery
    switch_id: int | None
    # True when an earlier request with the same Idempotency-Key made this reply.
    repeated: bool = False


def _default_channel(db: Session, case_id: int) -> Channel:
    """The channel of the customer's last written contact on this case."""
    channel = default_reply_channel(db, case_id)
    if channel is None:
        raise InvalidInput("this case has no written conversation yet; choose a channel")
    return channel


def _recipient(
    db: Session, env: Env, case: Case, channel: Channel, to: IdentityRef | None
) -> Identity:
    kinds = REACHABLE_BY.get(channel, ())
    if to is not None:
        value = normalise(to.kind, to.value, region=env.settings.default_region)
        identity = db.scalars(
            select(Identity).where(Identity.kind == to.kind, Identity.value == value)
        ).first()
        if identity is None or identity.customer_id != case.customer_id:
            raise InvalidInput(f"{to.kind} {value} is not an identity of this case's customer")
        if identity.kind not in kinds:
            raise InvalidInput(f"a {identity.kind.value} identity cannot be reached by {channel}")
        return identity
    identity = default_recipient(db, case.id, case.customer_id, channel)
    if identity is not None:
        return identity
    raise InvalidInput(f"the customer has no identity reachable by {channel.label}")


@action
def reply(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    text: str,
    *,
    channel: Channel | None = None,
    to: IdentityRef | None = None,
    switch_reason: SwitchReason | None = None,
    public: bool | None = None,
    idempotency_key: str | None = None,
) -> ReplyResult:
    """A message to the customer: the touch and its outbox row in one transaction; the
    worker delivers it. By default on the customer's last channel, to the identity they
    wrote from; a reply on another channel is a channel switch. A text to a number that
    texted STOP is refused (Conflict) until it texts START.

    With an `idempotency_key` (1 to 200 printable ASCII characters, the acting agent's
    own), the same request sent again answers the reply the first one made and writes
    nothing, even when both arrive at once; the key sent with another request (another
    case, another text) is a Conflict."""
    text = clean(text).strip()
    if not text:
        raise InvalidInput("a reply needs text")
    if len(text) > MAX_REPLY:
        raise InvalidInput(f"a reply is at most {MAX_REPLY} characters")
    if channel is not None and not Channel(channel).written:
        raise InvalidInput(f"{Channel(channel).label} takes no written replies")
    request = None
    if idempotency_key is not None:
        request = ReplyRequest.of(
            idempotency_key,
            case_id=case_id,
            text=text,
            channel=channel,
            to=to,
            switch_reason=switch_reason,
            public=public,
        )
    try:
        return _reply(
            db,
            env,
            actor,
            case_id,
            text,
            channel=channel,
            to=to,
            switch_reason=switch_reason,
            public=public,
            request=request,
        )
    except IntegrityError:
        if request is None:
            raise
        # A copy of this request sent at the same time made the reply first, and the
        # unique index on the key stopped this one: answer with that reply.
        with unit_of_work(db, env, actor) as unit:
            earlier = earlier_reply(db, _acting_agent(unit).id, request)
            if earlier is not None:
                return _repeat(db, earlier)
        raise


def _repeat(db: Session, touch_id: int) -> ReplyResult:
    """The reply an earlier request with the same key made, as it is now."""
    touch = db.get_one(Touch, touch_id)
    outbox_id = db.scalars(select(OutboxMessage.id).where(OutboxMessage.touch_id == touch_id)).one()
    switch_id = db.scalars(
        select(ChannelSwitch.id).where(ChannelSwitch.to_touch_id == touch_id)
    ).first()
    return ReplyResult(
        touch_id=touch.id,
        case_id=touch.case_id,
        outbox_id=outbox_id,
        channel=touch.channel,
        delivery=touch.delivery or Delivery.QUEUED,
        switch_id=switch_id,
        repeated=True,
    )


def _reply(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    text: str,
    *,
    channel: Channel | None,
    to: IdentityRef | None,
    switch_reason: SwitchReason | None,
    public: bool | None,
    request: ReplyRequest | None,
) -> ReplyResult:
    with unit_of_work(db, env, actor) as unit:
        agent = _acting_agent(unit)
        if request is not None:
            earlier = earlier_reply(db, agent.id, request)
            if earlier is not None:
                return _repeat(db, earlier)
        case = case_for_update(unit, case_id, None)
        if case.status is CaseStatus.CLOSED:
            raise Conflict(f"case {case.ref} is closed")
        chosen = Channel(channel) if channel is not None else _default_channel(db, case.id)
        identity = _recipient(db, env, case, chosen, to)
        if chosen is Channel.SMS:
            refuse_if_opted_out(db, identity.value)
        previous = previous_facing(db, case.id)
        if public is None:
            public = bool(previous and previous.channel is chosen and previous.public)
        if public and chosen is not Channel.X:
            raise InvalidInput(f"replies on {chosen.label} are private")
        # Email threading is fixed now, not at sending: a resend carries the same
        # Message-ID, and the customer's answer threads even before the reply has left.
        mail = email_threading(unit, case.id) if chosen is Channel.EMAIL else None
        touch = Touch(
            case_id=case.id,
            channel=chosen,
            direction=Direction.OUT,
            kind=TouchKind.MESSAGE,
            public=public,
            text=text,
            subject=case.subject or None,
            identity_id=identity.id,
            agent_id=agent.id,
            occurred_at=unit.now,
            created_at=unit.now,
            delivery=Delivery.QUEUED,
            meta=mail.touch_meta() if mail else {},
        )
        db.add(touch)
        db.flush()
        if request is not None:
            keep_key(unit, agent.id, request, touch.id)
        payload = {
            "to": {"kind": identity.kind.value, "value": identity.value},
            "text": text,
            "subject": case.subject,
            "case_ref": case.ref,
            "public": public,
        }
        if mail is not None:
            payload |= mail.payload() | {"date": unit.now.isoformat()}
            keep_thread_key(unit, case.id, touch.id, mail.message_id)
        outbox = OutboxMessage(
            touch_id=touch.id,
            channel=chosen,
            payload=payload,
            next_attempt_at=unit.now,
            created_at=unit.now,
        )
        db.add(outbox)
        switch = link_switch(
            unit,
            NewTouch(touch.id, case.id, chosen, public, touch.occurred_at, agent.id),
            previous,
            switch_reason or SwitchReason.AGENT_CHOICE,
        )
        if case.status is CaseStatus.NEW:
            _move_status(unit, case, CaseStatus.OPEN)
        answered = {*REPLY_KINDS, ClockKind.ANSWER}
        clocks.change(unit, case, lambda book, found: clocks.meet(found, book, answered, unit.now))
        case.channel = chosen
        if case.owner_id is None and can_own(agent):
            _set_owner(unit, case, agent.id)
        case.updated_at = unit.now
        db.flush()
        unit.audit(
            "reply.queued",
            "case",
            case.id,
            touch_id=touch.id,
            channel=chosen.value,
            to=f"{identity.kind.value}:{identity.value}",
        )
        unit.emit(
            "touch.created",
            case_id=case.id,
            customer_id=case.customer_id,
            touch_id=touch.id,
            channel=chosen.value,
            direction=Direction.OUT.value,
            switch_id=switch.id if switch else None,
        )
        return ReplyResult(
            touch_id=touch.id,
            case_id=case.id,
            outbox_id=outbox.id,
            channel=chosen,
            delivery=Delivery.QUEUED,
            switch_id=switch.id if switch else None,
        )


@action
def add_note(db: Session, env: Env, actor: Actor, case_id: int, text: str) -> int:
    """An internal note: never shown to the customer, never sent anywhere."""
    text = clean(text).strip()
    if not text:
        raise InvalidInput("a note needs text")
    if len(text) > MAX_REPLY:
        raise InvalidInput(f"a note is at most {MAX_REPLY} characters")
    with unit_of_work(db, env, actor) as unit:
        agent = _acting_agent(unit)
        case = case_for_update(unit, case_id, None)
        previous = previous_facing(db, case.id)
        touch = Touch(
            case_id=case.id,
            channel=previous.channel if previous else Channel.WEB,
            direction=Direction.INTERNAL,
            kind=TouchKind.NOTE,
            public=False,
            text=text,
            agent_id=agent.id,
            occurred_at=unit.now,
            created_at=unit.now,
        )
        db.add(touch)
        case.updated_at = unit.now
        db.flush()
        unit.audit("note.added", "case", case.id, touch_id=touch.id)
        unit.emit(
            "touch.created",
            case_id=case.id,
            customer_id=case.customer_id,
            touch_id=touch.id,
            channel=touch.channel.value,
            direction=Direction.INTERNAL.value,
            private=True,
        )
        return touch.id


def _set_owner(unit: Unit, case: Case, owner_id: int | None) -> None:
    old = case.owner_id
    case.owner_id = owner_id
    case.version += 1
    unit.audit("case.assigned", "case", case.id, old_owner_id=old, owner_id=owner_id)
    unit.emit(
        "case.assigned",
        case_id=case.id,
        customer_id=case.customer_id,
        owner_id=owner_id,
        old_owner_id=old,
    )


def _move_status(unit: Unit, case: Case, status: CaseStatus) -> None:
    old = case.status
    if status not in STATUS_MOVES[old]:
        allowed = ", ".join(sorted(s.value for s in STATUS_MOVES[old])) or "none"
        raise InvalidInput(
            f"case {case.ref} cannot go from {old.value} to {status.value} (allowed: {allowed})"
        )
    case.status = status
    case.resolved_at = (
        unit.now
        if status is CaseStatus.RESOLVED
        else (case.resolved_at if status is CaseStatus.CLOSED else None)
    )
    case.version += 1
    clocks.change(
        unit, case, lambda book, found: clocks.on_status(book, found, old, status, unit.now)
    )
    unit.audit("case.status_changed", "case", case.id, old=old.value, new=status.value)
    unit.emit(
        "case.status_changed",
        case_id=case.id,
        customer_id=case.customer_id,
        old=old.value,
        new=status.value,
    )


@action
def assign(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    agent_id: int | None,
    *,
    expected_version: int | None = None,
) -> Case:
    with unit_of_work(db, env, actor) as unit:
        case = case_for_update(unit, case_id, expected_version)
        if agent_id is not None:
            agent = db.get(Agent, agent_id)
            if agent is None:
                raise NotFound(f"agent {agent_id} does not exist")
            if not can_own(agent):
                raise InvalidInput(f"{agent.name} cannot own cases ({agent.role.label})")
        if case.owner_id != agent_id:
            _set_owner(unit, case, agent_id)
            case.updated_at = unit.now
        return case


@action
def set_status(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    status: CaseStatus | str,
    *,
    expected_version: int | None = None,
) -> Case:
    try:
        target = CaseStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in CaseStatus)
        raise InvalidInput(f"unknown status {status!r}; use one of: {known}") from None
    with unit_of_work(db, env, actor) as unit:
        case = case_for_update(unit, case_id, expected_version)
        if case.status is not target:
            _move_status(unit, case, target)
            case.updated_at = unit.now
        return case


@action
def set_priority(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    priority: Priority | str,
    *,
    expected_version: int | None = None,
) -> Case:
    try:
        target = Priority(priority)
    except ValueError:
        raise InvalidInput(f"unknown priority {priority!r}") from None
    with unit_of_work(db, env, actor) as unit:
        case = case_for_update(unit, case_id, expected_version)
        if case.priority is not target:
            old = case.priority
            case.priority = target
            case.version += 1
            case.updated_at = unit.now
            unit.audit("case.priority_changed", "case", case.id, old=old.value, new=target.value)
            unit.emit(
                "case.updated",
                case_id=case.id,
                customer_id=case.customer_id,
                priority=target.value,
            )
        return case


@action
def switch_channel(
    db: Session,
    env: Env,
    actor: Actor,
    case_id: int,
    to_channel: Channel | str,
    reason: SwitchReason | str,
    *,
    public: bool = False,
) -> ChannelSwitch:
    """An agent moves the conversation on purpose: a public post to a private message or
    a call because card details must not be public, a call-back, an escalation. The
    switch is recorded now with its reason; the first touch on the new channel completes
    it."""
    try:
        target = Channel(to_channel)
        why = SwitchReason(reason)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with unit_of_work(db, env, actor) as unit:
        agent = _acting_agent(unit)
        case = case_for_update(unit, case_id, None)
        if not case.status.is_open and case.status is not CaseStatus.RESOLVED:
            raise Conflict(f"case {case.ref} is {case.status.value}")
        previous = previous_facing(db, case.id)
        if previous is None:
            raise InvalidInput(f"case {case.ref} has no conversation to move yet")
        if (previous.channel, previous.public) == (target, public):
            raise InvalidInput(f"the conversation is already on {target.label}")
        if target in REACHABLE_BY:
            _recipient(db, env, case, target, None)  # refuses when the customer is unreachable
        switch = db.scalars(
            select(ChannelSwitch).where(
                ChannelSwitch.case_id == case.id, ChannelSwitch.to_touch_id.is_(None)
            )
        ).first()
        if switch is None:
            switch = ChannelSwitch(case_id=case.id, from_touch_id=previous.id)
            db.add(switch)
        switch.from_channel = previous.channel
        switch.from_public = previous.public
        switch.to_channel = target
        switch.to_public = public
        switch.reason = why
        switch.at = unit.now
        switch.agent_id = agent.id
        case.updated_at = unit.now
        db.flush()
        unit.audit(
            "case.channel_switch_announced",
            "case",
            case.id,
            switch_id=switch.id,
            from_channel=previous.channel.value,
            to_channel=target.value,
            reason=why.value,
        )
        unit.emit(
            "case.switch_announced",
            case_id=case.id,
            customer_id=case.customer_id,
            switch_id=switch.id,
            to_channel=target.value,
            reason=why.value,
        )
        return switch
