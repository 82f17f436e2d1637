"""The service-level sweep over a million open cases (bench/service_levels.py runs it).

The database holds BENCH_SWEEP_CASES open cases (1,000,000; 100,000 with --quick), each
with a running resolution clock due in the weeks ahead, written straight by SQL (a
recursive CTE on SQLite, generate_series on PostgreSQL: the sweep's cost, not the
loading, is what is measured). Then, BENCH_SWEEP_RUNS times (5), 1,000 of the cases get
a first-reply clock that is due now, and one `sweep_clocks()` is timed: reading the due
clocks from the partial index, locking their cases, checking them, writing them back
with their audit rows, committing and publishing the 1,000 `sla.breached` events. The
bench process sets aside its start-up objects first, as the worker does. Also
timed: a sweep with nothing due, the cost of looking, which is what every sweep of a
quiet desk pays. Both as the median of the runs, with the query plan in the log."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from time import perf_counter

from sqlalchemy import Connection, text

from bench.common import DbKind, Report, env_int, fresh_runtime, median
from threadline.actions.clocks import DUE_CLOCKS, sweep_clocks
from threadline.clock import FrozenClock
from threadline.runtime import Runtime

DUE = 1_000
START = datetime.fromisoformat("2026-11-23T09:00:00+00:00")
TARGET_MS = 50.0


def _stamp(kind: DbKind, at: datetime) -> object:
    """A time as the column type stores it: SQLite keeps naive UTC text."""
    return at.strftime("%Y-%m-%d %H:%M:%S.%f") if kind == "sqlite" else at


def _fill(conn: Connection, kind: DbKind, cases: int, now: datetime) -> None:
    """`cases` open cases of 1,000 customers, each with a running resolution clock due
    within the next four weeks (none due now)."""
    if kind == "sqlite":
        numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n) "
        later = (
            "strftime('%Y-%m-%d %H:%M:%S', :now, '+' || (60 + i % 40000) || ' minutes') "
            "|| '.000000'"
        )
        source = "FROM n"
    else:
        numbers = ""
        later = "CAST(:now AS timestamptz) + make_interval(mins => 60 + i % 40000)"
        source = "FROM generate_series(1, :n) AS i"
    now_value = now.replace(tzinfo=None).isoformat(" ") if kind == "sqlite" else now
    conn.execute(
        text(
            numbers + "INSERT INTO customers (name, segment_key, journey_stage, lifetime_value, "
            f"created_at, updated_at) SELECT 'Customer ' || i, 'standard', 'repeat', 0, "
            f":stamp, :stamp {source}"
        ),
        {"n": 1000, "stamp": _stamp(kind, now)},
    )
    conn.execute(
        text(
            numbers + "INSERT INTO cases (customer_id, status, priority, subject, version, "
            "created_at, updated_at, channel, due_at, warns_at, needs) "
            "SELECT 1 + i % 1000, 'open', 'normal', 'Case ' || i, 1, :stamp, :stamp, "
            f"'email', {later}, {later}, '[]' {source}"
        ),
        {"n": cases, "stamp": _stamp(kind, now), "now": now_value},
    )
    conn.execute(
        text(
            "INSERT INTO clocks (case_id, kind, channel, target_seconds, warn_share, "
            "started_at, resumed_at, consumed_seconds, due_at, warns_at, next_check_at) "
            "SELECT id, 'resolution', 'email', 216000, 0.8, :stamp, :stamp, 0, due_at, "
            "warns_at, due_at FROM cases"
        ),
        {"stamp": _stamp(kind, now)},
    )
    conn.execute(text("ANALYZE"))


def _make_due(conn: Connection, kind: DbKind, run: int, cases: int, at: datetime) -> None:
    """1,000 cases spread over the table get a first-reply clock that fell due at `at`
    (past its warning too)."""
    step = cases // DUE
    conn.execute(
        text(
            "INSERT INTO clocks (case_id, kind, channel, target_seconds, warn_share, "
            "started_at, resumed_at, consumed_seconds, due_at, warns_at, next_check_at, "
            "warned_at) SELECT id, 'first_reply', 'email', 3600, 0.8, :at, :at, 0, :at, "
            ":at, :at, :at FROM cases WHERE id % :step = :offset"
        ),
        {"at": _stamp(kind, at), "step": step, "offset": run % step},
    )


def sweep(report: Report, kind: DbKind) -> None:
    cases = env_int("BENCH_SWEEP_CASES", 100_000 if report.quick else 1_000_000)
    runs = env_int("BENCH_SWEEP_RUNS", 5)
    clock = FrozenClock(START)
    with fresh_runtime(kind, clock=clock) as runtime:
        report.log(f"{kind}: loading {cases:,} open cases with their clocks")
        loading = perf_counter()
        with runtime.db.session() as db:
            _fill(db.connection(), kind, cases, clock.now())
            db.commit()
        report.log(f"{kind}: loaded in {perf_counter() - loading:.0f} s")
        # As `threadline worker` does once started: what start-up made is set aside, so
        # a full collection does not land in a sweep (see cli._freeze_start_up).
        gc.collect()
        gc.freeze()
        busy, idle = [], []
        for run in range(runs):
            clock.advance(timedelta(minutes=1))
            with runtime.db.session() as db:
                _make_due(db.connection(), kind, run, cases, clock.now() - timedelta(minutes=1))
                db.commit()
            if run == 0:
                _log_plan(report, runtime, kind)
            busy.append(_timed_sweep(runtime, expect=DUE))
            idle.append(_timed_sweep(runtime, expect=0))
        report.emit(
            "sweep, 1,000 due",
            median(busy),
            "ms",
            db=kind,
            runs=busy,
            note=f"{cases:,} open cases; target <= {TARGET_MS:.0f} ms",
        )
        report.emit(
            "sweep, nothing due", median(idle), "ms", db=kind, runs=idle, note=f"{cases:,} open"
        )


def _timed_sweep(runtime: Runtime, *, expect: int) -> float:
    with runtime.db.session() as db:
        began = perf_counter()
        result = sweep_clocks(db, runtime.env, limit=DUE)
        took = (perf_counter() - began) * 1000
    if result.checked != expect:
        raise RuntimeError(f"the sweep checked {result.checked} clocks, not {expect}")
    return took


def _log_plan(report: Report, runtime: Runtime, kind: DbKind) -> None:
    with runtime.db.session() as db:
        plan = DUE_CLOCKS.explain(db.connection(), {"now": runtime.env.clock.now(), "limit": DUE})
        db.rollback()
    report.log(f"{kind}: sweep plan: {' | '.join(plan.splitlines())}")
