"""Initial schema: objects, list timestamps, access control entries, group membership.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written out in full rather than imported from ``kinto_clone.tables``: a revision must keep
describing the schema of its time when ``tables.py`` moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(name: str) -> sa.Column:
    # Byte-wise "C" collation on PostgreSQL, SQLite's default BINARY elsewhere.
    text = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    return sa.Column(name, text, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "objects",
        _key("parent_id"),
        _key("resource_name"),
        _key("id"),
        sa.Column("last_modified", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )
    op.create_index(
        "idx_objects_list_last_modified",
        "objects",
        ["parent_id", "resource_name", "last_modified"],
    )
    op.create_table(
        "timestamps",
        _key("parent_id"),
        _key("resource_name"),
        sa.Column("last_modified", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "access_control_entries",
        _key("object_id"),
        _key("permission"),
        _key("principal"),
    )
    op.create_index("idx_aces_principal", "access_control_entries", ["principal", "permission"])
    op.create_table(
        "user_principals",
        _key("user_id"),
        _key("principal"),
    )
    op.create_index("idx_user_principals_principal", "user_principals", ["principal"])


def downgrade() -> None:
    op.drop_table("user_principals")
    op.drop_table("access_control_entries")
    op.drop_table("timestamps")
    op.drop_table("objects")
