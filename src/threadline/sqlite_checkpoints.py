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

A WAL that is copied back is not yet started over: SQLite does that only when a writer
begins and finds every frame copied back, which a checkpoint that runs beside a steady
stream of writers never achieves. The WAL then grew until the backstop
(`wal_autocheckpoint`, 10,000 frames) copied the rest inside a writer's commit, about
25 ms each time, and a long WAL makes every commit dearer as well (bench/ingest.py,
20,000 messages: 49 such commits, 12% of the run, and the median commit 74 us where it
was 365 us with no checkpoints at all). So once the WAL holds RESTART_FRAMES, the
thread runs one more checkpoint holding this process's write turn: it copies only what
was committed during one more free pass just before, and the next writer starts the
WAL over; writers wait about 4 ms for it (61 times in those 20,000 messages). A
reader still on an old snapshot can keep that from happening; the thread tries again
on its next round. Writers of other processes are not held back, so for them this is
as good as it gets, and the backstop stays.

Checkpoints run every INTERVAL seconds while commits come; more often copied the same
hot pages (an index's last leaf) over and over, for no faster writes. The wait doubles
while nothing new is written, and the thread stops once IDLE_ROUNDS checkpoints in a
row found nothing new: a process that stops writing (or a test's database left behind)
keeps no thread. It starts again with the next commit."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from threadline.write_turn import WriterTurn

log = logging.getLogger(__name__)

INTERVAL = 0.05  # between checkpoints while commits keep coming
LONGEST_INTERVAL = 0.5  # doubled up to this while nothing new is written
IDLE_ROUNDS = 10  # checkpoints in a row that find nothing new: the thread stops
RESTART_FRAMES = 4_000  # a WAL this long (about 16 MB) is made to start over


class Checkpointer:
    def __init__(
        self,
        path: str,
        *,
        turn: WriterTurn | None = None,
        interval: float = INTERVAL,
        restart_frames: int = RESTART_FRAMES,
    ) -> None:
        self.path = path
        self.turn = turn
        self.interval = interval
        self.restart_frames = restart_frames
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.rounds = 0  # checkpoints run, for tests
        self.restarts = 0  # checkpoints run with writers held back, for tests

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
        wait = self.interval
        last: tuple[int, int] | None = None
        try:
            while idle < IDLE_ROUNDS:
                stopping = self._stop.wait(wait)
                state = self._checkpoint(connection)
                if stopping or state is None:
                    return
                logged, copied = state
                # Long enough to start over, and this pass kept up (a reader on an old
                # snapshot holds the copy back): only then are writers held for the rest.
                if logged >= self.restart_frames and copied >= logged - self.restart_frames // 2:
                    state = self._finish(connection) or state
                # The WAL's frames and those copied back, as before: nobody wrote.
                if state == last:
                    idle += 1
                    wait = min(wait * 2, LONGEST_INTERVAL)
                else:
                    idle, wait = 0, self.interval
                last = state
        finally:
            connection.close()

    def _finish(self, connection: sqlite3.Connection) -> tuple[int, int] | None:
        """Copy back the last frames with this process's writers held back, so that the
        WAL is copied back whole and the next writer starts it over from its beginning.
        A long WAL makes every commit and page lookup dearer, and left to SQLite it is
        only started over after the backstop checkpoint, inside a writer's commit. What
        is left to copy here is what was committed during the pass before: short."""
        if self.turn is None:
            return None
        # One more pass first, free for all: what is left for the held one is what was
        # committed during this short pass only.
        if self._checkpoint(connection) is None:
            return None
        try:
            self.turn.acquire()
        except sqlite3.OperationalError:  # writers kept it for the whole busy timeout
            return None
        try:
            state = self._checkpoint(connection)
        finally:
            self.turn.release()
        self.restarts += 1
        return state

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
