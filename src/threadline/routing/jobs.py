"""The worker's routing round: ownerless cases get owners every few seconds, so that
routing needs no work in the path of an incoming message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.actions.routing import route_waiting
from threadline.runtime import Runtime

if TYPE_CHECKING:
    from threadline.worker import Job

ROUTING_SECONDS = 2.0


def route_round(runtime: Runtime) -> int:
    """One pass over the waiting cases; answers how many were assigned."""
    with runtime.db.session() as db:
        return len(route_waiting(db, runtime.env))


def routing_job(every_seconds: float = ROUTING_SECONDS) -> Job:
    """The periodic job for `threadline.worker.standard_jobs()`."""
    # Imported here: the worker module imports this one to register the job.
    from threadline.worker import Job

    return Job("routing", every_seconds, route_round)
