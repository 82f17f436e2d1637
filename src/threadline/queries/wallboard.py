"""The supervisor's wallboard: which queue is in trouble, now.

Per channel and per customer segment:

- waiting cases: active (`new` or `open`) cases nobody owns yet, the queue routing has
  not placed; a case is waiting since its oldest live clock started (when the customer
  began to wait), or since it was opened when no clock runs;
- waiting calls: inbound calls ringing or queued, waiting since the call started;
- longest wait: the longest of either;
- service level today: of the clocks settled today (in the shop's time zone), how many
  were met on time. A clock is settled today when it was met today without a breach, or
  breached today (recorded by the sweep, met late, or still running past its due time);
- breaches today: the second of those.

And every agent who may own cases, by presence, with their load (active cases owned, as
routing counts it) against their capacity (routing's limits summed over the channel
groups). Each figure is one grouped query; the counting per channel and segment is done
here from the (channel, segment) cells, so the board costs the same handful of queries
however busy the desk is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from threadline.models import Agent, Calendar, Call, Case, Clock, Customer
from threadline.queries.customers import segment_names
from threadline.routing.owners import OWNING_ROLES
from threadline.routing.router import ACTIVE_STATUSES, Limits
from threadline.vocabulary import CallStatus, Channel, ClockKind, Direction, Presence, Role

NO_CHANNEL = "none"  # cases from before the channel was recorded
WAITING_CALL_STATUSES = (CallStatus.RINGING, CallStatus.QUEUED)
# Attainment at or above GOOD is on target; at or above FAIR is at risk; below is trouble.
GOOD = 0.9
FAIR = 0.75


class Attainment:
    """Today's settled clocks, met on time or breached, and what share was on time.
    Mixed into the figures that count `met` and `breaches`."""

    met: int
    breaches: int

    @property
    def due(self) -> int:
        """Clocks settled today, on time or not."""
        return self.met + self.breaches

    @property
    def attainment(self) -> float | None:
        """Share of today's settled clocks met on time; None before any settled."""
        return self.met / self.due if self.due else None

    @property
    def standing(self) -> str:
        return standing(self.attainment)


@dataclass
class Figures(Attainment):
    """The live figures of one row of the board (a channel, a segment, or all)."""

    key: str
    label: str
    waiting_cases: int = 0
    waiting_calls: int = 0
    longest_wait_seconds: float | None = None
    met: int = 0  # clocks settled today and met on time
    breaches: int = 0  # clocks breached today

    @property
    def active(self) -> bool:
        return bool(self.waiting_cases or self.waiting_calls or self.due)

    def waited(self, seconds: float) -> None:
        if self.longest_wait_seconds is None or seconds > self.longest_wait_seconds:
            self.longest_wait_seconds = seconds

    def add(self, other: Figures) -> None:
        self.waiting_cases += other.waiting_cases
        self.waiting_calls += other.waiting_calls
        if other.longest_wait_seconds is not None:
            self.waited(other.longest_wait_seconds)
        self.met += other.met
        self.breaches += other.breaches


@dataclass(frozen=True)
class KindFigures(Attainment):
    """Today's service level for one kind of promise (first reply, answer, ...)."""

    kind: ClockKind
    met: int
    breaches: int


@dataclass(frozen=True)
class AgentLoad:
    id: int
    name: str
    role: Role
    presence: Presence
    load: int
    capacity: int

    @property
    def full(self) -> bool:
        return self.load >= self.capacity


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    day_start: datetime
    total: Figures
    channels: tuple[Figures, ...]
    segments: tuple[Figures, ...]
    kinds: tuple[KindFigures, ...]
    agents: tuple[AgentLoad, ...]
    presence: Mapping[Presence, int] = field(default_factory=dict)


def standing(attainment: float | None) -> str:
    """In words, so the board never relies on colour alone: `good`, `fair`, `poor`, or
    `none` when nothing was due yet."""
    if attainment is None:
        return "none"
    if attainment >= GOOD:
        return "good"
    return "fair" if attainment >= FAIR else "poor"


def day_start(db: Session, calendar_name: str, now: datetime) -> datetime:
    """Midnight today in the time zone of the named calendar (the contact centre's),
    in UTC; UTC's midnight when that calendar is not stored."""
    zone_name = db.scalar(select(Calendar.time_zone).where(Calendar.name == calendar_name))
    try:
        zone = ZoneInfo(zone_name) if zone_name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def wallboard(db: Session, now: datetime, since: datetime) -> Wallboard:
    """The board at `now`, counting today's service level from `since`."""
    cells: dict[tuple[str, str], Figures] = defaultdict(lambda: Figures("", ""))
    _waiting_cases(db, now, cells)
    _waiting_calls(db, now, cells)
    kinds = _settled_clocks(db, now, since, cells)
    names = segment_names(db)
    channels = _rows(
        cells,
        by=0,
        order=[c.value for c in Channel] + [NO_CHANNEL],
        labels={c.value: c.label for c in Channel} | {NO_CHANNEL: "No channel"},
        keep_idle=(),
    )
    segments = _rows(
        cells,
        by=1,
        order=list(names),
        labels=names,
        keep_idle=names,
    )
    total = Figures("all", "All")
    for cell in cells.values():
        total.add(cell)
    agents = _agents(db)
    presence = {p: sum(1 for a in agents if a.presence is p) for p in Presence}
    return Wallboard(
        at=now,
        day_start=since,
        total=total,
        channels=channels,
        segments=segments,
        kinds=kinds,
        agents=agents,
        presence=presence,
    )


def _rows(
    cells: Mapping[tuple[str, str], Figures],
    *,
    by: int,
    order: list[str],
    labels: Mapping[str, str],
    keep_idle: Iterable[str],
) -> tuple[Figures, ...]:
    """The cells summed along one axis, in `order`; keys in `keep_idle` stay on the
    board when they have nothing (every segment), the rest only when they have."""
    rows = {key: Figures(key, labels.get(key, key)) for key in order}
    for cell_key, cell in cells.items():
        key = cell_key[by]
        row = rows.setdefault(key, Figures(key, labels.get(key, key)))
        row.add(cell)
    keep = set(keep_idle)
    return tuple(row for row in rows.values() if row.active or row.key in keep)


def _waiting_cases(db: Session, now: datetime, cells: dict[tuple[str, str], Figures]) -> None:
    oldest_clock = (
        select(Clock.case_id, func.min(Clock.started_at).label("since"))
        .where(Clock.stopped_at.is_(None))
        .group_by(Clock.case_id)
        .subquery()
    )
    since = func.min(func.coalesce(oldest_clock.c.since, Case.created_at))
    rows = db.execute(
        select(Case.channel, Customer.segment_key, func.count(), since)
        .join(Customer, Customer.id == Case.customer_id)
        .outerjoin(oldest_clock, oldest_clock.c.case_id == Case.id)
        .where(Case.owner_id.is_(None), Case.status.in_(ACTIVE_STATUSES))
        .group_by(Case.channel, Customer.segment_key)
    )
    for channel, segment, count, waiting_since in rows:
        cell = cells[(channel.value if channel else NO_CHANNEL, segment)]
        cell.waiting_cases += count
        if waiting_since is not None:
            cell.waited(_seconds(now, waiting_since))


def _waiting_calls(db: Session, now: datetime, cells: dict[tuple[str, str], Figures]) -> None:
    rows = db.execute(
        select(Customer.segment_key, func.count(), func.min(Call.started_at))
        .join(Case, Case.id == Call.case_id)
        .join(Customer, Customer.id == Case.customer_id)
        .where(Call.direction == Direction.IN, Call.status.in_(WAITING_CALL_STATUSES))
        .group_by(Customer.segment_key)
    )
    for segment, count, started in rows:
        cell = cells[(Channel.PHONE.value, segment)]
        cell.waiting_calls += count
        if started is not None:
            cell.waited(_seconds(now, started))


def _settled_clocks(
    db: Session, now: datetime, since: datetime, cells: dict[tuple[str, str], Figures]
) -> tuple[KindFigures, ...]:
    met = and_(Clock.met_at >= since, Clock.met_at <= now, Clock.breached_at.is_(None))
    breached = or_(
        and_(Clock.breached_at >= since, Clock.breached_at <= now),
        # Past due and still running: breached now, before the sweep records it.
        and_(
            Clock.breached_at.is_(None),
            Clock.stopped_at.is_(None),
            Clock.paused_at.is_(None),
            Clock.due_at >= since,
            Clock.due_at <= now,
        ),
    )
    rows = db.execute(
        select(
            Clock.kind,
            Clock.channel,
            Customer.segment_key,
            func.sum(case((met, 1), else_=0)),
            func.sum(case((breached, 1), else_=0)),
        )
        .join(Case, Case.id == Clock.case_id)
        .join(Customer, Customer.id == Case.customer_id)
        .where(or_(met, breached))
        .group_by(Clock.kind, Clock.channel, Customer.segment_key)
    )
    by_kind: dict[ClockKind, list[int]] = {kind: [0, 0] for kind in ClockKind}
    for kind, channel, segment, on_time, late in rows:
        cell = cells[(channel.value, segment)]
        cell.met += int(on_time or 0)
        cell.breaches += int(late or 0)
        by_kind[kind][0] += int(on_time or 0)
        by_kind[kind][1] += int(late or 0)
    return tuple(KindFigures(kind, met_, late_) for kind, (met_, late_) in by_kind.items())


def _agents(db: Session) -> tuple[AgentLoad, ...]:
    loads = (
        select(Case.owner_id, func.count().label("load"))
        .where(Case.owner_id.is_not(None), Case.status.in_(ACTIVE_STATUSES))
        .group_by(Case.owner_id)
        .subquery()
    )
    rows = db.execute(
        select(
            Agent.id,
            Agent.name,
            Agent.role,
            Agent.presence,
            Agent.capacity,
            func.coalesce(loads.c.load, 0),
        )
        .outerjoin(loads, loads.c.owner_id == Agent.id)
        .where(Agent.active.is_(True), Agent.role.in_(OWNING_ROLES))
        .order_by(Agent.name, Agent.id)
    )
    presence_order = {p: n for n, p in enumerate(Presence)}
    agents = [
        AgentLoad(
            id=agent_id,
            name=name,
            role=role,
            presence=presence,
            load=int(load),
            capacity=sum(Limits.of(capacity).groups.values()),
        )
        for agent_id, name, role, presence, capacity, load in rows
    ]
    return tuple(sorted(agents, key=lambda a: (presence_order[a.presence], a.name, a.id)))


def _seconds(now: datetime, then: datetime) -> float:
    return max((now - then) / timedelta(seconds=1), 0.0)
