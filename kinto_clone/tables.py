"""The database schema: the one source of truth for tables (migrations are checked against it).

Storage keeps every object of every resource in ``objects``; the key of a list is
``(parent_id, resource_name)``. ``data`` never holds ``id`` nor ``last_modified``.
``timestamps`` holds one row per list: its current timestamp and its number of live objects
(NULL: not known, then counted). Every write to a list updates that row first, which assigns
the new timestamp, keeps the count and serialises the writers of one list (see
``storage/sql.py``).

Lists are read through ``idx_objects_list``, on the *expression* ``resource_name ||
parent_id`` (the list key: parent ids are empty or start with "/", resource names have no
"/", so the key names one list) and ``last_modified``. A lookup by primary key names
``parent_id`` and ``resource_name`` as columns, which that index does not hold: whatever
the planner's statistics say, it cannot read a primary-key lookup through the list index
and scan a whole collection (it did, at 7.5 ms per create, with an index on the columns).

Permissions live in ``access_control_entries`` (object URI, permission, principal) and
``user_principals`` (group membership).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# Byte-wise ordering on PostgreSQL: ids and URIs are ASCII, and "C" makes comparisons and
# prefix range scans cheaper than a locale collation.
Key = Text().with_variant(Text(collation="C"), "postgresql")
Data = JSON().with_variant(JSONB(), "postgresql")

objects = Table(
    "objects",
    metadata,
    Column("parent_id", Key, primary_key=True),
    Column("resource_name", Key, primary_key=True),
    Column("id", Key, primary_key=True),
    Column("last_modified", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("data", Data, nullable=False),
)


def list_key(table: Table = objects) -> Any:
    """``resource_name || parent_id``: the expression lists are filtered on (the module
    docstring says why an expression)."""
    return table.c.resource_name.op("||", return_type=Text)(table.c.parent_id)


Index("idx_objects_list", list_key(), objects.c.last_modified)

timestamps = Table(
    "timestamps",
    metadata,
    Column("parent_id", Key, primary_key=True),
    Column("resource_name", Key, primary_key=True),
    Column("last_modified", BigInteger, nullable=False),
    Column("live_count", BigInteger, nullable=True),
)

access_control_entries = Table(
    "access_control_entries",
    metadata,
    Column("object_id", Key, primary_key=True),
    Column("permission", Key, primary_key=True),
    Column("principal", Key, primary_key=True),
    # The caller's ACEs under one list (a readable-by list) are one range of this index
    # per (principal, permission): only theirs are read, not every ACE of the list.
    Index("idx_aces_principal", "principal", "permission", "object_id"),
)

user_principals = Table(
    "user_principals",
    metadata,
    Column("user_id", Key, primary_key=True),
    Column("principal", Key, primary_key=True),
    Index("idx_user_principals_principal", "principal"),
)
