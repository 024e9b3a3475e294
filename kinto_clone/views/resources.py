"""The resource endpoints: buckets, groups, collections, records (§1, §2).

One plural and one object service per resource type, registered explicitly below. Views
are thin: validated input -> one call into ``resources/`` -> headers -> a dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request

from kinto_clone import json
from kinto_clone.authorization import is_writer
from kinto_clone.body import check_content_type, json_body
from kinto_clone.checks import BODY_MEDIA, refused_before_invalid
from kinto_clone.context import RouteContext
from kinto_clone.errors import Forbidden, NotFound, Unauthorized, invalid
from kinto_clone.events import ResourceChange, check_data, ids_of, notify
from kinto_clone.preconditions import (
    latest_for_write,
    raise_304_if_not_modified,
    raise_412_if_modified,
)
from kinto_clone.resources import merge, objects, querying
from kinto_clone.schemas import envelope
from kinto_clone.storage import UnicityError
from kinto_clone.views.http import (
    cache_expires,
    expose,
    next_page_url,
    now_ms,
    set_cache_headers,
    set_timestamp_headers,
)

PATHS = {
    "bucket": "/buckets",
    "group": "/buckets/{bucket_id}/groups",
    "collection": "/buckets/{bucket_id}/collections",
    "record": "/buckets/{bucket_id}/collections/{collection_id}/records",
}


# -- shared steps --------------------------------------------------------------------------


def _writer(request: Request) -> str | None:
    if not request.registry.settings["explicit_permissions"]:
        return None
    return request.authenticated_userid or "system.Everyone"


def _require_parents(ctx: RouteContext) -> None:
    """404 errno 111 for a missing parent, unless the caller was only let in to see the
    objects they hold permissions on: then nothing there is theirs, and it is a 401/403."""
    for level_type, _, level_id in ctx.chain:
        if ctx.objects.get(level_type.name) is None:
            if ctx.readable_by is not None:
                raise _refusal(ctx.request)
            raise NotFound(level_type.name, level_id, parent=True)


def _refusal(request: Request) -> Exception:
    return Unauthorized() if request.authenticated_userid is None else Forbidden()


def _existing(ctx: RouteContext) -> dict[str, Any]:
    _require_parents(ctx)
    if ctx.current is None:
        raise NotFound(ctx.resource.name, ctx.object_id or "")
    return ctx.current


def _latest(
    request: Request, ctx: RouteContext, loaded: dict[str, Any] | None
) -> dict[str, Any] | None:
    return latest_for_write(
        request.registry.backends.storage,
        ctx.resource.name,
        ctx.parent_id,
        ctx.object_id or "",
        request.headers,
        loaded,
    )


def _list_timestamp(request: Request, ctx: RouteContext) -> Callable[[], int]:
    """The timestamp of the object's list, for a 412 on an object that does not exist."""
    storage = request.registry.backends.storage
    return lambda: storage.resource_timestamp(ctx.resource.name, ctx.parent_id)


def _changed(
    request: Request,
    ctx: RouteContext,
    action: str,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    acl: dict[str, set[str]] | None = None,
) -> None:
    if not request.registry.listeners:
        return
    uri = f"{ctx.parent_id}/{ctx.resource.plural}/{new['id']}"
    notify(
        request,
        ResourceChange(
            action=action,
            resource_name=ctx.resource.name,
            parent_id=ctx.parent_id,
            uri=uri,
            user_id=request.authenticated_userid,
            ids=ids_of(uri),
            old=old,
            new=new,
            permissions=objects.acl_lists(acl or {}),
        ),
    )


def _object_response(
    request: Request, obj: dict[str, Any], acl: dict[str, set[str]], status: int = 200
) -> dict[str, Any]:
    request.response.status_int = status
    set_timestamp_headers(request.response, obj["last_modified"])
    shown = objects.acl_lists(acl) if is_writer(acl, request.principals) else {}
    return {"permissions": shown, "data": obj}


def _list_params(request: Request) -> querying.ParsedList:
    settings = request.registry.settings
    with refused_before_invalid(request, request.context):
        parsed = querying.parse_list_params(
            list(request.GET.items()),
            now_ms=now_ms(),
            paginate_by=settings["paginate_by"],
            max_fetch_size=settings["storage_max_fetch_size"],
        )
    if parsed.deprecated_to:
        request.response.headers["Alert"] = (
            '{"code":"soft-eol","message":"_to is now deprecated, you should use _before '
            'instead","url":"https://kinto.readthedocs.io/en/2.4.0/api/resource.html'
            '#list-of-available-url-parameters"}'
        )
    return parsed


# -- plural endpoints ----------------------------------------------------------------------


def list_objects(request: Request) -> Any:
    ctx: RouteContext = request.context
    _require_parents(ctx)
    parsed = _list_params(request)
    storage = request.registry.backends.storage
    query = dataclasses.replace(parsed.query, readable_by=ctx.readable_by)
    expose(request, "Next-Page", "Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
    set_cache_headers(
        request,
        cache_expires(
            request.registry.settings, ctx.resource.name, ctx.uris, ctx.objects.get("collection")
        ),
    )
    if request.method == "HEAD":
        total = storage.count(ctx.resource.name, ctx.parent_id, query)
        timestamp = storage.resource_timestamp(ctx.resource.name, ctx.parent_id)
        _refuse_unlisted(request, ctx, total)
        _list_preconditions(request, timestamp)
        request.response.content_type = "application/json"
        request.response.charset = None
        _set_total(request, total)
        return request.response
    page_query = dataclasses.replace(query, limit=parsed.limit + 1)
    # Each object as the database wrote its JSON when it can (no _fields to apply).
    found = storage.list_page(
        ctx.resource.name,
        ctx.parent_id,
        page_query,
        encoded=parsed.fields is None,
        total=request.registry.settings["total_records_on_get"],
    )
    page, timestamp, encoded = found.objects, found.timestamp, found.encoded
    _refuse_unlisted(request, ctx, len(page))
    _list_preconditions(request, timestamp)
    if found.total is not None:
        _set_total(request, found.total)
    if len(page) > parsed.limit:
        page = page[: parsed.limit]
        last = json.loads(page[-1]) if encoded else page[-1]
        token = querying.encode_token(last, query.sorting, len(page))
        request.response.headers["Next-Page"] = next_page_url(request, parsed.limit, token)
    if encoded:
        return {"data": [json.raw(text) for text in page]}
    if parsed.fields is not None:
        page = [querying.project_fields(obj, parsed.fields) for obj in page]
    return {"data": page}


def _set_total(request: Request, total: int) -> None:
    """Live objects matching the filters the caller may read (limit and pagination
    aside): ``Total-Objects``, and ``Total-Records`` as older clients read it."""
    request.response.headers["Total-Objects"] = request.response.headers["Total-Records"] = str(
        total
    )
    expose(request, "Total-Objects", "Total-Records")


def _list_preconditions(request: Request, timestamp: int) -> None:
    set_timestamp_headers(request.response, timestamp)
    raise_412_if_modified(request.headers, None, timestamp, plural=True)
    raise_304_if_not_modified(request.headers, timestamp)


def _refuse_unlisted(request: Request, ctx: RouteContext, found: int) -> None:
    """A caller without permission on the list sees what they hold ACEs on (§6.5); if
    that is nothing at all and they may not create here either, the answer is 401/403."""
    if not found:
        ctx.raise_401_403_if_nothing_listed()


def delete_objects(request: Request) -> Any:
    ctx: RouteContext = request.context
    _require_parents(ctx)
    parsed = _list_params(request)
    storage = request.registry.backends.storage
    timestamp = storage.resource_timestamp(ctx.resource.name, ctx.parent_id)
    if "If-Match" in request.headers or "If-None-Match" in request.headers:
        ctx.raise_401_403_if_nothing_listed()  # the refusal comes before the 412
    raise_412_if_modified(request.headers, None, timestamp, plural=True)
    query = dataclasses.replace(parsed.query, readable_by=ctx.readable_by, limit=parsed.limit)
    deleted = objects.delete_list(request.registry.backends, ctx.resource, ctx.parent_id, query)
    for tombstone in deleted:
        _changed(request, ctx, "delete", None, tombstone)
    if not deleted:
        _refuse_unlisted(request, ctx, 0)
    elif len(deleted) == parsed.limit and storage.count(
        ctx.resource.name, ctx.parent_id, dataclasses.replace(query, limit=None)
    ):
        # What matched and was not deleted yet is the next page.
        token = querying.encode_token(deleted[-1], query.sorting, len(deleted))
        request.response.headers["Next-Page"] = next_page_url(request, parsed.limit, token)
    set_timestamp_headers(
        request.response, max((t["last_modified"] for t in deleted), default=timestamp)
    )
    return {"data": deleted}


def create_object(request: Request) -> Any:
    ctx: RouteContext = request.context  # checks.py checked the body and its data.id
    data, permissions = envelope(json_body(request), ctx.resource.permissions)
    _require_parents(ctx)
    data_given = data is not None
    data = data or {}
    object_id = data.get("id", None)
    existing = ctx.sibling
    raise_412_if_modified(
        request.headers,
        existing,
        existing["last_modified"] if existing else None,
        list_timestamp=_list_timestamp(request, ctx),
    )
    if existing is not None:  # POST with the id of an object that exists: return it.
        return _object_response(request, existing, ctx.acl(existing_uri(ctx, existing)))
    check_data(request, ctx, data)
    try:
        # The ignore: envelope() without allow_null gives permission lists, never None.
        obj, acl = objects.create(
            request.registry.backends,
            ctx.resource,
            ctx.parent_id,
            object_id or ctx.resource.generate_id(),
            data,
            permissions or {},  # type: ignore[arg-type]
            _writer(request),
            data_given=data_given,
        )
    except UnicityError as exc:  # created by a concurrent request meanwhile
        return _object_response(request, exc.existing, {})
    _changed(request, ctx, "create", None, obj, acl)
    return _object_response(request, obj, acl, status=201)


def existing_uri(ctx: RouteContext, obj: dict[str, Any]) -> str:
    return f"{ctx.parent_id}/{ctx.resource.plural}/{obj['id']}"


# -- object endpoints ----------------------------------------------------------------------


def get_object(request: Request) -> Any:
    ctx: RouteContext = request.context
    obj = _existing(ctx)
    raise_412_if_modified(request.headers, obj, obj["last_modified"])
    raise_304_if_not_modified(request.headers, obj["last_modified"])
    expose(request, "Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
    set_cache_headers(
        request,
        cache_expires(
            request.registry.settings, ctx.resource.name, ctx.uris, ctx.objects.get("collection")
        ),
    )
    fields = querying.parse_fields(list(request.GET.items()))
    if fields is not None:
        set_timestamp_headers(request.response, obj["last_modified"])
        return {"data": querying.project_fields(obj, fields)}
    return _object_response(request, obj, ctx.acl())


def put_object(request: Request) -> Any:
    ctx: RouteContext = request.context  # checks.py checked the body
    data, permissions = envelope(json_body(request), ctx.resource.permissions)
    _require_parents(ctx)
    current = _latest(request, ctx, ctx.current)
    raise_412_if_modified(
        request.headers,
        current,
        current["last_modified"] if current else None,
        list_timestamp=_list_timestamp(request, ctx),
    )
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
        _writer(request),
    )
    _changed(request, ctx, "create" if current is None else "update", current, obj, acl)
    return _object_response(request, obj, acl, status=201 if current is None else 200)


def patch_object(request: Request) -> Any:
    ctx: RouteContext = request.context
    media = check_content_type(request, BODY_MEDIA["PATCH"])
    behavior = merge.response_behavior(request.headers)
    obj = _latest(request, ctx, _existing(ctx))
    raise_412_if_modified(
        request.headers,
        obj,
        obj["last_modified"] if obj else None,
        list_timestamp=_list_timestamp(request, ctx),
    )
    assert obj is not None  # with If-Match, a vanished object is a 412 above
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
        _writer(request),
    )
    _changed(request, ctx, "update", obj, stored, acl)
    if behavior != "full":
        set_timestamp_headers(request.response, stored["last_modified"])
        return {"data": merge.partial_response(behavior, obj, stored, sent)}
    return _object_response(request, stored, acl)


def delete_object(request: Request) -> Any:
    ctx: RouteContext = request.context
    obj = _latest(request, ctx, _existing(ctx))
    raise_412_if_modified(
        request.headers,
        obj,
        obj["last_modified"] if obj else None,
        list_timestamp=_list_timestamp(request, ctx),
    )
    assert obj is not None  # with If-Match, a vanished object is a 412 above
    forced = querying.native_value(request.GET.get("last_modified", "null"))
    if forced is not None and (not isinstance(forced, int) or isinstance(forced, bool)):
        raise invalid("querystring", "last_modified", f'"{forced}" is not a number')
    tombstone = objects.delete(
        request.registry.backends, ctx.resource, ctx.parent_id, obj["id"], forced
    )
    _changed(request, ctx, "delete", obj, tombstone)
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
    name: str,
    path: str,
    factory: type,
    views: dict[str, Callable[[Request], Any]] | None = None,
) -> None:
    """The plural and object services of a resource (``path`` and ``path/{id}``), with the
    generic views unless ``views`` overrides some, honouring readonly and the
    ``{plural|object}_{resource}_{method}_enabled`` switches."""
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


def includeme(config: Configurator) -> None:
    for name, path in PATHS.items():
        register_resource(config, name, path, RouteContext)
