"""The schema comes from the Alembic migrations, and they match the models exactly on
both databases, down and up again."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text

from tests.factories import receive_email
from threadline.config import Settings
from threadline.migrate import alembic_config, downgrade, upgrade
from threadline.queries.search import search
from threadline.runtime import Runtime
from threadline.search_index import refresh


def test_migrations_match_the_models_and_run_both_ways(database_url: str) -> None:
    config = alembic_config(database_url)
    command.check(config)  # raises if the models and the migrations differ
    downgrade(database_url, "base")
    engine = create_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)
        with engine.connect() as connection:
            segments = connection.execute(text("SELECT key FROM segments ORDER BY key"))
            assert [row[0] for row in segments] == ["standard", "trade", "vip"]
    finally:
        engine.dispose()


def test_search_indexing_goes_back_to_triggers_and_off_again(
    database_url: str, settings: Settings
) -> None:
    """0006 down: 0004's triggers again, with what the indexer had not reached indexed;
    up: no insert triggers, the watermarks at the highest ids."""
    sqlite = database_url.startswith("sqlite")

    def triggers(engine: Engine) -> set[str]:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            return {row[0] for row in rows if "_fts_" in row[0]}

    def receive_and_find(words: str, q: str, *, at_head: bool = True) -> int:
        """Receive a message, then count the touches a search for `q` finds."""
        runtime = Runtime.start(settings)
        try:
            with runtime.db.session() as db:
                receive_email(db, runtime.env, "ann@example.com", words)
            if at_head:
                refresh(runtime.db)
            with runtime.db.reading() as read:
                hits = search(read, q, region="GB", cases=True, private=True, limit=10)
            return len(hits.touches)
        finally:
            runtime.close()

    runtime = Runtime.start(settings)
    try:
        with runtime.db.session() as db:
            receive_email(db, runtime.env, "ann@example.com", "Before the downgrade")
    finally:
        runtime.close()

    downgrade(database_url, "0005")
    engine = create_engine(database_url)
    try:
        if sqlite:
            assert triggers(engine) == {
                f"{table}_fts_{what}"
                for table in ("customers", "cases", "touches")
                for what in ("insert", "update", "delete")
            }
            assert "search_fts_progress" not in inspect(engine).get_table_names()
            with engine.begin() as connection:
                for fts in ("customers_fts", "cases_fts", "touches_fts"):
                    connection.execute(text(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')"))
                found = connection.execute(
                    text("SELECT count(*) FROM touches_fts WHERE touches_fts MATCH 'downgrade'")
                ).scalar_one()
                assert found == 1
        # 0004's triggers index on insert again.
        assert receive_and_find("While at 0005", "while", at_head=False) == 1
    finally:
        upgrade(database_url)
    try:
        if sqlite:
            assert triggers(engine) == {
                f"{table}_fts_{what}"
                for table in ("customers", "cases", "touches")
                for what in ("update", "delete")
            }
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT name, last_id FROM search_fts_progress"))
                marks = {row.name: row.last_id for row in rows}
                highest = {
                    table: connection.execute(text(f"SELECT max(id) FROM {table}")).scalar_one()
                    for table in ("customers", "cases", "touches")
                }
            assert marks == highest
        assert receive_and_find("After the upgrade", "upgrade") == 1
        assert receive_and_find("Last one", "downgrade") == 1
        assert receive_and_find("Once more", "while") == 1
    finally:
        engine.dispose()
