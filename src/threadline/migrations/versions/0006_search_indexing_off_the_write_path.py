"""search indexing off the write path: SQLite's full-text tables follow their tables by an
indexer, not by insert triggers

The insert triggers of 0004 ran about 5.7 of the 14.7 statements of every message
received, some 40% of its time (bench/ingest.py). New rows are now indexed in batches by
threadline.search_index: `search_fts_progress` holds, per table, the highest id indexed
(the watermark); every row at or below it is in the index, none above it is.

The update and delete triggers stay, for rows at or below the watermark only (the
others are indexed later as they are then): an FTS5 table with external content must be
told the old text of a row it holds, and only of one it holds. A delete of the highest
rows lowers the watermark to the highest id left, because SQLite gives the next row
max(id) + 1 (no AUTOINCREMENT): an id handed out again is then indexed again.

PostgreSQL's GIN expression indexes are maintained by the database itself within each
insert, cheaply: nothing changes there.

`search_fts_progress` carries `_fts` in its name, so that the Alembic environment leaves
it out of the comparison with the models, like the rest of 0004's objects. A later
migration that rebuilds customers, cases or touches in batch mode (copy and rename) must
create the triggers of this one again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column): the text each full-text table of 0004 covers.
SEARCHED = (("customers", "name"), ("cases", "subject"), ("touches", "text"))
PROGRESS = "search_fts_progress"


# Names from SEARCHED, never input (hence the S608 exemptions).


def _forget(table: str, column: str) -> str:
    fts = f"{table}_fts"
    return (
        f"INSERT INTO {fts}({fts}, rowid, {column}) "  # noqa: S608
        f"VALUES ('delete', old.id, old.{column});"
    )


def _remember(table: str, column: str) -> str:
    return f"INSERT INTO {table}_fts(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608


def _watermark(table: str) -> str:
    return f"(SELECT last_id FROM {PROGRESS} WHERE name = '{table}')"  # noqa: S608


def _triggers_0006(table: str, column: str) -> list[str]:
    fts = f"{table}_fts"
    highest = f"(SELECT coalesce(max(id), 0) FROM {table})"  # noqa: S608
    return [
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "  # noqa: S608
        f"INSERT INTO {fts}({fts}, rowid, {column}) "
        f"SELECT 'delete', old.id, old.{column} WHERE old.id <= {_watermark(table)}; "
        f"UPDATE {PROGRESS} SET last_id = {highest} "
        f"WHERE name = '{table}' AND last_id > {highest}; "
        "END",
        # Only when the text of an indexed row changes: cases are updated on every
        # touch, their subjects almost never.
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} "
        f"WHEN old.{column} IS NOT new.{column} AND old.id <= {_watermark(table)} "
        f"BEGIN {_forget(table, column)} {_remember(table, column)} END",
    ]


def _triggers_0004(table: str, column: str) -> list[str]:
    fts = f"{table}_fts"
    forget, remember = _forget(table, column), _remember(table, column)
    return [
        f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {remember} END",
        f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {forget} END",
        f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} "
        f"WHEN old.{column} IS NOT new.{column} BEGIN {forget} {remember} END",
    ]


def _drop_triggers(table: str) -> None:
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{trigger}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE TABLE {PROGRESS} ("
        "name VARCHAR(40) NOT NULL PRIMARY KEY, last_id INTEGER NOT NULL"
        ") WITHOUT ROWID"
    )
    for table, column in SEARCHED:
        _drop_triggers(table)
        # 0004's triggers have indexed every row there is.
        op.execute(
            f"INSERT INTO {PROGRESS}(name, last_id) "  # noqa: S608
            f"SELECT '{table}', coalesce(max(id), 0) FROM {table}"
        )
        for statement in _triggers_0006(table, column):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in SEARCHED:
        _drop_triggers(table)
        # What the indexer had not reached yet, so that 0004's triggers find the index
        # whole.
        op.execute(
            f"INSERT INTO {table}_fts(rowid, {column}) "  # noqa: S608
            f"SELECT id, {column} FROM {table} WHERE id > {_watermark(table)} ORDER BY id"
        )
        for statement in _triggers_0004(table, column):
            op.execute(statement)
    op.execute(f"DROP TABLE {PROGRESS}")
