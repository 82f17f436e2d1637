"""What every action shares: its environment, who is acting, and the unit of work that
commits once, writes the audit row in the same transaction and publishes events only
after the commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from time import perf_counter
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, CursorResult, insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from threadline.clock import Clock, SystemClock
from threadline.config import Settings
from threadline.errors import ThreadlineError
from threadline.events import Event, EventBus, InProcessBus
from threadline.files import FileStore
from threadline.metrics import Metrics
from threadline.models import AuditEntry
from threadline.prepared import Prepared
from threadline.service_levels.book import BookCache

T = TypeVar("T")
P = ParamSpec("P")

_INSERT_AUDIT = Prepared(
    insert(AuditEntry),
    ("at", "actor", "agent_id", "action", "subject_type", "subject_id", "data"),
)


@dataclass(frozen=True)
class Env:
    """The outside world as actions see it. Built once per process."""

    settings: Settings
    clock: Clock
    bus: EventBus
    files: FileStore
    metrics: Metrics = field(default_factory=Metrics)
    # The service-level policies and calendars in force, re-read every few seconds.
    book: BookCache = field(default_factory=BookCache)

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, bus: EventBus | None = None
    ) -> Env:
        return cls(
            settings=settings,
            clock=clock or SystemClock(),
            bus=bus or InProcessBus(),
            files=FileStore(settings.data_dir),
        )


@dataclass(frozen=True)
class Actor:
    """Who caused a change: an agent, a channel adapter or the system itself."""

    label: str
    agent_id: int | None = None

    @classmethod
    def agent(cls, agent_id: int) -> Actor:
        return cls(label=f"agent:{agent_id}", agent_id=agent_id)

    @classmethod
    def channel(cls, name: str) -> Actor:
        return cls(label=f"channel:{name}")

    @classmethod
    def system(cls) -> Actor:
        return cls(label="system")


class Unit:
    """One transaction's worth of work: its time, its audit rows and its events."""

    def __init__(self, db: Session, env: Env, actor: Actor) -> None:
        self.db = db
        self.env = env
        self.actor = actor
        self.now: datetime = env.clock.now()
        self.events: list[Event] = []
        self._audit_rows: list[dict[str, Any]] = []
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        """The transaction's connection, for statements that need no ORM objects."""
        if self._conn is None:
            self._conn = self.db.connection()
        return self._conn

    def audit(self, action: str, subject_type: str, subject_id: int, **data: Any) -> None:
        """Record what changed. The rows are written in one statement just before the
        commit, inside the same transaction: they stand or fall with the change."""
        self._audit_rows.append(
            {
                "at": self.now,
                "actor": self.actor.label,
                "agent_id": self.actor.agent_id,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "data": data,
            }
        )

    def write_audit(self) -> None:
        if self._audit_rows:
            self.db.flush()
            _INSERT_AUDIT.execute_many(self.conn, self._audit_rows)
            self._audit_rows = []

    def emit(
        self,
        type_: str,
        *,
        case_id: int | None = None,
        customer_id: int | None = None,
        private: bool = False,
        **data: Any,
    ) -> None:
        self.events.append(
            Event(
                type=type_,
                at=self.now,
                data=data,
                case_id=case_id,
                customer_id=customer_id,
                private=private,
            )
        )


@contextmanager
def unit_of_work(db: Session, env: Env, actor: Actor) -> Iterator[Unit]:
    unit = Unit(db, env, actor)
    try:
        yield unit
        unit.write_audit()
        db.commit()
    except BaseException:
        db.rollback()
        raise
    env.bus.publish(unit.events)


def inserted_id(result: CursorResult[Any]) -> int:
    """The key the database gave the row an INSERT just wrote."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT returned no primary key")
    return int(key[0])


def with_retry(work: Callable[[], T], *, attempts: int = 4) -> T:
    """Run a whole action again when a concurrent writer won a race on a unique key (two
    copies of one message, two first messages from one new address) or SQLite was busy.
    The retried action sees the winner's rows and answers accordingly."""
    for attempt in range(attempts):
        try:
            return work()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
        except OperationalError as exc:
            if not _worth_retrying(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _worth_retrying(exc: OperationalError) -> bool:
    """SQLite was busy, or PostgreSQL chose this transaction as a deadlock's victim or
    could not serialise it: running it again is the remedy."""
    message = str(exc)
    return any(sign in message for sign in ("locked", "deadlock detected", "could not serialize"))


def action(function: Callable[P, T]) -> Callable[P, T]:
    """Marks a public action: times it and counts its refusals in the process's
    metrics. Every action takes (db, env, ...) first."""
    name = function.__name__

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        env = args[1] if len(args) > 1 else kwargs.get("env")
        started = perf_counter()
        try:
            return function(*args, **kwargs)
        except ThreadlineError as exc:
            if isinstance(env, Env):
                env.metrics.action_refusals.labels(name, exc.code).inc()
            raise
        finally:
            if isinstance(env, Env):
                env.metrics.action_seconds.labels(name).observe(perf_counter() - started)

    return run
