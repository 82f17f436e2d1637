"""Everything a process builds once at start-up: settings, database, environment."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.actions.base import Env
from threadline.clock import Clock
from threadline.config import Settings, load_settings
from threadline.db import Database, connect
from threadline.events import EventBus


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
            db=connect(settings.database_url),
            env=Env.build(settings, clock=clock, bus=bus),
        )

    def close(self) -> None:
        self.db.dispose()
