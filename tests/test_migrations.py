"""Migrations: a migrated database equals ``tables.metadata``, and data survives them.

Runs on SQLite (a new file per test) and PostgreSQL (a database of its own, recreated for
each test, so that "fresh" means fresh). The in-memory database is never migrated.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kinto_clone import migration
from kinto_clone.db import MEMORY_URL, Database, transaction
from kinto_clone.storage import ListQuery
from kinto_clone.storage.sql import SQLStorage
from kinto_clone.tables import metadata
from tests import postgres


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    return postgres.required_server_url()


def _fresh_database(backend: str, name: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database: no table, no revision."""
    if backend == "memory":
        pytest.skip("the in-memory database is created from tables.metadata, not migrated")
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/{name}.sqlite"
    server = request.getfixturevalue("postgresql_server")
    worker_id = request.getfixturevalue("worker_id")
    return postgres.create_database(server, f"kinto_clone_test_{name}_{worker_id}")


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return _fresh_database(backend, "migrated", tmp_path, request)


@pytest.fixture
def created_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database whose tables come straight from ``metadata.create_all``."""
    url = _fresh_database(backend, "created", tmp_path, request)
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            metadata.create_all(conn)
    finally:
        db.dispose()
    return url


def _reflect(url: str) -> dict[str, object]:
    """What the database says of each table: columns (type with collation, nullability),
    primary key and indexes."""
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                table: (
                    [
                        (c["name"], repr(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table)
                    ],
                    inspector.get_pk_constraint(table)["constrained_columns"],
                    sorted(
                        (i["name"], i["column_names"], i["unique"])
                        for i in inspector.get_indexes(table)
                    ),
                )
                for table in sorted(metadata.tables)
            }
    finally:
        db.dispose()


def _schema_differences(url: str) -> list[object]:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        db.dispose()


def test_a_migrated_database_equals_the_tables_definition(fresh_url: str) -> None:
    assert migration.current(fresh_url) is None
    assert not migration.check_schema(fresh_url)
    migration.upgrade(fresh_url)
    assert migration.current(fresh_url) == migration.head()
    assert migration.check_schema(fresh_url)
    assert _schema_differences(fresh_url) == []


def test_a_migrated_database_equals_one_created_from_the_tables_definition(
    fresh_url: str, created_url: str
) -> None:
    # compare_metadata does not look at collations; reflection does.
    migration.upgrade(fresh_url)
    assert _reflect(fresh_url) == _reflect(created_url)


def test_a_fresh_database_does_not_equal_the_tables_definition(fresh_url: str) -> None:
    # The comparison above would not notice a missing table otherwise.
    assert _schema_differences(fresh_url) != []


def _store_some_data(url: str) -> None:
    db = Database(url)
    storage = SQLStorage(db)
    try:
        with transaction():
            storage.create("bucket", "", {"id": "b", "title": "kept"})
    finally:
        db.dispose()


def _bucket_ids(url: str) -> list[str]:
    db = Database(url)
    try:
        with transaction():
            page, _ = SQLStorage(db).list_objects("bucket", "", ListQuery())
        return [obj["id"] for obj in page]
    finally:
        db.dispose()


def test_data_survives_upgrading_twice(fresh_url: str) -> None:
    migration.upgrade(fresh_url)
    _store_some_data(fresh_url)
    migration.upgrade(fresh_url)
    migration.upgrade(fresh_url)
    assert _bucket_ids(fresh_url) == ["b"]
    assert migration.current(fresh_url) == migration.head()


def test_a_schema_made_without_alembic_is_stamped_and_keeps_its_data(created_url: str) -> None:
    _store_some_data(created_url)
    migration.upgrade(created_url)
    assert migration.current(created_url) == migration.head()
    assert _bucket_ids(created_url) == ["b"]


@pytest.mark.parametrize("truncate_every", [migration.TRUNCATE_EVERY, 1])
def test_empty_tables_deletes_every_row_and_keeps_the_schema(
    fresh_url: str, truncate_every: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every call truncates with 1 (PostgreSQL's TRUNCATE path), none of these two otherwise.
    monkeypatch.setattr(migration, "TRUNCATE_EVERY", truncate_every)
    migration.upgrade(fresh_url)
    _store_some_data(fresh_url)
    migration.empty_tables(fresh_url)
    migration.empty_tables(fresh_url)
    db = Database(fresh_url)
    try:
        with db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    finally:
        db.dispose()
    assert migration.check_schema(fresh_url)


def test_the_memory_database_needs_no_migration() -> None:
    migration.upgrade(MEMORY_URL)
    migration.empty_tables(MEMORY_URL)
    assert migration.current(MEMORY_URL) is None
    assert migration.check_schema(MEMORY_URL)


def test_big_tables_are_analyzed_every_5000_changes_on_postgresql(
    backend: str, fresh_url: str
) -> None:
    if backend != "postgresql":
        pytest.skip("storage parameters are PostgreSQL's")
    migration.upgrade(fresh_url)
    db = Database(fresh_url)
    try:
        with db.engine.connect() as conn:
            options = dict(
                conn.exec_driver_sql(
                    "SELECT relname, reloptions FROM pg_class WHERE relname IN "
                    "('objects', 'access_control_entries', 'timestamps')"
                ).all()
            )
    finally:
        db.dispose()
    analyze_often = ["autovacuum_analyze_scale_factor=0", "autovacuum_analyze_threshold=5000"]
    assert options == {
        "objects": analyze_often,
        "access_control_entries": analyze_often,
        "timestamps": None,
    }
