"""SQL storage: one implementation for PostgreSQL (JSONB) and SQLite (JSON1).

Every statement is a SQLAlchemy Core expression over ``kinto_clone.tables``. The dialects
differ in how a data field is read, compared and sorted (``sql_fields.py``), in two
helpers of the statement catalogue (``insert`` for ON CONFLICT, ``greatest``) and in one
optimisation (its ``folded`` writes); everything else is written once. This module is the
storage class: which statements a call runs, and what it makes of their rows. The
statements live in ``sql_statements.py`` (built once per dialect: building a SQLAlchemy
expression costs as much as running it), the SQL of list reads in ``sql_lists.py``.

Timestamps. Each write to a list first upserts the list's row in ``timestamps``
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``): the new value is
``max(now, previous + 1)``. On PostgreSQL that row lock is held until commit, so writers
of one list queue behind each other and each reads the value its predecessor
*committed*: timestamps are unique, increase in commit order, and a ``_since`` poll never
misses a write that commits later with a smaller timestamp. No unique index, no 409.
SQLite gets the same order from ``BEGIN IMMEDIATE`` (one writer at a time).

Statements per call: ``get``, ``get_many``, ``count`` 1; ``list_objects`` 1 (2 when the
page is empty: the list timestamp then comes from ``resource_timestamp``, on PostgreSQL
from a statement that also checks that the page is still empty; 2 when the list's
objects were written outside the API, without a timestamps row: ``_newest``);
``resource_timestamp`` 1; ``start_list`` 2; ``create``, ``update``, ``delete`` 1 on
PostgreSQL (the bump is a CTE of the write), 2 on SQLite, and 2 to 4 when the client
supplies ``last_modified`` (see ``_stamp``); one more in two rare cases: a write that
waited for a concurrent write of the same object (its count move taken back, or the list
counted again, ``sql_statements._ListCount``); ``delete_all`` 3; ``delete_tree`` 3 (with the
lists' revocations); ``purge_deleted`` 2 (with the revocations it forgets);
``record_deletions`` 1 (2 with groups).

Why this module stays past 400 lines: it is one class, the Storage contract's methods,
each a few lines choosing statements and reading their rows. What is not that has left
(the statements: ``sql_statements.py``; list SQL: ``sql_lists.py``; field SQL:
``sql_fields.py``); cutting the class itself would scatter one contract over files.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from kinto_clone.db import Database, db_errors
from kinto_clone.storage import (
    BackendError,
    ListQuery,
    ObjectNotFoundError,
    Page,
    ReadableBy,
    Storage,
    UnicityError,
)
from kinto_clone.storage import sql_lists as lists
from kinto_clone.storage import sql_statements as catalogue
from kinto_clone.storage.sql_lists import MANAGED_FIELDS
from kinto_clone.storage.sql_revocations import SQLRevocations
from kinto_clone.tables import LIST_KEY_SEPARATOR, objects, timestamps

__all__ = ["SQLStorage", "now_ms"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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


class SQLStorage(Storage):
    """The Storage contract over ``tables.objects`` and ``tables.timestamps``."""

    def __init__(self, db: Database, *, fold_writes: bool = True) -> None:
        """``fold_writes=False``: every write takes the general two-step path (bump the
        list, then write), also where the catalogue has a folded one-statement form
        (``tests/contract/test_folded_writes.py`` compares both)."""
        self.db = db
        self._postgresql = db.dialect == "postgresql"
        self._sql = catalogue.statements(self._postgresql)
        self._folded = self._sql.folded if fold_writes else {}
        self._revocations = SQLRevocations(db, self._lock, now_ms)

    def _lock(self, resource_name: str, parent_id: str) -> int:
        """Lock the list's timestamps row (until commit on PostgreSQL); its timestamp."""
        timestamp, count = self._run(self._sql.lock, resource_name, parent_id, now=now_ms()).one()
        self._locked(resource_name, parent_id, count)
        return int(timestamp)

    def _locked(self, resource_name: str, parent_id: str, count: int | None) -> None:
        """After a statement that locked the list's row and returned its ``count``: the
        later writes of this transaction to the list take the locked path, and a NULL
        count is counted again now (``sql_statements._ListCount`` says when it is)."""
        self.db.hold((resource_name, parent_id))
        if count is None:
            self._run(self._sql.recount, resource_name, parent_id)

    def _run(self, stmt: Any, resource_name: str, parent_id: str, **params: Any) -> Any:
        """Execute ``stmt`` in the current transaction, for the list ``(resource, parent)``."""
        return self.db.execute(
            stmt,
            {
                "list_parent": parent_id,
                "list_resource": resource_name,
                "list_key": parent_id + LIST_KEY_SEPARATOR + resource_name,
                **params,
            },
        )

    def _list_statements(
        self, resource_name: str, parent_id: str, query: ListQuery, encoded: bool, total: bool
    ) -> tuple[Any, Any, dict[str, Any]]:
        """``sql_lists.page_statements`` for the query, and their parameters besides the
        list's. ``encoded``: each object as its JSON text (sync shapes only)."""
        shape = lists.sync_shape(query)
        if shape is not None:
            return (
                *lists.sync_statements(self._postgresql, shape, encoded, total),
                lists.sync_params(resource_name, parent_id, query),
            )
        return (
            *lists.general_statements(self._postgresql, resource_name, parent_id, query, total),
            {},
        )

    # -- timestamps -------------------------------------------------------------------------

    def _stamp(
        self,
        resource_name: str,
        parent_id: str,
        wanted: int,
        object_id: str | None = None,
        *,
        must_exist: bool = False,
    ) -> tuple[int, int | None, int | None]:
        """The path of a client-supplied timestamp ``wanted``: lock the list, read its
        timestamp, decide. Returns ``(object timestamp, list timestamp to store or None,
        the live object's timestamp or None)``; the caller stores the list timestamp (and
        count) once its own write succeeded.

        With ``object_id`` (update, delete) ``wanted`` must also exceed the live object's
        timestamp, read after the lock so that it is the last committed one.
        """
        list_ts = self._lock(resource_name, parent_id)
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
        return stamp, (new_list_ts if new_list_ts != list_ts else None), current

    def _set_timestamp(
        self, resource_name: str, parent_id: str, value: int | None, delta: int = 0
    ) -> None:
        """After ``lock``: store the list timestamp ``value`` (None: unchanged) and move
        its live count by ``delta``."""
        if value is not None or delta:
            self._run(self._sql.set_timestamp, resource_name, parent_id, stamp=value, delta=delta)

    @db_errors
    def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        value = self._run(self._sql.read_timestamp, resource_name, parent_id).scalar()
        return int(value) if value is not None else 0

    @db_errors
    def start_list(self, resource_name: str, parent_id: str, timestamp: int | None = None) -> int:
        # Unless the list has a timestamp already (or a concurrent start won).
        stamp = now_ms() if timestamp is None else timestamp
        self._run(self._sql.init_timestamp, resource_name, parent_id, now=stamp)
        return int(self._run(self._sql.read_timestamp, resource_name, parent_id).scalar_one())

    # -- reads ------------------------------------------------------------------------------

    def _get_live(
        self, resource_name: str, parent_id: str, object_id: str
    ) -> dict[str, Any] | None:
        row = self._run(
            self._sql.select_live, resource_name, parent_id, object_id=object_id
        ).first()
        if self.db.holds((resource_name, parent_id)):  # true until this transaction writes it
            self.db.note((resource_name, parent_id, object_id), row is not None)
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
        found = self.list_page(resource_name, parent_id, query)
        return found.objects, found.timestamp

    @db_errors
    def list_encoded(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> tuple[list[str], int] | None:
        found = self.list_page(resource_name, parent_id, query, encoded=True)
        return (found.objects, found.timestamp) if found.encoded else None

    @db_errors
    def list_page(
        self,
        resource_name: str,
        parent_id: str,
        query: ListQuery,
        *,
        encoded: bool = False,
        total: bool = False,
    ) -> Page:
        # Encoded: the database writes each object's JSON (with id and last_modified): a
        # page of 100 is then neither decoded nor encoded again in Python (a third of its
        # CPU). Only for the sync shapes, read in order from the list index: for a sort
        # on a data field PostgreSQL would write the JSON of every row it sorts, not only
        # of the page's (measured: 25% fewer pages/s).
        encoded = encoded and lists.sync_shape(query) is not None
        rows, timestamp, count = self._page(resource_name, parent_id, query, encoded, total)
        if total and count is None:  # a list row written outside the API
            count = self._run(self._sql.count_live, resource_name, parent_id).scalar_one()
        objects_ = [row.json for row in rows] if encoded else [_object(row) for row in rows]
        return Page(objects_, timestamp, encoded=encoded, total=count)

    def _page(
        self, resource_name: str, parent_id: str, query: ListQuery, encoded: bool, total: bool
    ) -> tuple[list[Any], int, int | None]:
        stmt, check, params = self._list_statements(resource_name, parent_id, query, encoded, total)
        rows = self._run(stmt, resource_name, parent_id, **params).all()
        if rows:
            return self._found(resource_name, parent_id, rows, total)
        # An empty page has no row to carry the timestamp (nor the count), which then come
        # from a second statement. On PostgreSQL reads autocommit, so that statement may
        # see writes committed after the first one: answering that timestamp as the ETag
        # of the empty page would make a `_since` client skip those writes for ever. So
        # the second statement reads the timestamp *and* whether the page is still empty,
        # from one snapshot; in the rare case it is not, the page is read again.
        for _attempt in range(3):
            found = self._run(check, resource_name, parent_id, **params).one()
            timestamp, not_empty = found[0], found[1]
            count = found[2] if total else None
            if not_empty:
                rows = self._run(stmt, resource_name, parent_id, **params).all()
                if rows:
                    return self._found(resource_name, parent_id, rows, total)
            else:  # a list never written nor started: 0, and nothing written (a read)
                return [], int(timestamp or 0), count
        return [], self.resource_timestamp(resource_name, parent_id), count

    def _found(
        self, resource_name: str, parent_id: str, rows: list[Any], total: bool
    ) -> tuple[list[Any], int, int | None]:
        """A page with rows: they carry the list's timestamp (and count)."""
        timestamp = rows[0].list_timestamp
        if timestamp is None:  # objects written without a list row (outside the API)
            timestamp = self._newest(resource_name, parent_id)
        return rows, int(timestamp), rows[0].total if total else None

    def _newest(self, resource_name: str, parent_id: str) -> int:
        """The timestamp of a list that has objects but no timestamps row (written outside
        the API): its newest object's, tombstones included. A read: it stores nothing (the
        list's first write through the API gets ``now``, past those objects' timestamps
        unless they are in the future)."""
        return int(self._run(self._sql.newest_timestamp, resource_name, parent_id).scalar_one())

    @db_errors
    def count(self, resource_name: str, parent_id: str, query: ListQuery) -> int:
        if lists.is_whole_list(query):
            stored = self._run(self._sql.read_count, resource_name, parent_id).scalar()
            if stored is not None:
                return int(stored)
            stmt: Any = self._sql.count_live
        else:
            live = replace(query, include_deleted=False)
            where = lists.where(self._postgresql, resource_name, parent_id, live, paginate=False)
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
        if stamp is not None:
            written = self._run(
                self._sql.writes[kind], resource_name, parent_id, stamp=stamp, **params
            ).scalar()
            if written is not None:
                self.db.note((resource_name, parent_id, object_id), kind != "delete")
            return written
        folded = self._folded.get(kind)
        if folded is not None and self.db.holds((resource_name, parent_id)):
            live = self.db.noted((resource_name, parent_id, object_id))
            if kind == "update" and live is not None:  # read under the lock: delta known
                folded = self._sql.locked_update[live]
            else:
                folded = self._sql.locked[kind]
        if folded is not None:
            row = self._run(folded, resource_name, parent_id, now=now_ms(), **params).first()
            if row is None:  # the guard stopped the bump: nothing written
                return None
            written, count = row
        else:
            bump = self._sql.bumps[kind]
            row = self._run(bump, resource_name, parent_id, now=now_ms(), **params).first()
            if row is None:
                return None
            written = self._run(
                self._sql.writes[kind], resource_name, parent_id, stamp=row[0], **params
            ).scalar()
            count = row[1]
        if written is None and count is not None:
            # A concurrent create or delete of this object committed while this write
            # waited for the list: the bump counted a write that did not happen.
            count = self._run(self._sql.take_back[kind], resource_name, parent_id).scalar()
        self._locked(resource_name, parent_id, count)
        if written is not None:
            self.db.note((resource_name, parent_id, object_id), kind != "delete")
        return written

    def _unicity_error(self, resource_name: str, parent_id: str, object_id: str) -> UnicityError:
        existing = self._get_live(resource_name, parent_id, object_id)
        if existing is None:  # pragma: no cover - the conflicting row vanished meanwhile
            raise BackendError(f"conflict on {object_id!r} without a live object")
        return UnicityError(existing)

    @db_errors
    def create(self, resource_name: str, parent_id: str, obj: dict[str, Any]) -> dict[str, Any]:
        object_id, data = obj["id"], _data_of(obj)
        wanted = _client_last_modified(obj.get("last_modified"))
        if wanted is None:  # the common case: the write keeps timestamp and count
            written = self._write("create", resource_name, parent_id, object_id, None, data)
        else:
            stamp, new_list_ts, _ = self._stamp(resource_name, parent_id, wanted)
            written = self._write("create", resource_name, parent_id, object_id, stamp, data)
            if written is not None:
                self._set_timestamp(resource_name, parent_id, new_list_ts, delta=1)
        if written is None:
            raise self._unicity_error(resource_name, parent_id, object_id)
        return {**data, "id": object_id, "last_modified": written}

    @db_errors
    def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        data = _data_of(obj)
        wanted = _client_last_modified(obj.get("last_modified"))
        if wanted is None:
            written = self._write("update", resource_name, parent_id, object_id, None, data)
        else:
            stamp, new_list_ts, current = self._stamp(resource_name, parent_id, wanted, object_id)
            written = self._write("update", resource_name, parent_id, object_id, stamp, data)
            self._set_timestamp(
                resource_name, parent_id, new_list_ts, delta=0 if current is not None else 1
            )
        assert written is not None  # an upsert always writes
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
        if wanted is None:
            written = self._write("delete", resource_name, parent_id, object_id)
        else:
            stamp, new_list_ts, _ = self._stamp(
                resource_name, parent_id, wanted, object_id, must_exist=True
            )
            written = self._write("delete", resource_name, parent_id, object_id, stamp)
            if written is not None:
                self._set_timestamp(resource_name, parent_id, new_list_ts, delta=-1)
        if written is None:
            raise ObjectNotFoundError(object_id)
        return _tombstone(object_id, written)

    @db_errors
    def delete_all(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> list[dict[str, Any]]:
        list_ts = self._lock(resource_name, parent_id)
        first = max(now_ms(), list_ts + 1)
        stmt = catalogue.delete_all(self._postgresql, resource_name, parent_id, query, first)
        rows = sorted(self._run(stmt, resource_name, parent_id), key=lambda r: r.last_modified)
        self.db.forget(locks=False)  # objects read live before may be gone now
        if rows:
            self._set_timestamp(resource_name, parent_id, rows[-1].last_modified, delta=-len(rows))
        return [_tombstone(row.id, row.last_modified) for row in rows]

    @db_errors
    def delete_tree(self, uri_prefix: str) -> None:
        own = uri_prefix + LIST_KEY_SEPARATOR
        bounds = {
            "prefix": uri_prefix,
            "lower": uri_prefix + "/",
            "upper": uri_prefix + "0",
            "own": own,
            "own_upper": own[:-1] + chr(ord(own[-1]) + 1),
        }
        for stmt in self._sql.delete_tree:
            self.db.execute(stmt, bounds)
        self.db.forget(locks=True)  # list rows locked before may be gone now
        self._revocations.forget_tree(uri_prefix)

    @db_errors
    def purge_deleted(
        self,
        resource_name: str | None = None,
        before: int | None = None,
        max_retained: int | None = None,
    ) -> int:
        """With both ``before`` and ``max_retained``, a tombstone goes when it is older
        than ``before`` *and* beyond the newest ``max_retained`` of its list. The lists'
        revocations older than what goes go first (README, "Revocations")."""
        self.db.execute(catalogue.purge_revocations(resource_name, before, max_retained))
        stmt = catalogue.purge_deleted(resource_name, before, max_retained)
        return int(self.db.execute(stmt).rowcount)

    @db_errors
    def flush(self) -> None:
        self.db.execute(sa.delete(objects))
        self.db.execute(sa.delete(timestamps))
        self.db.forget(locks=True)
        self._revocations.flush()

    def heartbeat(self) -> bool:
        return self.db.ping()

    # -- access revoked: storage/sql_revocations.py ------------------------------------------

    @db_errors
    def record_revocations(
        self,
        resource_name: str,
        scope: str,
        principals: Iterable[str],
        object_id: str | None = None,
    ) -> None:
        self._revocations.lost(resource_name, scope, principals, object_id)

    @db_errors
    def record_deletions(
        self, resource_name: str, parent_id: str, rows: Iterable[tuple[str, int, str]]
    ) -> None:
        self._revocations.deleted(resource_name, parent_id, rows)

    @db_errors
    def revoked_since(
        self,
        resource_name: str,
        parent_id: str,
        since: int,
        before: int | None,
        lasting: Iterable[str],
        readable_by: ReadableBy,
    ) -> list[tuple[str, int, bool]]:
        return self._revocations.revoked_since(
            resource_name, parent_id, since, before, lasting, readable_by
        )

    @db_errors
    def revoked_between(
        self, resource_name: str, parent_id: str, since: int, upto: int | None
    ) -> list[tuple[str, int, str]]:
        return self._revocations.revoked_between(resource_name, parent_id, since, upto)

    @db_errors
    def lock_list(self, resource_name: str, parent_id: str) -> bool:
        # PostgreSQL runs write transactions side by side: take the list's row lock that
        # every write takes first (held until commit). SQLite already serialises them.
        if not self._postgresql:
            return False
        self._lock(resource_name, parent_id)
        return True


def load_from_config(settings: Mapping[str, Any], db: Database) -> SQLStorage:
    """The backend named by the dotted setting ``storage_backend`` (``backends.py``)."""
    return SQLStorage(db)
