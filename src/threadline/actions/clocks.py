"""Service-level clocks kept in step with what happens on a case, inside the actions that
make it happen: a contact starts or meets clocks, a reply meets the reply clocks, a status
change pauses, resumes or stops them. And the sweep, the action that raises warnings and
breaches as their times come, and escalates.

Lock order: the case row, then its clocks, so two actions on one case queue instead of
deadlocking and a clock is never written from a stale read. The sweep alone locks both at
once, with SKIP LOCKED: it never waits, so it cannot take part in a deadlock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    any_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    not_,
    null,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.channels.base import CallFigures
from threadline.models import Agent, Case, Clock
from threadline.models.base import UTCDateTime
from threadline.prepared import Prepared
from threadline.service_levels.book import Book, Escalation, Target
from threadline.service_levels.clocks import (
    REPLY_KINDS,
    Alert,
    ClockState,
    case_due,
    measured,
    pause,
    resume,
    start,
    stop,
)
from threadline.vocabulary import (
    CaseStatus,
    Channel,
    ClockKind,
    Presence,
    Priority,
    Role,
    TouchKind,
)

_STATE_FIELDS = tuple(f.name for f in fields(ClockState) if f.name != "id")
_MUTABLE = tuple(
    name
    for name in _STATE_FIELDS
    if name not in ("case_id", "kind", "channel", "policy_id", "calendar", "started_at")
)
_COLUMNS = [getattr(Clock, name) for name in _STATE_FIELDS]

_SELECT_CLOCKS = Prepared(
    select(Clock.id, *_COLUMNS)
    .where(Clock.case_id == bindparam("case_id"))
    .order_by(Clock.id)
    .with_for_update()
)
_INSERT_CLOCK = Prepared(insert(Clock), _STATE_FIELDS)
_UPDATE_CLOCK = Prepared(
    update(Clock)
    .where(Clock.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _MUTABLE}),
)
_SET_CASE_DUE = Prepared(
    update(Case)
    .where(Case.id == bindparam("b_case_id"))
    .values(due_at=bindparam("b_due_at"), warns_at=bindparam("b_warns_at"))
)


def _state(row: Sequence[Any]) -> ClockState:
    return ClockState(id=row[0], **dict(zip(_STATE_FIELDS, row[1:], strict=True)))


def load(conn: Connection, case_id: int) -> list[ClockState]:
    """Every clock of a case, oldest first, locked for this transaction (PostgreSQL)."""
    return [_state(row) for row in _SELECT_CLOCKS.all(conn, {"case_id": case_id})]


def save(
    conn: Connection,
    before: Sequence[ClockState],
    after: Sequence[ClockState],
    *,
    case_id: int | None = None,
) -> None:
    """Write what changed between two lists of a case's clocks (new ones have no id;
    `case_id`, when given, is the case of the new ones)."""
    old = {clock.id: clock for clock in before if clock.id is not None}
    new_rows = [
        {name: getattr(clock, name) for name in _STATE_FIELDS}
        for clock in after
        if clock.id is None
    ]
    if case_id is not None:
        for row in new_rows:
            row["case_id"] = case_id
    changed = [
        {"b_id": clock.id, **{f"b_{name}": getattr(clock, name) for name in _MUTABLE}}
        for clock in after
        if clock.id is not None and clock != old.get(clock.id)
    ]
    if new_rows:
        _INSERT_CLOCK.execute_many(conn, new_rows)
    if changed:
        _UPDATE_CLOCK.execute_many(conn, changed)


def set_case_due(conn: Connection, case_id: int, clocks: Iterable[ClockState]) -> None:
    due, warns = case_due(clocks)
    _SET_CASE_DUE.execute(conn, {"b_case_id": case_id, "b_due_at": due, "b_warns_at": warns})


def change(
    unit: Unit, case: Case, how: Callable[[Book, list[ClockState]], list[ClockState]]
) -> None:
    """Apply `how` to the clocks of `case` (an ORM object locked by the caller) and keep
    the case's due and warning times in step."""
    conn = unit.conn
    before = load(conn, case.id)
    after = how(unit.env.book.get(conn), before)
    if after != before:
        save(conn, before, after)
        case.due_at, case.warns_at = case_due(after)


@dataclass(frozen=True)
class Contact:
    """A customer's contact as the clocks see it."""

    channel: Channel
    kind: TouchKind
    at: datetime
    segment: str | None
    priority: Priority
    call: CallFigures | None = None

    @property
    def live_call(self) -> bool:
        """A call still ringing or waiting for a person: its figures are not known yet."""
        return self.kind is TouchKind.CALL and self.call is None

    @property
    def served_in_person(self) -> bool:
        """A conversation with a person happened: a shop visit, or a call that was
        answered. The customer was answered there and then."""
        if self.kind is TouchKind.VISIT:
            return True
        return self.kind is TouchKind.CALL and bool(self.call and self.call.talk_seconds)


def _target(book: Book, kind: ClockKind, contact: Contact) -> Target | None:
    return book.target(
        kind, channel=contact.channel, segment=contact.segment, priority=contact.priority
    )


def _reply_target(book: Book, kind: ClockKind, contact: Contact) -> Target | None:
    """A channel with no next-reply target of its own holds the next reply to its
    first-reply target: a customer who writes again expects what they expected at first."""
    target = _target(book, kind, contact)
    if target is None and kind is ClockKind.NEXT_REPLY:
        first = _target(book, ClockKind.FIRST_REPLY, contact)
        if first is not None:
            target = replace(first, kind=ClockKind.NEXT_REPLY)
    return target


def _measured_clocks(book: Book, contact: Contact, case_id: int) -> list[ClockState]:
    """The answer and hold clocks of a call whose figures are known."""
    call = contact.call
    if contact.kind is not TouchKind.CALL or call is None:
        return []
    made: list[ClockState] = []
    for kind, seconds in (
        (ClockKind.ANSWER, call.wait_seconds),
        (ClockKind.HOLD, call.hold_seconds),
    ):
        target = _target(book, kind, contact)
        if target is not None and seconds is not None:
            made.append(
                measured(
                    target, case_id=case_id, channel=contact.channel, at=contact.at, seconds=seconds
                )
            )
    return made


def clocks_for_new_case(book: Book, contact: Contact, now: datetime) -> list[ClockState]:
    """The clocks a case opened by `contact` starts with (case_id 0, to be filled in):
    the measured figures of a call; a running answer clock on a channel that promises one
    (a chat waiting for a person); the first reply unless the customer was served in
    person; the resolution."""
    made = _measured_clocks(book, contact, 0)
    kinds = [ClockKind.RESOLUTION]
    if not contact.served_in_person:
        kinds.insert(0, ClockKind.FIRST_REPLY)
        if contact.kind is not TouchKind.CALL or contact.live_call:
            kinds.insert(0, ClockKind.ANSWER)
    for kind in kinds:
        target = _target(book, kind, contact)
        if target is not None:
            made.append(start(target, case_id=0, channel=contact.channel, at=contact.at, now=now))
    return made


def on_contact(
    book: Book, clocks: Sequence[ClockState], contact: Contact, case_id: int, now: datetime
) -> list[ClockState]:
    """A customer's further contact on a case: a conversation in person meets every reply
    clock; a message starts a reply clock for its channel unless one already runs there
    (the first reply if nobody has answered the case yet, else the next reply). A second
    channel's clock runs beside the first, and the case is due at the earlier of them."""
    after = list(clocks)
    after.extend(_measured_clocks(book, contact, case_id))
    if contact.served_in_person:
        return meet(after, book, {*REPLY_KINDS, ClockKind.ANSWER}, contact.at)
    if contact.live_call:
        # The caller waits for a person to pick up: the answer clock, which the pick-up
        # meets (with every reply clock: the customer is then served in person).
        ringing = any(
            clock.live and clock.kind is ClockKind.ANSWER and clock.channel is contact.channel
            for clock in after
        )
        target = None if ringing else _target(book, ClockKind.ANSWER, contact)
        if target is not None:
            after.append(
                start(target, case_id=case_id, channel=contact.channel, at=contact.at, now=now)
            )
    waiting_here = contact.live_call or any(
        clock.live and clock.kind in REPLY_KINDS and clock.channel is contact.channel
        for clock in after
    )
    if not waiting_here:
        answered = any(
            clock.met_at is not None and clock.kind in {*REPLY_KINDS, ClockKind.ANSWER}
            for clock in clocks
        )
        kind = ClockKind.NEXT_REPLY if answered else ClockKind.FIRST_REPLY
        target = _reply_target(book, kind, contact)
        if target is not None:
            after.append(
                start(target, case_id=case_id, channel=contact.channel, at=contact.at, now=now)
            )
    if not any(clock.kind is ClockKind.RESOLUTION for clock in after):
        target = _target(book, ClockKind.RESOLUTION, contact)
        if target is not None:
            after.append(
                start(target, case_id=case_id, channel=contact.channel, at=contact.at, now=now)
            )
    return after


def meet(
    clocks: Sequence[ClockState], book: Book, kinds: Iterable[ClockKind], at: datetime
) -> list[ClockState]:
    """Every live clock of `kinds` met at `at`."""
    wanted = frozenset(kinds)
    return [
        stop(clock, book.calendar(clock.calendar), max(at, clock.started_at), met=True)
        if clock.live and clock.kind in wanted
        else clock
        for clock in clocks
    ]


def on_status(
    book: Book,
    clocks: Sequence[ClockState],
    old: CaseStatus,
    new: CaseStatus,
    at: datetime,
) -> list[ClockState]:
    """`pending` (waiting on the customer) and `on_hold` pause every running clock; back
    to work resumes them; resolving meets the resolution clock and drops the others (no
    reply is owed on a resolved case); reopening resumes the resolution clock."""
    if new in (CaseStatus.PENDING, CaseStatus.ON_HOLD):
        return [pause(clock, book.calendar(clock.calendar), at) for clock in clocks]
    if new in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        return [
            stop(
                clock,
                book.calendar(clock.calendar),
                at,
                met=clock.kind is ClockKind.RESOLUTION,
            )
            for clock in clocks
        ]
    resumed = [
        resume(clock, book.calendar(clock.calendar), at) if clock.paused else clock
        for clock in clocks
    ]
    if old in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        last = max(
            (i for i, clock in enumerate(resumed) if clock.kind is ClockKind.RESOLUTION),
            default=None,
        )
        if last is not None:
            clock = resumed[last]
            resumed[last] = resume(clock, book.calendar(clock.calendar), at)
    return resumed


# The sweep -----------------------------------------------------------------------------

_CHECKED_NOW: BindParameter[datetime] = bindparam("now", type_=UTCDateTime())
_RUNNING = and_(Clock.paused_at.is_(None), Clock.stopped_at.is_(None))
_WARNS_NOW = and_(Clock.warned_at.is_(None), Clock.warns_at <= _CHECKED_NOW)
_BREACHES_NOW = and_(Clock.breached_at.is_(None), Clock.due_at <= _CHECKED_NOW)
# The due clocks with what their alerts need of their cases, locked in one statement
# (PostgreSQL; SQLite has one writer at a time). SKIP LOCKED: a case another transaction
# holds is left for the next sweep, so the sweep never waits and never deadlocks.
# Which alerts are due is decided in SQL by the rule of check_times(), as _MARK_CHECKED
# below records them: the sweep reads two flags a clock, not six times to convert.
_DUE_CLOCKS = (
    select(
        Clock.id,
        Clock.case_id,
        Clock.kind,
        Clock.channel,
        Clock.policy_id,
        Clock.due_at,
        and_(_RUNNING, _WARNS_NOW).label("warns"),
        and_(_RUNNING, _BREACHES_NOW).label("breaches"),
        Case.customer_id,
        Case.owner_id,
        Case.priority,
        Agent.presence,
    )
    .join(Case, Case.id == Clock.case_id)
    .outerjoin(Agent, Agent.id == Case.owner_id)
    .where(Clock.next_check_at <= _CHECKED_NOW)
    .order_by(Clock.next_check_at)
    .limit(bindparam("limit"))
    .with_for_update(of=(Clock, Case), skip_locked=True)
)
DUE_CLOCKS = Prepared(_DUE_CLOCKS)  # for its plan: tests and the bench show the index
# One statement for the whole batch, the very rule of check_times() in SQL (every
# right-hand side reads the row as it was): a database's round trip per clock would be
# most of the sweep's time on PostgreSQL.
_MARK_CHECKED = update(Clock).values(
    warned_at=case(
        (and_(_RUNNING, _WARNS_NOW), _CHECKED_NOW),
        (and_(_RUNNING, _BREACHES_NOW, Clock.warned_at.is_(None)), _CHECKED_NOW),
        else_=Clock.warned_at,
    ),
    breached_at=case((and_(_RUNNING, _BREACHES_NOW), Clock.due_at), else_=Clock.breached_at),
    next_check_at=case(
        (not_(_RUNNING), null()),
        (
            and_(
                Clock.warned_at.is_(None),
                Clock.warns_at.is_not(None),
                Clock.warns_at > _CHECKED_NOW,
            ),
            Clock.warns_at,
        ),
        (and_(Clock.breached_at.is_(None), Clock.due_at > _CHECKED_NOW), Clock.due_at),
        else_=null(),
    ),
)
# The batch's ids in one parameter, never a list of a thousand placeholders to expand.
_MARK_CHECKED_BY_DIALECT = {
    "postgresql": _MARK_CHECKED.where(
        Clock.id == any_(bindparam("ids", type_=postgresql.ARRAY(BigInteger())))
    ),
    "sqlite": _MARK_CHECKED.where(
        Clock.id.in_(
            select(literal_column("value")).select_from(
                func.json_each(bindparam("ids", type_=String()))
            )
        )
    ),
}
_SUPERVISORS = (
    select(Agent.id)
    .where(Agent.role.in_((Role.SUPERVISOR, Role.ADMIN)), Agent.active.is_(True))
    .order_by(Agent.id)
)
_RAISED = {
    Priority.LOW: Priority.NORMAL,
    Priority.NORMAL: Priority.HIGH,
    Priority.HIGH: Priority.URGENT,
    Priority.URGENT: Priority.URGENT,
}


@dataclass(frozen=True)
class SweepResult:
    checked: int
    warnings: int
    breaches: int


@action
def sweep_clocks(db: Session, env: Env, *, limit: int = 1000) -> SweepResult:
    """Raise the warnings and breaches whose time has come, reading only the clocks that
    are due (the partial index on next_check_at), and escalate breaches as their policy
    says: tell the owner and the supervisors (the `sla.breached` event names them), raise
    the priority, and give the case back to routing when its owner is offline. Clocks
    of a case another transaction holds are left for the next sweep.

    The alerts are recorded on the clocks (warned_at, breached_at) and published as
    events; the audit log gets what escalation changes on a case, not a row per alert,
    which would double what the clocks already hold."""

    def work() -> SweepResult:
        with unit_of_work(db, env, Actor.system()) as unit:
            return _sweep(unit, limit)

    return with_retry(work)


@dataclass(frozen=True, slots=True)
class _DueCase:
    id: int
    customer_id: int
    owner_id: int | None
    priority: Priority
    presence: Presence | None


def _sweep(unit: Unit, limit: int) -> SweepResult:
    conn, now = unit.conn, unit.now
    # Through SQLAlchemy's compiled result processing, quicker than Prepared's for a
    # thousand rows of fifteen columns.
    rows = conn.execute(_DUE_CLOCKS, {"now": now, "limit": limit}).all()
    if not rows:
        return SweepResult(0, 0, 0)
    book = unit.env.book.get(conn)
    supervisors: list[int] | None = None
    warnings = breaches = 0
    escalated: set[int] = set()
    escalations: dict[int | None, Escalation] = {}
    for row in rows:
        (
            clock_id,
            case_id,
            kind,
            channel,
            policy_id,
            due_at,
            warns,
            breaches_now,
            customer_id,
            owner_id,
            priority,
            presence,
        ) = row
        if not (warns or breaches_now):
            continue
        data: dict[str, Any] = {
            "clock_id": clock_id,
            "kind": kind.value,
            "channel": channel.value,
            "due_at": due_at.isoformat() if due_at else None,
            "owner_id": owner_id,
        }
        if warns:
            warnings += 1
            unit.emit(Alert.WARNING.value, case_id=case_id, customer_id=customer_id, **data)
        if not breaches_now:
            continue
        breaches += 1
        escalation = escalations.get(policy_id)
        if escalation is None:
            escalation = escalations[policy_id] = book.escalation(policy_id)
        notify: list[int] = []
        if escalation.notify_owner and owner_id is not None:
            notify.append(owner_id)
        if escalation.notify_supervisors:
            if supervisors is None:
                supervisors = list(conn.scalars(_SUPERVISORS))
            notify += (
                [agent for agent in supervisors if agent != owner_id] if notify else supervisors
            )
        if case_id not in escalated:  # one escalation a case a sweep
            escalated.add(case_id)
            case = _DueCase(case_id, customer_id, owner_id, priority, presence)
            _escalate(unit, case, escalation.raise_priority, escalation.reassign_offline_owner)
        unit.emit(
            Alert.BREACH.value, case_id=case_id, customer_id=customer_id, notify=notify, **data
        )
    ids = [row[0] for row in rows]
    mark = _MARK_CHECKED_BY_DIALECT[conn.dialect.name]
    conn.execute(
        mark, {"ids": ids if conn.dialect.name == "postgresql" else json.dumps(ids), "now": now}
    )
    return SweepResult(len(rows), warnings, breaches)


def _escalate(unit: Unit, case: _DueCase, raise_priority: bool, reassign_offline: bool) -> None:
    values: dict[str, Any] = {}
    if raise_priority and _RAISED[case.priority] is not case.priority:
        values["priority"] = _RAISED[case.priority]
    offline = case.owner_id is not None and case.presence is not Presence.ONLINE
    if reassign_offline and offline:
        values["owner_id"] = None
    if not values:
        return
    unit.conn.execute(
        update(Case).where(Case.id == case.id).values(**values, version=Case.version + 1)
    )
    if "priority" in values:
        new = values["priority"].value
        unit.audit(
            "case.priority_changed", "case", case.id, old=case.priority.value, new=new, by="sla"
        )
        unit.emit("case.updated", case_id=case.id, customer_id=case.customer_id, priority=new)
    if "owner_id" in values:
        unit.audit(
            "case.assigned", "case", case.id, owner_id=None, by="sla", previous=case.owner_id
        )
        unit.emit("case.assigned", case_id=case.id, customer_id=case.customer_id, owner_id=None)
