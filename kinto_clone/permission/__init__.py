"""The Permission interface: access control entries (ACEs) and group membership.

An ACE says "``principal`` holds ``permission`` on ``object_id``", where ``object_id`` is
an object URI without the ``/v1`` prefix (``/buckets/b/collections/c``). Group membership
maps a user id (or ``system.Authenticated``) to the group URIs it belongs to.

Backends raise ``kinto_clone.errors.BackendError`` when the database fails, and run
inside the current transaction of ``kinto_clone.db``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping

ACL = dict[str, set[str]]
"""``{permission: {principal, ...}}`` of one object."""


class Permission(abc.ABC):
    @abc.abstractmethod
    def get_user_principals(self, user_ids: Iterable[str]) -> set[str]:
        """Group URIs that any of ``user_ids`` is a member of."""

    @abc.abstractmethod
    def add_user_principal(self, user_id: str, principal: str) -> None:
        """Make ``user_id`` a member of group ``principal`` (idempotent)."""

    @abc.abstractmethod
    def remove_user_principal(self, user_id: str, principal: str) -> None:
        """Idempotent."""

    @abc.abstractmethod
    def remove_principal(self, principal: str) -> None:
        """Remove group ``principal`` from every user (the group was deleted)."""

    @abc.abstractmethod
    def get_objects_permissions(self, object_ids: Iterable[str]) -> dict[str, ACL]:
        """ACLs of several objects in one query; objects without ACEs map to ``{}``."""

    @abc.abstractmethod
    def replace_object_permissions(
        self, object_id: str, permissions: Mapping[str, Iterable[str]]
    ) -> None:
        """For each permission named, replace its principals (an empty list clears it);
        permissions not named are untouched."""

    @abc.abstractmethod
    def add_object_permissions(
        self, object_id: str, permissions: Mapping[str, Iterable[str]]
    ) -> None:
        """Grant each permission to the principals given, keeping what is there (one
        statement; what a new object's ACL needs)."""

    @abc.abstractmethod
    def delete_object_permissions(self, object_id: str, *, with_children: bool = False) -> None:
        """Remove every ACE of ``object_id``; with ``with_children`` also those of every
        URI under it (``object_id + "/..."``)."""

    @abc.abstractmethod
    def get_accessible_objects(
        self, principals: Iterable[str], permissions: Iterable[str] | None = None
    ) -> dict[str, set[str]]:
        """``{object_id: {permission, ...}}`` for every ACE held by one of ``principals``
        (restricted to ``permissions`` when given). Used by ``GET /permissions``."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Delete every ACE and membership."""

    @abc.abstractmethod
    def heartbeat(self) -> bool:
        """True when the backend answers."""
