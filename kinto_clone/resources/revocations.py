"""Access-revoked tombstones (README, "Revocations"): what is recorded when read access
goes, and what a ``_since`` poll shows of it.

Which lists, generically, from the topology: an object is shown in its list to a caller
who may read the whole list (a permission of the inheritance table for ``(parent type,
"read")``, held on the parent or an ancestor), or, to any other caller, when they hold one
of ``ResourceType.listed_by`` on the object itself. So a change of an object's ACL takes
away (``acl_changed``):

- the object, from its own list, for the principals who held a ``listed_by`` permission
  on it and hold none any more;
- every object of the lists below it (records of a collection; a bucket's collections,
  groups and their records), for the principals who held on it a permission that lets
  one read such a list whole, and hold none any more.

A member who leaves a group (or whose group is deleted: ``group_left``) loses what the
group's ACEs granted, object by object, by the same rule. A deleted object (``deleted``)
is lost by the principals who saw it through its own ACEs (they go with it) and not
through the list's ancestors. The storage backend records each loss for each object and
user (``Storage.record_revocations``, ``record_deletions``); whether the user still reads
the object another way is decided when they poll.

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

from collections.abc import Iterable, Iterator, Mapping
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


def _holders(acl: ACL, permissions: Iterable[str]) -> set[str]:
    return {principal for p in permissions for principal in acl.get(p, ())}


def _whole_list(topology: Topology, listed: ResourceType, level: str) -> set[str]:
    """The permissions held on an object of type ``level`` that let one read the whole
    lists of ``listed`` below it (the inheritance table's, as every list read decides)."""
    assert listed.parent is not None
    return {p for lvl, p in topology.inheritance[(listed.parent, "read")] if lvl == level}


def _listed_below(topology: Topology, resource: ResourceType) -> Iterator[ResourceType]:
    """The types of ``topology`` whose lists lie below an object of ``resource`` (read
    by clients; a plugin's type registered on the resource but not in ``topology`` is
    not followed)."""
    for child in resource.children:
        if not child.server_written and child.name in topology:
            yield child
            yield from _listed_below(topology, child)


def _tracked(backends: Backends, topology: Topology, resource: ResourceType) -> bool:
    return backends.revocations and resource.name in topology and not resource.server_written


def acl_changed(
    backends: Backends,
    topology: Topology,
    resource: ResourceType,
    parent_id: str,
    object_id: str,
    before: ACL,
    after: ACL,
) -> None:
    """The object's ACL went from ``before`` to ``after``: record what that takes away
    (nothing, and no statement, when it takes nothing away)."""
    if not _tracked(backends, topology, resource):
        return
    storage = backends.storage
    own = _holders(before, resource.listed_by) - _holders(after, resource.listed_by)
    if own:
        storage.record_revocations(resource.name, parent_id, own, object_id)
    uri = f"{resource.list_uri(parent_id)}/{object_id}"
    for listed in _listed_below(topology, resource):
        granting = _whole_list(topology, listed, resource.name)
        gone = _holders(before, granting) - _holders(after, granting)
        if gone:
            storage.record_revocations(listed.name, uri, gone)


def deleted(
    backends: Backends,
    topology: Topology,
    resource: ResourceType,
    parent_id: str,
    tombstones: list[dict[str, Any]],
    acls: Mapping[str, ACL],
) -> None:
    """Objects ``tombstones`` (of the list ``parent_id``) were deleted. ``acls``: their
    ACLs (by URI) and their ancestors' (the collection's, the bucket's), before the
    deletion."""
    if not _tracked(backends, topology, resource):
        return
    list_readers: set[str] = set()
    if resource.parent is not None:
        levels = topology.chain_uris(parent_id)
        for level, permission in topology.inheritance[(resource.parent, "read")]:
            list_readers |= set(acls.get(levels.get(level, ""), {}).get(permission, ()))
    prefix = resource.list_uri(parent_id) + "/"
    rows = [
        (tombstone[ID_FIELD], tombstone[MODIFIED_FIELD], principal)
        for tombstone in tombstones
        for principal in sorted(
            _holders(acls.get(prefix + tombstone[ID_FIELD], {}), resource.listed_by) - list_readers
        )
    ]
    if rows:
        backends.storage.record_deletions(resource.name, parent_id, rows)


def group_left(
    backends: Backends, topology: Topology, group_uri: str, members: set[str] | None
) -> None:
    """``members`` (None: all of them, the group is deleted) leave the group: they lose
    what its ACEs granted. Before the memberships are removed."""
    if members == set() or not backends.revocations:
        return
    leaving = members if members is not None else {group_uri}
    granted = backends.permission.get_accessible_objects([group_uri])
    for uri, permissions in sorted(granted.items()):
        parsed = topology.parse_uri(uri)
        if parsed is not None:
            before = {permission: set(leaving) for permission in permissions}
            acl_changed(backends, topology, *parsed, before, {})


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
