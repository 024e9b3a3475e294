"""A restore plan (``restore.py``) performed as ordinary writes, in the request's transaction.

Each change goes through the same resource code as a PUT or DELETE (``resources/objects``):
new timestamps, tombstones, cascades, group memberships, the data checks (JSON schemas)
and the change events, so history records each write, change feeds and ``_since`` pollers
see them. No writer is added to the ACLs: an object gets exactly the permissions it had at
the point. The history entries of these writes carry ``restore``: what was restored, to
which point, by whom (``views.py`` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyramid.request import Request

from kinto_clone.events import check_data, notify_write
from kinto_clone.permission import ACL
from kinto_clone.plugins.history.listener import RESTORE_ENVIRON
from kinto_clone.plugins.history.restore import Change, parse_uri
from kinto_clone.resources import objects
from kinto_clone.resources.types import CORE, ResourceType

if TYPE_CHECKING:
    from kinto_clone.backends import Backends


@dataclass
class CheckContext:
    """What the data checks read of a route context, for an object written by a restore."""

    resource: ResourceType
    object_id: str
    objects: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _parents(
    backends: Backends, uri: str, written: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any] | None]:
    """The bucket and collection of ``uri``, as this restore left them."""
    parts = uri.strip("/").split("/")
    found: dict[str, dict[str, Any] | None] = {}
    for depth, name in ((2, "bucket"), (4, "collection")):
        if len(parts) <= depth:
            break
        parent_uri = "/" + "/".join(parts[:depth])
        if parent_uri not in written:
            key = parse_uri(parent_uri)
            written[parent_uri] = backends.storage.get_many([key]).get(key) or {}
        found[name] = written[parent_uri] or None
    return found


def check(request: Request, changes: list[Change]) -> None:
    """Run the data checks on copies of what would be written (for a dry run)."""
    backends: Backends = request.registry.backends
    known: dict[str, dict[str, Any]] = {}
    for change in changes:
        if change.data is None:
            continue
        name, _, object_id = parse_uri(change.uri)
        resource = request.registry.resource_types[name]
        context = CheckContext(resource, object_id, _parents(backends, change.uri, known))
        check_data(request, context, dict(change.data))


def _deleted_acls(
    backends: Backends, change: Change, known: dict[str, ACL]
) -> dict[str, ACL] | None:
    """The ACLs a DELETE hands to ``objects.delete`` (which records what the deleted
    object's readers lose, README "Revocations"): the object's, and its ancestors' as this
    restore left them (read once, when not known already: 1 statement)."""
    if not backends.revocations:
        return None
    ancestors = [uri for uri in CORE.chain_uris(change.uri).values() if uri != change.uri]
    missing = [uri for uri in ancestors if uri not in known]
    if missing:
        known.update(backends.permission.get_objects_permissions(missing))
    return {change.uri: change.current_acl, **{uri: known[uri] for uri in ancestors}}


def perform(
    request: Request, changes: list[Change], origin: dict[str, Any]
) -> list[dict[str, Any]]:
    """Write ``changes`` in order; the description of each, with the object written."""
    backends: Backends = request.registry.backends
    request.environ[RESTORE_ENVIRON] = origin
    written: dict[str, dict[str, Any]] = {}
    context_acls = getattr(getattr(request, "context", None), "acls", None)
    known_acls = dict(context_acls) if isinstance(context_acls, dict) else {}
    described = []
    for change in changes:
        name, parent_id, object_id = parse_uri(change.uri)
        resource = request.registry.resource_types[name]
        if change.data is None:
            acls = _deleted_acls(backends, change, known_acls)
            stored = objects.delete(backends, resource, parent_id, object_id, acls=acls)
            acl: dict[str, set[str]] = {}
        else:
            data = dict(change.data)
            context = CheckContext(resource, object_id, _parents(backends, change.uri, written))
            check_data(request, context, data)
            if change.current is None:
                stored, acl = objects.create(
                    backends, resource, parent_id, object_id, data, change.acl, None
                )
            else:
                permissions = {p: change.acl.get(p, []) for p in resource.permissions}
                stored, acl = objects.replace(
                    backends,
                    resource,
                    parent_id,
                    object_id,
                    change.current,
                    change.current_acl,
                    data,
                    permissions,
                    None,
                )
        written[change.uri] = stored
        known_acls[change.uri] = acl
        if isinstance(context_acls, dict):
            # The history listener reads the bucket's and collection's ACLs from the
            # route context: keep them as this restore leaves them.
            context_acls[change.uri] = acl
        notify_write(request, change.action, resource, parent_id, change.current, stored, acl)
        described.append(
            {**change.describe(), "target": {"data": stored, "permissions": objects.acl_lists(acl)}}
        )
    request.environ.pop(RESTORE_ENVIRON, None)
    return described
