"""Whether the database has changed: a token that stays the same as long as no
transaction has committed a change, from any process, and differs once one has.

It lets a process reuse what it read a moment ago (threadline/api/page_cache.py) without
trusting a time limit or an event that might be missed: the token is read from the
database itself, before the reuse.

- SQLite: `PRAGMA data_version` on a connection of its own, which never writes. Its
  value changes whenever any other connection, of this process or another, commits.
- PostgreSQL: `pg_current_snapshot()`. Its upper bound moves when a transaction that
  wrote completes, and its list of transactions in progress changes when one of them
  ends; read-only transactions change neither. It covers the whole server, so another
  database's writes count too: the token may change for nothing, never the other way."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any, Protocol

from sqlalchemy import Engine


class DataVersion(Protocol):
    # Whether reading the token is a local read of microseconds (an event loop may do
    # it in place) rather than a round trip.
    local: bool

    def current(self) -> str:
        """The token now; equal tokens mean no change was committed in between."""
        ...

    def close(self) -> None: ...


class SqliteDataVersion:
    local = True

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def current(self) -> str:
        with self._lock:
            if self._connection is None:
                # It only ever runs this PRAGMA: its own commits would not move its
                # data_version.
                self._connection = sqlite3.connect(
                    self._path, isolation_level=None, check_same_thread=False
                )
            (value,) = self._connection.execute("PRAGMA data_version").fetchone()
        return str(value)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class PostgresDataVersion:
    """On a connection of its own, in autocommit, taken from the engine's pool and kept:
    one round trip a reading, with no transaction to begin or end around it."""

    local = False

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._connection: Any = None

    def current(self) -> str:
        with self._lock:
            if self._connection is None:
                pooled = self._engine.raw_connection()
                driver = pooled.driver_connection
                assert driver is not None, "a connection just taken from the pool"
                pooled.detach()  # ours now: the pool will neither reset nor reuse it
                driver.autocommit = True
                self._connection = driver
            try:
                row = self._connection.execute("SELECT pg_current_snapshot()::text").fetchone()
            except Exception:
                # A connection the server dropped: the next reading opens another.
                self._discard()
                raise
        return str(row[0])

    def close(self) -> None:
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
