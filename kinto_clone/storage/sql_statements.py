"""The statement catalogue of ``storage/sql.py``: its statements, built once per dialect.

Building a SQLAlchemy expression costs as much as running it, so the statements of the
hot paths are built here once per dialect, with named parameters, and ``SQLStorage`` binds
values only. Their parameters: ``list_parent``, ``list_resource`` (and ``list_key``, see
``sql_lists.py``), ``object_id``, ``now``, ``stamp``, ``delta``, ``object_data`` (names
that are no column name: SQLAlchemy reserves those in INSERT and UPDATE), and ``keys``,
``prefix``, ``lower``, ``upper``, ``own``, ``own_upper`` for the bulk ones. Two statements
depend on the query and are built per call: ``delete_all`` and ``purge_deleted``.

How a write moves its list's timestamp (``sql.py``'s docstring says why): ``bumps[kind]``
upserts the list's row in ``timestamps`` and returns the new value (no row when the
guard says there is nothing to write), then ``writes[kind]`` writes the object with it.
That is the general path, two statements. ``folded[kind]`` is the fast lane of PostgreSQL:
the same bump as a CTE of the same write, which skips a round trip (SQLite has no
INSERT/UPDATE inside WITH: there ``folded`` is empty). ``tests/contract/
test_folded_writes.py`` pins it to the two-step path (``SQLStorage(fold_writes=False)``):
same answers, objects, timestamps, list timestamps and counts. ``locked[kind]`` (and
``locked_update``) are the folded writes of a list whose row the transaction locked
already (an If-Match write, the second write of a batch): a plain UPDATE of the row.

The statements of this catalogue are prepared and planned once per connection
(``raw_cursor.prepared``); a statement built per call is planned each time it is sent, and
planning a subquery costs about as much as running it: statements carry as few as they
can (2026-12-07: a PATCH with If-Match 0.99 -> 0.51 ms of PostgreSQL time, planned per
call; 2026-12-08, planned once: 0.17 ms for the update, `bench/RESULTS.md`).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.elements import ColumnElement

from kinto_clone.raw_cursor import prepared
from kinto_clone.storage import ListQuery
from kinto_clone.storage import sql_fields as fields
from kinto_clone.storage import sql_lists as lists
from kinto_clone.tables import list_key, objects, revocations, timestamps

Condition = ColumnElement[bool]

_PARENT, _RESOURCE = lists.PARENT, lists.RESOURCE
_ID = sa.bindparam("object_id", type_=sa.Text)
_NOW = sa.bindparam("now", type_=sa.BigInteger)
_STAMP = sa.bindparam("stamp", type_=sa.BigInteger)
_DELTA = sa.bindparam("delta", type_=sa.BigInteger)
_DATA = sa.bindparam("object_data", type_=objects.c.data.type)
_LIST_KEY = ("parent_id", "resource_name")
_OBJECT_COLUMNS = lists.OBJECT_COLUMNS
_in_list = lists.in_list
_NOT_DELETED = lists.NOT_DELETED
_IS_LIVE = sa.and_(lists.PROBED, objects.c.id == _ID, _NOT_DELETED)
_LIVE_COUNT = lists.LIVE_COUNT


def _insert(postgresql: bool) -> Any:
    """The dialect's INSERT, which has ON CONFLICT."""
    return pg_dialect.insert if postgresql else sqlite_dialect.insert


class _ListCount:
    """The count a write stores in the list's row (``timestamps.live_count``), and the
    delta each kind of write moves it by.

    Creates and deletes move it by exactly one when their object write succeeds: that
    write checks the latest version of the object (a concurrent create or delete of the
    same id makes it write nothing, and ``SQLStorage._write`` then takes the move back).
    An update's delta (0 for a live object, 1 for a new or deleted one) is read from the
    statement's snapshot; on PostgreSQL a writer that committed while this one waited for
    the row's lock may have created or deleted that very object since. The row then is
    another version than the snapshot's (xmin, the writing transaction, differs, and every
    write of a list writes its row), and the delta is read again, under the row's lock,
    from the object's latest version (``SELECT ... FOR UPDATE`` follows a row to its
    latest version): one primary-key read, in the same statement. Only when the snapshot
    has no row at all for the object (a concurrent first create of the same id) is the
    count dropped (NULL) rather than stored wrong. A new row's count is NULL too. Every
    statement writing the row returns the count, and a NULL one is counted again at once,
    under the row's lock (``SQLStorage._locked``): a committed count is never NULL (except
    rows written outside the API), and the statements carry no count of the list
    (planning one cost every write ~0.3 ms; counting one under contention, a COUNT of the
    whole list per write, cost a PATCH of a contended list 30% of its throughput).
    """

    def __init__(self, postgresql: bool) -> None:
        self.postgresql = postgresql
        if postgresql:
            version: ColumnElement[Any] = sa.literal_column("xmin")
            seen = (
                sa.select(version)
                .select_from(timestamps)
                .where(_in_list(timestamps))
                .correlate(None)
            )
            self.in_step: Condition = sa.literal_column("timestamps.xmin") == seen.scalar_subquery()
            # Evaluated in the SET, so after the list's row is locked: 1 for a tombstone,
            # 0 for a live object, NULL when the snapshot has no row for it.
            latest = (
                sa.select(sa.case((objects.c.deleted, 1), else_=0))
                .where(lists.PROBED, objects.c.id == _ID)
                .with_for_update()
                .correlate(None)
            )
            self.latest_delta: Any = latest.scalar_subquery()
        else:  # one writer at a time: the snapshot is the list
            self.in_step = sa.true()

    def kept(self, kind: str, delta: Any, locked: bool = False) -> ColumnElement[Any]:
        """The row's count moved by ``delta``; ``locked``: this transaction held the row's
        lock before the statement began (its snapshot is the list)."""
        moved = timestamps.c.live_count + delta
        if kind != "update" or locked or not self.postgresql:
            return moved
        return sa.case((self.in_step, moved), else_=timestamps.c.live_count + self.latest_delta)


def _bump(postgresql: bool, count: _ListCount, kind: str, only_if: Condition, delta: Any) -> Any:
    """Move the list's timestamp to ``max(now, previous + 1)`` and its count by
    ``delta``, returning the new timestamp and count. INSERT ... SELECT ... WHERE <guard>:
    when ``only_if`` is false nothing is written, no row comes back, and the list
    timestamp stays where it was."""
    row = sa.select(_PARENT, _RESOURCE, _NOW, sa.null()).where(only_if)
    return (
        _insert(postgresql)(timestamps)
        .from_select([*_LIST_KEY, "last_modified", "live_count"], row)
        .on_conflict_do_update(
            index_elements=_LIST_KEY,
            set_={
                "last_modified": _greatest(postgresql)(_NOW, timestamps.c.last_modified + 1),
                "live_count": count.kept(kind, delta),
            },
        )
        .returning(timestamps.c.last_modified, timestamps.c.live_count)
    )


def _locked_bump(count: _ListCount, kind: str, only_if: Condition, delta: Any) -> Any:
    """``_bump`` for a list whose row this transaction has locked already (so it exists,
    and the statement's snapshot is the list's latest state): a plain UPDATE."""
    return (
        sa.update(timestamps)
        .where(_in_list(timestamps), only_if)
        .values(
            last_modified=sa.func.greatest(_NOW, timestamps.c.last_modified + 1),
            live_count=count.kept(kind, delta, locked=True),
        )
        .returning(timestamps.c.last_modified, timestamps.c.live_count)
    )


def _greatest(postgresql: bool) -> Any:
    return sa.func.greatest if postgresql else sa.func.max  # SQLite's 2-arg max


def _folded(kind: str, bump: Any) -> Any:
    """PostgreSQL: the bump as a CTE of the object write, in one statement. One row when
    the bump happened: the object's timestamp (NULL when its write wrote nothing) and the
    list's new count; no row when the guard stopped the bump."""
    bumped = bump.cte("list_timestamp")
    stamp: Any = bumped.c.last_modified
    if kind == "delete":  # UPDATE ... SET = (SELECT ...), not a FROM without join
        stamp = sa.select(bumped.c.last_modified).scalar_subquery()
    written = _object_write(True, kind, stamp).cte("written")
    return sa.select(
        sa.select(written.c.last_modified).scalar_subquery().label("written"),
        bumped.c.live_count,
    ).select_from(bumped)


def _object_write(postgresql: bool, kind: str, stamp: ColumnElement[Any]) -> Any:
    """Write the object of ``kind`` (create, update, delete) with ``stamp``; returns its
    timestamp, or no row when there was nothing to write."""
    if kind == "delete":
        return (
            sa.update(objects)
            .where(_IS_LIVE)
            .values(deleted=True, data={}, last_modified=stamp)
            .returning(objects.c.last_modified)
        )
    # WHERE true: SQLite needs a WHERE to parse INSERT ... SELECT ... ON CONFLICT.
    row = sa.select(_PARENT, _RESOURCE, _ID, stamp, sa.false(), _DATA).where(sa.true())
    stmt = _insert(postgresql)(objects).from_select(
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


def _delete_tree() -> list[Any]:
    """Ranges rather than LIKE: ids may contain "_". On timestamps, of the primary key:
    parent_id = prefix, or >= prefix + "/" and < prefix + "0" ("0" follows "/"). On
    objects, of the list key (parent_id || " " || resource_name): >= prefix + " " and
    < prefix + "!", or the same "/" range ("-", allowed in ids, lies between)."""

    def range_of(column: Any, lower: str, upper: str) -> Condition:
        return sa.and_(column >= sa.bindparam(lower), column < sa.bindparam(upper))

    return [
        sa.delete(objects).where(
            sa.or_(range_of(list_key(), "own", "own_upper"), range_of(list_key(), "lower", "upper"))
        ),
        sa.delete(timestamps).where(
            sa.or_(
                timestamps.c.parent_id == sa.bindparam("prefix"),
                range_of(timestamps.c.parent_id, "lower", "upper"),
            )
        ),
    ]


class Statements:
    """The statements of one dialect (``statements(postgresql)``), as attributes."""

    def __init__(self, postgresql: bool) -> None:
        self.select_live = sa.select(*_OBJECT_COLUMNS).where(_IS_LIVE)
        self.live_timestamp = sa.select(objects.c.last_modified).where(_IS_LIVE)
        keys = sa.tuple_(objects.c.resource_name, objects.c.parent_id, objects.c.id)
        self.get_many = sa.select(
            objects.c.resource_name, objects.c.parent_id, *_OBJECT_COLUMNS
        ).where(keys.in_(sa.bindparam("keys", expanding=True)), _NOT_DELETED)

        self.read_timestamp = sa.select(timestamps.c.last_modified).where(_in_list(timestamps))
        # A list with objects but no timestamps row (written outside the API): a read
        # answers its newest object's timestamp, tombstones included, and writes nothing.
        self.newest_timestamp = sa.select(sa.func.max(objects.c.last_modified)).where(lists.SCANNED)
        self.read_count = sa.select(lists.LIST_COUNT)
        self.count_live = sa.select(_LIVE_COUNT)

        count = _ListCount(postgresql)
        # The start of a list: its row, counting what it holds (nothing, unless written
        # outside the API).
        self.init_timestamp = (
            _insert(postgresql)(timestamps)
            .values(
                parent_id=_PARENT,
                resource_name=_RESOURCE,
                last_modified=_NOW,
                live_count=_LIVE_COUNT,
            )
            .on_conflict_do_nothing()
        )
        # Lock the list's row without moving it (an unknown list starts at `now`, its
        # count unknown: NULL, counted by the caller).
        self.lock = (
            _insert(postgresql)(timestamps)
            .values(parent_id=_PARENT, resource_name=_RESOURCE, last_modified=_NOW)
            .on_conflict_do_update(
                index_elements=_LIST_KEY, set_={"last_modified": timestamps.c.last_modified}
            )
            .returning(timestamps.c.last_modified, timestamps.c.live_count)
        )
        # After `lock`, in the same transaction: nobody else writes the list meanwhile.
        self.set_timestamp = (
            sa.update(timestamps)
            .where(_in_list(timestamps))
            .values(
                last_modified=sa.func.coalesce(_STAMP, timestamps.c.last_modified),
                live_count=timestamps.c.live_count + _DELTA,
            )
        )
        # After a bump whose object write wrote nothing (see SQLStorage._write): its count
        # move taken back.
        self.take_back = {
            kind: sa.update(timestamps)
            .where(_in_list(timestamps))
            .values(live_count=timestamps.c.live_count - delta)
            .returning(timestamps.c.live_count)
            for kind, delta in (("create", 1), ("delete", -1))
        }
        # After `lock`: count the list again (a NULL count, see _ListCount).
        self.recount = (
            sa.update(timestamps).where(_in_list(timestamps)).values(live_count=_LIVE_COUNT)
        )

        live = sa.exists().where(_IS_LIVE)
        guards = {"create": sa.not_(live), "update": sa.true(), "delete": live}
        self.deltas: dict[str, Any] = {
            "create": 1,
            "update": sa.case((live, 0), else_=1),
            "delete": -1,
        }
        self.bumps = {
            kind: _bump(postgresql, count, kind, guards[kind], self.deltas[kind]) for kind in guards
        }
        self.writes = {kind: _object_write(postgresql, kind, _STAMP) for kind in guards}
        # PostgreSQL runs the bump as a CTE of the write: one round trip instead of two
        # (SQLite has no INSERT/UPDATE inside WITH). `locked`: the same for a list whose
        # row the transaction holds (If-Match writes lock it first): no upsert, no xmin.
        self.folded: dict[str, Any] = {}
        self.locked: dict[str, Any] = {}
        for kind in guards if postgresql else ():
            self.folded[kind] = _folded(kind, self.bumps[kind])
            locked = _locked_bump(count, kind, guards[kind], self.deltas[kind])
            self.locked[kind] = _folded(kind, locked)
        # An update of an object read under the lock (If-Match): its delta is known, and
        # the statement has no subquery to plan (measured: 0.3 ms less per PATCH).
        self.locked_update = {
            live: _folded("update", _locked_bump(count, "update", sa.true(), 0 if live else 1))
            for live in ((True, False) if postgresql else ())
        }

        self.delete_tree = _delete_tree()

        # Primary-key reads and the writes of one object or list row: prepared.
        for name in (
            "select_live",
            "live_timestamp",
            "read_timestamp",
            "newest_timestamp",
            "read_count",
            "init_timestamp",
            "lock",
            "set_timestamp",
            "recount",
        ):
            setattr(self, name, prepared(getattr(self, name)))
        for table in (self.take_back, self.bumps, self.writes, self.folded, self.locked):
            for kind, statement in table.items():
                table[kind] = prepared(statement)
        self.locked_update = {live: prepared(s) for live, s in self.locked_update.items()}


@functools.cache
def statements(postgresql: bool) -> Statements:
    return Statements(postgresql)


def delete_all(
    postgresql: bool, resource_name: str, parent_id: str, query: ListQuery, first: int
) -> Any:
    """Tombstone the live objects of the list matching ``query``, numbered in the query's
    order (id breaks the remaining ties so that numbering and LIMIT agree): the n-th one
    gets ``first + n - 1``. Returns their ids and timestamps."""
    order = [*fields.order_by(query.sorting, postgresql=postgresql), objects.c.id]
    live = replace(query, include_deleted=False)
    ranked = (
        sa.select(
            objects.c.parent_id,
            objects.c.resource_name,
            objects.c.id,
            sa.func.row_number().over(order_by=order).label("position"),
        )
        .where(*lists.where(postgresql, resource_name, parent_id, live))
        .order_by(*order)
        .limit(query.limit)
        .subquery()
    )
    return (
        sa.update(objects)
        .where(
            objects.c.parent_id == ranked.c.parent_id,
            objects.c.resource_name == ranked.c.resource_name,
            objects.c.id == ranked.c.id,
        )
        .values(deleted=True, data={}, last_modified=first + ranked.c.position - 1)
        .returning(objects.c.id, objects.c.last_modified)
    )


def purged(
    resource_name: str | None, before: int | None, max_retained: int | None
) -> list[Condition]:
    """The tombstones (of ``resource_name``'s lists, or all) older than ``before`` and/or
    beyond the newest ``max_retained`` of their list (both: older *and* beyond)."""
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
        ranked = (
            sa.select(
                objects.c.parent_id,
                objects.c.resource_name,
                objects.c.id,
                newest_first.label("position"),
            )
            .where(*tombstones)
            .subquery()
        )
        beyond = sa.select(ranked.c.parent_id, ranked.c.resource_name, ranked.c.id).where(
            ranked.c.position > max_retained
        )
        key = sa.tuple_(objects.c.parent_id, objects.c.resource_name, objects.c.id)
        conditions.append(key.in_(beyond))
    return conditions


def purge_deleted(
    resource_name: str | None, before: int | None, max_retained: int | None
) -> sa.Delete:
    """Delete the tombstones ``purged`` names."""
    return sa.delete(objects).where(*purged(resource_name, before, max_retained))


def purge_revocations(
    resource_name: str | None, before: int | None, max_retained: int | None
) -> sa.Delete:
    """Delete the revocations (tombstones too) older than what ``purge_deleted`` removes:
    all of them without limits, older than ``before`` with it alone, otherwise those not
    newer than the newest tombstone it removes from their list (a deletion's revocations
    share its timestamp). Run first."""
    condition: Condition
    if max_retained is None:
        condition = sa.true() if before is None else revocations.c.last_modified < before
    else:
        newest_purged = (
            sa.select(sa.func.max(objects.c.last_modified))
            .where(
                objects.c.parent_id == revocations.c.parent_id,
                objects.c.resource_name == revocations.c.resource_name,
                *purged(resource_name, before, max_retained),
            )
            .correlate(revocations)
            .scalar_subquery()
        )
        condition = revocations.c.last_modified <= newest_purged
    stmt = sa.delete(revocations).where(condition)
    if resource_name is not None:
        stmt = stmt.where(revocations.c.resource_name == resource_name)
    return stmt
