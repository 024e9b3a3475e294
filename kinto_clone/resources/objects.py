"""Generic logic of every resource: create, replace, patch, delete, list.

Functions take the backends and plain values, never the request. ACL rules (§2.5): the
writer is always added to ``write`` (unless ``explicit_permissions`` is off); PUT with
permissions replaces the whole ACL, PATCH replaces only the permissions it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinto_clone.backends import Backends
from kinto_clone.permission import ACL
from kinto_clone.resources import revocations
from kinto_clone.resources.types import CORE, ResourceType, object_uri
from kinto_clone.storage import ListQuery, UnicityError


def acl_lists(acl: ACL) -> dict[str, list[str]]:
    """An ACL as Kinto shows it: only permissions with principals, sorted lists."""
    return {perm: sorted(principals) for perm, principals in sorted(acl.items()) if principals}


def _clean_data(data: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Drop managed fields from client data; keep an integer ``last_modified`` aside."""
    data = {k: v for k, v in data.items() if k != "id"}
    last_modified = data.pop("last_modified", None)
    if not isinstance(last_modified, int) or isinstance(last_modified, bool):
        last_modified = None
    return data, last_modified


def _write_acl(
    backends: Backends,
    uri: str,
    current: ACL,
    changes: Mapping[str, list[str] | None],
    writer: str | None,
) -> ACL:
    """Apply permission changes plus the writer, store only what changed, return the ACL."""
    acl = {perm: set(principals) for perm, principals in current.items()}
    for perm, principals in changes.items():
        if principals is not None:
            acl[perm] = set(principals)
    if writer is not None:
        acl.setdefault("write", set()).add(writer)
    changed = {
        p: sorted(acl.get(p, set()))
        for p in set(acl) | set(current)
        if acl.get(p, set()) != current.get(p, set())
    }
    if any(current.get(p, set()) - set(principals) for p, principals in changed.items()):
        backends.permission.replace_object_permissions(uri, changed)
    elif changed:  # only additions (a new object, a writer added): one INSERT
        backends.permission.add_object_permissions(
            uri, {p: set(principals) - current.get(p, set()) for p, principals in changed.items()}
        )
    return {p: s for p, s in acl.items() if s}


def create(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    object_id: str,
    data: dict[str, Any],
    permissions: Mapping[str, list[str]],
    writer: str | None,
    *,
    data_given: bool = True,
) -> tuple[dict[str, Any], ACL]:
    """Create a new object (UnicityError if a live one has the id). Without data in the
    body (``data_given=False``) there is nothing to validate: a group has no members."""
    data, last_modified = _clean_data(data)
    if data_given:
        resource.validate(data)
    obj = {**data, "id": object_id}
    if last_modified is not None:
        obj["last_modified"] = last_modified
    created = backends.storage.create(resource.name, parent_id, obj)
    uri = object_uri(resource, parent_id, object_id)
    acl = _write_acl(backends, uri, {}, dict(permissions), writer)
    if resource.on_write is not None:
        resource.on_write(backends, uri, None, created)
    _start_child_lists(backends, resource, uri, created["last_modified"])
    return created, acl


def create_unless_raced(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    object_id: str,
    data: dict[str, Any],
    permissions: Mapping[str, list[str]],
    writer: str | None,
    *,
    data_given: bool = True,
) -> tuple[dict[str, Any], ACL, bool]:
    """``create``; an object created meanwhile by a concurrent request is returned
    instead, with False and no ACL (this request wrote nothing)."""
    try:
        obj, acl = create(
            backends,
            resource,
            parent_id,
            object_id,
            data,
            permissions,
            writer,
            data_given=data_given,
        )
    except UnicityError as exc:
        return exc.existing, {}, False
    return obj, acl, True


def _start_child_lists(backends: Backends, resource: ResourceType, uri: str, created: int) -> None:
    """Store the child lists' timestamps, the new parent's own, in this write transaction:
    a list nothing was written to has a stable ETag, and reading it writes nothing (Kinto
    takes a fresh timestamp at the first read; README, "Where we differ from Kinto on
    purpose"). Its first write gets a greater one."""
    for child in resource.children:
        if not child.server_written:
            backends.storage.start_list(child.name, uri, created)


def replace(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    object_id: str,
    current: dict[str, Any] | None,
    current_acl: ACL,
    data: dict[str, Any] | None,
    permissions: Mapping[str, list[str]] | None,
    writer: str | None,
) -> tuple[dict[str, Any], ACL]:
    """PUT: replace the data (kept when ``data`` is None) and, if given, the whole ACL."""
    given = data is not None
    if data is None:
        data = {k: v for k, v in (current or {}).items() if k not in ("id", "last_modified")}
    data, last_modified = _clean_data(data)
    if given:  # kept data was checked when stored; none is none (a group has no members)
        resource.validate(data)
    obj = {**data, "id": object_id}
    if last_modified is not None:
        obj["last_modified"] = last_modified
    if current is None:
        try:
            stored = backends.storage.create(resource.name, parent_id, obj)
        except UnicityError as exc:  # created meanwhile: replace it as PUT means
            stored = backends.storage.update(resource.name, parent_id, object_id, obj)
            current = exc.existing
    else:
        stored = backends.storage.update(resource.name, parent_id, object_id, obj)
    uri = object_uri(resource, parent_id, object_id)
    changes: dict[str, list[str] | None] = {}
    if permissions:
        changes = {perm: list(permissions.get(perm, [])) for perm in resource.permissions}
    acl = _write_acl(backends, uri, current_acl, changes, writer)
    revocations.acl_changed(backends, CORE, resource, parent_id, object_id, current_acl, acl)
    if resource.on_write is not None:
        resource.on_write(backends, uri, current, stored)
    if current is None:
        _start_child_lists(backends, resource, uri, stored["last_modified"])
    return stored, acl


def patch(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    current: dict[str, Any],
    current_acl: ACL,
    new_data: dict[str, Any],
    permission_changes: Mapping[str, list[str] | None],
    writer: str | None,
) -> tuple[dict[str, Any], ACL]:
    """Store ``new_data`` (already merged by the caller) and apply permission changes."""
    object_id = current["id"]
    data, last_modified = _clean_data(new_data)
    resource.validate_merged(data)
    obj = {**data, "id": object_id}
    if last_modified is not None and last_modified > current["last_modified"]:
        obj["last_modified"] = last_modified
    stored = backends.storage.update(resource.name, parent_id, object_id, obj)
    uri = object_uri(resource, parent_id, object_id)
    acl = _write_acl(backends, uri, current_acl, permission_changes, writer)
    revocations.acl_changed(backends, CORE, resource, parent_id, object_id, current_acl, acl)
    if resource.on_write is not None:
        resource.on_write(backends, uri, current, stored)
    return stored, acl


def _cascade(backends: Backends, resource: ResourceType, uri: str) -> None:
    """An object was deleted: the delete hooks, then its children are hard-deleted with
    their ACLs."""
    _run_delete_hooks(backends, resource, uri)
    if resource.children:
        backends.storage.delete_tree(uri)
    backends.permission.delete_object_permissions(uri, with_children=bool(resource.children))


def _run_delete_hooks(backends: Backends, resource: ResourceType, uri: str) -> None:
    """The delete hooks of the object and of what it contains (a deleted group is nobody's
    principal any more, nor are a deleted bucket's groups); descendants are listed only
    when one of them has a hook."""
    if resource.on_delete is not None:
        resource.on_delete(backends, uri)
    for child in resource.children:
        if child.deletes_reach_hooks:
            found, _ = backends.storage.list_objects(child.name, uri, ListQuery(limit=None))
            for obj in found:
                _run_delete_hooks(backends, child, object_uri(child, uri, obj["id"]))


def delete(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    object_id: str,
    last_modified: int | None = None,
    acls: Mapping[str, ACL] | None = None,
) -> dict[str, Any]:
    """Tombstone one object and cascade to what it contains. ``acls``: the object's and
    its ancestors' ACLs by URI, when the caller has them (``revocations.deleted``)."""
    tombstone = backends.storage.delete(resource.name, parent_id, object_id, last_modified)
    if acls is not None:
        revocations.deleted(backends, CORE, resource, parent_id, [tombstone], acls)
    _cascade(backends, resource, object_uri(resource, parent_id, object_id))
    return tombstone


def delete_list(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    query: ListQuery,
    ancestor_acls: Mapping[str, ACL] | None = None,
) -> list[dict[str, Any]]:
    """Plural DELETE: tombstone the matching objects and cascade to each. With the
    ancestors' ACLs (by URI), the readers of the deleted objects' own ACEs lose them
    (``revocations.deleted``; one statement more, to read those ACEs)."""
    tombstones = backends.storage.delete_all(resource.name, parent_id, query)
    if ancestor_acls is not None and tombstones and backends.revocations:
        uris = [object_uri(resource, parent_id, t["id"]) for t in tombstones]
        acls = {**backends.permission.get_objects_permissions(uris), **ancestor_acls}
        revocations.deleted(backends, CORE, resource, parent_id, tombstones, acls)
    for tombstone in tombstones:
        _cascade(backends, resource, object_uri(resource, parent_id, tombstone["id"]))
    return tombstones
