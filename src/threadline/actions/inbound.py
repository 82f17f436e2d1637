"""Contact from customers: receive() for every channel, and the shop counter's visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.actions.base import Actor, Env, Unit, unit_of_work, with_retry
from threadline.actions.customers import get_customer, resolve_sender
from threadline.actions.threading import CaseFacts, Continue, OpenNew, Reopen, choose_case
from threadline.actions.timeline import link_switch, previous_facing
from threadline.channels.base import IdentityRef, Inbound
from threadline.errors import InvalidInput, NotFound
from threadline.html import sanitise
from threadline.identities import normalise
from threadline.models import (
    Agent,
    Attachment,
    Case,
    Customer,
    Identity,
    ThreadKey,
    Touch,
    parse_ref,
)
from threadline.routing.owners import previous_owner
from threadline.vocabulary import (
    OPEN_STATUSES,
    CaseStatus,
    Channel,
    Direction,
    IdentityKind,
    SwitchReason,
    TouchKind,
)

MAX_TEXT = 1_000_000
MAX_EXTERNAL_ID = 250
MAX_SUBJECT = 300


@dataclass(frozen=True)
class Received:
    touch_id: int
    case_id: int
    customer_id: int
    duplicate: bool
    case_created: bool = False
    switch_id: int | None = None


def _validate(inbound: Inbound, now: datetime) -> None:
    try:
        Channel(inbound.channel)
        IdentityKind(inbound.sender.kind)
        TouchKind(inbound.kind)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if inbound.kind in (TouchKind.NOTE, TouchKind.EVENT):
        raise InvalidInput(f"a customer's contact cannot be a {inbound.kind.value}")
    if not inbound.external_id or len(inbound.external_id) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"external_id must be 1-{MAX_EXTERNAL_ID} characters")
    if len(inbound.text) > MAX_TEXT:
        raise InvalidInput(f"text is longer than {MAX_TEXT} characters")
    if inbound.subject is not None and len(inbound.subject) > MAX_SUBJECT:
        raise InvalidInput(f"subject is longer than {MAX_SUBJECT} characters")
    if inbound.occurred_at is not None and inbound.occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone offset")


def receive(db: Session, env: Env, inbound: Inbound, actor: Actor | None = None) -> Received:
    """Land one customer contact on the right customer's timeline and the right case.

    De-duplicates by (channel, external id), resolves or creates the customer from the
    identity, threads the contact (explicit reference, open case, recently resolved case,
    new case), records a channel switch when the customer moved, routes an ownerless case
    and publishes `touch.created` after the commit."""
    _validate(inbound, env.clock.now())
    normalise(inbound.sender.kind, inbound.sender.value, region=env.settings.default_region)
    acting = actor or Actor.channel(inbound.channel.value)
    stored = [
        (file, env.files.put(file.content)) for file in inbound.attachments
    ]  # before the transaction: file writes are idempotent, a rollback leaves no row

    def work() -> Received:
        with unit_of_work(db, env, acting) as unit:
            existing = db.execute(
                select(Touch.id, Touch.case_id, Case.customer_id)
                .join(Case, Case.id == Touch.case_id)
                .where(Touch.channel == inbound.channel, Touch.external_id == inbound.external_id)
            ).first()
            if existing is not None:
                return Received(
                    touch_id=existing[0],
                    case_id=existing[1],
                    customer_id=existing[2],
                    duplicate=True,
                )
            customer, identity, _ = resolve_sender(unit, inbound.sender)
            received = _land(unit, inbound, customer, identity, agent_id=None, outcome=None)
            for file, digest in stored:
                db.add(
                    Attachment(
                        touch_id=received.touch_id,
                        filename=file.filename[:255] or "attachment",
                        content_type=file.content_type[:127] or "application/octet-stream",
                        size=len(file.content),
                        sha256=digest,
                        inline=file.inline,
                    )
                )
            return received

    return with_retry(work)


def _referenced_case(db: Session, inbound: Inbound) -> Case | None:
    if inbound.case_ref:
        case_id = parse_ref(inbound.case_ref)
        if case_id is not None:
            case = db.get(Case, case_id)
            if case is not None:
                return case
    if inbound.references:
        case_id = db.scalar(
            select(ThreadKey.case_id)
            .where(ThreadKey.key.in_(inbound.references))
            .order_by(ThreadKey.id.desc())
            .limit(1)
        )
        if case_id is not None:
            return db.get(Case, case_id)
    return None


def _facts(case: Case | None) -> CaseFacts | None:
    if case is None:
        return None
    return CaseFacts(
        id=case.id,
        customer_id=case.customer_id,
        status=case.status,
        resolved_at=case.resolved_at,
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:120]
    return ""


def _land(
    unit: Unit,
    inbound: Inbound,
    customer: Customer,
    identity: Identity | None,
    *,
    agent_id: int | None,
    outcome: str | None,
) -> Received:
    db = unit.db
    now = unit.now
    occurred_at = inbound.occurred_at or now
    referenced = _referenced_case(db, inbound)
    open_case = db.scalars(
        select(Case)
        .where(Case.customer_id == customer.id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(1)
    ).first()
    last_resolved = None
    if open_case is None:
        last_resolved = db.scalars(
            select(Case)
            .where(
                Case.customer_id == customer.id,
                Case.status.in_((CaseStatus.RESOLVED, CaseStatus.CLOSED)),
            )
            .order_by(Case.updated_at.desc(), Case.id.desc())
            .limit(1)
        ).first()
    decision = choose_case(
        customer.id,
        referenced=_facts(referenced),
        open_case=_facts(open_case),
        last_resolved=_facts(last_resolved),
        now=now,
        reopen_window_seconds=unit.env.settings.reopen_window_seconds,
    )
    created = False
    match decision:
        case Continue(case_id) | Reopen(case_id):
            case = db.get(Case, case_id, with_for_update=True, populate_existing=True)
            assert case is not None
        case OpenNew(previous_case_id):
            case = Case(
                customer_id=customer.id,
                status=CaseStatus.NEW,
                subject=(inbound.subject or _first_line(inbound.text) or inbound.topic or "")[
                    :MAX_SUBJECT
                ],
                topic=inbound.topic,
                journey_stage=customer.journey_stage,
                previous_case_id=previous_case_id,
                created_at=now,
                updated_at=now,
            )
            db.add(case)
            db.flush()
            created = True
            unit.audit("case.created", "case", case.id, customer_id=customer.id)
            unit.emit(
                "case.created",
                case_id=case.id,
                customer_id=customer.id,
                channel=inbound.channel.value,
            )

    old_status = case.status
    if isinstance(decision, Reopen) or case.status in (CaseStatus.PENDING, CaseStatus.ON_HOLD):
        # The customer wrote again: the ball is back with us.
        case.status = CaseStatus.OPEN
        case.resolved_at = None
        case.version += 1
        unit.audit(
            "case.status_changed",
            "case",
            case.id,
            old=old_status.value,
            new="open",
            reason="customer contact",
        )
        unit.emit(
            "case.status_changed",
            case_id=case.id,
            customer_id=customer.id,
            old=old_status.value,
            new=CaseStatus.OPEN.value,
        )

    previous = None if created else previous_facing(db, case.id, occurred_at)
    call = inbound.call
    touch = Touch(
        case_id=case.id,
        channel=inbound.channel,
        direction=Direction.IN,
        kind=inbound.kind,
        public=inbound.public,
        text=inbound.text,
        html=sanitise(inbound.html) if inbound.html else None,
        subject=inbound.subject,
        identity_id=identity.id if identity is not None else None,
        agent_id=agent_id,
        external_id=inbound.external_id or None,
        occurred_at=occurred_at,
        created_at=now,
        call_ring_seconds=call.ring_seconds if call else None,
        call_wait_seconds=call.wait_seconds if call else None,
        call_hold_seconds=call.hold_seconds if call else None,
        call_talk_seconds=call.talk_seconds if call else None,
        outcome=outcome,
        meta=dict(inbound.meta),
    )
    db.add(touch)
    db.flush()
    if (
        inbound.thread_key
        and db.scalar(select(ThreadKey.id).where(ThreadKey.key == inbound.thread_key)) is None
    ):
        db.add(
            ThreadKey(key=inbound.thread_key, case_id=case.id, touch_id=touch.id, created_at=now)
        )
    switch = link_switch(unit, touch, previous, SwitchReason.CUSTOMER_CHOICE)
    case.updated_at = now

    if case.owner_id is None:
        owner_id = previous_owner(db, customer.id, exclude_case_id=case.id)
        if owner_id is not None:
            case.owner_id = owner_id
            case.version += 1
            unit.audit("case.assigned", "case", case.id, owner_id=owner_id, by="routing")
            unit.emit("case.assigned", case_id=case.id, customer_id=customer.id, owner_id=owner_id)

    unit.audit(
        "touch.received",
        "case",
        case.id,
        touch_id=touch.id,
        channel=inbound.channel.value,
        external_id=inbound.external_id,
    )
    unit.emit(
        "touch.created",
        case_id=case.id,
        customer_id=customer.id,
        touch_id=touch.id,
        channel=inbound.channel.value,
        direction=Direction.IN.value,
        switch_id=switch.id if switch else None,
    )
    return Received(
        touch_id=touch.id,
        case_id=case.id,
        customer_id=customer.id,
        duplicate=False,
        case_created=created,
        switch_id=switch.id if switch else None,
    )


@dataclass(frozen=True)
class StoreVisit:
    topic: str
    customer_id: int | None = None
    identity: IdentityRef | None = None
    note: str = ""
    outcome: str | None = None
    occurred_at: datetime | None = None


def log_store_visit(db: Session, env: Env, clerk_id: int, visit: StoreVisit) -> Received:
    """A customer came to the shop. The clerk finds them by id or by an identity (a phone
    number, an email, a loyalty card; an unknown identity makes a new customer) and the
    visit lands on their open case or a new one, like any other contact."""
    if (visit.customer_id is None) == (visit.identity is None):
        raise InvalidInput("give either customer_id or identity")
    topic = " ".join(visit.topic.split())
    if not topic or len(topic) > 80:
        raise InvalidInput("a visit needs a topic of at most 80 characters")
    if visit.outcome is not None and len(visit.outcome) > 200:
        raise InvalidInput("an outcome is at most 200 characters")
    if visit.occurred_at is not None and visit.occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at needs a time zone offset")
    if visit.identity is not None:
        normalise(visit.identity.kind, visit.identity.value, region=env.settings.default_region)
    if len(visit.note) > MAX_TEXT:
        raise InvalidInput(f"note is longer than {MAX_TEXT} characters")

    def work() -> Received:
        with unit_of_work(db, env, Actor.agent(clerk_id)) as unit:
            clerk = db.get(Agent, clerk_id)
            if clerk is None or not clerk.active:
                raise NotFound(f"agent {clerk_id} does not exist")
            if visit.identity is not None:
                customer, identity, _ = resolve_sender(unit, visit.identity)
            else:
                assert visit.customer_id is not None
                customer = get_customer(db, visit.customer_id, lock=True)
                identity = None
                if customer.merged_into_id is not None:
                    customer = get_customer(db, customer.merged_into_id, lock=True)
            inbound = Inbound(
                channel=Channel.STORE,
                external_id="",
                sender=visit.identity or IdentityRef(IdentityKind.EXTERNAL, str(customer.id)),
                text=visit.note,
                kind=TouchKind.VISIT,
                occurred_at=visit.occurred_at,
                topic=topic,
                subject=topic,
            )
            return _land(
                unit, inbound, customer, identity, agent_id=clerk.id, outcome=visit.outcome
            )

    return with_retry(work)
