"""Engines and sessions. SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE
for writing sessions (so that two writers queue instead of failing on a lock upgrade);
PostgreSQL is reached through psycopg 3, its writing sessions a few at a time
(threadline/write_turn.py)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from threadline.config import DEFAULT_PG_WRITERS
from threadline.data_version import DataVersion, PostgresDataVersion, SqliteDataVersion
from threadline.sqlite_checkpoints import Checkpointer
from threadline.write_turn import WriterTurn

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_POOL_SIZE = 24
# How long a PostgreSQL writing session waits for a place in its process's turn.
PG_TURN_TIMEOUT_SECONDS = 30.0


class ReadSession(Session):
    """A session for queries only: it refuses to flush, so a view cannot write by accident."""

    def flush(self, objects: Any = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise RuntimeError("a read-only session cannot write")
        super().flush(objects)


@dataclass(frozen=True)
class Database:
    engine: Engine
    write: sessionmaker[Session]
    read: sessionmaker[ReadSession]
    read_engine: Engine
    # The turn this process's writing sessions take: one place on SQLite, a few on
    # PostgreSQL.
    writers: WriterTurn | None = None
    # A SQLite file: what copies the WAL back, off the writers' path.
    checkpoints: Checkpointer | None = None
    # Whether anything was committed since (None for an in-memory database).
    version: DataVersion | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def reads_in_place(self) -> bool:
        """Whether a small keyed read may run on the caller's own thread, even an event
        loop's: true of SQLite, a local file whose readers never wait for writers in
        WAL mode, where such a read takes tens of microseconds and handing it to a
        worker thread and back costs ten times that. PostgreSQL is a round trip away."""
        return self.dialect == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.write() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[ReadSession]:
        with self.read() as session:
            yield session

    def dispose(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.stop()
        if self.version is not None:
            self.version.close()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def _sqlite_engine(
    url: str, *, turn: WriterTurn | None, checkpoints: Checkpointer | None = None
) -> Engine:
    """An engine on the SQLite file; with a `turn`, its transactions write (BEGIN
    IMMEDIATE, one writer of this process at a time), and `checkpoints` hears of each
    commit."""
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        # The driver's own transaction handling is switched off so that we emit BEGIN.
        connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 15},
        # The pool's own rollback of every returned connection costs as much as a small
        # write (the driver resets its statement cache); the check-in hook below rolls
        # back only a connection that comes back inside a transaction.
        pool_reset_on_return=None,
        # Room for every thread that reads or writes at once (the web threads, the
        # callers' lane, the worker's jobs, the SMTP listener). A connection past the
        # pool's size is closed when given back, and the next one opened pays for the
        # schema, the PRAGMAs and a cold page cache: with the default of 5, eight web
        # threads made the inbox take 12.9 ms instead of 7.7 ms (bench/api.py).
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=SQLITE_POOL_SIZE,
    )

    @event.listens_for(engine, "checkin")
    def _end_abandoned_transaction(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None and dbapi_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        # NORMAL in WAL mode survives a crash of the process; only a power cut can lose
        # the last transactions.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint every ~40 MB of WAL instead of every ~4 MB: the checkpoint runs inside
        # whichever commit crosses the threshold, so fewer of them means fewer slow
        # requests (measured in bench/ingest.py: p99 14 ms -> 2 ms), and the WAL stays
        # bounded.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    if turn is not None:
        _queue_writers(engine, turn, checkpoints)
    else:

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # Straight to the driver: this runs for every transaction, and the statement
            # has no parameters or results for SQLAlchemy to process.
            connection.connection.driver_connection.execute("BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode, which the file then keeps.

    Asking for WAL again on a file already in it still goes for a lock, and SQLite
    answers "database is locked" at once, without the busy handler, when several
    connections open a fresh file together (seen: 8 threads opening a copied database).
    So the mode is read first, and only a file not yet in WAL is switched, retrying
    within the busy timeout while other connections hold it."""
    (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _queue_writers(engine: Engine, turn: WriterTurn, checkpoints: Checkpointer | None) -> None:
    """Writers of this process take turns on a lock before BEGIN IMMEDIATE, and hand it
    on only once their COMMIT or ROLLBACK is done.

    SQLite allows one writer at a time. Left to itself, a writer that finds the database
    locked sleeps and polls (1, 2, 5, ... up to 100 ms), so under a few concurrent
    threads (API handlers, the SMTP listener's stores, the worker) most of the time goes
    to sleeping: measured in bench/email.py, 8 SMTP senders got 19 messages/s. Queued on
    a lock, each writer starts the moment the previous one ends; work marked
    `first_in_line()` goes before the rest (threadline/write_turn.py). Other processes
    still meet the busy timeout, as before."""
    held = "threadline_write_turn"

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        turn.acquire()
        try:
            connection.connection.driver_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            turn.release()
            raise
        connection.info[held] = True

    def _end(connection: Any, finish: str) -> None:
        # Finish the transaction here, then hand the turn on; SQLAlchemy's own COMMIT or
        # ROLLBACK that follows finds no transaction and does nothing.
        if not connection.info.pop(held, False):
            return
        try:
            getattr(connection.connection.driver_connection, finish)()
        finally:
            turn.release()
        if checkpoints is not None and finish == "commit":
            checkpoints.after_commit()

    event.listen(engine, "commit", lambda connection: _end(connection, "commit"))
    event.listen(engine, "rollback", lambda connection: _end(connection, "rollback"))


def _writers_take_places(write: sessionmaker[Session], engine: Engine, turn: WriterTurn) -> None:
    """Each writing session takes a place in `turn` when its transaction begins (before
    its first statement) and gives it back as its COMMIT or ROLLBACK is sent: the next
    writer begins while the database makes this one durable, which needs the server,
    not this process. Should a transaction end without either (its connection lost),
    the place is given back when the session's transaction ends. Reading sessions, and
    savepoints inside a transaction, take none."""
    held = "threadline_write_place"

    @event.listens_for(write, "after_begin")
    def _begun(session: Session, _transaction: Any, connection: Any) -> None:
        if not connection.info.get(held):
            turn.acquire()
            connection.info[held] = True
            session.info[held] = connection.info

    def _finishing(connection: Any) -> None:
        if connection.info.pop(held, False):
            turn.release()

    event.listen(engine, "commit", _finishing)
    event.listen(engine, "rollback", _finishing)

    @event.listens_for(write, "after_transaction_end")
    def _ended(session: Session, transaction: Any) -> None:
        if transaction.parent is None:
            info = session.info.pop(held, None)
            if info is not None and info.pop(held, False):
                turn.release()


class WriteTurnTimeout(RuntimeError):
    """No place in this process's PostgreSQL writers' turn came within the timeout: a
    fault of the process (a session left open), not worth retrying."""


def connect(url: str, *, echo: bool = False, pg_writers: int = DEFAULT_PG_WRITERS) -> Database:
    """The database at `url`. On PostgreSQL at most `pg_writers` writing sessions of
    this process are inside a transaction at once; the others wait to begin."""
    writers: WriterTurn | None = None
    checkpoints: Checkpointer | None = None
    version: DataVersion | None = None
    if url.startswith("sqlite"):
        writers = WriterTurn(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        path = make_url(url).database
        if path and path != ":memory:":
            checkpoints = Checkpointer(path, turn=writers)
            version = SqliteDataVersion(path)
        engine = _sqlite_engine(url, turn=writers, checkpoints=checkpoints)
        read_engine = _sqlite_engine(url, turn=None)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        read_engine = engine
        version = PostgresDataVersion(engine)
    engine.echo = echo
    write = sessionmaker(engine, expire_on_commit=False)
    read = sessionmaker(read_engine, class_=ReadSession, expire_on_commit=False)
    if writers is None:
        writers = WriterTurn(
            timeout=PG_TURN_TIMEOUT_SECONDS, places=pg_writers, busy=WriteTurnTimeout
        )
        _writers_take_places(write, engine, writers)
    return Database(
        engine=engine,
        write=write,
        read=read,
        read_engine=read_engine,
        writers=writers,
        checkpoints=checkpoints,
        version=version,
    )
