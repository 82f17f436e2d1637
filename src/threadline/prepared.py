"""Statements for the hottest paths, compiled once per dialect and run on the driver's
own cursor.

SQLAlchemy spends far longer on each execution (parameter handling, result set-up,
events) than SQLite spends running a small keyed statement; on the ingest path that was
most of the time per message. A `Prepared` keeps what SQLAlchemy is good at (the
statement is written with Core against the models, so it follows the schema and each
dialect's SQL, and the columns' own type processors convert values both ways) and
drops the per-call machinery. It runs inside the transaction of the SQLAlchemy
connection it is given, so commits, rollbacks and BEGIN IMMEDIATE stay where they are.

Only statements without expanding parameters qualify, and each `Prepared` is built for
the exact set of parameter names it will be called with; an INSERT's columns left out
take their plain defaults (`default=0`), and one with a computed default must be given."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import ReturnsRows

from threadline.models.base import UTCDateTime, sqlite_utc_text

Processor = Callable[[Any], Any]


# How one of the driver's parameters is filled: from the caller's parameter of that name,
# converted by its column's type, or (name None) with a value written into the statement
# (LIMIT 1, an IN list's item, a column's plain default).
_Slot = tuple[str | None, Any, Processor | None]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool  # a ? paramstyle (a sequence of values) rather than named ones
    keys: tuple[str, ...]  # the driver's parameter names, in order
    slots: tuple[_Slot, ...]  # how each is filled
    results: tuple[Processor | None, ...]

    def bind(self, params: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        """The driver's parameters for one execution: the caller's values converted by
        their columns' types, with the constants, in the driver's paramstyle. It runs a
        dozen times a message on the ingest path, hence one plain loop over a plan."""
        values: list[Any] = []
        append = values.append
        for given, constant, process in self.slots:
            if given is None:
                append(constant)
            else:
                value = params[given]
                append(value if process is None or value is None else process(value))
        return values if self.positional else dict(zip(self.keys, values, strict=True))


class Prepared:
    """One statement, compiled lazily for each dialect it meets."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] = ()) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        compiled = self.statement.compile(
            dialect=dialect, column_keys=list(self.keys) if self.keys else None
        )
        assert isinstance(compiled, SQLCompiler)
        required = set(self.keys) | {k for k, b in compiled.binds.items() if b.required}
        # Expanding the statement once with the caller's parameters still open turns
        # IN lists and LIMITs into plain parameters with their values.
        expanded = compiled.construct_expanded_state(dict.fromkeys(required))
        processors = {
            name: _bind_processor(bind.type, dialect) for name, bind in compiled.binds.items()
        } | dict(expanded.processors)

        results: tuple[Processor | None, ...] = ()
        if isinstance(self.statement, ReturnsRows):
            results = tuple(
                _result_processor(column.type, dialect)
                for column in self.statement.exported_columns
            )
        constants = {
            name: _converted(processors.get(name), self._scalar_default(name, value))
            for name, value in expanded.parameters.items()
            if name not in required
        }
        if any(value is None for value in constants.values()):
            # A column default SQLAlchemy would compute per execution (a callable, a SQL
            # expression): not supported.
            missing = sorted(name for name, value in constants.items() if value is None)
            raise ValueError(f"give every column of the statement; missing {missing}")
        keys = tuple(expanded.positiontup or expanded.parameters)
        made = _Compiled(
            sql=expanded.statement,
            positional=bool(expanded.positiontup),
            keys=keys,
            slots=tuple(
                (None, constants[key], None)
                if key in constants
                else (key, None, processors.get(key))
                for key in keys
            ),
            results=results,
        )
        self._by_dialect[dialect.name] = made
        return made

    def _scalar_default(self, name: str, value: Any) -> Any:
        """An INSERT's column left out by the caller: SQLAlchemy leaves its plain default
        (`default=0`) to each execution, so it is taken from the column here, once."""
        table = getattr(self.statement, "table", None)
        column = None if value is not None or table is None else table.c.get(name)
        default = None if column is None else column.default
        if default is not None and default.is_scalar:
            return default.arg
        return value

    def _cursor(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        compiled = self._compiled(conn.dialect)
        bound = compiled.bind(params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, bound)
        except conn.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise _translated(conn, compiled.sql, bound, exc) from exc
        return cursor

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        self._cursor(conn, params).close()

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row, in one driver call."""
        compiled = self._compiled(conn.dialect)
        batch = [compiled.bind(params) for params in rows]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(compiled.sql, batch)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _translated(conn, compiled.sql, batch, exc) from exc
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, its values converted by the columns' types, or None."""
        cursor = self._cursor(conn, params)
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            return None
        processors = self._compiled(conn.dialect).results
        return tuple(
            process(value) if process is not None else value
            for process, value in zip(processors, row, strict=True)
        )

    def explain(self, conn: Connection, params: Mapping[str, Any]) -> str:
        """The database's plan for the statement with these parameters, one line per
        step: how tests and benchmarks show that an index does the work."""
        compiled = self._compiled(conn.dialect)
        prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(prefix + compiled.sql, compiled.bind(params))
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return "\n".join(str(row[-1]) for row in rows)

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, its values converted by the columns' types."""
        cursor = self._cursor(conn, params)
        rows = cursor.fetchall()
        cursor.close()
        processors = self._compiled(conn.dialect).results
        return [
            tuple(
                process(value) if process is not None else value
                for process, value in zip(processors, row, strict=True)
            )
            for row in rows
        ]

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        row = self.first(conn, params)
        return None if row is None else row[0]


def _converted(process: Processor | None, value: Any) -> Any:
    return process(value) if process is not None and value is not None else value


def _bind_processor(type_: Any, dialect: Dialect) -> Processor | None:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_text
    made: Processor | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return made


def _result_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """The column type's conversion of driver values. A few types ask for the driver's
    type code, unknown before execution: psycopg's Float wants it only to choose between
    no conversion (float8, which it already returns as float) and a cast from numeric,
    which our columns never are."""
    try:
        made: Processor | None = type_.dialect_impl(dialect).result_processor(dialect, None)
    except TypeError:
        return None
    return made


def returned_id(row: tuple[Any, ...] | None) -> int:
    """The key an INSERT ... RETURNING id handed back."""
    if row is None:
        raise RuntimeError("the INSERT returned no key")
    return int(row[0])


def _translated(conn: Connection, sql: str, params: Any, exc: Exception) -> Exception:
    """The driver's error as the SQLAlchemy exception (IntegrityError, OperationalError,
    ...) that the rest of Threadline, with_retry() included, expects."""
    return DBAPIError.instance(
        sql,
        params,
        exc,
        conn.dialect.loaded_dbapi.Error,
        dialect=conn.dialect,
        ismulti=isinstance(params, list),
    )
