"""A 412 that helps merging: the base version and what changed since (issue 13).

When a write's ``If-Match`` names a version of the object that history still holds, the
412's ``details`` carry, next to Kinto's ``existing``:

- ``base``: the object as it was at that version (what the client edited);
- ``changed``: the dotted paths of the fields changed from ``base`` to ``existing``.

With its own change the client can then merge three ways without another request. Only
for callers who may read that history entry (the bucket's readers, or the readers the
entry's ACL names); everyone else gets Kinto's 412 unchanged. Registered as a 412 details
provider (``registry.precondition_details``, called by ``views/errors.py``).
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from kinto_clone import authorization as authz
from kinto_clone.context import RouteContext
from kinto_clone.errors import HTTPError, PreconditionFailed
from kinto_clone.plugins.history.diff import changed_paths
from kinto_clone.plugins.history.listener import HISTORY, TRACKED, entry_uri
from kinto_clone.plugins.history.restore import OBJECT_TS
from kinto_clone.preconditions import parse_condition
from kinto_clone.storage import Filter, ListQuery


def base_version(request: Request, error: PreconditionFailed) -> None:
    """Add ``base`` and ``changed`` to ``error.details`` when history allows."""
    details = error.details
    ctx = getattr(request, "context", None)
    if (
        not isinstance(details, dict)
        or not isinstance(details.get("existing"), dict)
        or not isinstance(ctx, RouteContext)
        or ctx.is_plural
        or ctx.resource.name not in TRACKED
    ):
        return
    try:
        version = parse_condition(request.headers, "If-Match")
    except HTTPError:
        return
    existing = details["existing"]
    if not isinstance(version, int) or version == existing.get("last_modified"):
        return
    bucket = ctx.uris["bucket"] if "bucket" in ctx.uris else ctx.uri
    found, _ = request.registry.backends.storage.list_objects(
        HISTORY,
        bucket,
        ListQuery(filters=(Filter("uri", ctx.uri), Filter(OBJECT_TS, version)), limit=1),
    )
    if not found or found[0]["target"]["data"].get("deleted") is True:
        return
    entry = found[0]
    if not _may_read(request, ctx, bucket, entry):
        return
    base = entry["target"]["data"]
    error.details = {**details, "base": base, "changed": changed_paths(base, existing)}


def _may_read(request: Request, ctx: RouteContext, bucket: str, entry: dict[str, Any]) -> bool:
    """Who may read the entry in ``GET /buckets/{bid}/history`` (views.py)."""
    principals = request.principals
    if authz.settings_grant(request.registry.settings, HISTORY, "read", principals):
        return True
    if authz.holds(
        ctx.acls, authz.bound_permissions("bucket", "read", {"bucket": bucket}), principals
    ):
        return True
    uri = entry_uri(bucket, entry["id"])
    acl = request.registry.backends.permission.get_objects_permissions([uri]).get(uri, {})
    return bool(acl.get("read", set()) & principals)


def includeme(config: Configurator) -> None:
    providers = getattr(config.registry, "precondition_details", [])
    config.registry.precondition_details = [*providers, base_version]
