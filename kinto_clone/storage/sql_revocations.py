"""The SQL of access-revoked tombstones (``tables.revocations``), for both dialects.

Written when a change takes read access away (``resources/revocations.py`` calls
``Storage.record_revocations``), in the writer's transaction; read by ``_since`` polls and
by the stream. README, "Revocations". Like every storage module it knows no resource
names: the resource layer says which lists (a list, or the lists of one resource name at
or under a URI) and which object.

Writing. The principals are stored as users: a principal that is a URI (a group) is
replaced by its members of that moment, so that a caller's principals "at that time"
are always the ones a caller has for good (their user id, ``system.Authenticated``,
``system.Everyone``), and a member who joins later learns nothing. For each list:

1. the list's ``timestamps`` row is locked and read (as every write of the list does:
   writers of the list queue behind it, on PostgreSQL until commit);
2. every live object of the scope gets a row per principal, with a timestamp of its own
   from the list's sequence: ``max(now, list + 1) + rank - 1``, as a plural DELETE
   numbers its tombstones; an earlier row of that object and principal is moved;
3. the list's timestamp becomes the greatest of them, so a poll's ETag covers them (and
   on PostgreSQL the row's trigger announces the list to the streams, migration 0005).

That is 3 statements per list, plus 1 to find the lists under a URI and 1 to read a
group's members.

A deleted object (``deleted``): its read-granting ACEs go with it, so the users who held
them lose it too; their rows take the tombstone's own timestamp (the delete already
numbered and locked the list), in one ``INSERT`` (plus 1 for a group's members).

Reading. ``revoked_since`` is the poll's one statement: the rows of the list newer than
``_since`` for the caller's lasting principals, minus the objects the caller may read now
(an ACE on the object's own URI for one of their current principals: the caller reaches
this only when they may not read the whole list), one per object, its newest timestamp,
and whether that is the object's deletion (a tombstone of that timestamp in ``objects``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kinto_clone.db import Database, in_values
from kinto_clone.storage import ReadableBy
from kinto_clone.storage.sql_lists import PROBED, SCANNED
from kinto_clone.tables import (
    LIST_KEY_SEPARATOR,
    objects,
    revocations,
    timestamps,
    user_principals,
)
from kinto_clone.tables import access_control_entries as aces

_PARENT = sa.bindparam("list_parent", type_=sa.Text)
_RESOURCE = sa.bindparam("list_resource", type_=sa.Text)
_BASE = sa.bindparam("base", type_=sa.BigInteger)


def is_group(principal: str) -> bool:
    """A principal that is an object's URI: a group (user ids never start with "/")."""
    return principal.startswith("/")


@functools.lru_cache(maxsize=64)
def _insert(postgresql: bool, principal_count: int, one_object: bool) -> Any:
    """INSERT of a row per (live object of the scope, principal), numbered by object."""
    # One SELECT of a parameter per principal (WHERE true: SQLite needs a WHERE to parse
    # INSERT ... SELECT ... ON CONFLICT), built once per count.
    selects = [
        sa.select(sa.bindparam(f"p{i}", type_=sa.Text).label("principal")).where(sa.true())
        for i in range(principal_count)
    ]
    principals = selects[0] if principal_count == 1 else sa.union_all(*selects)
    who = principals.subquery("who")
    scope = (
        sa.and_(PROBED, objects.c.id == sa.bindparam("object_id", type_=sa.Text))
        if one_object
        else SCANNED
    )
    rank = sa.func.dense_rank().over(order_by=objects.c.id)
    rows = sa.select(_PARENT, _RESOURCE, who.c.principal, objects.c.id, _BASE + rank - 1).where(
        scope, sa.not_(objects.c.deleted)
    )
    insert = (pg_dialect.insert if postgresql else sqlite_dialect.insert)(revocations)
    stmt = insert.from_select(
        ["parent_id", "resource_name", "principal", "id", "last_modified"], rows
    )
    return stmt.on_conflict_do_update(
        index_elements=["parent_id", "resource_name", "principal", "id"],
        set_={"last_modified": stmt.excluded.last_modified},
    ).returning(revocations.c.last_modified)


_SET_TIMESTAMP = (
    sa.update(timestamps)
    .where(timestamps.c.parent_id == _PARENT, timestamps.c.resource_name == _RESOURCE)
    .values(last_modified=sa.bindparam("stamp", type_=sa.BigInteger))
)


class SQLRevocations:
    """``lock(resource_name, parent_id)`` locks a list's ``timestamps`` row and returns
    its timestamp (the storage's own statement, shared by every write of a list)."""

    def __init__(
        self, db: Database, lock: Callable[[str, str], int], now: Callable[[], int]
    ) -> None:
        self.db = db
        self._postgresql = db.dialect == "postgresql"
        self._lock = lock
        self._now = now

    # -- writing ---------------------------------------------------------------------------

    def lost(
        self, resource_name: str, scope: str, principals: Iterable[str], object_id: str | None
    ) -> None:
        """``principals`` (users, system principals, groups) lost read on ``object_id`` of
        the list ``(resource_name, scope)``, or (``object_id`` None) on every object of the
        lists of ``resource_name`` at or under the URI ``scope``."""
        users = self._users(principals)
        if not users:
            return
        if object_id is not None:
            self._revoke_in_list(resource_name, scope, object_id, users)
            return
        stmt = sa.select(timestamps.c.parent_id).where(
            timestamps.c.resource_name == resource_name,
            sa.or_(
                timestamps.c.parent_id == scope,
                sa.and_(
                    timestamps.c.parent_id >= scope + "/",
                    timestamps.c.parent_id < scope + "0",  # "0" follows "/"
                ),
            ),
        )
        for parent_id in sorted(self.db.execute(stmt).scalars()):
            self._revoke_in_list(resource_name, parent_id, None, users)

    def _users(self, principals: Iterable[str]) -> list[str]:
        """Groups replaced by their members of this moment."""
        wanted = set(principals)
        users = {p for p in wanted if not is_group(p)}
        for members in self._members(wanted).values():
            users.update(members)
        return sorted(users)

    def _members(self, principals: Iterable[str]) -> dict[str, list[str]]:
        """The members of this moment of the groups among ``principals`` (1 statement, none
        without groups)."""
        groups = sorted({p for p in principals if is_group(p)})
        members: dict[str, list[str]] = {}
        if groups:
            stmt = sa.select(user_principals.c.principal, user_principals.c.user_id).where(
                in_values(user_principals.c.principal, groups)
            )
            for group, user in self.db.execute(stmt):
                members.setdefault(group, []).append(user)
        return members

    def _revoke_in_list(
        self, resource_name: str, parent_id: str, object_id: str | None, users: list[str]
    ) -> None:
        base = max(self._now(), self._lock(resource_name, parent_id) + 1)
        params: dict[str, Any] = {
            "list_parent": parent_id,
            "list_resource": resource_name,
            "list_key": parent_id + LIST_KEY_SEPARATOR + resource_name,
            "base": base,
            "object_id": object_id,
            **{f"p{i}": user for i, user in enumerate(users)},
        }
        stmt = _insert(self._postgresql, len(users), object_id is not None)
        stamps = list(self.db.execute(stmt, params).scalars())
        if stamps:
            self.db.execute(_SET_TIMESTAMP, {**params, "stamp": max(stamps)})

    def deleted(
        self, resource_name: str, parent_id: str, rows: Iterable[tuple[str, int, str]]
    ) -> None:
        """``(object id, tombstone timestamp, principal)``: each deleted object's readers."""
        found = list(rows)
        members = self._members(p for _, _, p in found)
        values = {
            (object_id, user): timestamp
            for object_id, timestamp, principal in found
            for user in (members.get(principal, []) if is_group(principal) else [principal])
        }
        if not values:
            return
        insert = (pg_dialect.insert if self._postgresql else sqlite_dialect.insert)(revocations)
        stmt = insert.values(
            [
                {
                    "parent_id": parent_id,
                    "resource_name": resource_name,
                    "principal": user,
                    "id": object_id,
                    "last_modified": timestamp,
                }
                for (object_id, user), timestamp in sorted(values.items())
            ]
        )
        self.db.execute(
            stmt.on_conflict_do_update(
                index_elements=["parent_id", "resource_name", "principal", "id"],
                set_={"last_modified": stmt.excluded.last_modified},
            )
        )

    # -- reading ---------------------------------------------------------------------------

    def revoked_since(
        self,
        resource_name: str,
        parent_id: str,
        since: int,
        before: int | None,
        lasting: Iterable[str],
        readable_by: ReadableBy,
    ) -> list[tuple[str, int, bool]]:
        prefix = readable_by.list_uri + "/"
        readable_now = sa.exists().where(
            aces.c.object_id == sa.literal(prefix, sa.Text) + revocations.c.id,
            in_values(aces.c.permission, sorted(readable_by.permissions)),
            in_values(aces.c.principal, sorted(readable_by.principals)),
        )
        newest = sa.func.max(revocations.c.last_modified).label("last_modified")
        found = (
            sa.select(revocations.c.id, newest)
            .where(
                revocations.c.parent_id == parent_id,
                revocations.c.resource_name == resource_name,
                in_values(revocations.c.principal, sorted(set(lasting))),
                revocations.c.last_modified > since,
                sa.not_(readable_now),
            )
            .group_by(revocations.c.id)
        )
        if before is not None:
            found = found.where(revocations.c.last_modified < before)
        lost = found.subquery("lost")
        deletion = sa.exists().where(
            objects.c.parent_id == parent_id,
            objects.c.resource_name == resource_name,
            objects.c.id == lost.c.id,
            objects.c.last_modified == lost.c.last_modified,
            objects.c.deleted,
        )
        stmt = sa.select(lost.c.id, lost.c.last_modified, deletion.label("deletion")).order_by(
            lost.c.last_modified
        )
        return [(row.id, row.last_modified, bool(row.deletion)) for row in self.db.execute(stmt)]

    def revoked_between(
        self, resource_name: str, parent_id: str, since: int, upto: int | None
    ) -> list[tuple[str, int, str]]:
        """``(id, timestamp, principal)`` of the list's rows in ``(since, upto]``, oldest
        first: a stream's round, which decides for each subscriber."""
        stmt = (
            sa.select(revocations.c.id, revocations.c.last_modified, revocations.c.principal)
            .where(
                revocations.c.parent_id == parent_id,
                revocations.c.resource_name == resource_name,
                revocations.c.last_modified > since,
            )
            .order_by(revocations.c.last_modified, revocations.c.principal)
        )
        if upto is not None:
            stmt = stmt.where(revocations.c.last_modified <= upto)
        return [(row.id, row.last_modified, row.principal) for row in self.db.execute(stmt)]

    # -- forgetting ------------------------------------------------------------------------

    def forget_tree(self, uri_prefix: str) -> None:
        """The rows of the lists at or under ``uri_prefix`` (deleted with it)."""
        self.db.execute(
            sa.delete(revocations).where(
                sa.or_(
                    revocations.c.parent_id == uri_prefix,
                    sa.and_(
                        revocations.c.parent_id >= uri_prefix + "/",
                        revocations.c.parent_id < uri_prefix + "0",
                    ),
                )
            )
        )

    def flush(self) -> None:
        self.db.execute(sa.delete(revocations))
