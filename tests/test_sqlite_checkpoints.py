"""The WAL is copied back into the database file by a thread of its own, not inside a
writer's commit."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from sqlalchemy import text

from threadline.db import connect
from threadline.sqlite_checkpoints import IDLE_ROUNDS, Checkpointer


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        time.sleep(0.02)


def test_commits_are_copied_back_by_the_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "desk.db"
    database = connect(f"sqlite:///{path}")
    checkpoints = database.checkpoints
    assert checkpoints is not None
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
            session.commit()
        size_before = path.stat().st_size
        for _ in range(50):
            with database.session() as session:
                session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": "x" * 3000})
                session.commit()
        # Far below wal_autocheckpoint's pages: only the thread can have copied them.
        _until(lambda: checkpoints.rounds > 0 and path.stat().st_size > size_before + 100_000)
        with database.reading() as session:
            assert session.scalar(text("SELECT count(*) FROM notes")) == 50
    finally:
        database.dispose()
    assert not checkpoints.running


def test_a_long_wal_is_started_over_between_writers_instead_of_growing(tmp_path: Path) -> None:
    path = tmp_path / "desk.db"
    database = connect(f"sqlite:///{path}")
    checkpoints = database.checkpoints
    assert checkpoints is not None
    checkpoints.interval = 0.005
    checkpoints.restart_frames = 200
    rows = 2_000
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
            session.commit()
        for _ in range(rows):
            with database.session() as session:
                session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": "x" * 3000})
                session.commit()
        # Each commit writes about three pages: without starting over, the WAL would
        # hold every one of them (about 6,000 frames, 25 MB), below the backstop's
        # 10,000. Started over, it stays a few times 200 frames long, even on a machine
        # so busy that the thread gets few rounds.
        wal = path.with_name("desk.db-wal").stat().st_size
        assert wal < rows * 4096
        assert checkpoints.restarts > 0
        with database.reading() as session:
            assert session.scalar(text("SELECT count(*) FROM notes")) == rows
    finally:
        database.dispose()


def test_the_thread_stops_when_nobody_writes_and_starts_again_with_the_next_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "desk.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x)")
    checkpoints = Checkpointer(str(path), interval=0.01)
    try:
        checkpoints.after_commit()
        assert checkpoints.running
        _until(lambda: not checkpoints.running)
        assert checkpoints.rounds >= IDLE_ROUNDS

        size_before = path.stat().st_size
        with closing(sqlite3.connect(path, isolation_level=None)) as writer:
            writer.execute("PRAGMA wal_autocheckpoint=0")
            writer.execute("INSERT INTO t VALUES (randomblob(200000))")
            time.sleep(0.1)
            assert path.stat().st_size == size_before  # in the WAL only, thread stopped
            checkpoints.after_commit()
            _until(lambda: path.stat().st_size > size_before + 150_000)
    finally:
        checkpoints.stop()
    assert not checkpoints.running


def test_a_database_file_that_is_gone_stops_the_thread(tmp_path: Path) -> None:
    checkpoints = Checkpointer(str(tmp_path / "missing" / "desk.db"), interval=0.01)
    checkpoints.after_commit()
    _until(lambda: not checkpoints.running)
    checkpoints.stop()
