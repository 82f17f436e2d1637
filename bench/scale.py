"""Scale-out, measured and checked: BENCH_SCALE_APIS (3) `threadline serve --no-worker`
processes and BENCH_SCALE_WORKERS (2) `threadline worker` processes on one PostgreSQL
database and one Redis, against the same load on one `threadline serve` that runs its
worker in-process.

The load: BENCH_SCALE_INBOUND (50,000; 5,000 with --quick) inbound email messages
(60 % open a thread, 40 % carry one on) and BENCH_SCALE_REPLIES (10,000; 1,000) replies
to the cases they made, from BENCH_SCALE_SENDERS (24) concurrent senders posting over
real HTTP on loopback to the API processes in turn. The workers deliver the replies to
an SMTP relay on loopback (aiosmtpd) that counts Message-IDs. An event tap on each API
process reads its `GET /api/v1/events` for the whole run.

Afterwards, for each shape, the checks (a failed one fails the workload):
- touches: the database holds exactly one inbound touch per unique message sent;
- deliveries: every reply accepted has one touch, one outbox row sent and one distinct
  Message-ID at the relay, and no Message-ID came twice;
- events: each process's event stream delivered every event published to Redis;
- nothing lost: every request got a usable answer.
Figures: requests/s during the load, the time to drain the outbox afterwards, and the
throughput of the cluster over that of one process.

Every process, the senders, the taps, PostgreSQL and Redis share this machine's cores:
on a machine with 2 cores, more processes mostly share the same CPU time, and the ratio
says what the coordination costs rather than what more machines would give.
PostgreSQL and Redis are required; without either the workload is skipped."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from bench._cluster import (
    MailSink,
    Plan,
    Shape,
    drive,
    finish,
    redis_url,
    running,
)
from bench.common import Report, fresh_database, pg_admin_url


def _one_shape(report: Report, shape: Shape, plan: Plan, label: str) -> tuple[float, list[str]]:
    redis = redis_url()
    assert redis is not None
    tmp = Path(tempfile.mkdtemp(prefix=f"threadline-bench-{label}-"))
    with (
        fresh_database("postgresql") as url,
        MailSink() as sink,
        running(url, redis, shape, tmp, sink) as run,
    ):
        report.log(f"{shape.label}: {plan.inbound:,} inbound + {plan.replies:,} replies")
        outcome = asyncio.run(drive(run.cluster.bases, run.token, plan))
        rate = outcome.requests / outcome.seconds
        report.emit(
            f"{label}_requests_per_s",
            rate,
            "requests/s",
            db="postgresql",
            note=f"{shape.label}; {outcome.requests:,} requests in {outcome.seconds:.1f} s "
            f"from {plan.senders} senders",
        )
        failed = finish(report, run, plan, outcome, sink, label=label, delivery_timeout=600)
    if failed:
        report.log(f"{label} failed {failed}; the processes' logs are in {tmp}/logs")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return rate, failed


def run(report: Report) -> None:
    if pg_admin_url() is None or redis_url() is None:
        report.log("scale-out needs PostgreSQL and Redis; skipped")
        return
    plan = Plan.from_env("BENCH_SCALE", quick=report.quick, inbound=50_000, replies=10_000)
    cluster = Shape.from_env("BENCH_SCALE")
    cluster_rate, cluster_failed = _one_shape(report, cluster, plan, "cluster")
    single_rate, single_failed = _one_shape(
        report,
        Shape(apis=1, workers=0, single=True),
        plan,
        "single",
    )
    report.emit(
        "cluster_over_single",
        cluster_rate / single_rate,
        "ratio",
        db="postgresql",
        note=f"requests/s of {cluster.label} over one process, same load, same machine",
    )
    failed = cluster_failed + single_failed
    if failed:
        raise AssertionError("scale-out checks failed: " + "; ".join(failed))
