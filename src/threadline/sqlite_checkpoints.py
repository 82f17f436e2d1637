"""SQLite's WAL checkpoints, moved off the path of requests.

In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies them
back into the database file. Left to SQLite, the checkpoint runs inside whichever commit
crosses `wal_autocheckpoint` pages, with that writer's turn held: every writer queued
behind it (a ringing call's among them) waits for the copy and its fsyncs. How much of
the phone line's tail this took away was not measured apart: with it, callers' writes
still waited 40-60 ms on one writer now and then (bench/voice.py traces), so those
long waits have another cause as well.

A `Checkpointer` copies the pages on a thread of its own instead, with a PASSIVE
checkpoint every INTERVAL seconds on a connection of its own: PASSIVE never waits for
readers or writers, and SQLite lets a checkpoint run while a writer appends, so no
request waits for it. The sqlite3 driver lets go of the interpreter's lock while SQLite
works, so the copy runs beside the requests' Python on another core.

The thread starts with the first commit after it stopped, and stops once IDLE_ROUNDS
checkpoints in a row found nothing to copy: a process that stops writing (or a test's
database left behind) keeps no thread. db.py keeps `wal_autocheckpoint` as well, as a
backstop that bounds the WAL should this thread fall behind."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

INTERVAL = 0.5
IDLE_ROUNDS = 10


class Checkpointer:
    def __init__(self, path: str, *, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.rounds = 0  # checkpoints run, for tests

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def after_commit(self) -> None:
        """A write was committed: make sure a thread is there to copy it back."""
        if self.running or self._stop.is_set():
            return
        with self._lock:
            if self.running or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="threadline-sqlite-checkpoints", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop for good (the database is being closed), after a last checkpoint."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        try:
            # mode=rw: a database file that is gone is not made again, empty.
            uri = Path(self.path).resolve().as_uri() + "?mode=rw"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)
        except sqlite3.Error as exc:
            log.warning("no checkpoints for %s: %s", self.path, exc)
            return
        idle = 0
        last: tuple[int, int] | None = None
        try:
            while idle < IDLE_ROUNDS:
                stopping = self._stop.wait(self.interval)
                state = self._checkpoint(connection)
                if stopping or state is None:
                    return
                # The WAL's frames and those copied back, as before: nobody wrote.
                idle = idle + 1 if state == last else 0
                last = state
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int] | None:
        """One PASSIVE checkpoint: the frames in the WAL and how many of them are now
        in the database file; None when the database cannot be checkpointed any more
        (its file is gone)."""
        try:
            _busy, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("checkpoint of %s failed: %s", self.path, exc)
            return None
        self.rounds += 1
        return int(logged), int(copied)
