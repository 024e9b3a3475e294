"""The SQL of reading a list: pages, counts, readable-by, for both dialects.

Plans that do not depend on statistics. A list is scanned through ``idx_objects_list``
only (its key ``resource_name || parent_id``, ``tables.py``); a list statement never names
the primary-key columns, so a planner that believes the collection holds one row still has
no cheaper way than that ordered index, and a primary-key lookup has no way but its own.
A readable-by list is the other way round: the caller's ACEs under the list come first (one
index range of ``access_control_entries``), then the objects are probed by primary key,
the list key left out, so that no plan walks the collection comparing each object to them.

The statements sync clients repeat all day (the default order, ``_since``/``_before``, the
next page, readable-by) filter and sort on ``last_modified`` alone, with integer values:
those are built once per shape with named parameters (``sync_statements``): building a
SQLAlchemy statement and its cache key costs more CPU than PostgreSQL spends running it
(~200 us of a 790 us ``_since`` poll). ``where`` builds any other query; for the sync
shapes both give the same statement (the list tests run both).

Parameters every statement here takes (``SQLStorage._run``): ``list_parent``,
``list_resource`` and ``list_key``.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from kinto_clone.raw_cursor import prepared
from kinto_clone.storage import ListQuery, Op, ReadableBy
from kinto_clone.storage import sql_fields as fields
from kinto_clone.tables import access_control_entries, list_key, objects, timestamps

Condition = ColumnElement[bool]
MANAGED_FIELDS = ("id", "last_modified")

# Type instances for the expressions built per call (``sql_fields`` says why).
_TEXT, _INTEGER = sa.Text(), sa.Integer()
PARENT = sa.bindparam("list_parent", type_=sa.Text)
RESOURCE = sa.bindparam("list_resource", type_=sa.Text)
KEY = sa.bindparam("list_key", type_=sa.Text)
OBJECT_COLUMNS = (objects.c.id, objects.c.last_modified, objects.c.deleted, objects.c.data)


def in_list(table: sa.Table) -> Condition:
    """The list's primary-key prefix: lookups of one object, and ``timestamps``."""
    return sa.and_(table.c.parent_id == PARENT, table.c.resource_name == RESOURCE)


SCANNED = list_key() == KEY  # the objects of the list, when scanning it
PROBED = in_list(objects)  # the same, when looking objects up by primary key
NOT_DELETED = sa.not_(objects.c.deleted)
# correlate(None): inside a write of `timestamps` or `objects` these read the table, not
# the row being written.
LIVE_COUNT = (
    sa.select(sa.func.count())
    .select_from(objects)
    .where(SCANNED, NOT_DELETED)
    .correlate(None)
    .scalar_subquery()
)
STORED_COUNT = sa.select(timestamps.c.live_count).where(in_list(timestamps)).correlate(None)
LIST_TIMESTAMP = (
    sa.select(timestamps.c.last_modified)
    .where(in_list(timestamps))
    .scalar_subquery()
    .label("list_timestamp")
)
# The number of live objects of the whole list, as its timestamps row keeps it (NULL only
# for a row written outside the API: SQLStorage then counts them with LIVE_COUNT; a count
# inside every page's statement cost its planning on every page, ~0.5 ms).
LIST_COUNT = STORED_COUNT.scalar_subquery()


# -- readable-by ---------------------------------------------------------------------------


def after_prefix(prefix: str) -> str:
    """The first string after every string that starts with ``prefix`` (ending in "/")."""
    return prefix[:-1] + "0"  # "0" follows "/"


def held_on(
    postgresql: bool,
    prefix: Any,
    upper: Any,
    id_start: Any,
    permissions: list[Any],
    principals: list[Any],
) -> list[Condition]:
    """Objects of the list on whose own URI (``prefix`` + id) one of ``principals`` holds
    one of ``permissions``, probed by primary key with the ids cut from those ACEs' URIs
    (``id_start`` is where the id begins).

    On PostgreSQL the ids come as one array (``= ANY``, an InitPlan run once), which the
    primary key is probed with: no join, so no nested loop to choose, whatever the
    statistics. (``id IN (subquery)`` is a semi-join: believing the collection tiny, the
    planner ran it as a nested loop reading the caller's ACEs once per object, 3.4 s for
    a page of 10,000 records. A correlated EXISTS did the same, analyzed or not.) SQLite
    probes the primary key with each id of an ``IN (subquery)``."""
    ace = access_control_entries
    ids = sa.func.substr(ace.c.object_id, id_start)
    held = (
        ace.c.object_id >= prefix,
        ace.c.object_id < upper,
        ace.c.permission.in_(permissions),
        ace.c.principal.in_(principals),
    )
    if postgresql:
        # ARRAY(SELECT ...), of ids in the "C" collation of the primary key (a cast to
        # text[] took the default collation, and the ids became a filter on the list).
        array = sa.func.array(sa.select(ids).where(*held).scalar_subquery())
        return [PROBED, objects.c.id == sa.any_(array)]
    return [PROBED, objects.c.id.in_(sa.select(ids).where(*held))]


def _readable(postgresql: bool, readable_by: ReadableBy) -> list[Condition]:
    prefix = f"{readable_by.list_uri}/"
    return held_on(
        postgresql,
        sa.literal(prefix, _TEXT),
        sa.literal(after_prefix(prefix), _TEXT),
        sa.literal(len(prefix) + 1, _INTEGER),
        [sa.literal(p, _TEXT) for p in sorted(readable_by.permissions)],
        [sa.literal(p, _TEXT) for p in sorted(readable_by.principals)],
    )


# -- statements ----------------------------------------------------------------------------


def where(
    postgresql: bool, resource_name: str, parent_id: str, query: ListQuery, *, paginate: bool = True
) -> list[Condition]:
    """The list, the filters, the keyset of the previous page and the ACL condition."""
    conditions = []
    if query.readable_by is None:
        conditions.append(SCANNED)
    else:
        conditions += _readable(postgresql, query.readable_by)
    if not query.include_deleted or any(f.field not in MANAGED_FIELDS for f in query.filters):
        # Tombstones have no data: a filter on a data field never matches them.
        conditions.append(NOT_DELETED)
    conditions += [fields.filter_condition(f, postgresql=postgresql) for f in query.filters]
    if paginate and query.after is not None:
        conditions.append(fields.after_condition(query.sorting, query.after, postgresql=postgresql))
    return conditions


def count_of(conditions: list[Condition], whole_list: bool) -> ColumnElement[Any]:
    """The number of live objects matching ``conditions`` (which say nothing of pages);
    for the ``whole_list``, the count its timestamps row keeps."""
    if whole_list:
        return LIST_COUNT
    if not any(condition is NOT_DELETED for condition in conditions):
        conditions = [*conditions, NOT_DELETED]
    return sa.select(sa.func.count()).select_from(objects).where(*conditions).scalar_subquery()


def is_whole_list(query: ListQuery) -> bool:
    return not query.filters and query.readable_by is None


def page_statements(
    page: sa.Select[Any], counted: list[Condition], whole_list: bool, total: bool
) -> tuple[Any, Any]:
    """The page's SELECT, with the list timestamp (an uncorrelated scalar subquery,
    evaluated once: one round trip, one snapshot) and with ``total`` the count of
    ``counted`` (a column ``total``), and the statement that answers an empty page: the
    timestamp, whether the page is still empty, the count."""
    columns: list[Any] = [LIST_TIMESTAMP]
    if total:
        columns.append(count_of(counted, whole_list).label("total"))
    return page.add_columns(*columns), sa.select(LIST_TIMESTAMP, sa.exists(page), *columns[1:])


def limited(page: sa.Select[Any], postgresql: bool, limit: Any) -> sa.Select[Any]:
    """``page`` with a LIMIT. On PostgreSQL the limit is a subquery: the planner does not
    know its value then and plans for a tenth of the rows, which makes reading the list
    index in order, stopping after the page, its cheapest plan whatever its statistics.
    With the value known and a collection it believes tiny (never analyzed: 0.5% of
    the table per equality), it read every row after the page token and sorted them
    (10,000 rows for a page of 10)."""
    if limit is None:
        return page
    if postgresql:
        value = limit if isinstance(limit, sa.BindParameter) else sa.literal(limit, _INTEGER)
        limit = sa.select(value).scalar_subquery()
    return page.limit(limit)


def general_statements(
    postgresql: bool, resource_name: str, parent_id: str, query: ListQuery, total: bool
) -> tuple[Any, Any]:
    page = limited(
        sa.select(*OBJECT_COLUMNS)
        .where(*where(postgresql, resource_name, parent_id, query))
        .order_by(*fields.order_by(query.sorting, postgresql=postgresql)),
        postgresql,
        query.limit,
    )
    counted = where(postgresql, resource_name, parent_id, query, paginate=False)
    return page_statements(page, counted, is_whole_list(query), total)


# -- the sync shapes -----------------------------------------------------------------------

_TIMESTAMP_COMPARE = {
    Op.GT: operator.gt,
    Op.MIN: operator.ge,
    Op.LT: operator.lt,
    Op.MAX: operator.le,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def sync_shape(query: ListQuery) -> tuple[Any, ...] | None:
    if len(query.sorting) != 1 or query.sorting[0].field != "last_modified":
        return None
    if any(
        f.field != "last_modified" or f.op not in _TIMESTAMP_COMPARE or not _is_int(f.value)
        for f in query.filters
    ):
        return None
    if query.after is not None and not _is_int(query.after.get("last_modified")):
        return None
    readable = query.readable_by
    return (
        tuple(f.op for f in query.filters),
        query.sorting[0].descending,
        query.after is not None,
        query.include_deleted,
        query.limit is not None,
        None if readable is None else (len(readable.permissions), len(readable.principals)),
    )


def sync_params(resource_name: str, parent_id: str, query: ListQuery) -> dict[str, Any]:
    params: dict[str, Any] = {f"since{i}": f.value for i, f in enumerate(query.filters)}
    if query.after is not None:
        params["after"] = query.after["last_modified"]
    if query.limit is not None:
        params["page_size"] = query.limit
    if query.readable_by is not None:
        params["uri_prefix"] = prefix = f"{query.readable_by.list_uri}/"
        params["uri_upper"] = after_prefix(prefix)
        params["id_start"] = len(prefix) + 1
        params.update(
            {
                f"permission{i}": permission
                for i, permission in enumerate(sorted(query.readable_by.permissions))
            }
        )
        params.update(
            {
                f"principal{i}": principal
                for i, principal in enumerate(sorted(query.readable_by.principals))
            }
        )
    return params


def json_text(postgresql: bool) -> ColumnElement[str]:
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
        tombstone = sa.func.json_object(
            "id", id_, "last_modified", last_modified, "deleted", sa.func.json("true")
        )
    return sa.cast(sa.case((deleted, tombstone), else_=live), sa.Text).label("json")


@functools.lru_cache(maxsize=512)
def sync_statements(
    postgresql: bool, shape: tuple[Any, ...], encoded: bool = False, total: bool = False
) -> tuple[Any, Any]:
    """``page_statements`` of a sync shape, built once."""
    ops, descending, has_after, include_deleted, has_limit, readable = shape
    column = objects.c.last_modified
    if readable is None:
        conditions = [SCANNED]
    else:
        permissions, principals = readable
        conditions = held_on(
            postgresql,
            sa.bindparam("uri_prefix", type_=sa.Text),
            sa.bindparam("uri_upper", type_=sa.Text),
            sa.bindparam("id_start", type_=sa.Integer),
            [sa.bindparam(f"permission{i}", type_=sa.Text) for i in range(permissions)],
            [sa.bindparam(f"principal{i}", type_=sa.Text) for i in range(principals)],
        )
    if not include_deleted:
        conditions.append(NOT_DELETED)
    conditions += [
        _TIMESTAMP_COMPARE[op](column, sa.bindparam(f"since{i}", type_=sa.BigInteger))
        for i, op in enumerate(ops)
    ]
    counted = list(conditions)
    if has_after:
        after = sa.bindparam("after", type_=sa.BigInteger)
        conditions.append(column < after if descending else column > after)
    columns = (json_text(postgresql),) if encoded else OBJECT_COLUMNS
    page = (
        sa.select(*columns)
        .where(*conditions)
        .order_by(column.desc() if descending else column.asc())
    )
    if has_limit:
        page = limited(page, postgresql, sa.bindparam("page_size", type_=sa.Integer))
    statements = page_statements(page, counted, not ops and readable is None, total)
    if readable is not None:
        # Planned for its values on each call: a plan for any principals (the caller's
        # may hold 10 ACEs or 10,000) reads the list's ACEs by object, not the caller's
        # (tests/functional/test_query_plans.py, analyzed).
        return statements
    # One SQL text per shape: prepared, planned once per connection (raw_cursor.prepared).
    return prepared(statements[0]), prepared(statements[1])
