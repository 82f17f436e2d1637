"""Faults in the middle of the scale-out load (see bench/scale.py for the load, the
processes and the checks). On BENCH_FAULTS_APIS (3) API processes and
BENCH_FAULTS_WORKERS (2) workers, BENCH_FAULTS_INBOUND (20,000; 2,000 with --quick)
inbound messages and BENCH_FAULTS_REPLIES (4,000; 400) replies, while:

- at 20 % of the load, one API process and one worker are killed with SIGKILL (no
  clean-up: requests in flight get no answer, the worker's claimed messages stay
  claimed); at 25 % both are started again;
- at 55 %, PostgreSQL restarts (`pg_ctlcluster VERSION NAME restart` for the cluster on
  the bench database's port, or the command in BENCH_FAULTS_PG_RESTART); no process
  is touched: each must recover on its own.

The senders behave as providers do: what got no answer, or a 5xx, is sent again to the
next process (inbound messages by their provider id, replies with an Idempotency-Key).
Event taps reconnect with Last-Event-ID. Workers claim with
THREADLINE_OUTBOX_CLAIM_SECONDS=90, so the messages the killed worker held are sent
by another within 90 s.

Then the same checks as bench/scale.py must hold, and every process must still be
running. `<label>_mail_sent_again` counts the replies a worker sent and could not record
before it died or the database went away: they are sent again with the same Message-ID,
which receivers use to drop the copy (SMTP gives no way to know whether a message
whose answer was lost arrived)."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from bench._cluster import MailSink, Plan, Run, Shape, drive, finish, redis_url, running
from bench.common import Report, fresh_database, pg_admin_url

CLAIM_SECONDS = 90


def pg_restart_command(admin_url: str) -> list[str] | None:
    """How to restart the PostgreSQL the bench uses, or None when it cannot be told."""
    given = os.environ.get("BENCH_FAULTS_PG_RESTART")
    if given:
        return shlex.split(given)
    if shutil.which("pg_lsclusters") is None:
        return None
    port = make_url(admin_url).port or 5432
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == str(port):
            return ["pg_ctlcluster", fields[0], fields[1], "restart"]
    return None


def _faults(
    report: Report, run: Run, restart_pg: list[str] | None
) -> list[tuple[float, Callable[[], None]]]:
    api, worker = run.cluster.apis[1], run.cluster.workers[0]

    def kill() -> None:
        report.log(f"SIGKILL {api.name} and {worker.name}")
        api.kill()
        worker.kill()

    def restart() -> None:
        report.log(f"starting {api.name} and {worker.name} again")
        api.start()
        worker.start()

    def bounce_database() -> None:
        if restart_pg is None:
            report.log("cannot tell how to restart PostgreSQL here; not restarted")
            return
        report.log("restarting PostgreSQL: " + " ".join(restart_pg))
        started = time.monotonic()
        subprocess.run(restart_pg, check=True, capture_output=True)
        report.emit(
            "postgresql_restart_s",
            time.monotonic() - started,
            "s",
            db="postgresql",
            note=" ".join(restart_pg),
        )

    return [(0.20, kill), (0.25, restart), (0.55, bounce_database)]


def run(report: Report) -> None:
    admin = pg_admin_url()
    redis = redis_url()
    if admin is None or redis is None:
        report.log("the fault runs need PostgreSQL and Redis; skipped")
        return
    plan = Plan.from_env("BENCH_FAULTS", quick=report.quick, inbound=20_000, replies=4_000)
    shape = Shape.from_env("BENCH_FAULTS")
    if shape.apis < 2 or shape.workers < 1:
        raise ValueError("the fault run needs at least 2 API processes and 1 worker")
    restart_pg = pg_restart_command(admin)
    tmp = Path(tempfile.mkdtemp(prefix="threadline-bench-faults-"))
    with (
        fresh_database("postgresql") as url,
        MailSink() as sink,
        running(url, redis, shape, tmp, sink, claim_seconds=CLAIM_SECONDS) as cluster_run,
    ):
        report.log(f"{shape.label}: {plan.inbound:,} inbound + {plan.replies:,} replies")
        faults = _faults(report, cluster_run, restart_pg)
        outcome = asyncio.run(drive(cluster_run.cluster.bases, cluster_run.token, plan, faults))
        report.emit(
            "faults_requests_per_s",
            outcome.requests / outcome.seconds,
            "requests/s",
            db="postgresql",
            note=f"{shape.label}, through the kills and the database restart",
        )
        failed = finish(
            report,
            cluster_run,
            plan,
            outcome,
            sink,
            label="faults",
            delivery_timeout=CLAIM_SECONDS * 4,
        )
        down = [
            p.name
            for p in (*cluster_run.cluster.apis, *cluster_run.cluster.workers)
            if p.popen is None or p.popen.poll() is not None
        ]
        report.emit(
            "faults_processes_down",
            len(down),
            "processes",
            db="postgresql",
            note=("holds: every process running at the end" if not down else f"FAILED: {down}"),
        )
        if down:
            failed.append(f"processes down at the end: {down}")
    if failed:
        report.log(f"failed {failed}; the processes' logs are in {tmp}/logs")
        raise AssertionError("fault-run checks failed: " + "; ".join(failed))
    shutil.rmtree(tmp, ignore_errors=True)
