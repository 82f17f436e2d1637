"""Alembic environment: one engine from the configured URL, our metadata as the target."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from threadline.models import Base

config = context.config
url: str = config.get_main_option("sqlalchemy.url") or ""
if not url:
    raise RuntimeError("run migrations through threadline.migrate, which sets the URL")


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
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
