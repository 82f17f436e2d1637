"""`threadline demo`'s preparation of the database: wipe it on request, migrate it, and
seed it unless it already holds the demo."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from threadline.demo.data import LOGIN
from threadline.demo.seeding import is_seeded, seed, summarise
from threadline.migrate import downgrade, upgrade
from threadline.runtime import Runtime


def prepare_demo(
    runtime: Runtime,
    *,
    reset: bool = False,
    echo: Callable[[str], None] = print,
    customers: int = 300,
) -> str:
    """Ready the database for `threadline demo`: optionally wipe it, migrate it, seed it
    unless it already holds the demo, and answer the login to print."""
    if reset:
        echo("resetting the demo database")
        _wipe(runtime)
    upgrade(runtime.settings.database_url)
    echo(f"database ready: {runtime.db.engine.url.render_as_string(hide_password=True)}")
    with runtime.db.session() as db:
        if is_seeded(db):
            summary = summarise(db, created=False)
            echo(f"the demo is already seeded ({summary.describe()}); --reset starts again")
            return LOGIN
        began = time.perf_counter()
        summary = seed(db, runtime.env, customers=customers)
    echo(f"seeded {summary.describe()} in {time.perf_counter() - began:.1f} s")
    return LOGIN


def _wipe(runtime: Runtime) -> None:
    # Pooled connections would keep the old file, or the old tables, alive; the engines
    # reconnect by themselves on next use.
    runtime.db.dispose()
    url = runtime.settings.database_url
    if not runtime.settings.is_sqlite:
        downgrade(url, "base")
        return
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)
