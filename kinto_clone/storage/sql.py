"""SQL storage: one implementation for PostgreSQL (JSONB) and SQLite (JSON1).

Every statement is a SQLAlchemy Core expression over ``kinto_clone.tables``. The dialects
differ in how a data field is read, compared and sorted (``sql_fields.py``), in two
helpers below (``insert`` for ON CONFLICT, ``greatest``) and in one optimisation
(``folded``); everything else is written once.
The statements of the hot paths are built once per dialect with named parameters
(``_Statements``): building a SQLAlchemy expression costs as much as running it.

Timestamps. Each write to a list first upserts the list's row in ``timestamps``
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``): the new value is
``max(now, previous + 1)``. On PostgreSQL that row lock is held until commit, so writers
of one list queue behind each other and each reads the value its predecessor
*committed*: timestamps are unique, increase in commit order, and a ``_since`` poll never
misses a write that commits later with a smaller timestamp. No unique index, no 409.
SQLite gets the same order from ``BEGIN IMMEDIATE`` (one writer at a time).

Statements per call: ``get``, ``get_many``, ``count`` 1; ``list_objects`` 1 (2 when the
page is empty: the list timestamp then comes from ``resource_timestamp``, on PostgreSQL
from a statement that also checks that the page is still empty);
``resource_timestamp`` 1 (3 the first time); ``create``, ``update``, ``delete`` 1 on
PostgreSQL (the bump is a CTE of the write), 2 on SQLite, and 2 to 4 when the client
supplies ``last_modified`` (see ``_stamp``); ``delete_all`` 3; ``delete_tree`` 2;
``purge_deleted`` 1.
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from kinto_clone.db import Database, db_errors
from kinto_clone.storage import (
    BackendError,
    ListQuery,
    ObjectNotFoundError,
    Op,
    ReadableBy,
    Storage,
    UnicityError,
)
from kinto_clone.storage import sql_fields as fields
from kinto_clone.tables import access_control_entries, objects, timestamps

PLURALS = {
    "bucket": "buckets",
    "collection": "collections",
    "group": "groups",
    "record": "records",
    "account": "accounts",
    "history": "history",
}
MANAGED_FIELDS = ("id", "last_modified")

Condition = ColumnElement[bool]


def plural(resource_name: str) -> str:
    return PLURALS.get(resource_name, resource_name + "s")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------------------------------
# Statements built once per dialect. Their parameters: list_parent, list_resource,
# object_id, now, stamp, object_data (names that are no column name: SQLAlchemy reserves
# those in INSERT and UPDATE), and keys, prefix, lower, upper for the bulk ones.

_PARENT = sa.bindparam("list_parent", type_=sa.Text)
_RESOURCE = sa.bindparam("list_resource", type_=sa.Text)
_ID = sa.bindparam("object_id", type_=sa.Text)
_NOW = sa.bindparam("now", type_=sa.BigInteger)
_STAMP = sa.bindparam("stamp", type_=sa.BigInteger)
_DATA = sa.bindparam("object_data", type_=objects.c.data.type)
_LIST_KEY = ("parent_id", "resource_name")
_OBJECT_COLUMNS = (objects.c.id, objects.c.last_modified, objects.c.deleted, objects.c.data)


def _in_list(table: sa.Table) -> Condition:
    return sa.and_(table.c.parent_id == _PARENT, table.c.resource_name == _RESOURCE)


_IN_LIST = _in_list(objects)
_NOT_DELETED = sa.not_(objects.c.deleted)
_IS_LIVE = sa.and_(_IN_LIST, objects.c.id == _ID, _NOT_DELETED)


class _Statements:
    def __init__(self, postgresql: bool) -> None:
        insert = pg_dialect.insert if postgresql else sqlite_dialect.insert
        greatest = sa.func.greatest if postgresql else sa.func.max  # SQLite's 2-arg max

        self.select_live = sa.select(*_OBJECT_COLUMNS).where(_IS_LIVE)
        self.live_timestamp = sa.select(objects.c.last_modified).where(_IS_LIVE)
        keys = sa.tuple_(objects.c.resource_name, objects.c.parent_id, objects.c.id)
        self.get_many = sa.select(
            objects.c.resource_name, objects.c.parent_id, *_OBJECT_COLUMNS
        ).where(keys.in_(sa.bindparam("keys", expanding=True)), _NOT_DELETED)

        read = sa.select(timestamps.c.last_modified).where(_in_list(timestamps))
        self.read_timestamp = read
        self.list_timestamp = read.scalar_subquery().label("list_timestamp")
        new_list = insert(timestamps).values(
            parent_id=_PARENT, resource_name=_RESOURCE, last_modified=_NOW
        )
        self.init_timestamp = new_list.on_conflict_do_nothing()
        # Lock the list's row without moving it (an unknown list starts at `now`).
        self.lock = new_list.on_conflict_do_update(
            index_elements=_LIST_KEY, set_={"last_modified": timestamps.c.last_modified}
        ).returning(timestamps.c.last_modified)
        self.set_timestamp = (
            sa.update(timestamps).where(_in_list(timestamps)).values(last_modified=_STAMP)
        )

        def bump(only_if: Condition) -> Any:
            # INSERT ... SELECT ... WHERE <guard>: when the guard is false nothing is
            # written, no row comes back, and the list timestamp stays where it was.
            row = sa.select(_PARENT, _RESOURCE, _NOW).where(only_if)
            return (
                insert(timestamps)
                .from_select([*_LIST_KEY, "last_modified"], row)
                .on_conflict_do_update(
                    index_elements=_LIST_KEY,
                    set_={"last_modified": greatest(_NOW, timestamps.c.last_modified + 1)},
                )
                .returning(timestamps.c.last_modified)
            )

        def object_write(kind: str, stamp: ColumnElement[Any]) -> Any:
            """Write the object of ``kind`` (create, update, delete) with ``stamp``;
            returns its timestamp, or no row when there was nothing to write."""
            if kind == "delete":
                return (
                    sa.update(objects)
                    .where(_IS_LIVE)
                    .values(deleted=True, data={}, last_modified=stamp)
                    .returning(objects.c.last_modified)
                )
            # WHERE true: SQLite needs a WHERE to parse INSERT ... SELECT ... ON CONFLICT.
            row = sa.select(_PARENT, _RESOURCE, _ID, stamp, sa.false(), _DATA).where(sa.true())
            stmt = insert(objects).from_select(
                [*_LIST_KEY, "id", "last_modified", "deleted", "data"], row
            )
            return stmt.on_conflict_do_update(
                index_elements=(*_LIST_KEY, "id"),
                set_={
                    "last_modified": stmt.excluded.last_modified,
                    "deleted": False,
                    "data": stmt.excluded.data,
                },
                # create resurrects a tombstone but never overwrites a live object.
                where=objects.c.deleted if kind == "create" else None,
            ).returning(objects.c.last_modified)

        live = sa.exists().where(_IS_LIVE)
        guards = {"create": sa.not_(live), "update": sa.true(), "delete": live}
        self.bumps = {kind: bump(guard) for kind, guard in guards.items()}
        self.writes = {kind: object_write(kind, _STAMP) for kind in guards}
        # PostgreSQL runs the bump as a CTE of the write: one round trip instead of two.
        # (SQLite has no INSERT/UPDATE inside WITH.) No row from the CTE, no write.
        self.folded: dict[str, Any] = {}
        for kind in guards if postgresql else ():
            bumped = self.bumps[kind].cte("list_timestamp")
            stamp = bumped.c.last_modified
            if kind == "delete":  # UPDATE ... SET = (SELECT ...), not a FROM without join
                stamp = sa.select(bumped.c.last_modified).scalar_subquery()
            self.folded[kind] = object_write(kind, stamp)

        # A range rather than LIKE: ids may contain "_", and the range uses the primary
        # key. parent_id >= prefix + "/" and < prefix + "0" ("0" follows "/").
        def under(table: sa.Table) -> Condition:
            return sa.or_(
                table.c.parent_id == sa.bindparam("prefix"),
                sa.and_(
                    table.c.parent_id >= sa.bindparam("lower"),
                    table.c.parent_id < sa.bindparam("upper"),
                ),
            )

        self.delete_tree = [sa.delete(objects).where(under(objects)),
                            sa.delete(timestamps).where(under(timestamps))]


@functools.cache
def _statements(postgresql: bool) -> _Statements:
    return _Statements(postgresql)


# ---------------------------------------------------------------------------------------
# Objects in and out


def _data_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in MANAGED_FIELDS}


def _client_last_modified(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _client_stamp(list_ts: int, wanted: int) -> tuple[int, int]:
    """``(object timestamp, new list timestamp)`` for a client-supplied ``wanted``: kept
    unless it equals the list timestamp (then list + 1); a past value is stored as is and
    leaves the list timestamp alone, a future one becomes the list timestamp (§2.3)."""
    if wanted == list_ts:
        return list_ts + 1, list_ts + 1
    return wanted, max(list_ts, wanted)


def _tombstone(object_id: str, last_modified: int) -> dict[str, Any]:
    return {"id": object_id, "last_modified": last_modified, "deleted": True}


def _object(row: Row[Any]) -> dict[str, Any]:
    if row.deleted:
        return _tombstone(row.id, row.last_modified)
    obj: dict[str, Any] = row.data  # freshly decoded for this row: completed in place
    obj["id"] = row.id
    obj["last_modified"] = row.last_modified
    return obj


def _readable(resource_name: str, parent_id: str, readable_by: ReadableBy) -> Condition:
    prefix = f"{parent_id}/{plural(resource_name)}/"
    return _held_on(sa.literal(prefix, sa.Text), sa.literal(_after_prefix(prefix), sa.Text),
                    sa.literal(len(prefix) + 1, sa.Integer),
                    [sa.literal(p, sa.Text) for p in sorted(readable_by.permissions)],
                    [sa.literal(p, sa.Text) for p in sorted(readable_by.principals)])


def _after_prefix(prefix: str) -> str:
    """The first string after every string that starts with ``prefix`` (ending in "/")."""
    return prefix[:-1] + "0"  # "0" follows "/"


def _held_on(prefix: Any, upper: Any, id_start: Any, permissions: list[Any],
             principals: list[Any]) -> Condition:
    """Objects of the list on whose own URI (``prefix`` + id) one of ``principals`` holds
    one of ``permissions``: ``id IN`` the ids cut from those ACEs' URIs (``id_start`` is
    where the id begins). PostgreSQL then reads the caller's ACEs under the list once and
    probes the objects by primary key. A correlated EXISTS on the URI let it compare
    every object of the list with every ACE of the caller instead (95 ms against 5 ms for
    a reader of 100 records out of 10,000)."""
    ace = access_control_entries
    held = sa.select(sa.func.substr(ace.c.object_id, id_start)).where(
        ace.c.object_id >= prefix, ace.c.object_id < upper,
        ace.c.permission.in_(permissions), ace.c.principal.in_(principals))
    return objects.c.id.in_(held)


# ---------------------------------------------------------------------------------------
# The list queries of sync clients, built once per shape.
#
# Building a list statement from a ListQuery with SQLAlchemy, then deriving its cache key,
# costs more CPU than PostgreSQL spends running it (~200 us of a 790 us `_since` poll).
# The queries sync clients repeat all day (the default order, `_since`/`_before`, the next
# page) filter and sort on `last_modified` alone, with integer values: for those the
# statement depends only on the query's shape and is built once per shape with named
# parameters. It is the statement ``SQLStorage._where`` builds for the same query (the
# list tests run both); any other query is built by ``_where``.

_TIMESTAMP_COMPARE = {Op.GT: operator.gt, Op.MIN: operator.ge, Op.LT: operator.lt,
                      Op.MAX: operator.le}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sync_shape(query: ListQuery) -> tuple[Any, ...] | None:
    if len(query.sorting) != 1 or query.sorting[0].field != "last_modified":
        return None
    if any(f.field != "last_modified" or f.op not in _TIMESTAMP_COMPARE or
           not _is_int(f.value) for f in query.filters):
        return None
    if query.after is not None and not _is_int(query.after.get("last_modified")):
        return None
    readable = query.readable_by
    return (tuple(f.op for f in query.filters), query.sorting[0].descending,
            query.after is not None, query.include_deleted, query.limit is not None,
            None if readable is None else (len(readable.permissions), len(readable.principals)))


def _sync_params(resource_name: str, parent_id: str, query: ListQuery) -> dict[str, Any]:
    params: dict[str, Any] = {f"since{i}": f.value for i, f in enumerate(query.filters)}
    if query.after is not None:
        params["after"] = query.after["last_modified"]
    if query.limit is not None:
        params["page_size"] = query.limit
    if query.readable_by is not None:
        params["uri_prefix"] = prefix = f"{parent_id}/{plural(resource_name)}/"
        params["uri_upper"] = _after_prefix(prefix)
        params["id_start"] = len(prefix) + 1
        params.update({f"permission{i}": permission
                       for i, permission in enumerate(sorted(query.readable_by.permissions))})
        params.update({f"principal{i}": principal
                       for i, principal in enumerate(sorted(query.readable_by.principals))})
    return params


def _json_text(postgresql: bool) -> ColumnElement[str]:
    """The object as the API shows it (data, id, last_modified; a tombstone's three
    fields), as JSON text written by the database."""
    id_, last_modified, deleted = objects.c.id, objects.c.last_modified, objects.c.deleted
    live: ColumnElement[Any]  # an operator expression on PostgreSQL, a function on SQLite
    if postgresql:
        build = sa.func.jsonb_build_object
        managed = build("id", id_, "last_modified", last_modified)
        live = sa.type_coerce(objects.c.data, JSONB).op("||", return_type=JSONB)(managed)
        tombstone = build("id", id_, "last_modified", last_modified, "deleted", sa.true())
    else:
        live = sa.func.json_set(objects.c.data, "$.id", id_, "$.last_modified", last_modified)
        tombstone = sa.func.json_object("id", id_, "last_modified", last_modified,
                                        "deleted", sa.func.json("true"))
    return sa.cast(sa.case((deleted, tombstone), else_=live), sa.Text).label("json")


@functools.lru_cache(maxsize=256)
def _sync_statements(postgresql: bool, shape: tuple[Any, ...],
                     encoded: bool = False) -> tuple[Any, Any]:
    ops, descending, has_after, include_deleted, has_limit, readable = shape
    column = objects.c.last_modified
    conditions = [_IN_LIST] if include_deleted else [_IN_LIST, _NOT_DELETED]
    conditions += [_TIMESTAMP_COMPARE[op](column, sa.bindparam(f"since{i}", type_=sa.BigInteger))
                   for i, op in enumerate(ops)]
    if has_after:
        after = sa.bindparam("after", type_=sa.BigInteger)
        conditions.append(column < after if descending else column > after)
    if readable is not None:
        permissions, principals = readable
        conditions.append(_held_on(
            sa.bindparam("uri_prefix", type_=sa.Text), sa.bindparam("uri_upper", type_=sa.Text),
            sa.bindparam("id_start", type_=sa.Integer),
            [sa.bindparam(f"permission{i}", type_=sa.Text) for i in range(permissions)],
            [sa.bindparam(f"principal{i}", type_=sa.Text) for i in range(principals)]))
    columns = (_json_text(postgresql),) if encoded else _OBJECT_COLUMNS
    stmt = (sa.select(*columns, _statements(postgresql).list_timestamp)
            .where(*conditions)
            .order_by(column.desc() if descending else column.asc()))
    if has_limit:
        stmt = stmt.limit(sa.bindparam("page_size", type_=sa.Integer))
    return stmt, sa.select(_statements(postgresql).list_timestamp, sa.exists(stmt))


class SQLStorage(Storage):
    """The Storage contract over ``tables.objects`` and ``tables.timestamps``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgresql = db.dialect == "postgresql"
        self._sql = _statements(self._postgresql)

    def _run(self, stmt: Any, resource_name: str, parent_id: str, **params: Any) -> Any:
        """Execute ``stmt`` in the current transaction, for the list ``(resource, parent)``."""
        return self.db.execute(
            stmt, {"list_parent": parent_id, "list_resource": resource_name, **params}
        )

    def _list_statements(
        self, resource_name: str, parent_id: str, query: ListQuery, encoded: bool = False
    ) -> tuple[Any, Any, dict[str, Any]]:
        """The page's SELECT (the list timestamp rides along as an uncorrelated scalar
        subquery, evaluated once: one round trip, one snapshot), the empty-page check of
        ``_page``, and their parameters besides the list's. ``encoded``: each object as
        its JSON text (sync shapes only)."""
        shape = _sync_shape(query)
        if shape is not None:
            return (*_sync_statements(self._postgresql, shape, encoded),
                    _sync_params(resource_name, parent_id, query))
        stmt = (
            sa.select(*_OBJECT_COLUMNS, self._sql.list_timestamp)
            .where(*self._where(resource_name, parent_id, query))
            .order_by(*fields.order_by(query.sorting, postgresql=self._postgresql))
            .limit(query.limit)
        )
        return stmt, sa.select(self._sql.list_timestamp, sa.exists(stmt)), {}

    def _where(
        self, resource_name: str, parent_id: str, query: ListQuery, *, paginate: bool = True
    ) -> list[Condition]:
        """The list (bound as parameters by ``_run``), the filters, the keyset of the
        previous page and the ACL condition."""
        conditions = [_IN_LIST]
        if not query.include_deleted or any(f.field not in MANAGED_FIELDS for f in query.filters):
            # Tombstones have no data: a filter on a data field never matches them.
            conditions.append(_NOT_DELETED)
        conditions += [
            fields.filter_condition(f, postgresql=self._postgresql) for f in query.filters
        ]
        if paginate and query.after is not None:
            conditions.append(
                fields.after_condition(query.sorting, query.after, postgresql=self._postgresql)
            )
        if query.readable_by is not None:
            conditions.append(_readable(resource_name, parent_id, query.readable_by))
        return conditions

    # -- timestamps -------------------------------------------------------------------------

    def _stamp(
        self,
        resource_name: str,
        parent_id: str,
        wanted: int,
        object_id: str | None = None,
        *,
        must_exist: bool = False,
    ) -> tuple[int, int | None]:
        """The path of a client-supplied timestamp ``wanted``: lock the list, read its
        timestamp, decide. Returns ``(object timestamp, list timestamp to store or None)``;
        the caller stores the list timestamp once its own write succeeded.

        With ``object_id`` (update, delete) ``wanted`` must also exceed the live object's
        timestamp, read after the lock so that it is the last committed one.
        """
        list_ts = self._run(self._sql.lock, resource_name, parent_id, now=now_ms()).scalar_one()
        current = None
        if object_id is not None:
            current = self._run(
                self._sql.live_timestamp, resource_name, parent_id, object_id=object_id
            ).scalar_one_or_none()
            if current is None and must_exist:
                raise ObjectNotFoundError(object_id)
        if current is None or wanted > current:
            stamp, new_list_ts = _client_stamp(list_ts, wanted)
        else:
            stamp = new_list_ts = max(now_ms(), list_ts + 1)
        return stamp, (new_list_ts if new_list_ts != list_ts else None)

    def _set_timestamp(self, resource_name: str, parent_id: str, value: int | None) -> None:
        if value is not None:
            self._run(self._sql.set_timestamp, resource_name, parent_id, stamp=value)

    @db_errors
    def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        value = self._run(self._sql.read_timestamp, resource_name, parent_id).scalar()
        if value is None:
            # First read of a list: store `now`, unless a concurrent first read won.
            self._run(self._sql.init_timestamp, resource_name, parent_id, now=now_ms())
            value = self._run(self._sql.read_timestamp, resource_name, parent_id).scalar_one()
        return int(value)

    # -- reads ------------------------------------------------------------------------------

    def _get_live(
        self, resource_name: str, parent_id: str, object_id: str
    ) -> dict[str, Any] | None:
        row = self._run(
            self._sql.select_live, resource_name, parent_id, object_id=object_id
        ).first()
        return _object(row) if row is not None else None

    @db_errors
    def get(self, resource_name: str, parent_id: str, object_id: str) -> dict[str, Any]:
        found = self._get_live(resource_name, parent_id, object_id)
        if found is None:
            raise ObjectNotFoundError(object_id)
        return found

    @db_errors
    def get_many(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], dict[str, Any]]:
        wanted = list(dict.fromkeys(tuple(key) for key in keys))
        if not wanted:
            return {}
        rows = self.db.execute(self._sql.get_many, {"keys": wanted})
        return {(row.resource_name, row.parent_id, row.id): _object(row) for row in rows}

    @db_errors
    def list_objects(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> tuple[list[dict[str, Any]], int]:
        rows, timestamp = self._page(resource_name, parent_id, query, encoded=False)
        return [_object(row) for row in rows], timestamp

    @db_errors
    def list_encoded(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> tuple[list[str], int] | None:
        # The database writes each object's JSON (with id and last_modified): a page of
        # 100 is then neither decoded nor encoded again in Python (a third of its CPU).
        # Only for the sync shapes, read in order from the list index: for a sort on a
        # data field PostgreSQL would write the JSON of every row it sorts, not only of
        # the page's (measured: 25% fewer pages/s).
        if _sync_shape(query) is None:
            return None
        rows, timestamp = self._page(resource_name, parent_id, query, encoded=True)
        return [row.json for row in rows], timestamp

    def _page(
        self, resource_name: str, parent_id: str, query: ListQuery, *, encoded: bool
    ) -> tuple[list[Any], int]:
        stmt, check, params = self._list_statements(resource_name, parent_id, query, encoded)
        rows = self._run(stmt, resource_name, parent_id, **params).all()
        if rows:
            timestamp = rows[0].list_timestamp
            if timestamp is None:  # objects written without a list row (outside the API)
                timestamp = self.resource_timestamp(resource_name, parent_id)
            return rows, int(timestamp)
        # An empty page has no row to carry the timestamp, which then comes from a second
        # statement. On PostgreSQL reads autocommit, so that statement may see writes
        # committed after the first one: answering that timestamp as the ETag of the empty
        # page would make a `_since` client skip those writes for ever. So the second
        # statement reads the timestamp *and* whether the page is still empty, from one
        # snapshot; in the rare case it is not, the page is read again.
        if self._postgresql:
            for _attempt in range(3):
                timestamp, not_empty = self._run(check, resource_name, parent_id,
                                                 **params).one()
                if not_empty:
                    rows = self._run(stmt, resource_name, parent_id, **params).all()
                    if rows:
                        timestamp = rows[0].list_timestamp
                        if timestamp is None:
                            timestamp = self.resource_timestamp(resource_name, parent_id)
                        return rows, int(timestamp)
                elif timestamp is not None:
                    return [], int(timestamp)
                else:  # the first read of a list: store `now` as its timestamp, then check
                    self.resource_timestamp(resource_name, parent_id)
            rows = []
        return rows, self.resource_timestamp(resource_name, parent_id)

    @db_errors
    def count(self, resource_name: str, parent_id: str, query: ListQuery) -> int:
        live = replace(query, include_deleted=False)
        where = self._where(resource_name, parent_id, live, paginate=False)
        stmt = sa.select(sa.func.count()).select_from(objects).where(*where)
        return int(self._run(stmt, resource_name, parent_id).scalar_one())

    # -- writes -----------------------------------------------------------------------------

    def _write(
        self,
        kind: str,
        resource_name: str,
        parent_id: str,
        object_id: str,
        stamp: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> int | None:
        """Write the object (``kind``: create, update, delete) with timestamp ``stamp``,
        or with the list's next one when ``stamp`` is None. Returns the timestamp, None
        when nothing was written (create: a live object is in the way; delete: none is
        there)."""
        params = {"object_id": object_id, "object_data": data}
        if stamp is None:
            folded = self._sql.folded.get(kind)
            if folded is not None:
                return self._run(folded, resource_name, parent_id, now=now_ms(), **params).scalar()
            bump = self._sql.bumps[kind]
            stamp = self._run(bump, resource_name, parent_id, now=now_ms(), **params).scalar()
            if stamp is None:
                return None
        return self._run(
            self._sql.writes[kind], resource_name, parent_id, stamp=stamp, **params
        ).scalar()

    def _unicity_error(self, resource_name: str, parent_id: str, object_id: str) -> UnicityError:
        existing = self._get_live(resource_name, parent_id, object_id)
        if existing is None:  # pragma: no cover - the conflicting row vanished meanwhile
            raise BackendError(f"conflict on {object_id!r} without a live object")
        return UnicityError(existing)

    @db_errors
    def create(
        self, resource_name: str, parent_id: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        object_id, data = obj["id"], _data_of(obj)
        wanted = _client_last_modified(obj.get("last_modified"))
        stamp, new_list_ts = None, None
        if wanted is not None:
            stamp, new_list_ts = self._stamp(resource_name, parent_id, wanted)
        written = self._write("create", resource_name, parent_id, object_id, stamp, data)
        if written is None:
            raise self._unicity_error(resource_name, parent_id, object_id)
        self._set_timestamp(resource_name, parent_id, new_list_ts)
        return {**data, "id": object_id, "last_modified": written}

    @db_errors
    def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        data = _data_of(obj)
        wanted = _client_last_modified(obj.get("last_modified"))
        stamp, new_list_ts = None, None
        if wanted is not None:
            stamp, new_list_ts = self._stamp(resource_name, parent_id, wanted, object_id)
        written = self._write("update", resource_name, parent_id, object_id, stamp, data)
        assert written is not None  # an upsert always writes
        self._set_timestamp(resource_name, parent_id, new_list_ts)
        return {**data, "id": object_id, "last_modified": written}

    @db_errors
    def delete(
        self,
        resource_name: str,
        parent_id: str,
        object_id: str,
        last_modified: int | None = None,
    ) -> dict[str, Any]:
        wanted = _client_last_modified(last_modified)
        stamp, new_list_ts = None, None
        if wanted is not None:
            stamp, new_list_ts = self._stamp(
                resource_name, parent_id, wanted, object_id, must_exist=True
            )
        written = self._write("delete", resource_name, parent_id, object_id, stamp)
        if written is None:
            raise ObjectNotFoundError(object_id)
        self._set_timestamp(resource_name, parent_id, new_list_ts)
        return _tombstone(object_id, written)

    @db_errors
    def delete_all(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> list[dict[str, Any]]:
        list_ts = self._run(self._sql.lock, resource_name, parent_id, now=now_ms()).scalar_one()
        first = max(now_ms(), list_ts + 1)
        # Number the matching objects in the query's order (id breaks the remaining ties
        # so that numbering and LIMIT agree); the n-th one gets first + n - 1.
        order = [*fields.order_by(query.sorting, postgresql=self._postgresql), objects.c.id]
        live = replace(query, include_deleted=False)
        ranked = (
            sa.select(
                objects.c.parent_id,
                objects.c.resource_name,
                objects.c.id,
                sa.func.row_number().over(order_by=order).label("position"),
            )
            .where(*self._where(resource_name, parent_id, live))
            .order_by(*order)
            .limit(query.limit)
            .subquery()
        )
        stmt = (
            sa.update(objects)
            .where(
                objects.c.parent_id == ranked.c.parent_id,
                objects.c.resource_name == ranked.c.resource_name,
                objects.c.id == ranked.c.id,
            )
            .values(deleted=True, data={}, last_modified=first + ranked.c.position - 1)
            .returning(objects.c.id, objects.c.last_modified)
        )
        rows = sorted(self._run(stmt, resource_name, parent_id), key=lambda r: r.last_modified)
        if rows:
            self._set_timestamp(resource_name, parent_id, rows[-1].last_modified)
        return [_tombstone(row.id, row.last_modified) for row in rows]

    @db_errors
    def delete_tree(self, uri_prefix: str) -> None:
        bounds = {"prefix": uri_prefix, "lower": uri_prefix + "/", "upper": uri_prefix + "0"}
        for stmt in self._sql.delete_tree:
            self.db.execute(stmt, bounds)

    @db_errors
    def purge_deleted(
        self,
        resource_name: str | None = None,
        before: int | None = None,
        max_retained: int | None = None,
    ) -> int:
        """With both ``before`` and ``max_retained``, a tombstone goes when it is older
        than ``before`` *and* beyond the newest ``max_retained`` of its list."""
        tombstones: list[Condition] = [objects.c.deleted]
        if resource_name is not None:
            tombstones.append(objects.c.resource_name == resource_name)
        conditions = list(tombstones)
        if before is not None:
            conditions.append(objects.c.last_modified < before)
        if max_retained is not None:
            newest_first = sa.func.row_number().over(
                partition_by=(objects.c.parent_id, objects.c.resource_name),
                order_by=objects.c.last_modified.desc(),
            )
            ranked = sa.select(
                objects.c.parent_id,
                objects.c.resource_name,
                objects.c.id,
                newest_first.label("position"),
            ).where(*tombstones).subquery()
            beyond = sa.select(ranked.c.parent_id, ranked.c.resource_name, ranked.c.id).where(
                ranked.c.position > max_retained
            )
            key = sa.tuple_(objects.c.parent_id, objects.c.resource_name, objects.c.id)
            conditions.append(key.in_(beyond))
        return int(self.db.execute(sa.delete(objects).where(*conditions)).rowcount)

    @db_errors
    def flush(self) -> None:
        self.db.execute(sa.delete(objects))
        self.db.execute(sa.delete(timestamps))

    def heartbeat(self) -> bool:
        return self.db.ping()

    @db_errors
    def lock_list(self, resource_name: str, parent_id: str) -> bool:
        # PostgreSQL runs write transactions side by side: take the list's row lock that
        # every write takes first (held until commit). SQLite already serialises them.
        if not self._postgresql:
            return False
        self._run(self._sql.lock, resource_name, parent_id, now=now_ms())
        return True


def load_from_config(settings: Mapping[str, Any], db: Database) -> SQLStorage:
    """The backend named by the dotted setting ``storage_backend`` (``backends.py``)."""
    return SQLStorage(db)
