"""Alembic environment: runs on the connection ``kinto_clone.migration`` hands over.

There is no ``alembic.ini``; see ``kinto_clone/migration.py`` for how Alembic is called.
"""

from __future__ import annotations

from alembic import context

from kinto_clone.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through kinto_clone.migration (no offline mode)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it: Alembic's batch mode does that.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
