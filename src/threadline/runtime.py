"""Everything a process builds once at start-up: settings, database, environment (with
its event bus)."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.actions.base import Env
from threadline.clock import Clock
from threadline.config import Settings, load_settings
from threadline.db import Database, connect
from threadline.events import EventBus, InProcessBus


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    env: Env

    @classmethod
    def start(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
    ) -> Runtime:
        settings = settings or load_settings()
        return cls(
            settings=settings,
            db=connect(settings.database_url, pg_writers=settings.pg_writers),
            env=Env.build(settings, clock=clock, bus=bus or build_bus(settings)),
        )

    def close(self) -> None:
        self.env.bus.close()
        self.db.dispose()

    def watch_outbox(self) -> None:
        """This process's /metrics reads the outbox gauges from the database at each
        scrape (the API's, and a standalone worker's when it serves metrics)."""
        from threadline.queries.outbox import OutboxFigures, outbox_figures

        def read() -> OutboxFigures:
            with self.db.reading() as session:
                return outbox_figures(session, self.env.clock.now())

        self.env.metrics.watch_outbox(read)


def build_bus(settings: Settings) -> EventBus:
    """Redis when THREADLINE_REDIS_URL is set, so events reach every process; else the
    in-process bus, which is enough for a single `threadline serve`."""
    if settings.redis_url:
        from threadline.redis_bus import RedisBus

        return RedisBus(
            settings.redis_url,
            key=f"{settings.redis_prefix}:events",
            retention=settings.event_retention,
        )
    return InProcessBus(settings.event_retention)
