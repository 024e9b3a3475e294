"""Access-revoked tombstones (README, "Revocations"): what is recorded when read access
goes, and what a ``_since`` poll shows of it.

Recorded (``record_lost``, ``group_left``): a principal who loses an ACE granting read on
records (``read`` or ``write``, on a record, its collection or its bucket) loses the
records it covers; a member who leaves a group (or whose group is deleted) loses what the
group's ACEs covered. The storage backend records it for each record and user
(``Storage.record_revocations``); whether the user still reads the record another way is
decided when they poll.

A caller who may read only some objects of a list (``readable_by``) and who lost read
access to some of them since ``_since`` gets, besides the page, a tombstone for each of
those: ``{"id", "last_modified", "deleted": true, "revoked": true}``, so that a client
drops its copy as for a delete. A caller who may read the whole list lost nothing in it.

Which polls: the first page (no ``_token``) of a list asked with ``_since`` (and maybe
``_before``) and no other filter (a data filter never matches a tombstone). The storage
backend finds them (``Storage.revoked_since``); this module decides when to ask and puts
them in the page's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kinto_clone import json
from kinto_clone.permission import ACL
from kinto_clone.resources.querying import (
    DELETED_FIELD,
    ID_FIELD,
    MODIFIED_FIELD,
    REVOKED_FIELD,
)
from kinto_clone.storage import ListQuery, Op, ReadableBy, Sort, Storage

if TYPE_CHECKING:
    from kinto_clone.backends import Backends
    from kinto_clone.resources.types import ResourceType, Topology


RECORD = "record"


def _covers_records(resource: ResourceType) -> bool:
    return any(child.name == RECORD or _covers_records(child) for child in resource.children)


def read_granting(topology: Topology) -> frozenset[str]:
    """The permissions that give read on a record, on whichever level they are held (the
    record, its collection, its bucket): ``read`` and ``write``, from the table."""
    return frozenset(p for _, p in topology.inheritance[(RECORD, "read")])


def _readers(topology: Topology, acl: ACL) -> set[str]:
    """The principals an ACL lets read records (the object itself, or all records below)."""
    return {principal for p in read_granting(topology) for principal in acl.get(p, ())}


def readers_lost(topology: Topology, before: ACL, after: ACL) -> set[str]:
    """The principals an ACL change stops letting read records."""
    return _readers(topology, before) - _readers(topology, after)


def record_lost(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    object_id: str,
    principals: Iterable[str],
) -> None:
    """``principals`` lost the ACEs granting read on records that they held on this
    object (before the ACL is stored)."""
    lost = set(principals)
    if not lost or not backends.revocations:
        return
    if resource.name == RECORD:
        backends.storage.record_revocations(RECORD, parent_id, lost, object_id)
    elif _covers_records(resource):
        uri = f"{resource.list_uri(parent_id)}/{object_id}"
        backends.storage.record_revocations(RECORD, uri, lost)


def deleted(
    backends: Backends,
    topology: Topology,
    resource: ResourceType,
    parent_id: str,
    tombstones: list[dict[str, Any]],
    acls: Mapping[str, ACL],
) -> None:
    """Records ``tombstones`` (of the list ``parent_id``) were deleted. ``acls``: their
    ACLs (by URI) and their ancestors' (the collection's, the bucket's), before the
    deletion."""
    if resource.name != RECORD or not backends.revocations:
        return
    list_readers: set[str] = set()
    for uri, acl in acls.items():
        if parent_id == uri or parent_id.startswith(uri + "/"):
            list_readers |= _readers(topology, acl)
    prefix = resource.list_uri(parent_id) + "/"
    rows = [
        (tombstone[ID_FIELD], tombstone[MODIFIED_FIELD], principal)
        for tombstone in tombstones
        for principal in sorted(
            _readers(topology, acls.get(prefix + tombstone[ID_FIELD], {})) - list_readers
        )
    ]
    if rows:
        backends.storage.record_deletions(RECORD, parent_id, rows)


def group_left(
    backends: Backends, topology: Topology, group_uri: str, members: set[str] | None
) -> None:
    """``members`` (None: all of them, the group is deleted) leave the group: they lose
    what its ACEs granted. Before the memberships are removed."""
    if members == set() or not backends.revocations:
        return
    granted = backends.permission.get_accessible_objects([group_uri], read_granting(topology))
    for uri in sorted(granted):
        parsed = topology.parse_uri(uri)
        if parsed is not None:
            record_lost(backends, *parsed, members if members is not None else {group_uri})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def poll_bounds(query: ListQuery) -> tuple[int, int | None] | None:
    """``(since, before)`` of a first-page ``_since`` poll without other filters."""
    if query.after is not None or not query.include_deleted:
        return None
    since: int | None = None
    before: int | None = None
    for found in query.filters:
        if found.field != "last_modified" or not _is_int(found.value):
            return None
        if found.op is Op.GT and since is None:
            since = found.value
        elif found.op is Op.LT and before is None:
            before = found.value
        else:
            return None
    return None if since is None else (since, before)


def tombstone(object_id: str, timestamp: int, deletion: bool = False) -> dict[str, Any]:
    """An access-revoked tombstone, as polls and streams show it (of a ``deletion``: the
    record's own tombstone, as readers of the list see it)."""
    shown = {ID_FIELD: object_id, MODIFIED_FIELD: timestamp, DELETED_FIELD: True}
    if not deletion:
        shown[REVOKED_FIELD] = True
    return shown


def revoked(
    storage: Storage,
    resource_name: str,
    parent_id: str,
    query: ListQuery,
    readable_by: ReadableBy | None,
    lasting: Iterable[str],
) -> list[dict[str, Any]]:
    """The caller's revocation tombstones for this poll, oldest first (none when the
    poll is not one they belong to, or the caller reads the whole list)."""
    bounds = poll_bounds(query) if readable_by is not None else None
    if bounds is None or readable_by is None:
        return []
    since, before = bounds
    found = storage.revoked_since(resource_name, parent_id, since, before, lasting, readable_by)
    return [tombstone(*found_one) for found_one in found]


def merged(
    page: list[Any], encoded: bool, tombstones: list[dict[str, Any]], sorting: tuple[Sort, ...]
) -> list[Any]:
    """The page with the tombstones in the query's order (by ``last_modified``; any other
    sort: after the page), as objects (an encoded page is decoded: a rare path)."""
    objects = [json.loads(text) for text in page] if encoded else list(page)
    objects.extend(tombstones)
    if sorting and sorting[0].field == "last_modified":
        objects.sort(key=lambda obj: obj["last_modified"], reverse=sorting[0].descending)
    return objects
