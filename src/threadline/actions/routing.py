"""Routing: giving ownerless cases to agents, by the rules of `threadline.routing.router`.

The worker runs `route_waiting()` every few seconds (`threadline.routing.jobs`);
`route_case()` routes one case inside another action's unit of work (an escalation);
`release_for_presence()` and `route_in()` serve `set_presence()`. Each batch is read
with a handful of queries (the waiting cases, the online agents, their loads, the
customers' previous owners), decided in memory and written in one go: the write
takes a case only if it is still ownerless and active, so a case assigned by hand
meanwhile is left alone.

Routing never waits on a row lock on PostgreSQL: a case or agent row another
transaction holds is skipped (the case waits for the next round), so routing cannot
deadlock with an agent's presence change or another action. Two routers at once (the
worker's job and an agent coming online) may each give an agent a case from the same
free slot, putting them one over capacity until a case closes; nothing is assigned
twice. SQLite has one writer at a time, so none of this arises there."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    any_,
    bindparam,
    column,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from threadline.actions.base import Actor, Env, Unit, action, unit_of_work, with_retry
from threadline.errors import InvalidInput
from threadline.models import Agent, Case, Customer, Segment
from threadline.models.people import agent_teams
from threadline.prepared import Prepared
from threadline.routing.owners import OWNING_ROLES
from threadline.routing.router import (
    ACTIVE_STATUSES,
    LIVE_CHANNELS,
    AgentSeat,
    Router,
    Waiting,
)
from threadline.vocabulary import Channel, Presence

BATCH = 500
# Cases looked at when an agent comes online; the worker's next round does the rest.
ONLINE_BATCH = 200

# SQLite: a statement per case, in one driver call (no arrays there, and a round trip
# is a function call).
_TAKE = Prepared(
    update(Case)
    .where(
        Case.id == bindparam("b_case_id"),
        Case.owner_id.is_(None),
        Case.status.in_(ACTIVE_STATUSES),
    )
    .values(owner_id=bindparam("b_owner_id"), version=Case.version + 1)
)
# PostgreSQL takes a batch in one statement, from two arrays, and says which rows it
# took: half the time of a statement per case (bench/service_levels.py). It locks the
# rows first, in key order, skipping any another transaction holds, so that routing
# never waits on a lock and cannot deadlock with the actions it runs beside.
_PAIRS = (
    func.unnest(
        bindparam("case_ids", type_=ARRAY(BigInteger)),
        bindparam("owner_ids", type_=ARRAY(BigInteger)),
    )
    .table_valued(column("case_id", BigInteger), column("owner_id", BigInteger))
    .render_derived(name="chosen")
)
_FREE = (
    select(Case.id)
    .where(
        Case.id == any_(bindparam("case_ids", type_=ARRAY(BigInteger))),
        Case.owner_id.is_(None),
        Case.status.in_(ACTIVE_STATUSES),
    )
    .order_by(Case.id)
    .with_for_update(skip_locked=True)
    .cte("free")
)
_TAKE_ALL = (
    update(Case)
    .where(Case.id == _PAIRS.c.case_id, Case.id.in_(select(_FREE.c.id)))
    .values(owner_id=_PAIRS.c.owner_id, version=Case.version + 1)
    .returning(Case.id, Case.owner_id)
)
_STAMP_ALL = (
    update(Agent)
    .where(
        Agent.id.in_(
            select(Agent.id)
            .where(Agent.id == any_(bindparam("agent_ids", type_=ARRAY(BigInteger))))
            .order_by(Agent.id)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(last_routed_at=bindparam("at"))
)
_RELEASE = Prepared(
    update(Case)
    .where(Case.id == bindparam("b_case_id"), Case.owner_id == bindparam("b_owner_id"))
    .values(owner_id=null(), version=Case.version + 1)
    .returning(Case.id)
)
_STAMP = Prepared(
    update(Agent)
    .where(Agent.id == bindparam("b_agent_id"))
    .values(last_routed_at=bindparam("b_at"))
)


# case id, customer id, channel, team id, needs
_WaitingRows = Select[int, int, Channel | None, int | None, list[str]]


def _waiting_columns() -> _WaitingRows:
    return select(Case.id, Case.customer_id, Case.channel, Case.team_id, Case.needs)


def _in_turn(statement: _WaitingRows) -> _WaitingRows:
    """Who is served first when capacity frees up: the higher segment (VIP), then the
    earliest due time (a case with no running clock last), then the oldest case."""
    return (
        statement.join(Customer, Customer.id == Case.customer_id)
        .join(Segment, Segment.key == Customer.segment_key)
        .order_by(Segment.rank.desc(), Case.due_at.asc().nulls_last(), Case.created_at, Case.id)
    )


def _as_waiting(rows: Iterable[Any]) -> list[Waiting]:
    return [
        Waiting(
            case_id=case_id,
            customer_id=customer_id,
            channel=channel,
            team_id=team_id,
            needs=frozenset(needs or ()),
        )
        for case_id, customer_id, channel, team_id, needs in rows
    ]


# The statements routing runs for every case that rings or writes in, built once: building
# a statement costs more than running it on a small desk.
_ONE_WAITING = _waiting_columns().where(
    Case.id == bindparam("case_id"), Case.owner_id.is_(None), Case.status.in_(ACTIVE_STATUSES)
)
_ONLINE_AGENTS = (
    select(Agent.id, Agent.skills, Agent.capacity, Agent.last_routed_at, agent_teams.c.team_id)
    .outerjoin(agent_teams, agent_teams.c.agent_id == Agent.id)
    .where(
        Agent.active.is_(True),
        Agent.presence == Presence.ONLINE,
        Agent.role.in_(sorted(OWNING_ROLES)),
    )
)
_LOADS = (
    select(Case.owner_id, Case.channel, func.count())
    .where(
        Case.owner_id.in_(bindparam("agent_ids", expanding=True)),
        Case.status.in_(ACTIVE_STATUSES),
    )
    .group_by(Case.owner_id, Case.channel)
)
_RANKED_OWNERS = (
    select(
        Case.customer_id,
        Case.owner_id,
        func.row_number()
        .over(partition_by=Case.customer_id, order_by=(Case.updated_at.desc(), Case.id.desc()))
        .label("n"),
    )
    .where(
        Case.customer_id.in_(bindparam("customer_ids", expanding=True)),
        Case.owner_id.is_not(None),
    )
    .subquery()
)
# Each customer's most recent owner.
_PREVIOUS_OWNERS = select(_RANKED_OWNERS.c.customer_id, _RANKED_OWNERS.c.owner_id).where(
    _RANKED_OWNERS.c.n == 1
)


def waiting_cases(conn: Connection, *, limit: int, offset: int = 0) -> list[Waiting]:
    """Ownerless new and open cases, in the order they are served."""
    statement = _in_turn(
        _waiting_columns().where(Case.owner_id.is_(None), Case.status.in_(ACTIVE_STATUSES))
    )
    return _as_waiting(conn.execute(statement.limit(limit).offset(offset)))


def build_router(unit: Unit, cases: Sequence[Waiting]) -> Router:
    """A router for these cases: the agents online now, their loads, and the previous
    owners of these cases' customers. Three queries, whatever the number of cases."""
    unit.db.flush()  # the statements below run on the connection, past autoflush
    conn = unit.conn
    seats: dict[int, tuple[Any, ...]] = {}
    teams: dict[int, set[int]] = {}
    for agent_id, skills, capacity, last_routed_at, team_id in conn.execute(_ONLINE_AGENTS):
        seats[agent_id] = (skills, capacity, last_routed_at)
        if team_id is not None:
            teams.setdefault(agent_id, set()).add(team_id)
    agents = [
        AgentSeat(
            agent_id=agent_id,
            skills=frozenset(skills or ()),
            teams=frozenset(teams.get(agent_id, ())),
            capacity=capacity or {},
            last_routed_at=last_routed_at,
        )
        for agent_id, (skills, capacity, last_routed_at) in seats.items()
    ]
    if not agents or not cases:
        return Router(agents, now=unit.now)
    loads = conn.execute(_LOADS, {"agent_ids": list(seats)})
    customers = sorted({case.customer_id for case in cases})
    previous = conn.execute(_PREVIOUS_OWNERS, {"customer_ids": customers})
    return Router(
        agents,
        [(owner_id, channel, count) for owner_id, channel, count in loads if owner_id],
        dict(previous.all()),
        now=unit.now,
    )


def assign_cases(
    unit: Unit,
    router: Router,
    cases: Sequence[Waiting],
    *,
    released_from: int | None = None,
) -> list[tuple[int, int]]:
    """Give each case the owner the router chooses, in order; answers (case, agent)
    for those assigned. With `released_from`, the cases were just taken from that agent:
    the ones nobody can take now stay ownerless, and say so in the audit and events.

    The decisions are made first and written in one go (a round trip per case was most
    of the time on PostgreSQL); each write takes its case only if it is still ownerless
    and active, and the cases it did not take are not reported as routed."""
    conn = unit.conn
    chosen: dict[int, int | None] = {}
    for case in cases:
        agent_id = router.choose(case)
        if agent_id is not None:
            router.take(case, agent_id)
        chosen[case.case_id] = agent_id
    writes = [
        {"b_case_id": case_id, "b_owner_id": agent_id}
        for case_id, agent_id in chosen.items()
        if agent_id is not None
    ]
    owners = _take(conn, writes) if writes else {}
    routed: list[tuple[int, int]] = []
    for case in cases:
        agent_id = chosen[case.case_id]
        if agent_id is not None and owners.get(case.case_id) != agent_id:
            # Assigned, resolved or closed meanwhile: not ours to route. (Its slot stays
            # counted in this router, which only errs on the side of less.)
            agent_id = None
        if agent_id is not None:
            routed.append((case.case_id, agent_id))
        elif released_from is None:
            continue
        unit.audit(
            "case.assigned",
            "case",
            case.case_id,
            old_owner_id=released_from,
            owner_id=agent_id,
            by="routing" if agent_id is not None else "presence",
        )
        unit.emit(
            "case.assigned",
            case_id=case.case_id,
            customer_id=case.customer_id,
            owner_id=agent_id,
            old_owner_id=released_from,
        )
    if routed:
        agent_ids = sorted({agent_id for _, agent_id in routed})
        _stamp(conn, agent_ids, unit)
        _forget(unit.db, Agent, agent_ids, ["last_routed_at"])
    _forget(unit.db, Case, [case.case_id for case in cases], ["owner_id", "version"])
    return routed


def _take(conn: Connection, writes: list[dict[str, int]]) -> dict[int, int | None]:
    """Write the assignments where the cases are still free; answers each case's owner
    now (absent: not ours)."""
    case_ids = [w["b_case_id"] for w in writes]
    if conn.dialect.name == "postgresql":
        params = {"case_ids": case_ids, "owner_ids": [w["b_owner_id"] for w in writes]}
        return dict(conn.execute(_TAKE_ALL, params).all())
    _TAKE.execute_many(conn, writes)
    return dict(conn.execute(select(Case.id, Case.owner_id).where(Case.id.in_(case_ids))).all())


def _stamp(conn: Connection, agent_ids: list[int], unit: Unit) -> None:
    """When each agent was last routed to, for fairness among equals. On PostgreSQL an
    agent whose row another transaction holds (their own presence change) keeps the
    old time: a tie-break, not worth a wait."""
    if conn.dialect.name == "postgresql":
        conn.execute(_STAMP_ALL, {"agent_ids": agent_ids, "at": unit.now})
    else:
        _STAMP.execute_many(conn, [{"b_agent_id": a, "b_at": unit.now} for a in agent_ids])


def _forget(
    db: Session, model: type[Agent] | type[Case], ids: Iterable[int], attrs: list[str]
) -> None:
    """The rows were written past the ORM: a copy the session holds reloads them."""
    for row_id in ids:
        held = db.identity_map.get(identity_key(model, row_id))
        if held is not None:
            db.expire(held, attrs)


def route_case(unit: Unit, case_id: int) -> int | None:
    """Give one ownerless new or open case an owner, inside the caller's unit of work.
    Answers the new owner, or None when the case is not waiting or nobody can take it
    now (it stays ownerless, for the worker's next round)."""
    unit.db.flush()
    cases = _as_waiting(unit.conn.execute(_ONE_WAITING, {"case_id": case_id}))
    if not cases:
        return None
    routed = assign_cases(unit, build_router(unit, cases), cases)
    return routed[0][1] if routed else None


def route_in(unit: Unit, *, limit: int = BATCH) -> list[tuple[int, int]]:
    """One batch of the waiting cases, in order, inside the caller's unit of work."""
    unit.db.flush()
    cases = waiting_cases(unit.conn, limit=limit)
    if not cases:
        return []
    return assign_cases(unit, build_router(unit, cases), cases)


def release_for_presence(unit: Unit, agent_id: int, presence: Presence) -> list[tuple[int, int]]:
    """The agent went away or offline (already written in this unit): the cases they
    cannot serve so go to other agents now, or back to the waiting cases. Offline: their
    new and open cases on a live channel (phone, chat) and those whose customer waits
    for an answer (a running service-level clock). Away: the live-channel ones only.
    Answers (case, new owner) for those given to someone."""
    if presence is Presence.ONLINE:
        return []
    unit.db.flush()
    live = Case.channel.in_(sorted(LIVE_CHANNELS))
    which = live if presence is Presence.AWAY else or_(live, Case.due_at.is_not(None))
    statement = _in_turn(
        _waiting_columns().where(Case.owner_id == agent_id, Case.status.in_(ACTIVE_STATUSES), which)
    )
    conn = unit.conn
    cases = [
        case
        for case in _as_waiting(conn.execute(statement))
        if _RELEASE.first(conn, {"b_case_id": case.case_id, "b_owner_id": agent_id}) is not None
    ]
    if not cases:
        return []
    return assign_cases(unit, build_router(unit, cases), cases, released_from=agent_id)


@action
def route_waiting(db: Session, env: Env, *, limit: int = BATCH) -> list[tuple[int, int]]:
    """Route the waiting cases (ownerless, new or open), highest segment first, then
    earliest due, then oldest: batches of `limit` cases, one transaction each (events
    published after each commit), until the cases run out or no online agent has room
    left. Answers (case, agent) for every case assigned."""
    if limit < 1:
        raise InvalidInput("route at least one case a batch")
    routed: list[tuple[int, int]] = []
    # Cases looked at and left waiting stay at the head of the line: skip past them.
    skipped = 0
    while True:

        def batch(skip: int = skipped) -> tuple[list[tuple[int, int]], int, bool]:
            with unit_of_work(db, env, Actor.system()) as unit:
                cases = waiting_cases(unit.conn, limit=limit, offset=skip)
                if not cases:
                    return [], 0, False
                router = build_router(unit, cases)
                return assign_cases(unit, router, cases), len(cases), router.has_room()

        done, looked_at, room_left = with_retry(batch)
        routed.extend(done)
        skipped += looked_at - len(done)
        if looked_at < limit or not room_left:
            return routed
