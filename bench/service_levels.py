"""Service levels and routing: `python -m bench.run service_levels [--quick]`, or
`python bench/service_levels.py [--quick] [--db KIND]` from the repository root.

One function per figure; `run()` runs them all.

sweep: see bench/_sweep.py — one `sweep_clocks()` over 1,000,000 open cases (100,000
with --quick) of which 1,000 are due, and one with nothing due, on both databases.

routing: how many routing decisions a second the worker's round makes with 200 online
agents (mixed skills, teams and capacities) over BENCH_ROUTING_CASES waiting cases
(5,000; 2,000 with --quick), on SQLite and (when one answers) PostgreSQL. The figure is
end to end: `route_waiting()` from the first query to the last commit, reading the
agents, loads and previous owners once per batch of 500, deciding in memory and writing
each assignment with its audit row and event. A decision is one waiting case looked at,
whether it got an owner or not; there is room enough in the messaging pool that every
case is looked at. The waiting cases are 5% phone, 15% chat and 80% written; half need
a skill or two, 30% belong to a team, 5% are VIP, 70% have a due time; 30% of the
customers have an earlier case owned by one of the agents (stickiness), and 1,000 open
cases already count against the agents' capacity. The median of BENCH_ROUTING_RUNS (3;
1 with --quick) runs, each on a fresh database. A second figure, `routing, in memory`,
times the Router's decisions alone over the same cases, built once from the database."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a script, Python put bench/ first on the path, where bench/email.py hides
    # the standard library's email package: the repository root goes there instead.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from sqlalchemy import func, select, text

from bench._sweep import sweep as sweep_on
from bench.common import DbKind, Report, env_int, fresh_runtime, insert_rows, median
from threadline.actions import Actor, NewAgent, create_agent, set_presence
from threadline.actions.base import unit_of_work
from threadline.actions.routing import build_router, route_waiting, waiting_cases
from threadline.models import Agent, Case, Customer, Team
from threadline.runtime import Runtime
from threadline.vocabulary import CaseStatus, Channel, JourneyStage, Presence, Role

SEED = 20_261_125
AGENTS = 200
TARGET_DECISIONS = 2_000
TEAMS = ("Wine", "Tech", "Trade", "Returns")
LANGUAGES = ("lang:fr", "lang:de", "lang:es")
PRODUCTS = ("product:wine", "product:tech", "product:garden")
CHANNEL_MIX: tuple[tuple[Channel, int], ...] = (
    (Channel.PHONE, 5),
    (Channel.CHAT, 15),
    (Channel.EMAIL, 40),
    (Channel.SMS, 10),
    (Channel.WHATSAPP, 15),
    (Channel.X, 10),
    (Channel.WEB, 5),
)
STICKY_SHARE = 0.30
LOADED_CASES = 1_000


# --- routing ---------------------------------------------------------------------------


def _hire(runtime: Runtime, rng: random.Random) -> list[int]:
    """200 agents through the actions, online; most speak a second language, many know
    a product line, most are on one or two teams; capacities vary around the defaults."""
    ids = []
    with runtime.db.session() as db:
        for n in range(AGENTS):
            skills = [rng.choice(LANGUAGES)] if rng.random() < 0.6 else []
            skills += rng.sample(PRODUCTS, k=rng.choice((0, 1, 1, 2)))
            made = create_agent(
                db,
                runtime.env,
                Actor.system(),
                NewAgent(
                    email=f"agent{n}@bench.example",
                    name=f"Agent {n}",
                    role=Role.AGENT,
                    skills=tuple(skills),
                    teams=tuple(rng.sample(TEAMS, k=rng.choice((0, 1, 1, 2)))),
                    capacity={
                        "voice": rng.choice((1, 1, 2)),
                        "chat": rng.choice((2, 3, 4)),
                        "messaging": rng.randrange(30, 50),
                    },
                ),
            )
            set_presence(db, runtime.env, Actor.agent(made.id), made.id, Presence.ONLINE)
            ids.append(made.id)
    return ids


def _seed(runtime: Runtime, cases: int, rng: random.Random) -> None:
    agent_ids = _hire(runtime, rng)
    now = datetime.now(UTC)
    with runtime.db.session() as db:
        team_ids = list(db.scalars(select(Team.id).order_by(Team.id)))
    channels = [c for c, weight in CHANNEL_MIX for _ in range(weight)]
    customers = max(cases * 4 // 5, 1)
    customer_rows = [
        {
            "id": n,
            "name": f"Customer {n}",
            "segment_key": "vip" if rng.random() < 0.05 else "standard",
            "journey_stage": JourneyStage.REPEAT,
            "lifetime_value": Decimal(rng.randrange(0, 100_000)) / 100,
            "merged_into_id": None,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(1, customers + 1)
    ]
    case_rows: list[dict[str, Any]] = []

    def case(customer_id: int, **values: Any) -> None:
        created = now - timedelta(minutes=rng.randrange(1, 600))
        case_rows.append(
            {
                "id": len(case_rows) + 1,
                "customer_id": customer_id,
                "subject": "Bench",
                "created_at": created,
                "updated_at": created,
                **values,
            }
        )

    # Earlier cases, closed, that make their owner the customer's previous owner.
    for customer_id in range(1, customers + 1):
        if rng.random() < STICKY_SHARE:
            case(customer_id, owner_id=rng.choice(agent_ids), status=CaseStatus.CLOSED)
    # Open cases the agents already carry.
    for _ in range(LOADED_CASES):
        case(
            rng.randrange(1, customers + 1),
            owner_id=rng.choice(agent_ids),
            status=CaseStatus.OPEN,
            channel=Channel.EMAIL,
        )
    for _ in range(cases):
        needs: list[str] = []
        if rng.random() < 0.5:
            needs = [rng.choice(LANGUAGES + PRODUCTS)]
            if rng.random() < 0.3:
                needs.append(rng.choice(PRODUCTS))
        case(
            rng.randrange(1, customers + 1),
            owner_id=None,
            status=rng.choice((CaseStatus.NEW, CaseStatus.OPEN)),
            channel=rng.choice(channels),
            needs=sorted(set(needs)),
            team_id=rng.choice(team_ids) if team_ids and rng.random() < 0.3 else None,
            due_at=now + timedelta(seconds=rng.randrange(30, 3_600))
            if rng.random() < 0.7
            else None,
        )
    with runtime.db.engine.begin() as conn:
        insert_rows(conn, Customer, customer_rows)
        insert_rows(conn, Case, case_rows)
        if conn.dialect.name == "postgresql":
            for table in ("customers", "cases"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if runtime.db.dialect == "postgresql":
        with runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def _route_all(report: Report, kind: DbKind, cases: int, seed: int) -> tuple[float, int]:
    """One run on a fresh database: decisions a second, and how many got an owner."""
    with fresh_runtime(kind) as runtime:
        _seed(runtime, cases, random.Random(seed))
        with runtime.db.session() as db, report.profiled(f"routing-{kind}"):
            start = time.perf_counter()
            routed = route_waiting(db, runtime.env)
            seconds = time.perf_counter() - start
        with runtime.db.reading() as read:
            left = read.scalar(
                select(func.count()).where(Case.owner_id.is_(None), Case.status != "closed")
            )
            online = read.scalar(select(func.count()).where(Agent.presence == Presence.ONLINE))
        assert left == cases - len(routed), "a case was assigned twice or lost"
        assert online == AGENTS
        return cases / seconds, len(routed)


def _in_memory(cases: int, seed: int) -> tuple[float, int]:
    """The Router alone: built once from the database, then every case decided."""
    with fresh_runtime("sqlite") as runtime:
        _seed(runtime, cases, random.Random(seed))
        with runtime.db.session() as db, unit_of_work(db, runtime.env, Actor.system()) as unit:
            waiting = waiting_cases(unit.conn, limit=cases)
            router = build_router(unit, waiting)
            start = time.perf_counter()
            routed = sum(router.route(case) is not None for case in waiting)
            seconds = time.perf_counter() - start
            db.rollback()
    return len(waiting) / seconds, routed


def routing(report: Report) -> None:
    cases = env_int("BENCH_ROUTING_CASES", 2_000 if report.quick else 5_000)
    runs = env_int("BENCH_ROUTING_RUNS", 1 if report.quick else 3)
    for kind in report.databases():
        rates = []
        routed = 0
        for attempt in range(runs):
            rate, routed = _route_all(report, kind, cases, SEED + attempt)
            report.log(f"{kind} run {attempt + 1}/{runs}: {rate:,.0f} decisions/s")
            rates.append(rate)
        value = median(rates)
        verdict = "met" if value >= TARGET_DECISIONS else "NOT met"
        report.emit(
            "routing",
            value,
            "decisions/s",
            db=kind,
            runs=rates,
            note=f"{AGENTS} agents, {cases:,} waiting cases, {routed:,} assigned; "
            f"target >= {TARGET_DECISIONS:,}/s {verdict}",
        )
    rate, routed = _in_memory(cases, SEED)
    report.emit(
        "routing, in memory",
        rate,
        "decisions/s",
        note=f"Router alone, {AGENTS} agents, {cases:,} cases, {routed:,} assigned",
    )


def sweep(report: Report) -> None:
    """The sweep over a million open cases of which 1,000 are due (bench/_sweep.py)."""
    for kind in report.databases():
        sweep_on(report, kind)


def run(report: Report) -> None:
    routing(report)
    sweep(report)


def main(argv: Sequence[str] | None = None) -> int:
    """The runner, for this workload only: same options, same output."""
    from bench.run import main as run_main

    return run_main(["service_levels", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
