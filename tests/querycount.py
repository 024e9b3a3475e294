"""Count the SQL statements an app sends, to assert the budgets of hot endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event


@contextlib.contextmanager
def recorded_statements(testapp: Any) -> Iterator[list[str]]:
    """Statements sent by ``testapp`` (a WebTest app) inside the block, BEGIN excluded."""
    statements: list[str] = []
    engines = []
    for db in testapp.app.registry.backends.databases.values():
        engines += [db.engine] + ([db.read_engine] if db.read_engine is not None else [])

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
