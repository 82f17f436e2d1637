"""Contact from customers: receive() for every channel, and the shop counter's visits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from threadline.actions import clocks
from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.actions.customers import Sender, get_customer, resolve_sender
from threadline.actions.text import checked_time, clean, clean_optional
from threadline.actions.threading import CaseFacts, Decision, OpenNew, Reopen, choose_case
from threadline.actions.timeline import NewTouch, link_switch
from threadline.channels.base import IdentityRef, Inbound
from threadline.errors import InvalidInput, NotFound
from threadline.html import sanitise
from threadline.identities import normalise
from threadline.models import (
    Agent,
    Attachment,
    Case,
    Customer,
    ThreadKey,
    Touch,
    parse_ref,
)
from threadline.prepared import Prepared, returned_id
from threadline.queries.replies import previous_facing
from threadline.service_levels.clocks import case_due
from threadline.vocabulary import (
    OPEN_STATUSES,
    CaseStatus,
    Channel,
    Direction,
    IdentityKind,
    JourneyStage,
    Priority,
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


def _cleaned(inbound: Inbound) -> Inbound:
    if "\x00" in inbound.external_id:
        raise InvalidInput("external_id contains a NUL character")
    changes: dict[str, Any] = {
        name: cleaned
        for name, given, cleaned in (
            ("text", inbound.text, clean(inbound.text)),
            ("html", inbound.html, clean_optional(inbound.html)),
            ("subject", inbound.subject, clean_optional(inbound.subject)),
            ("topic", inbound.topic, clean_optional(inbound.topic)),
            ("occurred_at", inbound.occurred_at, checked_time(inbound.occurred_at)),
        )
        if cleaned is not given
    }
    name = clean_optional(inbound.sender.name)
    if name is not inbound.sender.name:
        changes["sender"] = replace(inbound.sender, name=name)
    return replace(inbound, **changes) if changes else inbound


def _validate(inbound: Inbound) -> None:
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


_FIND_DUPLICATE = (
    select(Touch.id, Touch.case_id, Case.customer_id)
    .join(Case, Case.id == Touch.case_id)
    .where(Touch.channel == bindparam("channel"), Touch.external_id == bindparam("external_id"))
)
_CASE_FACTS = (
    Case.id,
    Case.customer_id,
    Case.status,
    Case.resolved_at,
    Case.owner_id,
    Case.priority,
)
_CASE_BY_ID = Prepared(select(*_CASE_FACTS).where(Case.id == bindparam("case_id")))
# The latest thread key among a contact's references, KEYS_AT_ONCE at a time: one
# statement per list length, so that each is prepared once (an email's References hold
# its whole thread, most replies a handful).
KEYS_AT_ONCE = 8
_LATEST_KEY = [
    Prepared(
        select(ThreadKey.id, ThreadKey.case_id)
        .where(ThreadKey.key.in_([bindparam(f"k{i}") for i in range(count)]))
        .order_by(ThreadKey.id.desc())
        .limit(1)
    )
    for count in range(1, KEYS_AT_ONCE + 1)
]
_OPEN_CASE = Prepared(
    select(*_CASE_FACTS)
    .where(Case.customer_id == bindparam("customer_id"), Case.status.in_(OPEN_STATUSES))
    .order_by(Case.updated_at.desc(), Case.id.desc())
    .limit(1)
)
_LAST_DONE_CASE = Prepared(
    select(*_CASE_FACTS)
    .where(
        Case.customer_id == bindparam("customer_id"),
        Case.status.in_((CaseStatus.RESOLVED, CaseStatus.CLOSED)),
    )
    .order_by(Case.updated_at.desc(), Case.id.desc())
    .limit(1)
)
_THREAD_KEY_EXISTS = Prepared(select(ThreadKey.id).where(ThreadKey.key == bindparam("key")))
_INSERT_CASE = Prepared(
    insert(Case).returning(Case.id),
    (
        "customer_id",
        "owner_id",
        "team_id",
        "status",
        "priority",
        "topic",
        "subject",
        "journey_stage",
        "satisfaction",
        "previous_case_id",
        "version",
        "created_at",
        "updated_at",
        "resolved_at",
        "channel",
        "due_at",
        "warns_at",
        "needs",
    ),
)
_INSERT_TOUCH = Prepared(
    insert(Touch).returning(Touch.id),
    (
        "case_id",
        "channel",
        "direction",
        "kind",
        "public",
        "text",
        "html",
        "subject",
        "identity_id",
        "agent_id",
        "external_id",
        "occurred_at",
        "created_at",
        "delivery",
        "delivery_error",
        "call_ring_seconds",
        "call_wait_seconds",
        "call_hold_seconds",
        "call_talk_seconds",
        "outcome",
        "meta",
    ),
)
_INSERT_THREAD_KEY = Prepared(insert(ThreadKey), ("key", "case_id", "touch_id", "created_at"))
_TOUCH_CASE = Prepared(
    update(Case)
    .where(Case.id == bindparam("b_case_id"))
    .values(updated_at=bindparam("b_now"), channel=bindparam("b_channel"))
)


@action
def receive(db: Session, env: Env, inbound: Inbound, actor: Actor | None = None) -> Received:
    """Land one customer contact on the right customer's timeline and the right case.

    De-duplicates by (channel, external id), resolves or creates the customer from the
    identity, threads the contact (explicit reference, open case, recently resolved case,
    new case), records a channel switch when the customer moved, routes an ownerless case
    and publishes `touch.created` after the commit.

    This is the busiest path in Threadline, so it speaks SQLAlchemy Core with statements
    built once, rather than loading ORM objects it does not need."""
    _validate(inbound)
    inbound = _cleaned(inbound)
    normal = normalise(
        inbound.sender.kind, inbound.sender.value, region=env.settings.default_region
    )
    acting = actor or Actor.channel(inbound.channel.value)
    stored = [
        (file, env.files.put(file.content)) for file in inbound.attachments
    ]  # before the transaction: file writes are idempotent, a rollback leaves no row

    first_try = True

    def work() -> Received:
        nonlocal first_try
        # The unique (channel, external_id) key catches a copy of a message; only when it
        # did (or another race was lost) does the retry look the earlier copy up. This
        # keeps a query off the path of every message that is not a duplicate.
        look_up, first_try = not first_try, False
        with unit_of_work(db, env, acting) as unit:
            existing = (
                unit.conn.execute(
                    _FIND_DUPLICATE,
                    {"channel": inbound.channel, "external_id": inbound.external_id},
                ).first()
                if look_up
                else None
            )
            if existing is not None:
                return Received(
                    touch_id=existing[0],
                    case_id=existing[1],
                    customer_id=existing[2],
                    duplicate=True,
                )
            sender = resolve_sender(unit, inbound.sender, normal)
            received = land(unit, inbound, sender, agent_id=None, outcome=None)
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


@dataclass(frozen=True)
class _Found(CaseFacts):
    owner_id: int | None = None
    priority: Priority = Priority.NORMAL


def _facts(
    row: tuple[Any, ...] | None,
) -> _Found | None:
    if row is None:
        return None
    return _Found(
        id=row[0],
        customer_id=row[1],
        status=row[2],
        resolved_at=row[3],
        owner_id=row[4],
        priority=row[5],
    )


def _case_by_keys(conn: Connection, keys: tuple[str, ...]) -> int | None:
    """The case of the most recently recorded of these thread keys, if any is known."""
    latest: tuple[int, int] | None = None
    for start in range(0, len(keys), KEYS_AT_ONCE):
        chunk = keys[start : start + KEYS_AT_ONCE]
        row = _LATEST_KEY[len(chunk) - 1].first(conn, {f"k{i}": key for i, key in enumerate(chunk)})
        if row is not None and (latest is None or row[0] > latest[0]):
            latest = (row[0], row[1])
    return None if latest is None else latest[1]


def _referenced_case(conn: Connection, inbound: Inbound, customer_id: int) -> _Found | None:
    """The case the contact names: by the messages it answers (an email's In-Reply-To and
    References), else by a quoted case ref. A reference to another customer's case is
    passed over for one to the sender's own; choose_case() never follows the former."""
    candidates: list[_Found] = []
    if inbound.references:
        case_id = _case_by_keys(conn, inbound.references)
        if case_id is not None:
            found = _facts(_CASE_BY_ID.first(conn, {"case_id": case_id}))
            if found is not None:
                candidates.append(found)
    if inbound.case_ref and not any(c.customer_id == customer_id for c in candidates):
        case_id = parse_ref(inbound.case_ref)
        if case_id is not None:
            found = _facts(_CASE_BY_ID.first(conn, {"case_id": case_id}))
            if found is not None:
                candidates.append(found)
    for found in candidates:
        if found.customer_id == customer_id:
            return found
    return candidates[0] if candidates else None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:120]
    return ""


def _decide(unit: Unit, inbound: Inbound, sender: Sender) -> tuple[Decision, dict[int, _Found]]:
    """The threading decision, with what was read about the cases it considered."""
    conn = unit.conn
    referenced = _referenced_case(conn, inbound, sender.customer_id)
    open_case = last_done = None
    if not sender.created:  # a customer made a moment ago has no cases yet
        params = {"customer_id": sender.customer_id}
        open_case = _facts(_OPEN_CASE.first(conn, params))
        if open_case is None:
            last_done = _facts(_LAST_DONE_CASE.first(conn, params))
    decision = choose_case(
        sender.customer_id,
        referenced=referenced,
        open_case=open_case,
        last_resolved=last_done,
        now=unit.now,
        reopen_window_seconds=unit.env.settings.reopen_window_seconds,
    )
    seen = {c.id: c for c in (referenced, open_case, last_done) if c is not None}
    return decision, seen


def _open_case(
    unit: Unit,
    conn: Connection,
    inbound: Inbound,
    sender: Sender,
    previous_case_id: int | None,
    contact: clocks.Contact,
) -> int:
    subject = inbound.subject or _first_line(inbound.text) or inbound.topic or ""
    planned = clocks.clocks_for_new_case(unit.env.book.get(conn), contact, unit.now)
    due_at, warns_at = case_due(planned)
    case_id = returned_id(
        _INSERT_CASE.first(
            conn,
            {
                "customer_id": sender.customer_id,
                "owner_id": None,
                "team_id": inbound.team_id,
                "status": CaseStatus.NEW,
                "priority": Priority.NORMAL,
                "topic": inbound.topic,
                "subject": subject[:MAX_SUBJECT],
                "journey_stage": sender.journey_stage,
                "satisfaction": None,
                "previous_case_id": previous_case_id,
                "version": 1,
                "created_at": unit.now,
                "updated_at": unit.now,
                "resolved_at": None,
                "channel": inbound.channel,
                "due_at": due_at,
                "warns_at": warns_at,
                "needs": [],
            },
        )
    )
    clocks.save(conn, (), planned, case_id=case_id)
    unit.audit("case.created", "case", case_id, customer_id=sender.customer_id)
    unit.emit(
        "case.created",
        case_id=case_id,
        customer_id=sender.customer_id,
        channel=inbound.channel.value,
    )
    return case_id


def _reopen(unit: Unit, case_id: int, customer_id: int, old: CaseStatus) -> None:
    """The customer wrote again: the ball is back with us."""
    unit.conn.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(status=CaseStatus.OPEN, resolved_at=None, version=Case.version + 1)
    )
    unit.audit(
        "case.status_changed",
        "case",
        case_id,
        old=old.value,
        new="open",
        reason="customer contact",
    )
    unit.emit(
        "case.status_changed",
        case_id=case_id,
        customer_id=customer_id,
        old=old.value,
        new=CaseStatus.OPEN.value,
    )


def land(
    unit: Unit,
    inbound: Inbound,
    sender: Sender,
    *,
    agent_id: int | None,
    outcome: str | None,
) -> Received:
    """The heart of receive(), inside the caller's unit of work: thread the contact onto
    a case (new, continued or reopened), keep its clocks, write the touch and its thread
    keys, record a channel switch, emit. For actions that land a contact together with
    rows of their own (a shop visit, a phone call)."""
    db = unit.db
    conn = unit.conn
    now = unit.now
    occurred_at = inbound.occurred_at or now
    decision, seen = _decide(unit, inbound, sender)
    created = isinstance(decision, OpenNew)
    contact = clocks.Contact(
        channel=inbound.channel,
        kind=inbound.kind,
        at=occurred_at,
        segment=sender.segment,
        priority=Priority.NORMAL
        if isinstance(decision, OpenNew)
        else seen[decision.case_id].priority,
        call=inbound.call,
    )
    if isinstance(decision, OpenNew):
        case_id = _open_case(unit, conn, inbound, sender, decision.previous_case_id, contact)
    else:
        case_id = decision.case_id
        # The case row first, then its clocks: the lock order of every action.
        _TOUCH_CASE.execute(
            conn, {"b_case_id": case_id, "b_now": now, "b_channel": inbound.channel}
        )
        status = seen[case_id].status
        reopened = isinstance(decision, Reopen) or status in (
            CaseStatus.PENDING,
            CaseStatus.ON_HOLD,
        )
        if reopened:
            _reopen(unit, case_id, sender.customer_id, status)
        _clock_contact(unit, case_id, contact, status if reopened else None)

    previous = None if created else previous_facing(db, case_id, occurred_at)
    call = inbound.call
    touch_id = returned_id(
        _INSERT_TOUCH.first(
            conn,
            {
                "case_id": case_id,
                "channel": inbound.channel,
                "direction": Direction.IN,
                "kind": inbound.kind,
                "public": inbound.public,
                "text": inbound.text,
                "html": sanitise(inbound.html) if inbound.html else None,
                "subject": inbound.subject,
                "identity_id": sender.identity_id,
                "agent_id": agent_id,
                "external_id": inbound.external_id or None,
                "occurred_at": occurred_at,
                "created_at": now,
                "delivery": None,
                "delivery_error": None,
                "call_ring_seconds": call.ring_seconds if call else None,
                "call_wait_seconds": call.wait_seconds if call else None,
                "call_hold_seconds": call.hold_seconds if call else None,
                "call_talk_seconds": call.talk_seconds if call else None,
                "outcome": outcome,
                "meta": dict(inbound.meta),
            },
        )
    )
    keys = (inbound.thread_key, *inbound.more_thread_keys) if inbound.thread_key else ()
    for key in keys:
        if _THREAD_KEY_EXISTS.first(conn, {"key": key}) is None:
            _INSERT_THREAD_KEY.execute(
                conn, {"key": key, "case_id": case_id, "touch_id": touch_id, "created_at": now}
            )
    touch = NewTouch(touch_id, case_id, inbound.channel, inbound.public, occurred_at, agent_id)
    switch = link_switch(unit, touch, previous, SwitchReason.CUSTOMER_CHOICE)

    unit.audit(
        "touch.received",
        "case",
        case_id,
        touch_id=touch_id,
        channel=inbound.channel.value,
        external_id=inbound.external_id,
    )
    unit.emit(
        "touch.created",
        case_id=case_id,
        customer_id=sender.customer_id,
        touch_id=touch_id,
        channel=inbound.channel.value,
        direction=Direction.IN.value,
        switch_id=switch.id if switch else None,
    )
    return Received(
        touch_id=touch_id,
        case_id=case_id,
        customer_id=sender.customer_id,
        duplicate=False,
        case_created=created,
        switch_id=switch.id if switch else None,
    )


def _clock_contact(
    unit: Unit, case_id: int, contact: clocks.Contact, reopened_from: CaseStatus | None
) -> None:
    """The clocks of a case the customer came back to: resumed when it was waiting on
    them or done, then started or met by this contact. The case's due time is written
    only when it moved."""
    conn = unit.conn
    book = unit.env.book.get(conn)
    before = clocks.load(conn, case_id)
    after = list(before)
    if reopened_from is not None:
        after = clocks.on_status(book, after, reopened_from, CaseStatus.OPEN, unit.now)
    after = clocks.on_contact(book, after, contact, case_id, unit.now)
    if after != before:
        clocks.save(conn, before, after)
        if case_due(after) != case_due(before):
            clocks.set_case_due(conn, case_id, after)


@dataclass(frozen=True)
class Purchase:
    """What the customer bought at the counter: it adds to their lifetime value and
    moves their journey on (a first purchase, then a repeat one)."""

    amount: Decimal
    description: str | None = None


@dataclass(frozen=True)
class StoreVisit:
    topic: str
    customer_id: int | None = None
    identity: IdentityRef | None = None
    note: str = ""
    outcome: str | None = None
    occurred_at: datetime | None = None
    purchase: Purchase | None = None


MAX_PURCHASE = Decimal("10000000")
_NEXT_STAGE = {
    JourneyStage.PROSPECT: JourneyStage.FIRST_PURCHASE,
    JourneyStage.FIRST_PURCHASE: JourneyStage.REPEAT,
    JourneyStage.AT_RISK: JourneyStage.REPEAT,
    JourneyStage.LAPSED: JourneyStage.REPEAT,
}


def _record_purchase(unit: Unit, customer_id: int, purchase: Purchase, touch_id: int) -> None:
    customer = unit.db.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        return
    customer.lifetime_value = (customer.lifetime_value or Decimal("0")) + purchase.amount
    customer.journey_stage = _NEXT_STAGE.get(customer.journey_stage, customer.journey_stage)
    customer.updated_at = unit.now
    unit.audit(
        "customer.purchased",
        "customer",
        customer_id,
        touch_id=touch_id,
        amount=str(purchase.amount),
        journey_stage=customer.journey_stage.value,
    )


@action
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
    visit = replace(
        visit,
        topic=clean(visit.topic),
        note=clean(visit.note),
        outcome=clean_optional(visit.outcome),
        occurred_at=checked_time(visit.occurred_at),
    )
    identity_value = ""
    if visit.identity is not None:
        identity_value = normalise(
            visit.identity.kind, visit.identity.value, region=env.settings.default_region
        )
    if len(visit.note) > MAX_TEXT:
        raise InvalidInput(f"note is longer than {MAX_TEXT} characters")
    purchase = visit.purchase
    if purchase is not None:
        if not purchase.amount.is_finite() or not 0 < purchase.amount < MAX_PURCHASE:
            raise InvalidInput("a purchase amount is more than 0 and less than 10,000,000")
        purchase = replace(
            purchase,
            amount=purchase.amount.quantize(Decimal("0.01")),
            description=clean_optional(purchase.description),
        )
        if purchase.description is not None and len(purchase.description) > 200:
            raise InvalidInput("a purchase description is at most 200 characters")

    def work() -> Received:
        with unit_of_work(db, env, Actor.agent(clerk_id)) as unit:
            clerk = db.get(Agent, clerk_id)
            if clerk is None or not clerk.active:
                raise NotFound(f"agent {clerk_id} does not exist")
            if visit.identity is not None:
                sender = resolve_sender(unit, visit.identity, identity_value)
            else:
                assert visit.customer_id is not None
                customer = get_customer(db, visit.customer_id, lock=True)
                if customer.merged_into_id is not None:
                    customer = get_customer(db, customer.merged_into_id, lock=True)
                sender = Sender(
                    customer.id,
                    None,
                    customer.journey_stage,
                    created=False,
                    segment=customer.segment_key,
                )
            inbound = Inbound(
                channel=Channel.STORE,
                external_id="",
                sender=visit.identity
                or IdentityRef(IdentityKind.EXTERNAL, str(sender.customer_id)),
                text=visit.note,
                kind=TouchKind.VISIT,
                occurred_at=visit.occurred_at,
                topic=topic,
                subject=topic,
                meta={}
                if purchase is None
                else {
                    "purchase": {
                        "amount": str(purchase.amount),
                        "description": purchase.description,
                    }
                },
            )
            landed = land(unit, inbound, sender, agent_id=clerk.id, outcome=visit.outcome)
            if purchase is not None:
                _record_purchase(unit, landed.customer_id, purchase, landed.touch_id)
            return landed

    return with_retry(work)
