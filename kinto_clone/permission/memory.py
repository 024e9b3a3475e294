"""The memory permission backend: the SQL permission backend over SQLite's in-memory
database, for the same reasons as ``storage/memory.py`` (one implementation, one contract
suite; everything is lost when the process exits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinto_clone.db import MEMORY_URL, Database
from kinto_clone.migration import create_memory_schema
from kinto_clone.permission.sql import SQLPermission


class MemoryPermission(SQLPermission):
    """``db``: pass the storage's memory ``Database`` so that both share one in-memory
    database (listings filtered by ACL join both backends' tables)."""

    def __init__(self, db: Database | None = None) -> None:
        db = db if db is not None else Database(MEMORY_URL)
        create_memory_schema(db)
        super().__init__(db)


# This backend brings its own database: it needs no URL setting (backends.py).
DATABASE_URL = MEMORY_URL


def load_from_config(settings: Mapping[str, Any], db: Database) -> MemoryPermission:
    """The backend named by the dotted setting ``permission_backend`` (``backends.py``)."""
    return MemoryPermission(db)
