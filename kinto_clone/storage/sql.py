"""SQL storage: one implementation for PostgreSQL (JSONB) and SQLite (JSON1).

Every statement is a SQLAlchemy Core expression over ``kinto_clone.tables``. The dialects
differ only in how a dotted data field is read, compared and sorted; that difference lives
in two small field classes (``_JSONBField``, ``_SQLiteField``) behind one interface, so
the filters, sorting, pagination and every write below are written once.

Timestamps. Each write to a list first upserts the list's row in ``timestamps``
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``): the new value is
``max(now, previous + 1)``. On PostgreSQL that row lock is held until commit, so writers
of one list queue behind each other and a writer reads the value its predecessor
*committed*: timestamps are unique, increase in commit order, and a ``_since`` poll never
misses a write that commits later with a smaller timestamp. No unique index, no 409.
SQLite gets the same order from ``BEGIN IMMEDIATE`` (one writer at a time).

Statements per call, steady state: ``get`` 1, ``get_many`` 1, ``list_objects`` 1 (2 when
the page is empty), ``count`` 1, ``resource_timestamp`` 1 (3 the first time),
``create``/``update``/``delete`` 2, plus 1 or 2 when the client supplies ``last_modified``
(see ``_client_stamp``), ``delete_all`` 3, ``delete_tree`` 2.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from kinto_clone.db import Database, db_errors, in_transaction, transaction
from kinto_clone.storage import (
    BackendError,
    ListQuery,
    ObjectNotFoundError,
    ReadableBy,
    Sort,
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
    return {**row.data, "id": row.id, "last_modified": row.last_modified}


class SQLStorage(Storage):
    """The Storage contract over ``tables.objects`` and ``tables.timestamps``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgresql = db.dialect == "postgresql"

    # -- dialect helpers ------------------------------------------------------------------

    def _conn(self) -> Connection:
        return self.db.connection()

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self._postgresql else sqlite.insert)(table)

    def _greatest(self, a: Any, b: Any) -> ColumnElement[Any]:
        return sa.func.greatest(a, b) if self._postgresql else sa.func.max(a, b)

    # -- statement pieces -------------------------------------------------------------------

    @staticmethod
    def _in_list(table: sa.Table, resource_name: str, parent_id: str) -> Condition:
        return sa.and_(table.c.parent_id == parent_id, table.c.resource_name == resource_name)

    def _is_live(self, resource_name: str, parent_id: str, object_id: str) -> Condition:
        return sa.and_(
            self._in_list(objects, resource_name, parent_id),
            objects.c.id == object_id,
            sa.not_(objects.c.deleted),
        )

    def _order_by(self, sorting: Iterable[Sort]) -> list[ColumnElement[Any]]:
        return fields.order_by(sorting, postgresql=self._postgresql)

    @staticmethod
    def _readable(resource_name: str, parent_id: str, readable_by: ReadableBy) -> Condition:
        """An ACE on the object's own URI, looked up by the ACE primary key."""
        ace = access_control_entries
        uri = sa.literal(f"{parent_id}/{plural(resource_name)}/", sa.Text) + objects.c.id
        return sa.exists().where(
            ace.c.object_id == uri,
            ace.c.permission.in_(list(readable_by.permissions)),
            ace.c.principal.in_(sorted(readable_by.principals)),
        )

    def _where(
        self, resource_name: str, parent_id: str, query: ListQuery, *, paginate: bool = True
    ) -> list[Condition]:
        conditions = [self._in_list(objects, resource_name, parent_id)]
        data_filter = any(f.field not in MANAGED_FIELDS for f in query.filters)
        if not query.include_deleted or data_filter:
            # Tombstones have no data: a data-field filter never matches them.
            conditions.append(sa.not_(objects.c.deleted))
        conditions += [
            fields.filter_condition(f, postgresql=self._postgresql) for f in query.filters
        ]
        if paginate and query.after is not None:
            conditions.append(
                fields.after_condition(query.sorting, query.after, postgresql=self._postgresql)
            )
        if query.readable_by is not None:
            conditions.append(self._readable(resource_name, parent_id, query.readable_by))
        return conditions

    # -- timestamps -------------------------------------------------------------------------

    def _bump(
        self, resource_name: str, parent_id: str, *, only_if: Condition | None = None
    ) -> int | None:
        """Take the list's lock and its next timestamp ``max(now, previous + 1)``.

        ``only_if`` guards the whole write (nothing happens and None is returned when it
        is false), so that a refused create or delete leaves the list timestamp alone.
        """
        now = now_ms()
        row = sa.select(
            sa.literal(parent_id, sa.Text),
            sa.literal(resource_name, sa.Text),
            sa.literal(now, sa.BigInteger),
        ).where(only_if if only_if is not None else sa.true())
        stmt = self._insert(timestamps).from_select(
            ["parent_id", "resource_name", "last_modified"], row
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["parent_id", "resource_name"],
            set_={"last_modified": self._greatest(now, timestamps.c.last_modified + 1)},
        ).returning(timestamps.c.last_modified)
        return self._conn().execute(stmt).scalar_one_or_none()

    def _lock(self, resource_name: str, parent_id: str) -> int:
        """Take the list's lock without moving its timestamp; returns the timestamp (a
        list never written nor read gets ``now``, as ``resource_timestamp`` would)."""
        stmt = self._insert(timestamps).values(
            parent_id=parent_id, resource_name=resource_name, last_modified=now_ms()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["parent_id", "resource_name"],
            set_={"last_modified": timestamps.c.last_modified},
        ).returning(timestamps.c.last_modified)
        return int(self._conn().execute(stmt).scalar_one())

    def _set_timestamp(self, resource_name: str, parent_id: str, value: int) -> None:
        self._conn().execute(
            sa.update(timestamps)
            .where(self._in_list(timestamps, resource_name, parent_id))
            .values(last_modified=value)
        )

    def _live_timestamp(self, resource_name: str, parent_id: str, object_id: str) -> int | None:
        stmt = sa.select(objects.c.last_modified).where(
            self._is_live(resource_name, parent_id, object_id)
        )
        return self._conn().execute(stmt).scalar_one_or_none()

    def _stamp(
        self,
        resource_name: str,
        parent_id: str,
        wanted: int,
        object_id: str | None = None,
        *,
        must_exist: bool = False,
    ) -> tuple[int, int | None]:
        """Slow path for a client-supplied timestamp ``wanted``: lock the list, read its
        timestamp, decide. Returns ``(object timestamp, list timestamp to store or None)``;
        the caller stores the list timestamp once its own write succeeded.

        With ``object_id`` (update, delete) ``wanted`` must also exceed the live object's
        timestamp, read after the lock so that it is the last committed one.
        """
        list_ts = self._lock(resource_name, parent_id)
        current = None
        if object_id is not None:
            current = self._live_timestamp(resource_name, parent_id, object_id)
            if current is None and must_exist:
                raise ObjectNotFoundError(object_id)
        if current is None or wanted > current:
            stamp, new_list_ts = _client_stamp(list_ts, wanted)
        else:
            stamp = new_list_ts = max(now_ms(), list_ts + 1)
        return stamp, (new_list_ts if new_list_ts != list_ts else None)

    @db_errors
    def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        conn = self._conn()
        read = sa.select(timestamps.c.last_modified).where(
            self._in_list(timestamps, resource_name, parent_id)
        )
        value = conn.execute(read).scalar_one_or_none()
        if value is None:
            conn.execute(
                self._insert(timestamps)
                .values(parent_id=parent_id, resource_name=resource_name, last_modified=now_ms())
                .on_conflict_do_nothing()
            )
            value = conn.execute(read).scalar_one()
        return int(value)

    # -- reads ------------------------------------------------------------------------------

    @db_errors
    def get(self, resource_name: str, parent_id: str, object_id: str) -> dict[str, Any]:
        found = self._get_live(resource_name, parent_id, object_id)
        if found is None:
            raise ObjectNotFoundError(object_id)
        return found

    def _get_live(
        self, resource_name: str, parent_id: str, object_id: str
    ) -> dict[str, Any] | None:
        stmt = sa.select(
            objects.c.id, objects.c.last_modified, objects.c.deleted, objects.c.data
        ).where(self._is_live(resource_name, parent_id, object_id))
        row = self._conn().execute(stmt).first()
        return _object(row) if row is not None else None

    @db_errors
    def get_many(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], dict[str, Any]]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        key = sa.tuple_(objects.c.resource_name, objects.c.parent_id, objects.c.id)
        stmt = sa.select(
            objects.c.resource_name,
            objects.c.parent_id,
            objects.c.id,
            objects.c.last_modified,
            objects.c.deleted,
            objects.c.data,
        ).where(key.in_(wanted), sa.not_(objects.c.deleted))
        return {
            (row.resource_name, row.parent_id, row.id): _object(row)
            for row in self._conn().execute(stmt)
        }

    @db_errors
    def list_objects(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> tuple[list[dict[str, Any]], int]:
        # The list timestamp rides along as an (uncorrelated, evaluated once) scalar
        # subquery: one round trip, and page and timestamp come from one snapshot.
        list_ts = (
            sa.select(timestamps.c.last_modified)
            .where(self._in_list(timestamps, resource_name, parent_id))
            .scalar_subquery()
        )
        stmt = (
            sa.select(
                objects.c.id,
                objects.c.last_modified,
                objects.c.deleted,
                objects.c.data,
                list_ts.label("list_timestamp"),
            )
            .where(*self._where(resource_name, parent_id, query))
            .order_by(*self._order_by(query.sorting))
            .limit(query.limit)
        )
        rows = self._conn().execute(stmt).all()
        timestamp = rows[0].list_timestamp if rows else None
        if timestamp is None:
            timestamp = self.resource_timestamp(resource_name, parent_id)
        return [_object(row) for row in rows], int(timestamp)

    @db_errors
    def count(self, resource_name: str, parent_id: str, query: ListQuery) -> int:
        live = replace(query, include_deleted=False)
        stmt = sa.select(sa.func.count()).select_from(objects).where(
            *self._where(resource_name, parent_id, live, paginate=False)
        )
        return int(self._conn().execute(stmt).scalar_one())

    # -- writes -----------------------------------------------------------------------------

    def _upsert(
        self,
        resource_name: str,
        parent_id: str,
        object_id: str,
        data: dict[str, Any],
        stamp: int,
        *,
        only_over_tombstone: bool,
    ) -> bool:
        """Insert the object, or overwrite the existing row (only a tombstone's when
        ``only_over_tombstone``). False when a live object was in the way."""
        stmt = self._insert(objects).values(
            parent_id=parent_id,
            resource_name=resource_name,
            id=object_id,
            last_modified=stamp,
            deleted=False,
            data=data,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["parent_id", "resource_name", "id"],
            set_={
                "last_modified": stmt.excluded.last_modified,
                "deleted": False,
                "data": stmt.excluded.data,
            },
            where=objects.c.deleted if only_over_tombstone else None,
        ).returning(objects.c.id)
        return self._conn().execute(stmt).first() is not None

    def _unicity_error(self, resource_name: str, parent_id: str, object_id: str) -> UnicityError:
        existing = self._get_live(resource_name, parent_id, object_id)
        if existing is None:  # pragma: no cover - the conflicting row vanished meanwhile
            raise BackendError(f"conflict on {object_id!r} without a live object")
        return UnicityError(existing)

    @db_errors
    def create(
        self, resource_name: str, parent_id: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        object_id = obj["id"]
        data = _data_of(obj)
        wanted = _client_last_modified(obj.get("last_modified"))
        new_list_ts: int | None = None
        if wanted is None:
            absent = sa.not_(sa.exists().where(self._is_live(resource_name, parent_id, object_id)))
            stamp = self._bump(resource_name, parent_id, only_if=absent)
            if stamp is None:
                raise self._unicity_error(resource_name, parent_id, object_id)
        else:
            stamp, new_list_ts = self._stamp(resource_name, parent_id, wanted)
        if not self._upsert(
            resource_name, parent_id, object_id, data, stamp, only_over_tombstone=True
        ):
            # A concurrent create of the same id committed while we waited for the lock.
            raise self._unicity_error(resource_name, parent_id, object_id)
        if new_list_ts is not None:
            self._set_timestamp(resource_name, parent_id, new_list_ts)
        return {**data, "id": object_id, "last_modified": stamp}

    @db_errors
    def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        data = _data_of(obj)
        wanted = _client_last_modified(obj.get("last_modified"))
        new_list_ts: int | None = None
        if wanted is None:
            stamp = self._bump(resource_name, parent_id)
            assert stamp is not None
        else:
            stamp, new_list_ts = self._stamp(resource_name, parent_id, wanted, object_id)
        self._upsert(resource_name, parent_id, object_id, data, stamp, only_over_tombstone=False)
        if new_list_ts is not None:
            self._set_timestamp(resource_name, parent_id, new_list_ts)
        return {**data, "id": object_id, "last_modified": stamp}

    @db_errors
    def delete(
        self,
        resource_name: str,
        parent_id: str,
        object_id: str,
        last_modified: int | None = None,
    ) -> dict[str, Any]:
        wanted = _client_last_modified(last_modified)
        new_list_ts: int | None = None
        if wanted is None:
            exists = sa.exists().where(self._is_live(resource_name, parent_id, object_id))
            stamp = self._bump(resource_name, parent_id, only_if=exists)
            if stamp is None:
                raise ObjectNotFoundError(object_id)
        else:
            stamp, new_list_ts = self._stamp(
                resource_name, parent_id, wanted, object_id, must_exist=True
            )
        stmt = (
            sa.update(objects)
            .where(self._is_live(resource_name, parent_id, object_id))
            .values(deleted=True, data={}, last_modified=stamp)
            .returning(objects.c.id)
        )
        if self._conn().execute(stmt).first() is None:
            raise ObjectNotFoundError(object_id)  # deleted concurrently
        if new_list_ts is not None:
            self._set_timestamp(resource_name, parent_id, new_list_ts)
        return _tombstone(object_id, stamp)

    @db_errors
    def delete_all(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> list[dict[str, Any]]:
        list_ts = self._lock(resource_name, parent_id)
        first = max(now_ms(), list_ts + 1)
        # Number the matching objects in the query's order (id breaks remaining ties so
        # that the numbering and the LIMIT agree), then stamp the n-th one first + n - 1.
        order = [*self._order_by(query.sorting), objects.c.id.asc()]
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
        rows = sorted(self._conn().execute(stmt).all(), key=lambda row: row.last_modified)
        if rows:
            self._set_timestamp(resource_name, parent_id, rows[-1].last_modified)
        return [_tombstone(row.id, row.last_modified) for row in rows]

    @db_errors
    def delete_tree(self, uri_prefix: str) -> None:
        conn = self._conn()
        for table in (objects, timestamps):
            # A range rather than LIKE: ids may contain "_", and the range uses the
            # primary key. "0" is the character right after "/".
            under = sa.and_(
                table.c.parent_id >= uri_prefix + "/", table.c.parent_id < uri_prefix + "0"
            )
            conn.execute(sa.delete(table).where(sa.or_(table.c.parent_id == uri_prefix, under)))

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
            ranked = (
                sa.select(
                    objects.c.parent_id,
                    objects.c.resource_name,
                    objects.c.id,
                    sa.func.row_number()
                    .over(
                        partition_by=(objects.c.parent_id, objects.c.resource_name),
                        order_by=objects.c.last_modified.desc(),
                    )
                    .label("position"),
                )
                .where(*tombstones)
                .subquery()
            )
            beyond = sa.select(ranked.c.parent_id, ranked.c.resource_name, ranked.c.id).where(
                ranked.c.position > max_retained
            )
            key = sa.tuple_(objects.c.parent_id, objects.c.resource_name, objects.c.id)
            conditions.append(key.in_(beyond))
        result = self._conn().execute(sa.delete(objects).where(*conditions))
        return int(result.rowcount)

    @db_errors
    def flush(self) -> None:
        conn = self._conn()
        conn.execute(sa.delete(objects))
        conn.execute(sa.delete(timestamps))

    def heartbeat(self) -> bool:
        try:
            if in_transaction():
                self._ping()
            else:
                with transaction(write=False):
                    self._ping()
        except BackendError:
            return False
        return True

    @db_errors
    def _ping(self) -> None:
        self._conn().execute(sa.select(sa.literal(1))).scalar_one()
