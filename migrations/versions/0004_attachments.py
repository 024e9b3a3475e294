"""Attachments: record-to-file links, and files stored in the database.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-02

Written out in full rather than imported from ``kinto_clone.tables`` (see 0001).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(name: str, primary_key: bool = True) -> sa.Column:
    # Byte-wise "C" collation on PostgreSQL, SQLite's default BINARY elsewhere.
    text = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    return sa.Column(name, text, primary_key=primary_key, nullable=False)


def upgrade() -> None:
    # A database created from ``tables.metadata`` without Alembic is stamped 0001 and
    # upgraded (migration.py): it has these tables already.
    if sa.inspect(op.get_bind()).has_table("attachment_links"):
        return
    op.create_table(
        "attachment_links",
        _key("record_uri"),
        _key("location", primary_key=False),
    )
    op.create_index("idx_attachment_links_location", "attachment_links", ["location"])
    op.create_table(
        "attachment_files",
        _key("hash"),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mimetype", sa.Text(), nullable=False),
        sa.Column("refs", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "attachment_chunks",
        _key("hash"),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attachment_chunks")
    op.drop_table("attachment_files")
    op.drop_index("idx_attachment_links_location", table_name="attachment_links")
    op.drop_table("attachment_links")
