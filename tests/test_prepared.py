"""A Prepared INSERT fills the columns its caller leaves out with their plain defaults,
and refuses to guess a default computed at each execution."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine, insert

from threadline.prepared import Prepared, returned_id

metadata = MetaData()
rows = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("tries", Integer, default=3),
    Column("tags", JSON, default=list),
)


def test_left_out_columns_take_their_plain_defaults() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    add = Prepared(insert(rows).returning(rows.c.id), ("name", "tags"))
    with engine.begin() as conn:
        made = returned_id(add.first(conn, {"name": "first", "tags": ["a"]}))
        stored = conn.execute(rows.select().where(rows.c.id == made)).one()
    assert (stored.name, stored.tries, stored.tags) == ("first", 3, ["a"])


def test_a_default_computed_at_each_execution_must_be_given() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    add = Prepared(insert(rows), ("name",))
    with engine.begin() as conn, pytest.raises(ValueError, match=r"missing \['tags'\]"):
        add.execute(conn, {"name": "second"})
