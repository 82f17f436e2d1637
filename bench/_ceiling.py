"""The ceiling for a write transaction on Threadline's SQLite set-up: BEGIN IMMEDIATE,
two INSERTs (the second using the first's id), COMMIT, on an engine from
threadline.db.connect() with its pragmas, measured three ways: on the raw sqlite3
connection, through SQLAlchemy Core, and through an ORM session. Not a workload of its
own (the leading underscore keeps the runner from listing it); ingest reports it next
to receive()."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import cast

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.common import Report, median, scratch_sqlite, timed_loop
from threadline.db import connect


class _Base(DeclarativeBase):
    pass


class _Parent(_Base):
    __tablename__ = "bench_parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(80))


class _Child(_Base):
    __tablename__ = "bench_child"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("bench_parent.id"))
    text: Mapped[str] = mapped_column(String(400))


_core = MetaData()
_parent_table = Table(
    "bench_parent", _core, Column("id", Integer, primary_key=True), Column("label", String(80))
)
_child_table = Table(
    "bench_child",
    _core,
    Column("id", Integer, primary_key=True),
    Column("parent_id", ForeignKey("bench_parent.id")),
    Column("text", String(400)),
)
_BODY = "A message of a typical length, about as long as a short customer email. " * 3


def _ceiling_raw(url: str, count: int) -> float:
    """BEGIN IMMEDIATE; two INSERTs; COMMIT on the driver connection that threadline.db
    hands out, with its pragmas (WAL, synchronous=NORMAL, foreign_keys, busy_timeout)."""
    database = connect(url)
    try:
        _Base.metadata.create_all(database.engine)
        proxied = database.engine.raw_connection()
        try:
            conn = cast(sqlite3.Connection, proxied.driver_connection)

            def one(i: int) -> None:
                conn.execute("BEGIN IMMEDIATE")
                parent = conn.execute(
                    "INSERT INTO bench_parent (label) VALUES (?)", (f"parent {i}",)
                ).lastrowid
                conn.execute(
                    "INSERT INTO bench_child (parent_id, text) VALUES (?, ?)", (parent, _BODY)
                )
                conn.execute("COMMIT")

            seconds, _ = timed_loop(count, one)
        finally:
            proxied.close()
    finally:
        database.dispose()
    return count / seconds


def _ceiling_core(url: str, count: int) -> float:
    """The same transaction through SQLAlchemy Core (engine.begin() emits BEGIN
    IMMEDIATE through threadline.db's listener)."""
    database = connect(url)
    try:
        _Base.metadata.create_all(database.engine)
        engine = database.engine

        # Statements built once, as compiled-cache-friendly code would.
        add_parent, add_child = insert(_parent_table), insert(_child_table)

        def one(i: int) -> None:
            with engine.begin() as conn:
                result = conn.execute(add_parent, {"label": f"parent {i}"})
                conn.execute(add_child, {"parent_id": result.lastrowid, "text": _BODY})

        seconds, _ = timed_loop(count, one)
    finally:
        database.dispose()
    return count / seconds


def _ceiling_orm(url: str, count: int) -> float:
    """The same two rows through an ORM session per transaction, flushing the parent for
    its id as receive() does."""
    database = connect(url)
    try:
        _Base.metadata.create_all(database.engine)

        def one(i: int) -> None:
            with database.write() as session:
                parent = _Parent(label=f"parent {i}")
                session.add(parent)
                session.flush()
                session.add(_Child(parent_id=parent.id, text=_BODY))
                session.commit()

        seconds, _ = timed_loop(count, one)
    finally:
        database.dispose()
    return count / seconds


def ceilings(report: Report, count: int, runs: int) -> dict[str, float]:
    ladders: dict[str, Callable[[str, int], float]] = {
        "raw sqlite3": _ceiling_raw,
        "SQLAlchemy Core": _ceiling_core,
        "SQLAlchemy ORM session": _ceiling_orm,
    }
    found: dict[str, float] = {}
    for label, measure in ladders.items():
        rates = []
        for _ in range(runs):
            with scratch_sqlite() as url:
                rates.append(measure(url, count))
        found[label] = median(rates)
        report.emit(
            f"ceiling: bare 2-insert transaction, {label}",
            found[label],
            "transactions/s",
            db="sqlite",
            runs=rates,
            note="WAL, synchronous=NORMAL, foreign_keys, BEGIN IMMEDIATE (threadline.db)",
        )
    return found
