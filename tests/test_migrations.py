"""The schema comes from the Alembic migrations, and they match the models exactly on
both databases, down and up again."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from threadline.migrate import alembic_config, downgrade, upgrade


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
