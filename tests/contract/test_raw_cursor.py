"""The fast lane (``kinto_clone/raw_cursor.py``) answers what SQLAlchemy answers.

``Database.execute`` skips SQLAlchemy's ``Connection.execute``: it compiles each statement
shape once and runs it on the driver's cursor. Here every statement shape the backends
use (the storage's catalogue, list pages of the sync and the general shapes, counts, the
loader's UNION ALL, the permission backend's IN lists and ACE inserts, bulk deletes) runs
both ways on the same data, each in a transaction rolled back afterwards, and must give
the same rows (values and column names), the same row counts and the same errors.
Statements run twice through the fast lane with different values, and two statements of
one shape with different literal values, so that its caches are exercised too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from kinto_clone.db import Database, in_values, transaction
from kinto_clone.errors import BackendError
from kinto_clone.permission import Permission
from kinto_clone.permission import sql as sql_permission
from kinto_clone.storage import Filter, ListQuery, Op, ReadableBy, Sort, Storage
from kinto_clone.storage import sql_lists as lists
from kinto_clone.storage import sql_statements as catalogue
from kinto_clone.storage.sql_loader import _statement as loader_statement
from kinto_clone.tables import LIST_KEY_SEPARATOR, access_control_entries, objects

R, P = "record", "/buckets/b/collections/c"
ON_LIST = {"list_parent": P, "list_resource": R, "list_key": P + LIST_KEY_SEPARATOR + R}
NOW = 1_700_000_000_000


class Rollback(Exception):
    """Raised inside our transaction to undo it."""


def through_raw_cursor(database: Database, statement: Any, params: dict[str, Any]) -> Any:
    """Rows (tuples and column names), row count, or the driver's error, of ours."""
    try:
        with transaction():
            rows = database.execute(statement, params)
            answered = ([tuple(r) for r in rows], [list(r._fields) for r in rows], rows.rowcount)
            raise Rollback
    except Rollback:
        return answered
    except BackendError as exc:
        return error(exc.original)


def through_sqlalchemy(database: Database, statement: Any, params: dict[str, Any]) -> Any:
    """The same, from SQLAlchemy's own ``Connection.execute``."""
    with database.engine.connect() as conn:
        conn.begin()
        try:
            result = conn.execute(statement, params)
        except sa_exc.DBAPIError as exc:
            return error(exc.orig)
        rows = result.all() if result.returns_rows else []
        names = [list(result.keys()) for _ in rows]
        answered = ([tuple(r) for r in rows], names, result.rowcount)
        conn.rollback()
    return answered


def error(driver_error: BaseException | None) -> tuple[str, str | None, str]:
    """The driver's error class, PostgreSQL's SQLSTATE and the first line of the message."""
    assert driver_error is not None
    message = str(driver_error).splitlines()[0]
    return type(driver_error).__name__, getattr(driver_error, "pgcode", None), message


def named_alike(ours: list[list[str]], theirs: list[list[str]]) -> bool:
    """Rows are named tuples: a column without a usable name (anonymous, repeated, no
    identifier) is ``_<position>`` there; the others have SQLAlchemy's names."""
    return all(
        a == b or a == f"_{i}"
        for row_a, row_b in zip(ours, theirs, strict=True)
        for i, (a, b) in enumerate(zip(row_a, row_b, strict=True))
    )


@pytest.fixture
def seeded(storage: Storage, permission: Permission) -> None:
    with transaction():
        for i, title in enumerate(["a", "b", "b", "ü €", None]):
            data = {"title": title, "n": i, "nested": {"list": [i, {"big": 2**70}]}}
            storage.create(R, P, {"id": f"r{i}", **data})
        storage.delete(R, P, "r1")
        storage.create("collection", "/buckets/b", {"id": "c"})
        storage.create("bucket", "", {"id": "b"})
        permission.add_object_permissions("/buckets/b", {"write": ["alice"], "read": ["bob"]})
        permission.add_object_permissions(f"{P}/records/r2", {"read": ["bob", "carol"]})
        permission.add_user_principal("bob", "/buckets/b/groups/g")
        permission.add_user_principal("system.Authenticated", "/buckets/b/groups/all")


Case = tuple[str, Any, dict[str, Any]]


def list_pages(postgresql: bool) -> list[Case]:
    readable = ReadableBy(frozenset({"bob", "carol"}), ("read", "write"), f"{P}/records")
    queries = {
        "default order": ListQuery(limit=2),
        "_since poll with tombstones": ListQuery(
            filters=(Filter("last_modified", 0, Op.GT),), include_deleted=True
        ),
        "next page": ListQuery(limit=2, after={"last_modified": 2**62}),
        "readable by": ListQuery(readable_by=readable, limit=10),
        "sort and filter on data fields": ListQuery(
            filters=(Filter("title", ["a", "b"], Op.IN), Filter("nested.list", [1], Op.CONTAINS)),
            sorting=(Sort("title"), Sort("n", descending=True)),
            limit=3,
        ),
    }
    cases: list[Case] = []
    for name, query in queries.items():
        shape = lists.sync_shape(query)
        for total in (False, True):
            if shape is not None:
                page, empty = lists.sync_statements(postgresql, shape, encoded=total, total=total)
                params = {**ON_LIST, **lists.sync_params(R, P, query)}
            else:
                page, empty = lists.general_statements(postgresql, R, P, query, total)
                params = dict(ON_LIST)
            cases += [(f"{name} (total {total})", page, params), (f"{name}: empty", empty, params)]
    return cases


def catalogue_statements(postgresql: bool) -> list[Case]:
    sql = catalogue.statements(postgresql)
    one = {**ON_LIST, "object_id": "r0", "now": NOW, "object_data": {"title": "new"}}
    cases: list[Case] = [
        ("live object", sql.select_live, {**ON_LIST, "object_id": "r0"}),
        ("tombstone is no live object", sql.select_live, {**ON_LIST, "object_id": "r1"}),
        ("live timestamp", sql.live_timestamp, {**ON_LIST, "object_id": "r2"}),
        ("get_many", sql.get_many, {"keys": [(R, P, "r0"), (R, P, "r1"), ("bucket", "", "b")]}),
        ("list timestamp", sql.read_timestamp, ON_LIST),
        ("list count", sql.read_count, ON_LIST),
        ("lock the list", sql.lock, {**ON_LIST, "now": NOW}),
        ("first timestamp", sql.init_timestamp, {**ON_LIST, "now": NOW}),
        ("set timestamp", sql.set_timestamp, {**ON_LIST, "stamp": NOW, "delta": 1}),
        ("delete tree", sql.delete_tree[0], tree_bounds("/buckets/b")),
        ("delete tree timestamps", sql.delete_tree[1], tree_bounds("/buckets/b")),
    ]
    for kind in ("create", "update", "delete"):
        for object_id in ("r0", "r1", "new"):
            params = {**one, "object_id": object_id}
            cases += [
                (f"bump for {kind} of {object_id}", sql.bumps[kind], params),
                (f"{kind} of {object_id}", sql.writes[kind], {**params, "stamp": NOW}),
            ]
            if kind in sql.folded:
                cases.append((f"folded {kind} of {object_id}", sql.folded[kind], params))
    query = ListQuery(filters=(Filter("title", "b"),), sorting=(Sort("n"),), limit=1)
    cases += [
        ("delete_all", catalogue.delete_all(postgresql, R, P, query, NOW), ON_LIST),
        ("purge tombstones", catalogue.purge_deleted(R, None, 0), {}),
        ("purge tombstones before", catalogue.purge_deleted(None, NOW * 2, None), {}),
    ]
    return cases


def tree_bounds(prefix: str) -> dict[str, str]:
    own = prefix + LIST_KEY_SEPARATOR
    return {
        "prefix": prefix,
        "lower": prefix + "/",
        "upper": prefix + "0",
        "own": own,
        "own_upper": own[:-1] + chr(ord(own[-1]) + 1),
    }


def other_statements(postgresql: bool) -> list[Case]:
    aces = access_control_entries
    keys = {"r0": R, "p0": P, "i0": "r2", "r1": "bucket", "p1": "", "i1": "b"}
    return [
        (
            "loader",
            loader_statement(2, 2, 2),
            {**keys, "u0": "/buckets/b", "u1": f"{P}/records/r2", "g0": "bob", "g1": "x"},
        ),
        ("IN list", sa.select(aces).where(in_values(aces.c.principal, ["bob", "alice"])), {}),
        ("same shape, other values", sa.select(aces).where(in_values(aces.c.principal, ["x"])), {}),
        (
            "same shape, other value",
            sa.select(aces).where(in_values(aces.c.principal, ["bob"])),
            {},
        ),
        (
            "insert ACEs",
            sql_permission._insert_aces(postgresql, 2, True),
            {
                "object_id": "/buckets/b",
                **{"permission0": "read", "principal0": "bob"},
                **{"permission1": "read", "principal1": "dave"},
            },
        ),
        ("count", sa.select(sa.func.count()).select_from(objects), {}),
        ("literal", sa.select(sa.literal(1), sa.literal("x")), {}),
        ("delete everything", sa.delete(objects), {}),
    ]


def failing_statements(postgresql: bool) -> list[Case]:
    aces = access_control_entries
    duplicate = sa.insert(aces).values(
        object_id="/buckets/b", permission="write", principal="alice"
    )
    cases: list[Case] = [
        ("unique violation", duplicate, {}),
        ("unknown function", sa.select(sa.func.no_such_function(1)), {}),
        (
            "not null violation",
            sa.update(objects).where(objects.c.id == "r0").values(last_modified=None),
            {},
        ),
    ]
    if postgresql:  # SQLite's JSON takes NUL characters
        sql = catalogue.statements(postgresql)
        params = {**ON_LIST, "object_id": "nul", "now": NOW, "object_data": {"t": "\x00"}}
        cases.append(("NUL in jsonb", sql.folded["create"], params))
    return cases


CASES: dict[str, Callable[[bool], list[Case]]] = {
    "list pages": list_pages,
    "storage catalogue": catalogue_statements,
    "loader, permissions and others": other_statements,
    "errors": failing_statements,
}


def returning_on_sqlite(database: Database, statement: Any) -> bool:
    return database.dialect == "sqlite" and bool(getattr(statement, "_returning", ()))


@pytest.mark.parametrize("family", list(CASES))
def test_the_raw_cursor_answers_what_sqlalchemys_execute_answers(
    database: Database, seeded: None, family: str
) -> None:
    cases = CASES[family](database.dialect == "postgresql")
    for name, statement, params in cases:
        theirs = through_sqlalchemy(database, statement, params)
        # Twice: the first run compiles the shape, the second reuses what it kept.
        for _ in range(2):
            ours = through_raw_cursor(database, statement, params)
            if family == "errors":
                assert isinstance(ours, tuple) and len(ours) == 3 and isinstance(ours[0], str)
                assert ours == theirs, name
                continue
            rows, names, rowcount = ours
            assert rows == theirs[0], name
            assert named_alike(names, theirs[1]), name
            if returning_on_sqlite(database, statement):
                # pysqlite counts the rows of an INSERT/UPDATE/DELETE ... RETURNING as they
                # are fetched: SQLAlchemy reads the count before (0 for an UPDATE), ours
                # after, when it is the number of rows written. No backend reads it.
                assert rowcount == len(rows), name
            else:
                assert rowcount == theirs[2], name


def test_statements_of_one_shape_keep_their_own_values(database: Database, seeded: None) -> None:
    # One plan serves the three statements; each runs with its own literal value.
    aces = access_control_entries
    statements = [
        sa.select(aces.c.object_id).where(aces.c.principal == principal)
        for principal in ("bob", "alice", "bob")
    ]
    ours = [through_raw_cursor(database, statement, {})[0] for statement in statements]
    assert ours == [through_sqlalchemy(database, statement, {})[0] for statement in statements]
    assert ours[0] == ours[2] != ours[1]
