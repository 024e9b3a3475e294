"""The database schema: the one source of truth for tables (migrations are checked against it).

Storage keeps every object of every resource in ``objects``; the key of a list is
``(parent_id, resource_name)``. ``data`` never holds ``id`` nor ``last_modified``.
``timestamps`` holds one row per list: its current timestamp and its number of live objects
(NULL: not known, then counted). Every write to a list updates that row first, which assigns
the new timestamp, keeps the count and serialises the writers of one list (see
``storage/sql.py``).

Two indexes, neither of which can serve the other's queries, so that no statistics (stale,
or none after an import) can make the planner read one through the other:

- the primary key leads with ``id``: a lookup of an object (``id`` and its list) or of the
  ids of a readable-by list is a probe of it; it cannot scan a list, having no list
  column first;
- ``idx_objects_list`` is on the list *key*, the expression ``parent_id || ' ' ||
  resource_name`` (parent ids hold no space), then ``last_modified``: list scans filter
  on that expression, which a lookup by primary key never names. (An index on the
  columns ``(parent_id, resource_name, last_modified)`` served lookups too, believing
  the collection one row: 7.5 ms per create at 17,000 records, the whole list read.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    literal_column,
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
    Column("parent_id", Key, nullable=False),
    Column("resource_name", Key, nullable=False),
    Column("id", Key, nullable=False),
    Column("last_modified", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("data", Data, nullable=False),
    PrimaryKeyConstraint("id", "parent_id", "resource_name", name="objects_pkey"),
)


LIST_KEY_SEPARATOR = " "


def list_key(table: Table = objects) -> Any:
    """``parent_id || ' ' || resource_name``: the expression lists are filtered on (the
    module docstring says why). The separator is a literal in the SQL, as in the index:
    SQLite uses an expression index only for the very same expression."""
    separator = literal_column(f"'{LIST_KEY_SEPARATOR}'", Text)
    concat = table.c.parent_id.op("||", return_type=Text)
    return concat(separator).op("||", return_type=Text)(table.c.resource_name)


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

# Attachments (plugins/attachments): which file each record's ``attachment`` names, and,
# for the database file store, the files themselves, content-addressed by sha256. ``refs``
# counts the links to a file (plus none for files kept by ``keep_old_files``); the file
# goes in the transaction that removes its last link. Bytes are split in chunks so that
# neither an upload nor a download holds a whole file in memory.
attachment_links = Table(
    "attachment_links",
    metadata,
    Column("record_uri", Key, primary_key=True),
    Column("location", Key, nullable=False),  # the file store's name of the file
    Index("idx_attachment_links_location", "location"),
)

attachment_files = Table(
    "attachment_files",
    metadata,
    Column("hash", Key, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mimetype", Text, nullable=False),
    Column("refs", BigInteger, nullable=False),
)

attachment_chunks = Table(
    "attachment_chunks",
    metadata,
    Column("hash", Key, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

# Access revoked (storage/sql_revocations.py): ``principal`` (a user id or a system
# principal, never a group: a group's loss is recorded for each of its members) could read
# the object ``id`` of the list ``(parent_id, resource_name)`` and lost that path at
# ``last_modified``, a timestamp taken from the list's own sequence (``timestamps``), so
# that a ``_since`` poll orders it with the list's changes. One row per object and
# principal: a later loss moves it.
revocations = Table(
    "revocations",
    metadata,
    Column("parent_id", Key, nullable=False),
    Column("resource_name", Key, nullable=False),
    Column("principal", Key, nullable=False),
    Column("id", Key, nullable=False),
    Column("last_modified", BigInteger, nullable=False),
    PrimaryKeyConstraint("parent_id", "resource_name", "principal", "id", name="revocations_pkey"),
    # A poll's probe: the caller's (at most three) principals, newer than its _since.
    Index("idx_revocations_since", "parent_id", "resource_name", "principal", "last_modified"),
)
