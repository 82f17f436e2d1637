"""The sweep reads only the clocks that are due: the database's own plan for its query
uses the partial index on next_check_at, on SQLite and on PostgreSQL, with many clocks
of which few are due (bench/service_levels.py times it over a million open cases)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from tests.factories import receive_email
from threadline.actions import Env
from threadline.actions.clocks import DUE_CLOCKS, sweep_clocks
from threadline.clock import FrozenClock
from threadline.models import Clock
from threadline.vocabulary import Channel, ClockKind

CLOCKS = 20_000
DUE = 20


def test_the_sweep_reads_the_due_clocks_by_index(db: Session, env: Env, clock: FrozenClock) -> None:
    case_id = receive_email(db, env, "ann@example.com", "Hello").case_id
    now = clock.now()
    rows = [
        {
            "case_id": case_id,
            "kind": ClockKind.FIRST_REPLY,
            "channel": Channel.EMAIL,
            "target_seconds": 3600,
            "warn_share": 0.8,
            "started_at": now,
            "resumed_at": now,
            "consumed_seconds": 0.0,
            # A few due already, most due in the weeks ahead, a third stopped (no check).
            "next_check_at": (
                now - timedelta(minutes=n)
                if n < DUE
                else (None if n % 3 == 0 else now + timedelta(minutes=n))
            ),
        }
        for n in range(CLOCKS)
    ]
    db.execute(insert(Clock), rows)
    db.commit()
    conn = db.connection()
    conn.execute(text("ANALYZE"))
    plan = DUE_CLOCKS.explain(conn, {"now": now, "limit": 1000})
    db.rollback()
    assert "ix_clocks_next_check_at" in plan, plan
    if db.get_bind().dialect.name == "sqlite":
        assert "SCAN clocks" not in plan, plan  # a search of the index, not a scan
    else:
        assert "Seq Scan on clocks" not in plan, plan

    # And the sweep does exactly the due ones: the case's own clocks are not due yet.
    assert sweep_clocks(db, env).checked == DUE
    assert sweep_clocks(db, env).checked == 0
