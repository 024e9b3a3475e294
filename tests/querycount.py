"""Count the SQL statements an app sends, to assert the budgets of hot endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import event

from kinto_clone.db import Database


@contextlib.contextmanager
def database_statements(databases: Iterable[Database]) -> Iterator[list[str]]:
    """Statements sent to ``databases`` inside the block, BEGIN excluded: those run on the
    driver's cursor by ``Database.execute`` and those SQLAlchemy sends (SAVEPOINT, ...)."""
    statements: list[str] = []
    databases = list(databases)
    engines = []
    for db in databases:
        engines += [db.engine] + ([db.read_engine] if db.read_engine is not None else [])

    def record(statement: str) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(statement)

    def on_cursor_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        record(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_cursor_execute)
    for db in databases:
        db.statement_hooks.append(record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_cursor_execute)
        for db in databases:
            db.statement_hooks.remove(record)


@contextlib.contextmanager
def recorded_statements(testapp: Any) -> Iterator[list[str]]:
    """Statements sent by ``testapp`` (a WebTest app) inside the block, BEGIN excluded."""
    with database_statements(testapp.app.registry.backends.databases.values()) as statements:
        yield statements
