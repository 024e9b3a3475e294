"""Each list's number of live objects in its timestamps row; plan-proof indexes of objects.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``timestamps.live_count``: the count behind ``Total-Records`` on an unfiltered list, kept
by the writes that already update that row (NULL: not known, then counted). Existing lists
are counted here, once.

Indexes of ``objects`` that cannot serve each other's queries (``tables.py`` says why): the
primary key becomes ``(id, parent_id, resource_name)``, and ``idx_objects_list`` on
``(parent_id || ' ' || resource_name, last_modified)`` replaces the index on the columns
``(parent_id, resource_name, last_modified)``, through which stale statistics made
PostgreSQL read primary-key lookups (a whole collection scanned per create).

``idx_aces_principal`` gets ``object_id`` as a third column: a readable-by list reads the
caller's ACEs under the list as ranges of that index, rather than every ACE under the list
(one per record: its creator's ``write``) or every ACE the caller holds anywhere.

A schema created from ``tables.metadata`` without Alembic is stamped "0001" and upgraded
(``kinto_clone.migration.upgrade``): it already has all this, so each step checks first.
On SQLite the primary key is changed by copying the table (Alembic's batch mode), before
the expression index is made (a copy would not keep it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = "idx_objects_list_last_modified"
NEW_INDEX = "idx_objects_list"
NEW_KEY = ["id", "parent_id", "resource_name"]
OLD_KEY = ["parent_id", "resource_name", "id"]


def _indexes() -> set[str]:
    # From the catalogs: SQLAlchemy does not reflect SQLite's expression indexes.
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        query = "SELECT indexname FROM pg_indexes WHERE tablename = 'objects'"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects'"
    return set(bind.execute(sa.text(query)).scalars())


def _has_count_column() -> bool:
    columns = sa.inspect(op.get_bind()).get_columns("timestamps")
    return any(column["name"] == "live_count" for column in columns)


def _count_existing_lists() -> None:
    objects = sa.table(
        "objects",
        sa.column("parent_id"),
        sa.column("resource_name"),
        sa.column("deleted", sa.Boolean),
    )
    timestamps = sa.table(
        "timestamps", sa.column("parent_id"), sa.column("resource_name"), sa.column("live_count")
    )
    live = (
        sa.select(sa.func.count())
        .where(
            objects.c.parent_id == timestamps.c.parent_id,
            objects.c.resource_name == timestamps.c.resource_name,
            sa.not_(objects.c.deleted),
        )
        .scalar_subquery()
    )
    op.execute(sa.update(timestamps).values(live_count=live))


def upgrade() -> None:
    if not _has_count_column():
        with op.batch_alter_table("timestamps") as batch:
            batch.add_column(sa.Column("live_count", sa.BigInteger(), nullable=True))
        _count_existing_lists()
    _primary_key(NEW_KEY)
    indexes = _indexes()
    if NEW_INDEX not in indexes:
        key = sa.text("(parent_id || ' ' || resource_name)")
        op.create_index(NEW_INDEX, "objects", [key, "last_modified"])
    if OLD_INDEX in indexes:
        op.drop_index(OLD_INDEX, table_name="objects")
    _index_aces(["principal", "permission", "object_id"])


def _primary_key(columns: list[str]) -> None:
    current = sa.inspect(op.get_bind()).get_pk_constraint("objects")["constrained_columns"]
    if current == columns:
        return
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE objects DROP CONSTRAINT objects_pkey, ADD CONSTRAINT "
            f"objects_pkey PRIMARY KEY ({', '.join(columns)})"
        )
        return
    with op.batch_alter_table("objects", recreate="always") as batch:
        batch.create_primary_key("objects_pkey", columns)


def _index_aces(columns: list[str]) -> None:
    # In the migration's transaction: no other transaction sees the table without it.
    op.drop_index("idx_aces_principal", table_name="access_control_entries")
    op.create_index("idx_aces_principal", "access_control_entries", columns)


def downgrade() -> None:
    _index_aces(["principal", "permission"])
    op.drop_index(NEW_INDEX, table_name="objects")
    _primary_key(OLD_KEY)
    op.create_index(OLD_INDEX, "objects", ["parent_id", "resource_name", "last_modified"])
    with op.batch_alter_table("timestamps") as batch:
        batch.drop_column("live_count")
