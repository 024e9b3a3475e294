"""The resource endpoints: buckets, groups, collections, records (§1, §2).

One plural and one object service per resource type, registered explicitly below. Views
are thin: validated input -> one call into ``resources/`` -> headers -> a dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request

from kinto_clone import json
from kinto_clone.authorization import lasting_principals
from kinto_clone.body import check_content_type, json_body
from kinto_clone.checks import BODY_MEDIA
from kinto_clone.context import RouteContext
from kinto_clone.errors import invalid
from kinto_clone.events import check_data
from kinto_clone.preconditions import (
    raise_304_if_not_modified,
    raise_412_if_modified,
    raise_412_if_object_modified,
)
from kinto_clone.resources import lists, merge, objects, querying
from kinto_clone.resources.types import CORE, ResourceType, object_uri
from kinto_clone.schemas import envelope
from kinto_clone.views import steps
from kinto_clone.views.http import (
    set_timestamp_headers,
)

# -- plural endpoints ----------------------------------------------------------------------


def list_objects(request: Request) -> Any:
    ctx: RouteContext = request.context
    steps.require_parents(ctx)
    parsed = steps.list_params(request)
    steps.cache_headers(request, ctx, "Next-Page")
    if request.method == "HEAD":
        return _count_objects(request, ctx, parsed)
    page = lists.read_page(
        request.registry.backends,
        ctx.resource,
        ctx.parent_id,
        parsed,
        ctx.readable_by,
        total=request.registry.settings["total_records_on_get"],
        lasting=lasting_principals(request.authenticated_userid),
    )
    steps.list_preconditions(request, steps.listed_timestamp(ctx, page))
    steps.set_total(request, page.total)
    steps.set_next_page(request, parsed.limit, page.next_token)
    return {"data": json.raw_list(page.objects) if page.encoded else page.objects}


def _count_objects(request: Request, ctx: RouteContext, parsed: querying.ParsedList) -> Any:
    """HEAD of a list: its headers, Total-Records among them, and no body."""
    backends = request.registry.backends
    total, timestamp = lists.count(backends, ctx.resource, ctx.parent_id, parsed, ctx.readable_by)
    if not total:
        ctx.raise_401_403_if_nothing_listed()
    steps.list_preconditions(request, timestamp)
    request.response.content_type, request.response.charset = "application/json", None
    steps.set_total(request, total)
    return request.response


def delete_objects(request: Request) -> Any:
    ctx: RouteContext = request.context
    steps.require_parents(ctx)
    parsed = steps.list_params(request)
    backends = request.registry.backends
    timestamp = lists.timestamp(backends, ctx.resource, ctx.parent_id)
    if "If-Match" in request.headers or "If-None-Match" in request.headers:
        ctx.raise_401_403_if_nothing_listed()  # the refusal comes before the 412
    raise_412_if_modified(request.headers, None, timestamp, plural=True)
    deleted = lists.delete_page(
        backends, ctx.resource, ctx.parent_id, parsed, ctx.readable_by, ctx.acls
    )
    for tombstone in deleted.objects:
        steps.changed(request, ctx, "delete", None, tombstone)
    if not deleted.objects:
        ctx.raise_401_403_if_nothing_listed()
    steps.set_next_page(request, parsed.limit, deleted.next_token)
    set_timestamp_headers(request.response, max(deleted.timestamp, timestamp))
    return {"data": deleted.objects}


def create_object(request: Request) -> Any:
    ctx: RouteContext = request.context  # checks.py checked the body and its data.id
    data, permissions = envelope(json_body(request), ctx.resource.permissions)
    steps.require_parents(ctx)
    existing = ctx.sibling
    raise_412_if_object_modified(request.headers, existing, steps.list_timestamp(request, ctx))
    if existing is not None:  # POST with the id of an object that exists: return it.
        uri = object_uri(ctx.resource, ctx.parent_id, existing["id"])
        return steps.object_response(request, existing, ctx.acl(uri))
    given, data = data is not None, data or {}
    check_data(request, ctx, data)
    # The ignore: envelope() without allow_null gives permission lists, never None.
    obj, acl, created = objects.create_unless_raced(
        request.registry.backends,
        ctx.resource,
        ctx.parent_id,
        data.get("id") or ctx.resource.generate_id(),
        data,
        permissions or {},  # type: ignore[arg-type]
        steps.writer(request),
        data_given=given,
    )
    if created:
        steps.changed(request, ctx, "create", None, obj, acl)
    return steps.object_response(request, obj, acl, status=201 if created else 200)


# -- object endpoints ----------------------------------------------------------------------


def get_object(request: Request) -> Any:
    ctx: RouteContext = request.context
    obj = steps.existing(ctx)
    raise_412_if_object_modified(request.headers, obj)
    raise_304_if_not_modified(request.headers, obj["last_modified"])
    steps.cache_headers(request, ctx)
    fields = querying.parse_fields(list(request.GET.items()))
    if fields is not None:
        set_timestamp_headers(request.response, obj["last_modified"])
        return {"data": querying.project_fields(obj, fields)}
    return steps.object_response(request, obj, ctx.acl())


def put_object(request: Request) -> Any:
    ctx: RouteContext = request.context  # checks.py checked the body
    data, permissions = envelope(json_body(request), ctx.resource.permissions)
    steps.require_parents(ctx)
    current = steps.latest_or_412(request, ctx, ctx.current)
    if data is not None and "id" in data and data["id"] != ctx.object_id:
        raise invalid("body", "id", "Object id does not match existing object")
    if data is not None:
        check_data(request, ctx, data)
    # The ignore: envelope() without allow_null gives permission lists, never None.
    obj, acl = objects.replace(
        request.registry.backends,
        ctx.resource,
        ctx.parent_id,
        ctx.object_id or "",
        current,
        ctx.acl(),
        data,
        permissions,  # type: ignore[arg-type]
        steps.writer(request),
    )
    steps.changed(request, ctx, "create" if current is None else "update", current, obj, acl)
    return steps.object_response(request, obj, acl, status=201 if current is None else 200)


def patch_object(request: Request) -> Any:
    ctx: RouteContext = request.context
    media = check_content_type(request, BODY_MEDIA["PATCH"])
    behavior = merge.response_behavior(request.headers)
    obj = steps.latest_or_412(request, ctx, steps.existing(ctx))
    new_data, changes = merge.apply(media, json_body(request), obj, ctx.acl(), ctx.resource)
    sent = dict(new_data)  # before the data checks complete it (diff compares to this)
    check_data(request, ctx, new_data)
    stored, acl = objects.patch(
        request.registry.backends,
        ctx.resource,
        ctx.parent_id,
        obj,
        ctx.acl(),
        new_data,
        changes,
        steps.writer(request),
    )
    steps.changed(request, ctx, "update", obj, stored, acl)
    if behavior != "full":
        set_timestamp_headers(request.response, stored["last_modified"])
        return {"data": merge.partial_response(behavior, obj, stored, sent)}
    return steps.object_response(request, stored, acl)


def delete_object(request: Request) -> Any:
    ctx: RouteContext = request.context
    obj = steps.latest_or_412(request, ctx, steps.existing(ctx))
    forced = querying.native_value(request.GET.get("last_modified", "null"))
    if forced is not None and (not isinstance(forced, int) or isinstance(forced, bool)):
        raise invalid("querystring", "last_modified", f'"{forced}" is not a number')
    backends = request.registry.backends
    tombstone = objects.delete(backends, ctx.resource, ctx.parent_id, obj["id"], forced, ctx.acls)
    steps.changed(request, ctx, "delete", obj, tombstone)
    set_timestamp_headers(request.response, tombstone["last_modified"])
    return {"data": tombstone}


# -- registration --------------------------------------------------------------------------

GENERIC_VIEWS: dict[str, Callable[[Request], Any]] = {
    "plural GET": list_objects,
    "plural POST": create_object,
    "plural DELETE": delete_objects,
    "object GET": get_object,
    "object PUT": put_object,
    "object PATCH": patch_object,
    "object DELETE": delete_object,
}
PERMISSIONS = {"GET": "read", "POST": "create", "PUT": "write", "PATCH": "write", "DELETE": "write"}


def register_resource(
    config: Configurator,
    resource: ResourceType,
    factory: type = RouteContext,
    views: dict[str, Callable[[Request], Any]] | None = None,
) -> ResourceType:
    """The one registration of a resource type: into the app's topology
    (``registry.resource_types``), then, unless only the server writes its objects, its
    plural and object services (``Topology.path`` and ``path/{id}``), with the generic
    views unless ``views`` overrides some, honouring readonly and the
    ``{plural|object}_{resource}_{method}_enabled`` switches. Returns the bound type."""
    bound = config.registry.resource_types.add(resource)
    if resource.server_written:
        return bound
    name, path = resource.name, config.registry.resource_types.path(resource.name)
    settings = config.registry.settings
    services = {
        "plural": Service(name=f"{name}:plural", path=path, factory=factory),
        "object": Service(name=f"{name}:object", path=path + "/{id}", factory=factory),
    }
    for key, view in {**GENERIC_VIEWS, **(views or {})}.items():
        kind, method = key.split()
        if settings["readonly"] and method != "GET":
            continue
        if settings.get(f"{kind}_{name}_{method.lower()}_enabled", True) is False:
            continue
        services[kind].add_view(method, view, permission=PERMISSIONS[method], renderer="kinto_json")
    for service in services.values():
        config.add_cornice_service(service)
    return bound


def includeme(config: Configurator) -> None:
    """Kinto's four types; plugins register theirs the same way."""
    for resource in CORE.declared():
        register_resource(config, resource)
