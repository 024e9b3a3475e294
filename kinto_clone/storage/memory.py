"""The memory storage: the SQL storage over SQLite's in-memory database.

Not a second implementation: the same statements as ``storage/sql.py``, hence the same
semantics (timestamps, filters, JSON ordering, pagination) tested by the same contract
suite, run on one in-memory connection that ``kinto_clone.db`` guards with a lock held
for a whole transaction. Everything is lost when the process exits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinto_clone.db import MEMORY_URL, Database
from kinto_clone.migration import create_memory_schema
from kinto_clone.storage.sql import SQLStorage


class MemoryStorage(SQLStorage):
    """``db``: pass the permission backend's memory ``Database`` so that both share one
    in-memory database (``readable_by`` joins their tables). The schema is created here."""

    def __init__(self, db: Database | None = None) -> None:
        db = db if db is not None else Database(MEMORY_URL)
        create_memory_schema(db)
        super().__init__(db)


# This backend brings its own database: it needs no URL setting (backends.py).
DATABASE_URL = MEMORY_URL


def load_from_config(settings: Mapping[str, Any], db: Database) -> MemoryStorage:
    """The backend named by the dotted setting ``storage_backend`` (``backends.py``)."""
    return MemoryStorage(db)
