"""The search indexer (migration 0006): on SQLite, receiving indexes nothing; a batch
indexes what lies above the watermark and moves it; edits and deletes of indexed rows
reach the index at once; the worker's job works through a backlog. On PostgreSQL it all
does nothing, and search finds everything at once."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import receive_email
from threadline.actions import Env
from threadline.queries.search import Found, search
from threadline.runtime import Runtime
from threadline.search_index import (
    SEARCHED,
    behind,
    catch_up,
    refresh,
    search_index_job,
)


def found(runtime: Runtime, q: str) -> Found:
    """The index as it is: no catching up first."""
    with runtime.db.reading() as read:
        return search(read, q, region="GB", cases=True, private=True, limit=10)


def is_behind(runtime: Runtime) -> bool:
    with runtime.db.reading() as read:
        return behind(read.connection())


def watermarks(runtime: Runtime) -> dict[str, int]:
    with runtime.db.reading() as read:
        rows = read.execute(text("SELECT name, last_id FROM search_fts_progress"))
        return {row.name: row.last_id for row in rows}


def highest_ids(runtime: Runtime) -> dict[str, int]:
    with runtime.db.reading() as read:
        return {
            table: read.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
            for table, _column in SEARCHED
        }


def assert_index_whole(runtime: Runtime) -> None:
    """Every row of every table indexed, and nothing else: FTS5's integrity check of an
    external-content table raises when the index and its table differ."""
    assert watermarks(runtime) == highest_ids(runtime)
    with runtime.db.session() as write, write.begin():
        for table, _column in SEARCHED:
            fts = f"{table}_fts"
            write.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')"))


@pytest.fixture
def sqlite_only(runtime: Runtime) -> None:
    if runtime.db.dialect != "sqlite":
        pytest.skip("the indexer works on SQLite only")


def test_receiving_indexes_nothing_and_a_refresh_indexes_it(
    db: Session, env: Env, runtime: Runtime, sqlite_only: None
) -> None:
    received = receive_email(db, env, "ann@example.com", "Kettle leaks", name="Ann Kettleby")
    assert is_behind(runtime)
    assert found(runtime, "kettle") == Found()

    assert refresh(runtime.db) == 3  # a customer, a case, a touch
    hits = found(runtime, "kettle")
    assert [t.id for t in hits.touches] == [received.touch_id]
    assert [c.id for c in found(runtime, "kettleby").customers] == [received.customer_id]
    assert not is_behind(runtime)
    assert refresh(runtime.db) == 0
    assert_index_whole(runtime)


def test_a_batch_indexes_at_most_its_limit_in_id_order_and_never_twice(
    db: Session, env: Env, runtime: Runtime, sqlite_only: None
) -> None:
    for i in range(3):
        receive_email(db, env, f"c{i}@example.com", f"Message number {i}")
    sizes: list[int] = []
    while True:
        with runtime.db.session() as write:
            sizes.append(catch_up(write.connection(), 2))
            write.commit()
        if sizes[-1] < 2:
            break
    assert sizes == [2, 2, 2, 2, 1]  # 3 customers, 3 cases, 3 touches
    assert_index_whole(runtime)
    with runtime.db.session() as write:
        assert catch_up(write.connection(), 100) == 0
    with pytest.raises(ValueError, match="at least 1"), runtime.db.session() as write:
        catch_up(write.connection(), 0)


def test_an_edited_name_is_found_under_the_new_one_only(
    db: Session, env: Env, runtime: Runtime
) -> None:
    indexed = receive_email(db, env, "ann@example.com", "Hello", name="Ann Oldname")
    refresh(runtime.db)
    # Edited before the indexer reached it: indexed as it is by then.
    waiting = receive_email(db, env, "bo@example.com", "Hello", name="Bo Oldname")
    with runtime.db.session() as write, write.begin():
        for customer_id, name in (
            (indexed.customer_id, "Ann Newname"),
            (waiting.customer_id, "Bo Newname"),
        ):
            write.execute(
                text("UPDATE customers SET name = :name WHERE id = :id"),
                {"name": name, "id": customer_id},
            )
    refresh(runtime.db)

    assert [c.id for c in found(runtime, "newname").customers] == [
        waiting.customer_id,
        indexed.customer_id,
    ]
    assert found(runtime, "oldname").customers == ()
    if runtime.db.dialect == "sqlite":
        assert_index_whole(runtime)


def test_deleted_rows_are_never_found_and_a_reused_id_is_indexed_again(
    db: Session, env: Env, runtime: Runtime
) -> None:
    kept = receive_email(db, env, "ann@example.com", "Parcel one").touch_id
    gone = receive_email(db, env, "ann@example.com", "Parcel two").touch_id
    refresh(runtime.db)
    with runtime.db.session() as write, write.begin():
        write.execute(text("DELETE FROM touches WHERE id = :id"), {"id": gone})
    if runtime.db.dialect == "sqlite":
        # The highest touch went: the watermark follows it down.
        assert watermarks(runtime)["touches"] == kept
    again = receive_email(db, env, "ann@example.com", "Parcel three").touch_id
    if runtime.db.dialect == "sqlite":
        assert again == gone  # SQLite hands out max(id) + 1 again
    refresh(runtime.db)

    assert [t.id for t in found(runtime, "parcel").touches] == [again, kept]
    assert found(runtime, "two").touches == ()
    assert [t.id for t in found(runtime, "three").touches] == [again]
    if runtime.db.dialect == "sqlite":
        assert_index_whole(runtime)


def test_the_job_works_through_a_backlog(
    db: Session, env: Env, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    newest = [
        receive_email(db, env, f"c{i}@example.com", f"Backlog message {i}").touch_id
        for i in range(12)
    ][::-1]
    job = search_index_job(every_seconds=2.5)
    assert (job.name, job.every_seconds) == ("search:index", 2.5)
    if runtime.db.dialect != "sqlite":
        assert job.run(runtime) == 0
        assert [t.id for t in found(runtime, "backlog").touches] == newest[:10]
        return

    # One run indexes at most JOB_CATCH_UP rows, in batches; the next run goes on.
    monkeypatch.setattr("threadline.search_index.JOB_CATCH_UP", 20)
    monkeypatch.setattr("threadline.search_index.BATCH", 8)
    job = search_index_job()
    assert job.run(runtime) == 20
    assert is_behind(runtime)
    assert job.run(runtime) == 16
    assert job.run(runtime) == 0
    assert_index_whole(runtime)
    assert [t.id for t in found(runtime, "backlog").touches] == newest[:10]


def test_nothing_to_do_on_postgresql(db: Session, env: Env, runtime: Runtime) -> None:
    if runtime.db.dialect == "sqlite":
        pytest.skip("PostgreSQL indexes within each insert")
    received = receive_email(db, env, "ann@example.com", "Kettle leaks")
    assert not is_behind(runtime)
    assert refresh(runtime.db) == 0
    with runtime.db.session() as write:
        assert catch_up(write.connection(), 10) == 0
    assert [t.id for t in found(runtime, "kettle").touches] == [received.touch_id]
