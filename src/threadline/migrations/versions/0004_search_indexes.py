"""search indexes: full-text indexes behind GET /api/v1/search, and the inbox's index

The inbox (`GET /api/v1/cases?owner=none&sort=due`, and `owner=ID`) gets its order from
an index: without one every request sorted all the unowned cases (bench/api.py: 75 ms a
request on SQLite, 107 ms on PostgreSQL, with 30,000 of them). SQLite's planner takes
(owner_id, updated_at, id) for both; PostgreSQL's takes no order from an index after
`owner_id IS NULL`, so it gets a partial index of the unowned cases as well.

SQLite: one FTS5 table per searched column, with external content (the words are
indexed, the text itself stays in its own table only) and triggers that keep each in
step with its table. PostgreSQL: GIN indexes on `to_tsvector('simple', ...)` of the same
columns; threadline.queries.search spells the very same expressions, or the planner
would not use them.

None of these objects is in the models' metadata: their names carry `_fts`, and the
Alembic environment leaves such names out of autogenerate's comparison.

SQLite drops a table's triggers with the table. A later migration that rebuilds
customers, cases or touches in batch mode (copy and rename) must create the triggers
of this one again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): the text each index covers.
SEARCHED = (("customers", "name"), ("cases", "subject"), ("touches", "text"))

# PostgreSQL's tsvector holds at most 1 MB of lexemes and a touch's text may be 1 MB of
# characters: the index covers the first 100,000 characters (at most 400 kB), so that a
# long message can never fail to be stored because of its index.
TOUCH_TEXT_INDEXED = 100_000


def _pg_document(table: str, column: str) -> str:
    if table == "touches":
        return f"to_tsvector('simple', left({column}, {TOUCH_TEXT_INDEXED}))"
    return f"to_tsvector('simple', {column})"


def _sqlite_up(table: str, column: str) -> list[str]:
    # Names from SEARCHED, never input (hence the S608 exemptions).
    fts = f"{table}_fts"
    delete = (
        f"INSERT INTO {fts}({fts}, rowid, {column}) "  # noqa: S608
        f"VALUES ('delete', old.id, old.{column});"
    )
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5("
        f"{column}, content='{table}', content_rowid='id', tokenize='unicode61')",
        # Index what is already there.
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",  # noqa: S608
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        # Only when the text changes: cases are updated on every touch, their subjects
        # almost never.
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} "
        f"WHEN old.{column} IS NOT new.{column} BEGIN {delete} {insert} END",
    ]


def upgrade() -> None:
    op.create_index(
        op.f("ix_cases_owner_id_updated_at_id"), "cases", ["owner_id", "updated_at", "id"]
    )
    op.create_index(
        "ix_cases_unowned_updated_at_id",
        "cases",
        ["updated_at", "id"],
        sqlite_where=sa.text("owner_id IS NULL"),
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for table, column in SEARCHED:
            for statement in _sqlite_up(table, column):
                op.execute(statement)
        return
    for table, column in SEARCHED:
        op.execute(
            f"CREATE INDEX ix_{table}_{column}_fts ON {table} "
            f"USING gin ({_pg_document(table, column)})"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, _column in reversed(SEARCHED):
            fts = f"{table}_fts"
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
            op.execute(f"DROP TABLE IF EXISTS {fts}")
    else:
        for table, column in reversed(SEARCHED):
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_fts")
    op.drop_index("ix_cases_unowned_updated_at_id", table_name="cases")
    op.drop_index(op.f("ix_cases_owner_id_updated_at_id"), table_name="cases")
