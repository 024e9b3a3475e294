"""The database schema: the one source of truth for tables (migrations are checked against it).

Storage keeps every object of every resource in ``objects``; the key of a list is
``(parent_id, resource_name)``. ``data`` never holds ``id`` nor ``last_modified``.
``timestamps`` holds one row per list: its current timestamp. Every write to a list updates
that row first, which both assigns the new timestamp and serialises the writers of one list
(see ``storage/sql.py``).

Permissions live in ``access_control_entries`` (object URI, permission, principal) and
``user_principals`` (group membership).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
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
    Index("idx_objects_list_last_modified", "parent_id", "resource_name", "last_modified"),
)

timestamps = Table(
    "timestamps",
    metadata,
    Column("parent_id", Key, primary_key=True),
    Column("resource_name", Key, primary_key=True),
    Column("last_modified", BigInteger, nullable=False),
)

access_control_entries = Table(
    "access_control_entries",
    metadata,
    Column("object_id", Key, primary_key=True),
    Column("permission", Key, primary_key=True),
    Column("principal", Key, primary_key=True),
    Index("idx_aces_principal", "principal", "permission"),
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
