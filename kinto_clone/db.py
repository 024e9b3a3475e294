"""Engines from settings and the request-scoped transaction.

Every request runs in one transaction (``transaction()``, opened by the tween in
``tweens.py``): backends run their statements with ``Database.execute`` on the connection
of the current transaction, checked out of SQLAlchemy's pool the first time, so a request
that touches no database costs none. Statements are compiled once per shape and sent on
the driver's cursor, skipping SQLAlchemy's ``Connection.execute``: that fast lane is
``raw_cursor.py``. Storage and permission backends configured with the
same URL share one ``Database`` and therefore one connection: their writes commit or roll
back together.

Three kinds of URL:
- ``postgresql://...``: a pooled engine (psycopg2), JSONB columns.
- ``sqlite:///path/file.db``: a file in WAL mode; write transactions start with
  ``BEGIN IMMEDIATE`` so concurrent writers queue on SQLite's lock instead of failing
  when they upgrade from reading to writing.
- ``memory``: SQLite's in-memory database on a single connection, guarded by a lock held
  for the whole transaction. The same SQL as the durable backends, lost on exit.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import psycopg2
from sqlalchemy import create_engine, event, literal, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement

from kinto_clone import json
from kinto_clone.errors import BackendError
from kinto_clone.raw_cursor import Prepared, RawExecutor

# What backends use besides ``Database``, importable from here: ``Rows`` is what
# ``Database.execute`` returns, ``in_values`` builds IN lists compiled once per length.
from kinto_clone.raw_cursor import Rows as Rows
from kinto_clone.raw_cursor import in_values as in_values

_DRIVER_ERRORS = (sqlite3.Error, psycopg2.Error)

MEMORY_URL = "memory"


def _json_dumps(value: Any) -> str:
    return json.dumps(value).decode()


def sqlalchemy_url(url: str) -> str:
    """Kinto-style ``postgresql://`` URLs mean psycopg2 (SQLAlchemy 2.1's default would be
    psycopg 3, which we do not ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


# The planner settings of every PostgreSQL connection (``raw_cursor.prepared`` says why).
PLAN_OPTIONS = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off"


class Database:
    """One engine, plus what its dialect needs to behave like the others."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 30,
        statement_timeout_ms: int = 30000,
    ) -> None:
        self.url = url
        self.lock: threading.RLock | None = None
        self.read_engine: Engine | None = None
        common: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": json.loads}
        if url == MEMORY_URL or url in ("sqlite://", "sqlite:///:memory:"):
            self.lock = threading.RLock()
            self.engine = create_engine(
                "sqlite://",
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                **common,
            )
            _sqlite_transactions(self.engine, wal=False)
        elif url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and os.path.dirname(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": 30}, **common)
            _sqlite_transactions(self.engine, wal=True)
        else:
            options: dict[str, Any] = dict(
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
                connect_args={
                    "connect_timeout": 5,
                    # A prepared statement (raw_cursor.prepared) is planned once per
                    # connection, for any values (force_generic_plan), and no plan may
                    # scan a whole table where an index serves (enable_seqscan off): a
                    # plan made while a table was small then stays right as it grows.
                    "options": f"-c statement_timeout={statement_timeout_ms} -c timezone=UTC"
                    f" {PLAN_OPTIONS}",
                },
                **common,
            )
            self.engine = create_engine(sqlalchemy_url(url), **options)
            # Reads run outside of a transaction: under READ COMMITTED every statement
            # takes its own snapshot anyway, and BEGIN and COMMIT would cost a round trip
            # each. Its own pool, so connections never switch modes.
            self.read_engine = create_engine(
                sqlalchemy_url(url), isolation_level="AUTOCOMMIT", **options
            )
        self.dialect = self.engine.dialect.name  # "postgresql" or "sqlite"
        self._driver_error = self.engine.dialect.loaded_dbapi.Error
        self._raw = RawExecutor(self.engine.dialect)
        # Called with the SQL of each statement sent in a transaction (tests count them;
        # SQLAlchemy's events see only those sent outside, by migrations and the CLI).
        self.statement_hooks: list[Callable[[str], None]] = []
        # Called with the SQL, the driver's parameters and the prepared statement (or None)
        # of each of those statements, before it is sent (the plan tests EXPLAIN them).
        self.sent_hooks: list[Callable[[str, Any, Prepared | None], None]] = []

    def connection(self) -> _Connection:
        """The connection of the current transaction (checked out on first use)."""
        state = _current.get()
        if state is None:
            raise RuntimeError("database used outside of kinto_clone.db.transaction()")
        return state.connection_for(self)

    def execute(self, statement: ClauseElement, params: dict[str, Any] | None = None) -> Rows:
        """Run a Core statement in the current transaction; every backend statement goes
        through here. Driver errors become BackendError. Compiled once per shape and sent
        on the driver's cursor (``raw_cursor.py`` says why and how)."""
        return self._raw.execute(self.connection(), statement, params)

    def hold(self, key: Hashable) -> None:
        """Remember that the current transaction holds the row lock ``key`` until it ends
        (or until a rollback to a savepoint taken before it)."""
        conn = self.connection()
        conn.held.setdefault(key, conn.savepoints)

    def holds(self, key: Hashable) -> bool:
        """Whether ``hold(key)`` was said in the current transaction, and still stands."""
        return key in self.connection().held

    def note(self, key: Hashable, value: Any) -> None:
        """Remember ``value`` for ``key`` until the current transaction ends or rolls
        back to a savepoint (for what a held lock keeps true: see ``hold``)."""
        self.connection().noted[key] = value

    def noted(self, key: Hashable) -> Any:
        """What ``note(key, ...)`` remembered in the current transaction, or None."""
        return self.connection().noted.get(key)

    def forget(self, *, locks: bool) -> None:
        """Forget every ``note`` of the current transaction, and with ``locks`` every
        ``hold`` too (after a write that removes rows those were about)."""
        conn = self.connection()
        conn.noted.clear()
        if locks:
            conn.held.clear()

    def ping(self) -> bool:
        """True when the database answers a trivial query (the backends' heartbeat)."""
        try:
            with transaction(write=False), translate_errors():
                self.execute(select(literal(1))).scalar_one()
        except BackendError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


def _sqlite_transactions(engine: Engine, *, wal: bool) -> None:
    """Take transaction control from pysqlite, so BEGIN is ours (deferred or immediate)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a transaction acknowledged to a client survives a power cut too.
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")


def open_databases(urls: list[str], **options: Any) -> dict[str, Database]:
    """One Database per distinct URL, so backends with the same URL share it."""
    return {url: Database(url, **options) for url in dict.fromkeys(urls)}


class _Connection:
    """A pooled driver connection in a transaction: what ``Database.execute`` runs on.

    SQLAlchemy's pool hands it out (``Engine.raw_connection``); the transaction is driven
    on the driver directly. PostgreSQL: psycopg2 opens one implicitly on the first
    statement of the write engine; the read engine autocommits. SQLite: the driver's own
    transaction handling is off (see ``_sqlite_transactions``), so BEGIN is sent here,
    IMMEDIATE for writes.
    """

    def __init__(self, db: Database, write: bool) -> None:
        self.db = db
        engine = db.engine if write else (db.read_engine or db.engine)
        self.pooled = engine.raw_connection()
        self.driver: Any = self.pooled.driver_connection
        self.savepoints = 0
        self.pending_savepoint: str | None = None  # to send with the next statement
        # The row locks this transaction holds that callers asked to remember (``hold``),
        # each with the number of the savepoint it was taken under: rolling back to a
        # savepoint releases the locks taken since, so they are forgotten then too.
        self.held: dict[Hashable, int] = {}
        # Facts a caller read under such a lock (``note``); any rollback to a savepoint
        # forgets them all.
        self.noted: dict[Hashable, Any] = {}
        self.postgresql = db.dialect == "postgresql"
        if not self.postgresql:
            self.run("BEGIN IMMEDIATE" if write else "BEGIN", ())

    def run(self, sql: str, params: Any, prepared: Prepared | None = None) -> tuple[list[Any], int]:
        """Send one statement; its rows and row count. Driver errors become BackendError
        (503), and a connection found dead is dropped from the pool. ``prepared``: sent as
        that prepared statement, prepared first on this connection if it is not yet (the
        hooks see ``sql`` all the same)."""
        prefix = ""
        if self.pending_savepoint is not None:
            # psycopg2 sends the text as one simple query: both statements, one trip.
            prefix, self.pending_savepoint = f"SAVEPOINT {self.pending_savepoint}; ", None
        for hook in self.db.statement_hooks:
            hook(prefix + sql)
        for sent in self.db.sent_hooks:
            sent(prefix + sql, params, prepared)
        if prepared is not None:
            done = self.pooled.info.setdefault("kinto_clone_prepared", set())
            if prepared.name not in done:
                self._send(prepared.prepare, None)  # not transactional: kept on rollback
                done.add(prepared.name)
            sql = prepared.execute
        return self._send(prefix + sql, params)

    def _send(self, sql: str, params: Any) -> tuple[list[Any], int]:
        cursor = self.driver.cursor()
        try:
            cursor.execute(sql, params)
            return (cursor.fetchall() if cursor.description else []), cursor.rowcount
        except self.db._driver_error as exc:
            if self.db.engine.dialect.is_disconnect(exc, self.driver, cursor):
                self.pooled.invalidate(exc)
            raise BackendError(str(exc), original=exc) from exc
        finally:
            cursor.close()

    def mark_savepoint(self) -> str:
        self.savepoints += 1
        name = f"sp_{self.savepoints}"
        if self.postgresql:
            self.pending_savepoint = name
        else:
            self.run(f"SAVEPOINT {name}", ())
        return name

    def undo_savepoint(self, name: str) -> None:
        if self.pending_savepoint == name:  # nothing was sent since
            self.pending_savepoint = None
        else:
            self.run(f"ROLLBACK TO SAVEPOINT {name}", ())
        number = int(name.removeprefix("sp_"))
        self.held = {key: at for key, at in self.held.items() if at < number}
        self.noted.clear()

    def keep_savepoint(self, name: str) -> None:
        if self.pending_savepoint == name:
            self.pending_savepoint = None
        elif not self.postgresql:
            self.run(f"RELEASE SAVEPOINT {name}", ())

    def commit(self) -> None:
        with translate_errors():
            self.driver.commit()

    def rollback(self) -> None:
        with translate_errors():
            self.driver.rollback()

    def close(self) -> None:
        self.pooled.close()  # back to the pool (which rolls back anything left open)


@dataclass
class _Transaction:
    write: bool
    connections: dict[int, _Connection] = field(default_factory=dict)

    def connection_for(self, db: Database) -> _Connection:
        conn = self.connections.get(id(db))
        if conn is not None:
            return conn
        if db.lock is not None:
            db.lock.acquire()
        try:
            with translate_errors():
                conn = _Connection(db, self.write)
        except BaseException:
            if db.lock is not None:
                db.lock.release()
            raise
        self.connections[id(db)] = conn
        return conn

    def finish(self, commit: bool) -> None:
        error: BaseException | None = None
        for conn in self.connections.values():
            try:
                if commit and error is None:
                    conn.commit()
                else:
                    conn.rollback()
            except BaseException as exc:  # roll back the rest, then re-raise
                error = error or exc
            finally:
                with contextlib.suppress(Exception):
                    conn.close()
                if conn.db.lock is not None:
                    conn.db.lock.release()
        self.connections.clear()
        if error is not None:
            raise error


_current: ContextVar[_Transaction | None] = ContextVar("kinto_clone_transaction", default=None)


@contextlib.contextmanager
def transaction(write: bool = True) -> Iterator[None]:
    """Run the block in one transaction per database; commit on success, else roll back.

    Nested calls join the outer transaction (a batch runs its subrequests in one).
    """
    if _current.get() is not None:
        yield
        return
    state = _Transaction(write=write)
    token = _current.set(state)
    try:
        yield
    except BaseException:
        _current.reset(token)
        state.finish(commit=False)
        raise
    _current.reset(token)
    state.finish(commit=True)


def in_transaction() -> bool:
    return _current.get() is not None


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Driver errors become BackendError (503 errno 201); nothing else leaks out."""
    try:
        yield
    except (sa_exc.SQLAlchemyError, *_DRIVER_ERRORS) as exc:
        raise BackendError(str(getattr(exc, "orig", exc)), original=exc) from exc


F = TypeVar("F", bound=Callable[..., Any])


def db_errors(func: F) -> F:
    """Decorator form of ``translate_errors`` for backend methods."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with translate_errors():
            return func(*args, **kwargs)

    return cast(F, wrapper)


@contextlib.contextmanager
def savepoint(databases: list[Database]) -> Iterator[None]:
    """A nested transaction on each database: the block's writes are undone if it raises,
    while the outer transaction goes on (one subrequest of a batch).

    On PostgreSQL the SAVEPOINT travels with the block's first statement (one round trip
    instead of two) and is not released on success: the commit releases them all, and a
    batch has at most ``batch_max_requests`` of them. A block that sent nothing has
    nothing to undo.
    """
    state = _current.get()
    if state is None:
        raise RuntimeError("savepoint() outside of transaction()")
    connections = [state.connection_for(db) for db in databases]
    marks = [conn.mark_savepoint() for conn in connections]
    try:
        yield
    except BaseException:
        for conn, name in reversed(list(zip(connections, marks, strict=True))):
            conn.undo_savepoint(name)
        raise
    for conn, name in zip(connections, marks, strict=True):
        conn.keep_savepoint(name)
