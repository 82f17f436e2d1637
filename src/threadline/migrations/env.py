"""Alembic environment: one engine from the configured URL, our metadata as the target."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from threadline.models import Base

config = context.config
url: str = config.get_main_option("sqlalchemy.url") or ""
if not url:
    raise RuntimeError("run migrations through threadline.migrate, which sets the URL")


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Autogenerate leaves out the full-text search objects of migration 0004 (SQLite
    FTS5 tables with their shadow tables, PostgreSQL GIN expression indexes): the
    models do not declare them, and the migration alone keeps them."""
    if type_ in ("table", "index") and name is not None:
        return not (name.endswith("_fts") or "_fts_" in name)
    return True


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
