"""Access-revoked tombstones: who lost read access to which object, and when.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Written out in full rather than imported from ``kinto_clone.tables`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(name: str) -> sa.Column:
    # Byte-wise "C" collation on PostgreSQL, SQLite's default BINARY elsewhere.
    text = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    return sa.Column(name, text, nullable=False)


def upgrade() -> None:
    # A database created from ``tables.metadata`` without Alembic is stamped 0001 and
    # upgraded (migration.py): it has this table already.
    if sa.inspect(op.get_bind()).has_table("revocations"):
        return
    op.create_table(
        "revocations",
        _key("parent_id"),
        _key("resource_name"),
        _key("principal"),
        _key("id"),
        sa.Column("last_modified", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "parent_id", "resource_name", "principal", "id", name="revocations_pkey"
        ),
    )
    op.create_index(
        "idx_revocations_since",
        "revocations",
        ["parent_id", "resource_name", "principal", "last_modified"],
    )


def downgrade() -> None:
    op.drop_index("idx_revocations_since", table_name="revocations")
    op.drop_table("revocations")
