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

import asyncio
import contextlib
import sqlite3
import threading
from typing import Any, Protocol

import psycopg
from sqlalchemy import Engine

SNAPSHOT = "SELECT pg_current_snapshot()::text"
# As pg_stat_activity shows its connections.
APPLICATION_NAME = "threadline data version"


class DataVersion(Protocol):
    def current(self) -> str:
        """The token now; equal tokens mean no change was committed in between. Blocks:
        for worker threads."""
        ...

    async def current_async(self) -> str:
        """The same, for an event loop, which it never holds up for a round trip."""
        ...

    def close(self) -> None: ...


class SqliteDataVersion:
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

    async def current_async(self) -> str:
        # A PRAGMA on a local file takes microseconds: in place, where a hop to a
        # worker thread would cost far more.
        return self.current()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class PostgresDataVersion:
    """On connections of its own, in autocommit, so that a reading is one round trip
    with no transaction to begin or end around it: one for worker threads and one for
    the event loop (psycopg's asyncio connection), made on the loop that first asks.
    A kept connection the server has dropped (a restart, a terminated backend) is
    replaced at once and the reading made again on the new one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._async_lock: asyncio.Lock | None = None
        self._async_connection: psycopg.AsyncConnection[Any] | None = None

    def current(self) -> str:
        with self._lock:
            for attempt in (1, 2):
                if self._connection is None:
                    self._connection = psycopg.connect(
                        self._conninfo(), autocommit=True, application_name=APPLICATION_NAME
                    )
                try:
                    row = self._connection.execute(SNAPSHOT).fetchone()
                    break
                except psycopg.OperationalError:
                    dropped, self._connection = self._connection, None
                    with contextlib.suppress(Exception):
                        dropped.close()
                    if attempt == 2:
                        raise
        assert row is not None
        return str(row[0])

    async def current_async(self) -> str:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # First use, or a new loop (each of a test's clients runs its own): the
            # last loop's connection cannot be awaited here, so it is shut at once.
            _shut(self._async_connection)
            self._loop, self._async_lock, self._async_connection = loop, asyncio.Lock(), None
        assert self._async_lock is not None
        async with self._async_lock:
            for attempt in (1, 2):
                if self._async_connection is None:
                    self._async_connection = await psycopg.AsyncConnection.connect(
                        self._conninfo(), autocommit=True, application_name=APPLICATION_NAME
                    )
                try:
                    cursor = await self._async_connection.execute(SNAPSHOT)
                    row = await cursor.fetchone()
                    break
                except psycopg.OperationalError:
                    dropped, self._async_connection = self._async_connection, None
                    _shut(dropped)
                    if attempt == 2:
                        raise
        assert row is not None
        return str(row[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    self._connection.close()
                self._connection = None
        _shut(self._async_connection)
        self._async_connection = None

    def _conninfo(self) -> str:
        return self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _shut(connection: psycopg.AsyncConnection[Any] | None) -> None:
    """Close an asyncio connection without its event loop, which may be gone: libpq's
    own close, which needs no loop."""
    if connection is not None and not connection.closed:
        connection.pgconn.finish()
