"""Several workers sweeping at the same moment, each with its own engine: every warning
and every breach is raised once, never twice and never skipped. On PostgreSQL the
sweepers really overlap (each takes the due clocks no other holds, SKIP LOCKED); on
SQLite they take turns. The job lease normally keeps sweeps apart; this is what holds
when a sweep outlasts its lease and another worker starts one."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy.orm import Session

from tests.factories import inbound
from threadline.actions import Env, receive
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.events import Event
from threadline.runtime import Runtime
from threadline.vocabulary import Channel, IdentityKind
from threadline.worker import sweep_service_levels

SWEEPERS = 4
CASES = 60


def _sweep_together(settings: Settings, clock: FrozenClock) -> list[Event]:
    """SWEEPERS workers' sweeps started at once; the alerts all of them published."""
    runtimes = [Runtime.start(settings, clock=clock) for _ in range(SWEEPERS)]
    subscriptions = [runtime.env.bus.subscribe() for runtime in runtimes]
    errors: list[BaseException] = []
    start = threading.Barrier(SWEEPERS)

    def sweeper(runtime: Runtime) -> None:
        try:
            start.wait()
            sweep_service_levels(runtime)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweeper, args=(runtime,)) for runtime in runtimes]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        alerts = []
        for subscription in subscriptions:
            while (event := subscription.get(timeout=0)) is not None:
                if event.type.startswith("sla."):
                    alerts.append(event)
            subscription.close()
        return alerts
    finally:
        for runtime in runtimes:
            runtime.close()


def test_sweepers_at_once_raise_each_alert_once(
    db: Session, env: Env, settings: Settings, clock: FrozenClock
) -> None:
    cases = sorted(
        receive(
            db, env, inbound(Channel.SMS, IdentityKind.PHONE, f"+4477009{n:05d}", "Help")
        ).case_id
        for n in range(CASES)
    )
    db.close()

    clock.advance(timedelta(minutes=50))  # past 80 % of a text's hour: warnings due
    warnings = _sweep_together(settings, clock)
    assert sorted(e.case_id for e in warnings if e.type == "sla.warning") == cases
    assert len(warnings) == CASES

    clock.advance(timedelta(minutes=15))  # past the hour: breaches due
    breaches = _sweep_together(settings, clock)
    assert sorted(e.case_id for e in breaches if e.type == "sla.breached") == cases
    assert len(breaches) == CASES

    assert _sweep_together(settings, clock) == []  # nothing left to raise
