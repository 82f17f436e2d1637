"""The benchmark runner: `python -m bench.run [--quick] [--db KIND] [--profile DIR] [NAME ...]`
from the repository root (`make bench BENCH=ingest` runs one workload).

Every module `bench/<name>.py` with a `run(report)` function is a workload; with no NAME
all of them run, in name order. Output:

- stdout: one JSON object per line per figure, printed as soon as it is measured:
  {"bench", "figure", "value", "unit", "db", and optionally "runs" and "note"}.
  Nothing else is written to stdout, so `python -m bench.run > results.jsonl` keeps
  exactly the figures.
- stderr: progress lines while running, then an aligned table of every figure.

The exit status is 1 when a workload failed (the others still run), 2 for bad usage."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TextIO, cast

import bench
from bench.common import DB_KINDS, DbKind, Figure, Report

NOT_WORKLOADS = frozenset({"run", "common"})
Workload = Callable[[Report], None]


def discover() -> dict[str, Workload]:
    """name -> run() of every workload module in the bench package."""
    found: dict[str, Workload] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.ispkg or info.name.startswith("_") or info.name in NOT_WORKLOADS:
            continue
        module: ModuleType = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "run", None)
        if callable(run):
            found[info.name] = cast(Workload, run)
    return dict(sorted(found.items()))


def describe_code() -> str:
    """Which code and platform the figures belong to, for the log: the commit, with
    `+dirty` when the working tree has changes, and the Python and SQLite versions."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        code = commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        code = "unknown commit"
    return (
        f"code {code}; Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
        f"{os.cpu_count()} CPUs"
    )


def _format_value(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def table(figures: Sequence[Figure]) -> str:
    """An aligned plain-text table; numbers right-aligned, runs and notes last."""
    header = ("bench", "db", "figure", "value", "unit", "runs / note")
    rows = [
        (
            f.bench,
            f.db or "-",
            f.figure,
            _format_value(f.value),
            f.unit,
            "  ".join(
                part
                for part in (
                    "[" + ", ".join(_format_value(r) for r in f.runs) + "]" if f.runs else "",
                    f.note or "",
                )
                if part
            ),
        )
        for f in figures
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [
            row[i].rjust(widths[i]) if i == 3 and row is not header else row[i].ljust(widths[i])
            for i in range(len(widths))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    rule = "  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1])
    lines.insert(1, rule)
    return "\n".join(lines)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Run Threadline's benchmarks. Figures go to stdout as JSON lines; "
        "progress and the final table go to stderr.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="workloads to run (default: all)")
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="small sizes, for a smoke test (also BENCH_QUICK=1)",
    )
    parser.add_argument(
        "--db",
        action="append",
        choices=DB_KINDS,
        default=[],
        help="only this database kind (repeatable; default: SQLite and, when one "
        "answers, PostgreSQL)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile the workloads' hot sections with cProfile; stats go to DIR",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and stop")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    args = _arguments(argv)
    out = out or sys.stdout
    workloads = discover()
    if args.list:
        for name in workloads:
            out.write(name + "\n")
        return 0
    unknown = [n for n in args.names if n not in workloads]
    if unknown:
        sys.stderr.write(
            f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(workloads)}\n"
        )
        return 2
    chosen = args.names or list(workloads)
    only_db: tuple[DbKind, ...] = tuple(args.db)

    sys.stderr.write(describe_code() + "\n")
    figures: list[Figure] = []
    failed: list[str] = []
    for name in chosen:
        report = Report(
            bench=name, quick=args.quick, only_db=only_db, profile_dir=args.profile, out=out
        )
        report.log("starting" + (" (quick)" if args.quick else ""))
        start = time.perf_counter()
        try:
            workloads[name](report)
        except Exception:
            failed.append(name)
            traceback.print_exc(file=sys.stderr)
            report.log("FAILED")
        else:
            report.log(f"done in {time.perf_counter() - start:.1f} s")
        figures.extend(report.figures)

    if figures:
        sys.stderr.write("\n" + table(figures) + "\n")
    if failed:
        sys.stderr.write(f"\nfailed: {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
