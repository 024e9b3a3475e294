"""Fixtures of the contract suites: every test runs once per backend.

``backend`` (parametrised by ``tests/conftest.py``, narrowed by
``KINTO_CLONE_TEST_BACKENDS``) selects the database behind ``storage`` and ``permission``:

- ``memory``: SQLite's in-memory database, created for the test;
- ``sqlite``: a file per test, a copy of one file migrated once per session with
  ``migration.upgrade`` (copying is much faster than migrating each time);
- ``postgresql``: the session's migrated database (``postgresql_url``), emptied with
  ``migration.empty_tables`` before each test.

Storage and permission share one ``Database``, as in the application, so that
``readable_by`` sees the ACEs written in the same transaction. ``frozen_clock`` stops the
SQL storage's clock (test_storage, test_folded_writes).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinto_clone import migration
from kinto_clone.db import MEMORY_URL, Database
from kinto_clone.permission import Permission
from kinto_clone.permission.memory import MemoryPermission
from kinto_clone.permission.sql import SQLPermission
from kinto_clone.storage import Storage
from kinto_clone.storage import sql as sql_storage
from kinto_clone.storage.memory import MemoryStorage
from kinto_clone.storage.sql import SQLStorage


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "kinto.sqlite"
    migration.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "memory":
        return MEMORY_URL
    if backend == "sqlite":
        path = tmp_path / "kinto.sqlite"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgresql_url")
    migration.empty_tables(url)
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def storage(backend: str, database: Database) -> Storage:
    return MemoryStorage(database) if backend == "memory" else SQLStorage(database)


@pytest.fixture
def permission(backend: str, database: Database) -> Permission:
    return MemoryPermission(database) if backend == "memory" else SQLPermission(database)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The storage's clock, stopped at ``clock[0]`` (tests move it by assigning)."""
    clock = [1_600_000_000_000]
    monkeypatch.setattr(sql_storage, "now_ms", lambda: clock[0])
    yield clock
