"""What every workload shares: the Report it writes its figures to, fresh migrated
databases to run against, and small statistics helpers.

A workload is a module `bench/<name>.py` with `def run(report: Report) -> None`. It calls
`report.emit(...)` once per figure; the runner prints each figure as one JSON line the
moment it is emitted and an aligned table of all of them at the end."""

from __future__ import annotations

import cProfile
import json
import math
import os
import pstats
import shutil
import socket
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any, Literal, TextIO

import psycopg
from sqlalchemy import Connection, insert
from sqlalchemy.engine import make_url

from threadline.clock import Clock
from threadline.config import Settings
from threadline.migrate import upgrade
from threadline.runtime import Runtime

DbKind = Literal["sqlite", "postgresql"]
DB_KINDS: tuple[DbKind, ...] = ("sqlite", "postgresql")
DEFAULT_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_ADMIN_ENV = "THREADLINE_BENCH_DATABASE_URL"


@dataclass(frozen=True)
class Figure:
    """One measured number. `runs` holds the individual runs a median was taken over."""

    bench: str
    figure: str
    value: float
    unit: str
    db: str | None = None
    runs: tuple[float, ...] = ()
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "bench": self.bench,
            "figure": self.figure,
            "value": _round(self.value),
            "unit": self.unit,
            "db": self.db,
        }
        if self.runs:
            line["runs"] = [_round(r) for r in self.runs]
        if self.note:
            line["note"] = self.note
        return line


def _round(value: float) -> float:
    """Six significant digits: enough for any benchmark, short enough to read."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.6g}")


@dataclass
class Report:
    """What a workload writes to. The runner makes one per workload."""

    bench: str
    quick: bool = False
    # Only these database kinds are used (the runner's --db); empty means all available.
    only_db: tuple[DbKind, ...] = ()
    profile_dir: Path | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    log_to: TextIO = field(default_factory=lambda: sys.stderr)
    figures: list[Figure] = field(default_factory=list)

    def emit(
        self,
        figure: str,
        value: float,
        unit: str,
        *,
        db: str | None = None,
        runs: Sequence[float] = (),
        note: str | None = None,
    ) -> Figure:
        made = Figure(
            bench=self.bench,
            figure=figure,
            value=float(value),
            unit=unit,
            db=db,
            runs=tuple(float(r) for r in runs),
            note=note,
        )
        self.figures.append(made)
        self.out.write(json.dumps(made.as_json()) + "\n")
        self.out.flush()
        return made

    def log(self, message: str) -> None:
        """Progress for the person watching; never part of the JSON output."""
        self.log_to.write(f"[{self.bench}] {message}\n")
        self.log_to.flush()

    def databases(self) -> list[DbKind]:
        """The database kinds to run on: SQLite always, PostgreSQL when one answers."""
        kinds: list[DbKind] = ["sqlite"]
        if pg_admin_url() is not None:
            kinds.append("postgresql")
        else:
            self.log(f"no PostgreSQL answers (set {PG_ADMIN_ENV}); SQLite only")
        if self.only_db:
            kinds = [k for k in kinds if k in self.only_db]
        return kinds

    @contextmanager
    def profiled(self, label: str, *, top: int = 30) -> Iterator[None]:
        """Profile the block with cProfile when the runner was given --profile DIR: the
        stats go to DIR/<bench>-<label>.prof and the top entries to the log."""
        if self.profile_dir is None:
            yield
            return
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            path = self.profile_dir / f"{self.bench}-{label}.prof"
            profiler.dump_stats(str(path))
            self.log(f"profile written to {path}")
            stats = pstats.Stats(profiler, stream=self.log_to)
            stats.sort_stats("cumulative").print_stats(top)
            stats.sort_stats("tottime").print_stats(top)


# --- databases -------------------------------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


_pg_probe: dict[str, str | None] = {}


def pg_admin_url() -> str | None:
    """The URL of a PostgreSQL server's `postgres` database to create scratch databases
    in, or None when none answers. A URL given in the environment must answer."""
    if "url" in _pg_probe:
        return _pg_probe["url"]
    given = os.environ.get(PG_ADMIN_ENV)
    url = given or DEFAULT_PG_ADMIN
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            pass
    except psycopg.OperationalError:
        if given:
            raise
        _pg_probe["url"] = None
        return None
    _pg_probe["url"] = url
    return url


@contextmanager
def fresh_database(kind: DbKind) -> Iterator[str]:
    """A new, empty database migrated to head; removed afterwards. Yields its URL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'threadline.db'}"
            upgrade(url)
            yield url
        return
    admin = pg_admin_url()
    if admin is None:
        raise RuntimeError(f"no PostgreSQL answers (set {PG_ADMIN_ENV})")
    name = f"threadline_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    """An empty SQLite file with no schema, for workloads that bring their own tables."""
    tmp = tempfile.mkdtemp(prefix="threadline-bench-")
    try:
        yield f"sqlite:///{Path(tmp) / 'scratch.db'}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def started(url: str, *, clock: Clock | None = None) -> Iterator[Runtime]:
    """A Runtime on `url`, as the API process would build it, with a scratch DATA_DIR."""
    with tempfile.TemporaryDirectory(prefix="threadline-bench-data-") as data_dir:
        runtime = Runtime.start(
            Settings(env="test", database_url=url, data_dir=Path(data_dir)), clock=clock
        )
        try:
            yield runtime
        finally:
            runtime.close()


@contextmanager
def fresh_runtime(kind: DbKind, *, clock: Clock | None = None) -> Iterator[Runtime]:
    with fresh_database(kind) as url, started(url, clock=clock) as runtime:
        yield runtime


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on right now, for a server to start on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def threadline_command() -> list[str]:
    """How to run `threadline` from this interpreter: its console script when installed
    beside it, else the CLI module."""
    script = Path(sys.executable).with_name("threadline")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from threadline.cli import main; main()"]


# --- numbers ---------------------------------------------------------------------------


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = int(raw.replace("_", ""))
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, not {raw!r}")
    return value


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of already sorted values, by nearest rank."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def timed_loop(count: int, body: Callable[[int], object]) -> tuple[float, list[int]]:
    """Call body(i) for i in range(count); answer (seconds overall, ns per call)."""
    latencies = [0] * count
    start = perf_counter()
    for i in range(count):
        t0 = perf_counter_ns()
        body(i)
        latencies[i] = perf_counter_ns() - t0
    return perf_counter() - start, latencies


INSERT_BATCH = 5_000  # rows per executemany


def insert_rows(conn: Connection, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Bench data by bulk insert, a batch at a time. Rows with the same keys go together:
    executemany wants one shape a call."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for same in shapes.values():
        for start in range(0, len(same), INSERT_BATCH):
            conn.execute(insert(model), same[start : start + INSERT_BATCH])
