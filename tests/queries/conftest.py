"""Fixtures for the read queries: the read-only session views use, and a counter of the
statements it sends, for proving a page costs the same few queries however long it is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from threadline.db import ReadSession
from threadline.runtime import Runtime


@pytest.fixture
def read(runtime: Runtime) -> Iterator[ReadSession]:
    with runtime.db.reading() as session:
        yield session


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # SQLite's explicit BEGIN is plumbing, not a query of ours.
        if statement.strip().upper() != "BEGIN":
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engine = runtime.db.read_engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
