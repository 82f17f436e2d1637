"""Test fixtures: every data test runs on a real SQLite file and, where one answers (and
always with CI=true), on a real PostgreSQL database built by the Alembic migrations."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from threadline.actions.base import Env
from threadline.api.app import create_app
from threadline.clock import FrozenClock
from threadline.config import Settings
from threadline.migrate import upgrade
from threadline.models import Base
from threadline.runtime import Runtime

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEEP_TABLES = {"segments", "alembic_version"}


def _pg_admin_url() -> str | None:
    url = os.environ.get("THREADLINE_TEST_DATABASE_URL") or DEFAULT_PG
    try:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, connect_timeout=3):
            return url
    except psycopg.OperationalError:
        if os.environ.get("CI") == "true" or os.environ.get("THREADLINE_TEST_DATABASE_URL"):
            raise
        return None


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    """A throwaway PostgreSQL database for this test run, migrated to head."""
    admin = _pg_admin_url()
    if admin is None:
        yield None
        return
    name = f"threadline_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "threadline.db"
        shutil.copy(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    url: str | None = request.getfixturevalue("pg_url")
    if url is None:
        pytest.skip("no PostgreSQL answers (set THREADLINE_TEST_DATABASE_URL)")
    _empty_pg(url)
    yield url


def _empty_pg(url: str) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP_TABLES]
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
        conn.execute("DELETE FROM segments WHERE key NOT IN ('vip', 'trade', 'standard')")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def runtime(settings: Settings, clock: FrozenClock) -> Iterator[Runtime]:
    rt = Runtime.start(settings, clock=clock)
    yield rt
    rt.close()


@pytest.fixture
def env(runtime: Runtime) -> Env:
    return runtime.env


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    with runtime.db.session() as session:
        yield session


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The whole app over the runtime, signed in as nobody (tests/web/ overrides it with
    a desk session)."""
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def table_rows(session: Session, table: str) -> list[tuple[object, ...]]:
    """Every row of a table, in key order: for comparing the database before and after."""
    session.expire_all()
    key = "key" if table == "segments" else "id"
    return [tuple(row) for row in session.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))]
