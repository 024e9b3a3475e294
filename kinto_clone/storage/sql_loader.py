"""The one-statement ``Loader``: a URL's chain, its ACLs and the caller's groups at once.

For ``/buckets/b/collections/c/records/r`` that is: the live objects of the chain (bucket,
collection, record), their ACLs, and the groups the caller belongs to. The SQL storage and
permission backends always share one database (see backends.py), so one ``UNION ALL`` of
three primary-key lookups answers it in a single round trip: it skips the two more that
the plain calls of ``loader.PlainLoader`` take. ``tests/contract/test_loader.py`` pins its
answers to those of the plain storage and permission calls.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import sqlalchemy as sa

from kinto_clone.db import Database, db_errors
from kinto_clone.raw_cursor import prepared
from kinto_clone.storage.loader import Key, Loaded, Loader
from kinto_clone.tables import Data, access_control_entries, objects, user_principals


@functools.cache
def _statement(key_count: int, uri_count: int, user_count: int) -> sa.CompoundSelect:
    """``key_count`` primary-key lookups of objects, the ACEs of ``uri_count`` URIs, and
    the groups of ``user_count`` users. Each object is its own SELECT on all three key
    columns: an OR of row values lets the planner pick the list index and scan a whole
    collection. One plain parameter per URI and user (a URL has at most 4 of one and 2 of
    the other) rather than an expanding list, so that the SQL text is fixed and compiled
    once (see ``Database.execute``)."""
    nothing = sa.null()
    lookups = [
        sa.select(
            sa.literal("o").label("kind"),
            objects.c.resource_name.label("a"),
            objects.c.parent_id.label("b"),
            objects.c.id.label("c"),
            objects.c.last_modified.label("n"),
            objects.c.data.label("data"),
        ).where(
            objects.c.parent_id == sa.bindparam(f"p{i}"),
            objects.c.resource_name == sa.bindparam(f"r{i}"),
            objects.c.id == sa.bindparam(f"i{i}"),
            objects.c.deleted.is_(False),
        )
        for i in range(key_count)
    ]
    return prepared(
        sa.union_all(
            *lookups,
            sa.select(
                sa.literal("a"),
                access_control_entries.c.object_id,
                access_control_entries.c.permission,
                access_control_entries.c.principal,
                sa.cast(nothing, sa.BigInteger),
                sa.cast(nothing, Data),
            ).where(
                access_control_entries.c.object_id.in_(
                    [sa.bindparam(f"u{i}", type_=sa.Text) for i in range(uri_count)]
                )
            ),
            sa.select(
                sa.literal("p"),
                user_principals.c.principal,
                sa.cast(nothing, sa.Text),
                sa.cast(nothing, sa.Text),
                sa.cast(nothing, sa.BigInteger),
                sa.cast(nothing, Data),
            ).where(
                user_principals.c.user_id.in_(
                    [sa.bindparam(f"g{i}", type_=sa.Text) for i in range(user_count)]
                )
            ),
        )
    )


class SQLLoader(Loader):
    """Over the tables of ``SQLStorage`` and ``SQLPermission`` in ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @db_errors
    def load(self, keys: Iterable[Key], uris: Iterable[str], user_ids: Iterable[str]) -> Loaded:
        unique = list(dict.fromkeys(keys))
        unique_uris = list(dict.fromkeys(uris))
        users = list(dict.fromkeys(user_ids))
        params: dict[str, object] = {}
        for i, (resource_name, parent_id, object_id) in enumerate(unique):
            params.update({f"r{i}": resource_name, f"p{i}": parent_id, f"i{i}": object_id})
        params.update({f"u{i}": uri for i, uri in enumerate(unique_uris)})
        params.update({f"g{i}": user for i, user in enumerate(users)})
        loaded = Loaded(acls={uri: {} for uri in unique_uris})
        statement = _statement(len(unique), len(unique_uris), len(users))
        for kind, a, b, c, n, data in self.db.execute(statement, params):
            if kind == "o":
                loaded.objects[(a, b, c)] = {**data, "id": c, "last_modified": n}
            elif kind == "a":
                loaded.acls[a].setdefault(b, set()).add(c)
            else:
                loaded.groups.add(a)
        return loaded
