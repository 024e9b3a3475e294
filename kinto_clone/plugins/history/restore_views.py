"""The restore endpoints (issue 13), sub-resources of what they act on:

- ``POST {object URL}/restore`` with ``{"data": {"at": <epoch ms | ISO 8601>, "dry_run":
  false}}``: a record, a group, a collection with its records, or a bucket with all it
  holds, back to their state at ``at``. Needs ``write`` on that object; ``If-Match`` takes
  the ETag a dry run answered (the greatest timestamp of the target and its lists).
- ``POST /buckets/{bid}/history/{id}/revert`` (body optional, ``{"data": {"dry_run":
  true}}``): undo that entry. Needs ``write`` on the entry's object.

Both answer ``{"data": {"uri", "at", "dry_run", "create", "update", "delete", "changes":
[...]}}`` with the target's ETag.
"""

from __future__ import annotations

from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request

from kinto_clone import authorization as authz
from kinto_clone.body import check_content_type, json_body
from kinto_clone.context import RouteContext
from kinto_clone.errors import NotFound, ValidationError, detail, invalid_id
from kinto_clone.permission import ACL
from kinto_clone.plugins.history import operations
from kinto_clone.plugins.history.listener import HISTORY, bucket_uri
from kinto_clone.plugins.history.restore import Target, parse_uri
from kinto_clone.plugins.history.restore_openapi import REVERT, SCHEMAS, restore_operation
from kinto_clone.preconditions import parse_condition
from kinto_clone.resources.types import CORE, ID_PATTERN
from kinto_clone.storage import ObjectNotFoundError
from kinto_clone.views.http import now_ms, set_timestamp_headers
from kinto_clone.views.openapi import describe


def may_write(
    request: Request, resource_name: str, uris: dict[str, str], acls: dict[str, ACL]
) -> bool:
    """``write`` on the object at the end of ``uris``, decided as every request does."""
    principals = request.principals
    settings = request.registry.settings
    return authz.settings_grant(settings, resource_name, "write", principals) or authz.holds(
        acls, authz.bound_permissions(resource_name, "write", uris), principals
    )


class RestoreContext(RouteContext):
    """The object of the URL, loaded like any resource route's; ``write`` on it, also
    when it was deleted (then through its parents)."""

    def permits(self, permission: str) -> bool:
        self.load()
        return may_write(self.request, self.resource.name, self.uris, self.acls)


class RevertContext:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.bucket_id: str = request.matchdict["bucket_id"]
        self.entry_id: str = request.matchdict["id"]
        if not ID_PATTERN.match(self.bucket_id) or not ID_PATTERN.match(self.entry_id):
            raise invalid_id()
        self.entry: dict[str, Any] | None = None

    def permits(self, permission: str) -> bool:
        """Writers of the entry's object; for a missing entry, the bucket's readers (who
        then learn it is missing)."""
        backends = self.request.registry.backends
        bucket = bucket_uri(self.bucket_id)
        try:
            self.entry = backends.storage.get(HISTORY, bucket, self.entry_id)
        except ObjectNotFoundError:
            acls = backends.permission.get_objects_permissions([bucket])
            bound = authz.bound_permissions("bucket", "read", {"bucket": bucket})
            return authz.holds(acls, bound, self.request.principals)
        uris = CORE.chain_uris(self.entry["uri"])
        acls = backends.permission.get_objects_permissions(list(uris.values()))
        return may_write(self.request, parse_uri(self.entry["uri"])[0], uris, acls)


def _options(body: Any, *, at_required: bool) -> tuple[Any, bool]:
    """``data.at`` (raw) and ``data.dry_run`` of a body; anything else is a 400."""
    if body is None and not at_required:
        return None, False
    if not isinstance(body, dict) or set(body) - {"data"} or not isinstance(body.get("data"), dict):
        raise ValidationError([detail("body", "data", 'Expected {"data": {...}}')])
    data = body["data"]
    allowed = {"at", "dry_run"} if at_required else {"dry_run"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError([detail("body", f"data.{k}", "Unknown field") for k in unknown])
    if at_required and "at" not in data:
        raise ValidationError([detail("body", "data.at", "Required")])
    dry_run = data.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValidationError([detail("body", "data.dry_run", f"{dry_run!r} is not a boolean")])
    return data.get("at"), dry_run


def post_restore(request: Request) -> Any:
    ctx: RestoreContext = request.context
    check_content_type(request)
    raw_at, dry_run = _options(json_body(request), at_required=True)
    at = operations.parse_at(raw_at, now_ms())
    name = ctx.resource.name
    target = Target(name, ctx.uri, children=bool(CORE[name].children))
    answer, etag = operations.restore(
        request,
        request.registry.history_options,
        target,
        at,
        dry_run=dry_run,
        if_match=parse_condition(request.headers, "If-Match"),
        author=operations.author(request),
    )
    set_timestamp_headers(request.response, etag)
    return {"data": answer}


def post_revert(request: Request) -> Any:
    ctx: RevertContext = request.context
    body = json_body(request) if request.body else None
    if body is not None:
        check_content_type(request)
    _, dry_run = _options(body, at_required=False)
    if ctx.entry is None:
        raise NotFound(HISTORY, ctx.entry_id)
    answer, etag = operations.revert(
        request, request.registry.history_options, ctx.entry, dry_run=dry_run
    )
    set_timestamp_headers(request.response, etag)
    return {"data": answer}


def includeme(config: Configurator) -> None:
    if config.registry.settings["readonly"]:
        return
    for name in CORE:  # what history records
        service = Service(
            name=f"{name}:restore",
            path=config.registry.resource_types.path(name) + "/{id}/restore",
            factory=RestoreContext,
            description=f"Restore a {name}",
        )
        service.add_view("POST", post_restore, permission="write", renderer="kinto_json")
        config.add_cornice_service(service)
        describe(config, service.name, restore_operation(name), SCHEMAS)
    revert = Service(
        name="history_revert",
        path="/buckets/{bucket_id}/history/{id}/revert",
        factory=RevertContext,
        description="Undo one history entry",
    )
    revert.add_view("POST", post_revert, permission="write", renderer="kinto_json")
    config.add_cornice_service(revert)
    describe(config, revert.name, REVERT)
