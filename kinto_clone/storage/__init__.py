"""The Storage interface: the contract every storage backend honours.

Objects are plain JSON dicts. Each one lives in a *list* named by ``(resource_name,
parent_id)``: ``("record", "/buckets/b/collections/c")``, ``("bucket", "")``... Inside a list
an object is named by its ``id``. ``id`` and ``last_modified`` are managed fields: backends
return them in every object, and never store them inside the data.

Timestamps (epoch milliseconds) follow one rule per list: every write gets a value strictly
greater than every earlier write of that list, including deletions, and concurrent writers
are serialised per list so that the order of timestamps is the order of commits (a ``_since``
poll never misses a write that commits later with a smaller timestamp). The list timestamp
is the greatest of them. A list that was never written has the timestamp stored when it
was started (``start_list``, in the write that creates its parent), else 0: reading a list
never writes (README, "Where we differ from Kinto on purpose"). A page of a list whose
objects were written outside the API, with no stored timestamp, has its newest object's.

Backends raise only ``StorageError`` and its subclasses (defined in ``errors.py``, importable
from here) and never speak HTTP. Every method runs inside
the current transaction of ``kinto_clone.db`` (one per request).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The backends' exceptions, importable from the interface they belong to.
from kinto_clone.errors import BackendError as BackendError
from kinto_clone.errors import ObjectNotFoundError as ObjectNotFoundError
from kinto_clone.errors import StorageError as StorageError
from kinto_clone.errors import UnicityError as UnicityError


class Op(enum.Enum):
    """Filter operators (``kinto-api.md`` §4.2)."""

    EQ = "eq"
    NOT = "not"
    LT = "lt"
    GT = "gt"
    MIN = "min"
    MAX = "max"
    IN = "in"
    EXCLUDE = "exclude"
    LIKE = "like"
    HAS = "has"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"


@dataclass(frozen=True)
class Filter:
    """``field`` is a dotted path into the data, or ``id`` / ``last_modified``."""

    field: str
    value: Any
    op: Op = Op.EQ


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class ReadableBy:
    """Keep only objects on which one of ``principals`` holds one of ``permissions``.

    The ACE is looked up on the object's own URI, ``list_uri + "/" + id``, in the
    permission backend's tables, inside the same query as the data. ``list_uri`` is the
    list's URI (``/buckets/b/collections/c/records``): the resource layer builds it from
    the resource type, so a storage backend knows no resource names.
    """

    principals: frozenset[str]
    permissions: tuple[str, ...]
    list_uri: str


@dataclass(frozen=True)
class ListQuery:
    """What a plural request asks of a list; built by ``resources/querying/``.

    ``after`` is the keyset of the last object of the previous page (the decoded
    pagination token): ``{sort field: value}``, a missing key meaning the field was absent.
    """

    filters: tuple[Filter, ...] = ()
    sorting: tuple[Sort, ...] = (Sort("last_modified", descending=True),)
    limit: int | None = None
    after: dict[str, Any] | None = None
    include_deleted: bool = False
    readable_by: ReadableBy | None = None


@dataclass
class Page:
    """A page of a list (``Storage.list_page``): ``objects`` are dicts, or their JSON
    texts when ``encoded``; ``timestamp`` is the list's; ``total`` the number of live
    objects matching the query's filters and readable_by (``count``), when asked."""

    objects: list[Any]
    timestamp: int
    encoded: bool = False
    total: int | None = None


class Storage(abc.ABC):
    """Storage backend contract. See the module docstring for timestamps and lists."""

    @abc.abstractmethod
    def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        """Current timestamp of the list: its latest write's, else its start's, else 0.
        Writes nothing."""

    @abc.abstractmethod
    def start_list(self, resource_name: str, parent_id: str, timestamp: int | None = None) -> int:
        """In a write: store ``timestamp`` (default ``now``) as the timestamp of a list that
        has none (a list whose parent is being created); return the list's timestamp."""

    @abc.abstractmethod
    def get(self, resource_name: str, parent_id: str, object_id: str) -> dict[str, Any]:
        """The live object. Raises ObjectNotFoundError (also for a tombstone)."""

    @abc.abstractmethod
    def get_many(
        self, keys: Iterable[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Live objects for ``(resource_name, parent_id, id)`` keys, in one query.

        Missing or deleted ones are absent from the result. Used to load a URL's chain of
        parents (bucket, collection, record) at once.
        """

    @abc.abstractmethod
    def create(self, resource_name: str, parent_id: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert ``obj`` (which carries its ``id``); returns it with ``last_modified``.

        Bumps the list timestamp. A ``last_modified`` given in ``obj`` is kept unless it
        equals the current list timestamp (then list + 1); a past value does not move the
        list timestamp. A tombstone with that id is replaced. Raises UnicityError with the
        existing object if a live one has that id.
        """

    @abc.abstractmethod
    def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace (or create) the object's data; returns it with a fresh ``last_modified``.

        A ``last_modified`` in ``obj`` is kept only if greater than the list timestamp.
        """

    @abc.abstractmethod
    def delete(
        self,
        resource_name: str,
        parent_id: str,
        object_id: str,
        last_modified: int | None = None,
    ) -> dict[str, Any]:
        """Replace the object by a tombstone ``{id, last_modified, deleted: True}``.

        ``last_modified`` forces the tombstone timestamp when greater than the object's.
        Raises ObjectNotFoundError.
        """

    @abc.abstractmethod
    def delete_all(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> list[dict[str, Any]]:
        """Tombstone every live object of the list matching ``query`` (filters, sorting,
        limit, after, readable_by); each gets its own timestamp. Returns the tombstones."""

    @abc.abstractmethod
    def delete_tree(self, uri_prefix: str) -> None:
        """Hard-delete every object, tombstone and list timestamp whose ``parent_id`` is
        ``uri_prefix`` or starts with ``uri_prefix + "/"`` (cascade of a bucket or
        collection delete)."""

    @abc.abstractmethod
    def list_objects(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of objects and the list timestamp, in one round trip where possible.

        At most ``query.limit`` objects (None: no limit), tombstones only with
        ``include_deleted``.
        """

    def list_encoded(
        self, resource_name: str, parent_id: str, query: ListQuery
    ) -> tuple[list[str], int] | None:
        """The page of ``list_objects`` as the JSON texts of its objects, and the list
        timestamp, for a backend that can answer it without decoding
        the objects; None when it cannot for this query (then use ``list_objects``)."""
        return None

    def list_page(
        self,
        resource_name: str,
        parent_id: str,
        query: ListQuery,
        *,
        encoded: bool = False,
        total: bool = False,
    ) -> Page:
        """``list_encoded`` when ``encoded`` and the backend can, else ``list_objects``;
        with ``total``, also ``count`` (a backend may answer both in one statement)."""
        found = self.list_encoded(resource_name, parent_id, query) if encoded else None
        page = (
            Page(found[0], found[1], encoded=True)
            if found is not None
            else Page(*self.list_objects(resource_name, parent_id, query))
        )
        if total:
            page.total = self.count(resource_name, parent_id, query)
        return page

    @abc.abstractmethod
    def count(self, resource_name: str, parent_id: str, query: ListQuery) -> int:
        """Number of live objects matching filters and readable_by (limit/after ignored)."""

    @abc.abstractmethod
    def purge_deleted(
        self,
        resource_name: str | None = None,
        before: int | None = None,
        max_retained: int | None = None,
    ) -> int:
        """Remove tombstones older than ``before`` and/or beyond the newest
        ``max_retained`` of each list. Returns how many were removed."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Delete everything: objects, tombstones, timestamps."""

    @abc.abstractmethod
    def heartbeat(self) -> bool:
        """True when the backend answers."""

    # -- access revoked (README, "Revocations"). A backend without them records nothing
    # and its polls and streams carry no revocation tombstones.

    def record_revocations(
        self,
        resource_name: str,
        scope: str,
        principals: Iterable[str],
        object_id: str | None = None,
    ) -> None:
        """``principals`` (user ids, system principals, group URIs) lost read access to
        the object ``object_id`` of the list ``(resource_name, scope)``, or (None) to
        every live object of the lists of ``resource_name`` whose parent is ``scope`` or
        under ``scope + "/"``. Recorded for each such object and each user then holding
        a principal (a group: its members of that moment), with a timestamp of the
        object's list, which it bumps. Before the ACEs or memberships change."""
        return None

    def record_deletions(
        self, resource_name: str, parent_id: str, rows: Iterable[tuple[str, int, str]]
    ) -> None:
        """``(object id, tombstone timestamp, principal)``: the principals (users, system
        principals, groups: their members of that moment) who read the deleted object
        through ACEs that went with it lose it at its tombstone's timestamp."""
        return None

    def revoked_since(
        self,
        resource_name: str,
        parent_id: str,
        since: int,
        before: int | None,
        lasting: Iterable[str],
        readable_by: ReadableBy,
    ) -> list[tuple[str, int, bool]]:
        """``(id, timestamp, deletion)`` of the list's objects that one of ``lasting`` (a caller's
        user id and system principals) lost read access to after ``since`` (and before
        ``before``) and that ``readable_by`` does not read now; one per object (its
        newest loss, ``deletion`` when that was the object's deletion), oldest first."""
        return []

    def revoked_between(
        self, resource_name: str, parent_id: str, since: int, upto: int | None
    ) -> list[tuple[str, int, str]]:
        """``(id, timestamp, principal)`` of every revocation of the list in ``(since,
        upto]`` (None: no bound), oldest first (the stream decides per subscriber)."""
        return []

    def lock_list(self, resource_name: str, parent_id: str) -> bool:
        """Make the other writers of the list wait until this transaction ends; True when
        that took a lock, False when every write transaction is serialised anyway (SQLite's
        BEGIN IMMEDIATE, the memory backend's lock): nothing read since can be stale."""
        return False
