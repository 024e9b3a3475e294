"""Schema migrations with Alembic, configured here rather than in an ``alembic.ini``.

``tables.py`` is the one description of the schema; ``migrations/versions/`` holds the
steps that bring an existing database there, and a test checks that a fully migrated
database equals ``tables.metadata`` (``tests/test_migrations.py``). A new schema change is
a change to ``tables.py`` plus a new revision (``alembic revision --autogenerate`` works
with the ``make_config`` below).

The in-memory database is never migrated: its schema is created from ``tables.metadata``
each time (``create_memory_schema``), since it lives only as long as the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from kinto_clone.db import MEMORY_URL, Database, translate_errors
from kinto_clone.errors import BackendError
from kinto_clone.tables import metadata


def _migrations_dir() -> Path:
    """``migrations/`` of the repository: installed, setup.py ships it as
    ``kinto_clone/migrations``; in a checkout (and an editable install) it sits beside the
    package."""
    package = Path(__file__).resolve().parent
    shipped = package / "migrations"
    return shipped if shipped.is_dir() else package.parent / "migrations"


MIGRATIONS_DIR = _migrations_dir()
INITIAL_REVISION = "0001"


def make_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at ``migrations/``; ``env.py`` runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(make_config()).get_current_head()
    assert revision is not None
    return revision


def _is_memory(url: str) -> bool:
    return url in (MEMORY_URL, "sqlite://", "sqlite:///:memory:")


@contextlib.contextmanager
def _connect(url: str) -> Iterator[Connection]:
    """One transaction on a short-lived engine built like the application's."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        with translate_errors(), db.engine.begin() as conn:
            yield conn
    finally:
        db.dispose()


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the latest revision (a no-op when it is there).

    A database whose tables were created from ``tables.metadata`` without Alembic is
    stamped with the initial revision first, then upgraded.
    """
    if _is_memory(url):
        return
    with _connect(url) as conn:
        config = make_config(conn)
        if _revision(conn) is None and sa.inspect(conn).has_table("objects"):
            command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, "head")


def current(url: str) -> str | None:
    """The revision the database is at; None before the first ``upgrade``."""
    if _is_memory(url):
        return None
    with _connect(url) as conn:
        return _revision(conn)


def check_schema(url: str) -> bool:
    """True when the database is at the latest revision (memory: always)."""
    return _is_memory(url) or current(url) == head()


_engines: dict[str, Engine] = {}
_emptied: dict[str, int] = {}
# PostgreSQL: a DELETE of the few rows a test leaves takes ~5 ms, a TRUNCATE ~240 ms (it
# makes new files for every table and index; measured on this 2-core machine, loaded).
# DELETE leaves dead rows behind, and autovacuum may be off: every TRUNCATE_EVERY-th call
# truncates, so that they never pile up.
TRUNCATE_EVERY = 100


def empty_tables(url: str) -> None:
    """Delete every row of every table, keeping the schema (tests call it before each
    test). The engine is kept for the next call."""
    if _is_memory(url):
        return
    try:
        _empty_tables(url)
    except BackendError:
        # The kept connection may have died since (server restarted, database
        # recreated): SQLAlchemy has dropped it from the pool, so try once more.
        _empty_tables(url)


def _empty_tables(url: str) -> None:
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = Database(url, pool_size=1, max_overflow=0).engine
    _emptied[url] = count = _emptied.get(url, 0) + 1
    with translate_errors(), engine.begin() as conn:
        _delete_every_row(conn, truncate=count % TRUNCATE_EVERY == 0)


def empty_database(db: Database) -> None:
    """``empty_tables`` on an open ``Database``, the in-memory one included (the tests
    reuse one application, and so one in-memory database, for many tests)."""
    with db.lock or contextlib.nullcontext(), translate_errors(), db.engine.begin() as conn:
        _delete_every_row(conn)


def _delete_every_row(conn: Connection, truncate: bool = False) -> None:
    if truncate and conn.dialect.name == "postgresql":
        # Core has no TRUNCATE construct; the names are our own tables, quoted.
        quote = conn.dialect.identifier_preparer.format_table
        names = ", ".join(quote(table) for table in metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {names}")
    else:
        for table in reversed(metadata.sorted_tables):  # dependent tables first
            conn.execute(sa.delete(table))


def create_memory_schema(db: Database) -> None:
    """Create the tables of an in-memory database from ``tables.metadata`` (idempotent)."""
    with db.lock or contextlib.nullcontext(), translate_errors():
        metadata.create_all(db.engine)


def forget(url: str) -> None:
    """Close the connections ``empty_tables`` keeps for ``url`` (before dropping it)."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()
