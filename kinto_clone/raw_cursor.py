"""The fast lane of ``Database.execute``: Core statements on the raw driver cursor.

What it skips: SQLAlchemy's ``Connection.execute``, that is its execution context and its
``Result`` objects. On a one-row primary-key read those cost more CPU than psycopg2 and
PostgreSQL together (measured: 130 us against 50 us per statement, a tenth of a whole
GET). What it keeps of SQLAlchemy: the Core statements, their compiler and cache keys, the
types' bind and result processors, and the pool (``Engine.raw_connection``).

So each statement shape is compiled once (``Plan``), keyed by SQLAlchemy's own cache key
(whose extracted parameters carry this call's values), and the SQL text and the driver's
parameters are handed to the connection of the current transaction (``db._Connection``,
which sends them on its cursor). A statement with an IN list bound as one expanding
parameter (rare: ``in_values`` avoids them) is compiled again for each call.

Readers of backends need none of this: they call ``Database.execute`` and read ``Rows``
as they would read a SQLAlchemy ``Result``. ``tests/contract/test_raw_cursor.py`` pins the
rows, row counts and errors to those of SQLAlchemy's own ``Connection.execute`` for the
statement shapes the backends use, on every backend.
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from kinto_clone.errors import BackendError

# Shapes kept at most (statements built from arbitrary filters have arbitrary shapes).
MAX_PLANS = 2000


class Cursor(Protocol):
    def run(self, sql: str, params: Any, prepared: Prepared | None = None) -> tuple[list[Any], int]:
        """Send one statement (``prepared``: as that prepared statement, see below); its
        rows (driver tuples) and row count."""


PREPARE_OPTION = "kinto_clone_prepare"


def prepared(statement: Any) -> Any:
    """Mark a hot statement of a fixed shape (the loader, primary-key reads and writes, the
    pages of the sync shapes): on PostgreSQL it is prepared once per connection, planned
    once, and then only executed.

    PostgreSQL parses, analyses and plans every statement it receives as text, and for the
    short statements of the hot paths planning costs more than running them (the loader's
    UNION ALL: 0.55-0.66 ms planned for its values, 0.13 ms run on its plan; a request's
    statements 0.97 -> 0.38 ms on a 412 PATCH, 1.03 -> 0.67 ms on a page of 100;
    2026-12-08, bench/RESULTS.md). So the plan is made once, for any values
    (``plan_cache_mode = force_generic_plan``, set by ``db.Database``), and is kept until
    the tables' statistics change. Such a plan must not depend on how big a table was when
    it was made: planned on a table of a few rows, a primary-key read would be a scan of
    the table, and stay one when the table has grown a million rows without being analyzed
    again. Hence ``enable_seqscan = off`` on the same connections: every hot statement has
    an index to read, and ``tests/functional/test_query_plans.py`` checks the plans these
    statements run, planned on a small analyzed database and run on a grown one too."""
    return statement.execution_options(**{PREPARE_OPTION: True})


@dataclass(frozen=True)
class Prepared:
    """A plan as a PostgreSQL prepared statement: ``name``, the ``PREPARE`` to send once
    per connection (no driver parameters), and the ``EXECUTE`` to send with them."""

    name: str
    prepare: str
    execute: str


_prepared_names = itertools.count(1)
_PYFORMAT = re.compile(r"%\((\w+)\)s|%%")


def _as_prepared(compiled: SQLCompiler, sql: str, dialect: Dialect) -> Prepared:
    types: dict[str, str] = {}
    for bind, name in compiled.bind_names.items():
        impl = bind.type.dialect_impl(dialect)
        shown = "unknown" if impl._isnull else dialect.type_compiler_instance.process(impl)
        # A column's collation is no part of a parameter's type.
        types[compiled.escaped_bind_names.get(name, name)] = shown.split(" COLLATE ")[0]
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    body = _PYFORMAT.sub(number, sql)
    label = f"kc_{next(_prepared_names)}"
    declared = f" ({', '.join(types[name] for name in order)})" if order else ""
    arguments = f" ({', '.join(f'%({name})s' for name in order)})" if order else ""
    return Prepared(label, f"PREPARE {label}{declared} AS {body}", f"EXECUTE {label}{arguments}")


def in_values(column: Any, values: Iterable[Any]) -> Any:
    """``column IN (...)`` with one parameter per value. SQLAlchemy's own form (one
    "expanding" parameter) renders its SQL text on every call, which the plans then
    cannot reuse; this one is compiled once per number of values."""
    return column.in_([bindparam(None, value, type_=column.type) for value in values])


class Rows:
    """What ``Database.execute`` returns: the rows (named tuples), read like SQLAlchemy's
    ``Result``."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise BackendError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        return self.one()[0] if self._rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


class RawExecutor:
    """The plans of one dialect: ``execute`` compiles a statement's shape the first time
    and then only binds values."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._plans: dict[Any, Plan] = {}
        self._by_statement: weakref.WeakKeyDictionary[ClauseElement, list[Any]] = (
            weakref.WeakKeyDictionary()
        )

    def execute(
        self, cursor: Cursor, statement: ClauseElement, params: dict[str, Any] | None = None
    ) -> Rows:
        entry = self._plan(statement)
        plan, extracted = entry[0], entry[1]
        compiled = plan.compiled
        if plan.expanding:
            compiled = cast(SQLCompiler, statement.compile(dialect=self.dialect))
            state = compiled.construct_expanded_state(params)
            sql, values = state.statement, dict(state.parameters)  # processed in place below
            positional = state.positiontup
            processors = (*plan.bind_processors, *state.processors.items())
        else:
            sql, positional, processors = plan.sql, plan.positional, plan.bind_processors
            own = entry[2]
            if own is not None and params:
                # This statement ran before: its own values (literals) are known, only the
                # caller's change. SQLAlchemy's construct_params walks every parameter.
                values = {**own, **params}
            else:
                values = compiled.construct_params(params, extracted_parameters=extracted)
                if params:
                    entry[2] = {k: v for k, v in values.items() if k not in params}
        for name, process in processors:
            if name in values:
                values[name] = process(values[name])
        driver_params = values if positional is None else tuple(values[n] for n in positional)
        rows, rowcount = cursor.run(sql, driver_params, plan.prepared)
        return Rows(plan.make_rows(rows), rowcount)

    def _plan(self, statement: ClauseElement) -> list[Any]:
        """``[plan, extracted parameters, the statement's own values or None]``.

        The statements of the hot paths are built once: found by identity, they skip
        hashing their cache key (a deep tuple: 3 to 11 us)."""
        known = self._by_statement.get(statement)
        if known is not None:
            return known
        entry = [*self._plan_by_key(statement), None]
        self._by_statement[statement] = entry
        return entry

    def _plan_by_key(self, statement: ClauseElement) -> tuple[Plan, Any]:
        key = statement._generate_cache_key()
        if key is None:  # not cacheable (a multi-row VALUES): compiled for this call only
            return Plan.compile(statement, None, self.dialect), None
        plan = self._plans.get(key.key)
        if plan is None:
            plan = Plan.compile(statement, key, self.dialect)
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key.key] = plan
        return plan, key.bindparams


@dataclass(frozen=True)
class Plan:
    """One statement shape compiled for one dialect, ready for the driver's cursor."""

    compiled: Any
    sql: str
    expanding: bool  # IN lists of one expanding parameter: the SQL text is made per call
    positional: tuple[str, ...] | None
    bind_processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    row: Any  # a namedtuple class, or None for statements without rows
    result_processors: tuple[Callable[[Any], Any] | None, ...]
    prepared: Prepared | None = None

    @classmethod
    def compile(cls, statement: ClauseElement, key: Any, dialect: Dialect) -> Plan:
        # With its cache key, the compiled form takes the values of any statement of the
        # same shape (``construct_params(extracted_parameters=...)``), as SQLAlchemy's own
        # compiled cache does.
        # A Core statement compiles to an SQLCompiler (``compile`` is typed as returning
        # its base class, which lacks the attributes read below).
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, cache_key=key))
        expanding = bool(compiled.post_compile_params or compiled.literal_execute_params)
        escaped = compiled.escaped_bind_names
        binds = tuple(
            (escaped.get(name, name), processor)
            for bind, name in compiled.bind_names.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        )
        columns = getattr(statement, "exported_columns", None) or ()
        keys = [column.key for column in columns]
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        positional = tuple(compiled.positiontup or ()) if compiled.positional else None
        row = namedtuple("Row", keys, rename=True) if keys else None
        sql = str(compiled)
        marked = statement.get_execution_options().get(PREPARE_OPTION)  # type: ignore[attr-defined]
        prepare = (
            _as_prepared(compiled, sql, dialect)
            if marked and dialect.name == "postgresql" and not expanding and positional is None
            else None
        )
        return cls(
            compiled,
            sql,
            expanding,
            positional,
            binds,
            row,
            processors if any(processors) else (),
            prepare,
        )

    def make_rows(self, fetched: Sequence[Any]) -> list[Any]:
        # tuple.__new__ rather than the namedtuple's _make: one Python call less per row
        # (a page of 100: 19 against 27 us); the driver's rows have the statement's arity.
        cls, new = self.row or tuple, tuple.__new__
        if not self.result_processors:
            return [new(cls, row) for row in fetched]
        procs = self.result_processors
        return [
            new(
                cls,
                [
                    value if p is None or value is None else p(value)
                    for p, value in zip(procs, row, strict=True)
                ],
            )
            for row in fetched
        ]
