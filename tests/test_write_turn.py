"""Writers of one process take turns in order of arrival (one at a time on SQLite, a few
on PostgreSQL), except that work marked first_in_line() (a ringing call's answer) goes
before writers already waiting."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from threadline.db import Database, connect
from threadline.write_turn import WriterTurn, first_in_line


def _until_waiting(turn: WriterTurn, count: int) -> None:
    deadline = time.monotonic() + 10
    while turn.waiting != count:
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.005)


def _queued_order(turn: WriterTurn, marks: list[bool]) -> list[int]:
    """Hold the turn, queue one writer per mark (in that order, each marked or not),
    let go, and answer the order in which they got it."""
    order: list[int] = []
    turn.acquire()

    def writer(number: int, marked: bool) -> None:
        if marked:
            with first_in_line():
                turn.acquire()
        else:
            turn.acquire()
        order.append(number)
        turn.release()

    threads = []
    for number, marked in enumerate(marks):
        thread = threading.Thread(target=writer, args=(number, marked))
        thread.start()
        threads.append(thread)
        _until_waiting(turn, number + 1)
    turn.release()
    for thread in threads:
        thread.join(10)
    return order


def test_writers_get_the_turn_in_order_of_arrival() -> None:
    assert _queued_order(WriterTurn(timeout=10), [False] * 5) == [0, 1, 2, 3, 4]


def test_a_writer_first_in_line_goes_before_those_already_waiting() -> None:
    # 0 and 1 queued first, then 2 marked, 3 not, 4 marked: the marked ones in their
    # own order of arrival, then the rest in theirs.
    order = _queued_order(WriterTurn(timeout=10), [False, False, True, False, True])
    assert order == [2, 4, 0, 1, 3]


def test_the_turn_belongs_to_the_transaction_not_the_thread() -> None:
    # A request's session may begin on a worker thread and end on the event loop.
    turn = WriterTurn(timeout=10)
    turn.acquire()
    thread = threading.Thread(target=turn.release)
    thread.start()
    thread.join(10)
    turn.acquire()  # free again: it would wait out the timeout otherwise
    turn.release()
    with pytest.raises(RuntimeError, match="not held"):
        turn.release()


def test_a_writer_waiting_too_long_gets_sqlites_locked_error_and_leaves_the_line() -> None:
    turn = WriterTurn(timeout=0.1)
    turn.acquire()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        turn.acquire()
    assert turn.waiting == 0
    turn.release()
    turn.acquire()
    turn.release()


def _writes_in_order(db: Database, while_all_wait: Callable[[], None] = lambda: None) -> list[str]:
    """One writer holds its transaction open while two unmarked writers and then a
    marked one (a caller) queue on the process's turn, in that order; then it commits.
    Answers who wrote, in the order the rows were written."""
    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO written (who) VALUES ('holder')"))
            holding.set()
            release.wait(10)
            session.commit()

    def writer(who: str) -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO written (who) VALUES (:who)"), {"who": who})
            session.commit()

    def caller() -> None:
        with first_in_line():
            writer("caller")

    first = threading.Thread(target=holder)
    first.start()
    assert holding.wait(10)
    threads = [
        threading.Thread(target=writer, args=("status 1",)),
        threading.Thread(target=writer, args=("status 2",)),
        threading.Thread(target=caller),
    ]
    turn = db.writers
    assert turn is not None
    for waiting, thread in enumerate(threads, start=1):
        thread.start()
        # Each waits on this process's turn, in the order started, before the next.
        _until_waiting(turn, waiting)
    while_all_wait()
    release.set()
    for thread in [first, *threads]:
        thread.join(20)
    assert turn.waiting == 0
    with db.reading() as read:
        return list(read.execute(text("SELECT who FROM written ORDER BY id")).scalars())


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = connect(f"sqlite:///{tmp_path / 'turns.db'}")
    with database.session() as session:
        session.execute(text("CREATE TABLE written (id INTEGER PRIMARY KEY, who TEXT)"))
        session.commit()
    yield database
    database.dispose()


def test_a_marked_write_on_sqlite_commits_before_writes_queued_ahead_of_it(
    sqlite_db: Database,
) -> None:
    assert _writes_in_order(sqlite_db) == ["holder", "caller", "status 1", "status 2"]


@pytest.fixture
def pg_db(pg_url: str | None) -> Iterator[Database]:
    if pg_url is None:
        pytest.skip("no PostgreSQL answers (set THREADLINE_TEST_DATABASE_URL)")
    database = connect(pg_url, pg_writers=1)
    with database.session() as session:
        session.execute(text("CREATE TABLE written (id SERIAL PRIMARY KEY, who TEXT)"))
        session.commit()
    yield database
    with database.session() as session:
        session.execute(text("DROP TABLE written"))
        session.commit()
    database.dispose()


def test_postgresql_writers_of_one_process_take_their_places_and_a_caller_goes_first(
    pg_db: Database,
) -> None:
    read_while_all_wait: list[int] = []

    def read() -> None:
        # Reading takes no place: it goes on while every writer waits.
        with pg_db.reading() as session:
            count = session.execute(text("SELECT count(*) FROM written")).scalar_one()
            read_while_all_wait.append(count)

    assert _writes_in_order(pg_db, read) == ["holder", "caller", "status 1", "status 2"]
    assert read_while_all_wait == [0]


def test_a_turn_of_two_places_lets_two_writers_in_and_queues_the_third() -> None:
    turn = WriterTurn(timeout=5, places=2)
    turn.acquire()
    turn.acquire()

    def third_writer() -> None:
        turn.acquire()
        turn.release()

    third = threading.Thread(target=third_writer)
    third.start()
    _until_waiting(turn, 1)
    turn.release()
    third.join(5)
    assert not third.is_alive()
    turn.release()
    with pytest.raises(RuntimeError, match="not held"):
        turn.release()
