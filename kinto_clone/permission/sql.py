"""SQL permission backend: ACEs and group membership in two tables (PostgreSQL, SQLite).

``access_control_entries`` is keyed ``(object_id, permission, principal)``: reading one
object's ACL, or checking a URI from the storage's ``readable_by`` subquery, is a primary
key lookup. ``user_principals`` is keyed ``(user_id, principal)`` with an index on
``principal`` for group deletions. Each method is one statement, two for
``replace_object_permissions`` (delete the named permissions, insert the new ACEs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite

from kinto_clone.db import Database, db_errors, in_values
from kinto_clone.permission import ACL, Permission
from kinto_clone.raw_cursor import prepared
from kinto_clone.tables import access_control_entries as aces
from kinto_clone.tables import user_principals


@functools.lru_cache(maxsize=64)
def _insert_aces(postgresql: bool, count: int, on_conflict_do_nothing: bool) -> Any:
    """INSERT of ``count`` ACEs of one object, built once per count. (A multi-row VALUES
    is not in SQLAlchemy's compiled cache: compiling it again on every create cost more
    than running it.) WHERE true: SQLite needs a WHERE to parse INSERT ... SELECT ... ON
    CONFLICT."""
    text = sa.Text()
    rows = [
        sa.select(
            sa.bindparam("object_id", type_=text),
            sa.bindparam(f"permission{i}", type_=text),
            sa.bindparam(f"principal{i}", type_=text),
        ).where(sa.true())
        for i in range(count)
    ]
    source = rows[0] if count == 1 else sa.union_all(*rows)
    insert = pg_dialect.insert if postgresql else sqlite.insert
    stmt = insert(aces).from_select(["object_id", "permission", "principal"], source)
    return prepared(stmt.on_conflict_do_nothing() if on_conflict_do_nothing else stmt)


class SQLPermission(Permission):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgresql = db.dialect == "postgresql"

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self._postgresql else sqlite.insert)(table)

    @db_errors
    def get_user_principals(self, user_ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return set()
        stmt = sa.select(user_principals.c.principal).where(
            in_values(user_principals.c.user_id, wanted)
        )
        return set(self.db.execute(stmt).scalars())

    @db_errors
    def add_user_principal(self, user_id: str, principal: str) -> None:
        stmt = self._insert(user_principals).values(user_id=user_id, principal=principal)
        self.db.execute(stmt.on_conflict_do_nothing())

    @db_errors
    def remove_user_principal(self, user_id: str, principal: str) -> None:
        self.db.execute(
            sa.delete(user_principals).where(
                user_principals.c.user_id == user_id, user_principals.c.principal == principal
            )
        )

    @db_errors
    def remove_principal(self, principal: str) -> None:
        self.db.execute(sa.delete(user_principals).where(user_principals.c.principal == principal))

    @db_errors
    def get_objects_permissions(self, object_ids: Iterable[str]) -> dict[str, ACL]:
        result: dict[str, ACL] = {object_id: {} for object_id in object_ids}
        if not result:
            return result
        stmt = sa.select(aces.c.object_id, aces.c.permission, aces.c.principal).where(
            in_values(aces.c.object_id, list(result))
        )
        for object_id, permission, principal in self.db.execute(stmt):
            result[object_id].setdefault(permission, set()).add(principal)
        return result

    @db_errors
    def replace_object_permissions(
        self, object_id: str, permissions: Mapping[str, Iterable[str]]
    ) -> None:
        replaced = {permission: set(principals) for permission, principals in permissions.items()}
        if not replaced:
            return
        self.db.execute(
            sa.delete(aces).where(
                aces.c.object_id == object_id, in_values(aces.c.permission, list(replaced))
            )
        )
        self._insert_aces(object_id, replaced, on_conflict_do_nothing=False)

    @db_errors
    def add_object_permissions(
        self, object_id: str, permissions: Mapping[str, Iterable[str]]
    ) -> None:
        self._insert_aces(object_id, permissions, on_conflict_do_nothing=True)

    def _insert_aces(
        self,
        object_id: str,
        permissions: Mapping[str, Iterable[str]],
        *,
        on_conflict_do_nothing: bool,
    ) -> None:
        pairs = [
            (permission, principal)
            for permission, principals in permissions.items()
            for principal in sorted(set(principals))
        ]
        if not pairs:
            return
        params = {"object_id": object_id}
        for i, (permission, principal) in enumerate(pairs):
            params.update({f"permission{i}": permission, f"principal{i}": principal})
        stmt = _insert_aces(self._postgresql, len(pairs), on_conflict_do_nothing)
        self.db.execute(stmt, params)

    @db_errors
    def delete_object_permissions(self, object_id: str, *, with_children: bool = False) -> None:
        condition = aces.c.object_id == object_id
        if with_children:
            # A range on the primary key rather than LIKE (ids may contain "_"): every
            # URI starting with object_id + "/" ("0" is the character after "/").
            under = sa.and_(aces.c.object_id >= object_id + "/", aces.c.object_id < object_id + "0")
            condition = sa.or_(condition, under)
        self.db.execute(sa.delete(aces).where(condition))

    @db_errors
    def get_accessible_objects(
        self, principals: Iterable[str], permissions: Iterable[str] | None = None
    ) -> dict[str, set[str]]:
        wanted = sorted(set(principals))
        if not wanted:
            return {}
        stmt = sa.select(aces.c.object_id, aces.c.permission).where(
            in_values(aces.c.principal, wanted)
        )
        if permissions is not None:
            stmt = stmt.where(in_values(aces.c.permission, sorted(set(permissions))))
        result: dict[str, set[str]] = {}
        for object_id, permission in self.db.execute(stmt):
            result.setdefault(object_id, set()).add(permission)
        return result

    @db_errors
    def flush(self) -> None:
        self.db.execute(sa.delete(aces))
        self.db.execute(sa.delete(user_principals))

    def heartbeat(self) -> bool:
        return self.db.ping()


def load_from_config(settings: Mapping[str, Any], db: Database) -> SQLPermission:
    """The backend named by the dotted setting ``permission_backend`` (``backends.py``)."""
    return SQLPermission(db)
