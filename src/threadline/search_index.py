"""SQLite's full-text index, kept up by an indexer rather than by triggers on every insert
(migration 0006): new customers, cases and touches are indexed in batches, by the
worker's job every second and by a search that finds the index behind, just before it
reads it. PostgreSQL indexes within each insert (GIN expression indexes): nothing to do
there.

The index's state is one number per table, in `search_fts_progress`: the highest id
indexed (the watermark). Every row at or below it is in the FTS5 table, none above it.
0006's triggers keep the indexed rows in step when their text changes or they are
deleted.

Why a watermark is enough: a batch reads the watermark, indexes the rows above it and
moves it, all in one write transaction. SQLite has one writer at a time, and a row's id
is given when it is inserted, under that write lock, as max(id) + 1: so every row a
later writer inserts gets an id above every id committed before, and above the
watermark. No row can commit below the watermark after the indexer passed it (as it
could on PostgreSQL, where sequence values are taken outside the commit order: which is
why this stays off there). An id handed out again after the highest rows were deleted
is covered by 0006's delete trigger, which lowers the watermark.

It is idempotent and safe with any number of indexers: on the writing engine the batch
starts with BEGIN IMMEDIATE, so two batches run one after the other and the second sees
the first's watermark. On a deferred transaction SQLite refuses the second's write
(SQLITE_BUSY: its snapshot is stale) rather than let it index rows twice."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from threadline.db import Database

if TYPE_CHECKING:
    from threadline.runtime import Runtime
    from threadline.worker import Job

log = logging.getLogger(__name__)

# (table, column): the text each FTS5 table of migration 0004 covers.
SEARCHED = (("customers", "name"), ("cases", "subject"), ("touches", "text"))
PROGRESS = "search_fts_progress"

# Rows a batch indexes, in one write transaction: a few milliseconds of holding SQLite's
# write lock (bench/ingest.py: 4 ms in the median, on a busy 2-core machine), which is
# what a message received meanwhile may wait. Indexing runs at some 90,000 rows a second,
# about 40,000 messages: the job keeps up with anything receive() can land.
BATCH = 500
# How far a search catches up before it reads: a few seconds of traffic at the most a
# process lands. Behind by more, the worker's job is not running (see refresh()).
SEARCH_CATCH_UP = 20 * BATCH
# How much one run of the job indexes at most, so that the worker's other work (the
# outbox) is not held up by a large backlog; the next run goes on.
JOB_CATCH_UP = 40 * BATCH

# Names from SEARCHED, never input (hence the S608 exemptions).
_AHEAD = (
    "(SELECT coalesce(max(id), 0) FROM {table}) > "  # noqa: S608
    f"(SELECT last_id FROM {PROGRESS} WHERE name = '{{table}}')"
)
_BEHIND = text("SELECT " + " OR ".join(_AHEAD.format(table=t) for t, _c in SEARCHED))
_WATERMARK = text(f"SELECT last_id FROM {PROGRESS} WHERE name = :name")  # noqa: S608
_MOVE = text(f"UPDATE {PROGRESS} SET last_id = :last_id WHERE name = :name")  # noqa: S608


def _next(table: str) -> str:
    # The highest id and the count of the next `limit` rows above the watermark.
    return (
        f"SELECT max(id), count(*) FROM "  # noqa: S608
        f"(SELECT id FROM {table} WHERE id > :after ORDER BY id LIMIT :limit)"
    )


def _index(table: str, column: str) -> str:
    return (
        f"INSERT INTO {table}_fts(rowid, {column}) "  # noqa: S608
        f"SELECT id, {column} FROM {table} WHERE id > :after AND id <= :upto ORDER BY id"
    )


def behind(conn: Connection) -> bool:
    """Whether any table has rows the index has not reached; always False on
    PostgreSQL. One read."""
    if conn.dialect.name != "sqlite":
        return False
    return bool(conn.execute(_BEHIND).scalar_one())


def catch_up(conn: Connection, limit: int) -> int:
    """Index at most `limit` rows above the watermarks (customers first, then cases,
    then touches; each table in id order) and move the watermarks past them. Answers
    how many rows were indexed: fewer than `limit` means the index has caught up, as far
    as this transaction sees. Nothing to do on PostgreSQL (0).

    `conn` must be in a write transaction that the caller commits (see the module's
    docstring for why that makes the batch safe)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if conn.dialect.name != "sqlite":
        return 0
    done = 0
    for table, column in SEARCHED:
        if done >= limit:
            break
        after = conn.execute(_WATERMARK, {"name": table}).scalar_one()
        upto, count = conn.execute(
            text(_next(table)), {"after": after, "limit": limit - done}
        ).one()
        if not count:
            continue
        conn.execute(text(_index(table, column)), {"after": after, "upto": upto})
        conn.execute(_MOVE, {"name": table, "last_id": upto})
        done += count
    return done


def _run(database: Database, most: int) -> int:
    """Batches, each its own write transaction, until caught up or `most` rows."""
    done = 0
    while done < most:
        size = min(BATCH, most - done)
        with database.session() as db:
            indexed = catch_up(db.connection(), size)
            db.commit()
        done += indexed
        if indexed < size:
            break
    return done


def refresh(database: Database, *, most: int = SEARCH_CATCH_UP) -> int:
    """Bring the index up to date before a search reads it, so that a search finds a
    message received a moment ago. Answers how many rows were indexed.

    A read finds out whether there is anything to do (nearly always nothing: the
    worker's job runs every second); only then are the rows indexed, in short write
    transactions, at most `most` of them: a search never waits long behind a backlog.
    Further behind than that (no worker running), the newest rows stay unfound until the
    job catches up, and a warning says so. A no-op on PostgreSQL."""
    if database.dialect != "sqlite":
        return 0
    with database.reading() as read:
        if not behind(read.connection()):
            return 0
    done = _run(database, most)
    if done >= most:
        log.warning("the search index is more than %d rows behind; is the worker running?", most)
    return done


def search_index_job(every_seconds: float = 1.0) -> Job:
    """The worker's job that indexes new rows (one worker at a time, under the lease
    `job:search:index`); on PostgreSQL it returns at once."""
    from threadline.worker import Job

    def run(runtime: Runtime) -> int:
        if runtime.db.dialect != "sqlite":
            return 0
        done = _run(runtime.db, JOB_CATCH_UP)
        if done:
            log.debug("search index: %d rows indexed", done)
        return done

    return Job("search:index", every_seconds, run)
