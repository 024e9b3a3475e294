"""Announce the changes of lists to the streaming web heads (PostgreSQL NOTIFY).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Every write of a list first bumps its row in ``timestamps`` (storage/sql.py). A trigger
on that row sends ``pg_notify`` inside the writer's transaction, so that PostgreSQL
delivers it only when the transaction commits, and without a statement of its own
(sending ``SELECT pg_notify(...)`` from the application added a round trip to every
write). The payload names the list only, ``["record", "/buckets/b/collections/c", null,
null, null]`` (kinto_clone/stream/broker.py), so the notifications of one transaction
are identical and PostgreSQL delivers one. A row whose timestamp did not move (the lock
of an If-Match write) announces nothing. SQLite has no NOTIFY: its heads poll.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "kinto_clone_changes"  # kinto_clone.stream.broker.CHANNEL


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE OR REPLACE FUNCTION kinto_clone_announce() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.last_modified = NEW.last_modified THEN
                RETURN NULL;
            END IF;
            PERFORM pg_notify('{CHANNEL}', json_build_array(
                NEW.resource_name, NEW.parent_id, NULL, NULL, NULL)::text);
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql""")
    op.execute("""
        CREATE TRIGGER kinto_clone_announce AFTER INSERT OR UPDATE ON timestamps
        FOR EACH ROW WHEN (NEW.resource_name IN ('record', 'collection', 'bucket'))
        EXECUTE FUNCTION kinto_clone_announce()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS kinto_clone_announce ON timestamps")
    op.execute("DROP FUNCTION IF EXISTS kinto_clone_announce()")
