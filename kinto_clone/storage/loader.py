"""The Loader interface: everything a request needs before its permission check, at once.

A request on ``/buckets/b/collections/c/records/r`` needs the live objects of its chain
(bucket, collection, record), the ACLs of their URIs, and the groups of the caller, before
it can decide anything. A loader answers the three in one call, exactly as the plain
calls would: ``Storage.get`` of each key, ``Permission.get_objects_permissions`` of the
URIs and ``Permission.get_user_principals`` of the caller's user ids (``PlainLoader``
makes those calls). ``sql_loader.SQLLoader`` answers with one statement when both
backends are the SQL ones (``backends.py`` picks it); ``tests/contract/test_loader.py``
pins both to the plain calls on every backend.

Loaders run inside the current transaction of ``kinto_clone.db`` and raise only
``BackendError`` (the database failed).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kinto_clone.permission import ACL, Permission
from kinto_clone.storage import Storage

Key = tuple[str, str, str]
"""``(resource_name, parent_id, id)`` of an object, as ``Storage.get`` takes them."""


@dataclass
class Loaded:
    """What ``Loader.load`` answers."""

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    """The live objects among the keys asked for, as ``Storage.get`` returns them; a
    missing or deleted one is absent."""
    acls: dict[str, ACL] = field(default_factory=dict)
    """Every URI asked for, mapped to its ACL (``{}`` without ACEs), as
    ``Permission.get_objects_permissions`` returns them."""
    groups: set[str] = field(default_factory=set)
    """The groups of any of the user ids asked for (``Permission.get_user_principals``)."""


class Loader(abc.ABC):
    @abc.abstractmethod
    def load(self, keys: Iterable[Key], uris: Iterable[str], user_ids: Iterable[str]) -> Loaded:
        """The live objects of ``keys``, the ACLs of ``uris`` and the groups of
        ``user_ids`` (each may be empty; repeated items count once). Raises BackendError."""


class PlainLoader(Loader):
    """The general loader, for any storage and permission backends: their plain calls
    (``get_many`` is ``get`` of several keys in one call), two or three round trips."""

    def __init__(self, storage: Storage, permission: Permission) -> None:
        self.storage = storage
        self.permission = permission

    def load(self, keys: Iterable[Key], uris: Iterable[str], user_ids: Iterable[str]) -> Loaded:
        return Loaded(
            objects=self.storage.get_many(keys),
            acls=self.permission.get_objects_permissions(uris),
            groups=self.permission.get_user_principals(user_ids),
        )
