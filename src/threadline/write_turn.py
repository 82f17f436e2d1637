"""Whose turn it is to write: on SQLite one writer of this process at a time, on
PostgreSQL a few, in order of arrival, except that a writer someone is waiting on goes
first.

SQLite allows one writer at a time, and db.py makes this process's writers take turns
on a `WriterTurn` rather than poll the database's lock. The turn is handed from each
writer straight to the next (one wake-up, no herd), first come first served, with one
exception: work marked `first_in_line()` (a ringing call, whose caller hears nothing
until the answer leaves) is served before work nobody waits on (status callbacks,
delivery receipts, the worker's bookkeeping), so that a busy line does not make a caller
wait behind a queue of reports. Marked work is a small share of all writes, so the
rest is delayed by a few turns at most, never starved.

PostgreSQL lets writers run together, but a process's write transactions all share one
Python interpreter: with every thread writing at once, each transaction spent most of
its time waiting for the interpreter between its statements, the caller's as long as
any other's. A turn of a few places (THREADLINE_PG_WRITERS) keeps the rest waiting
before they begin, and the caller first in line."""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_FIRST_IN_LINE: ContextVar[bool] = ContextVar("threadline_first_in_line", default=False)


@contextmanager
def first_in_line() -> Iterator[None]:
    """Writes begun inside this block (in this thread or task) take their turn before
    unmarked ones waiting for it."""
    token = _FIRST_IN_LINE.set(True)
    try:
        yield
    finally:
        _FIRST_IN_LINE.reset(token)


class WriterTurn:
    """Held from a transaction's BEGIN to its COMMIT or ROLLBACK, by `places` writers at
    once (one on SQLite). It belongs to the transaction, not to a thread: a session
    opened in one thread may end in another (a request's session is closed on the event
    loop). A writer that waits longer than `timeout` seconds gets the `busy` error: by
    default SQLite's own "database is locked", as it would have had from the database (a
    thread that begins a second write while holding the turn would otherwise wait for
    itself forever)."""

    def __init__(
        self,
        timeout: float,
        *,
        places: int = 1,
        busy: Callable[[str], Exception] = sqlite3.OperationalError,
    ) -> None:
        if places < 1:
            raise ValueError("a turn has at least one place")
        self._timeout = timeout
        self._places = places
        self._busy = busy
        self._mutex = threading.Lock()
        self._held = 0
        self._first: deque[threading.Lock] = deque()
        self._rest: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        with self._mutex:
            if self._held < self._places:
                self._held += 1
                return
            handed = threading.Lock()
            handed.acquire()
            line = self._first if _FIRST_IN_LINE.get() else self._rest
            line.append(handed)
        # Released by the writer before us, who leaves the turn held for us.
        if handed.acquire(timeout=self._timeout):
            return
        with self._mutex:
            if handed in line:
                line.remove(handed)
                raise self._busy(f"database is locked: no write turn within {self._timeout:g} s")
        # Handed to us just as the wait ran out: the turn is ours.

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("the write turn is not held")
            line = self._first or self._rest
            if not line:
                self._held -= 1
                return
            handed = line.popleft()
        handed.release()

    @property
    def waiting(self) -> int:
        """Writers waiting for the turn now."""
        with self._mutex:
            return len(self._first) + len(self._rest)
