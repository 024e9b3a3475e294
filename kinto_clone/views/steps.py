"""The steps the resource views share (``views/resources.py``), and the plugins' views
that act on resources (accounts, attachments, history): who writes, existence, list
parameters, response shapes. Each reads the request or sets the response; the logic they
serve lives in ``resources/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyramid.request import Request

from kinto_clone.authorization import is_writer
from kinto_clone.checks import refused_before_invalid, require_parents
from kinto_clone.context import lists_nothing
from kinto_clone.errors import NotFound
from kinto_clone.events import notify_write
from kinto_clone.preconditions import (
    raise_304_if_not_modified,
    raise_412_if_modified,
    raise_412_or_latest,
)
from kinto_clone.resources import lists, objects, querying
from kinto_clone.views.http import (
    cache_expires,
    expose,
    next_page_url,
    now_ms,
    set_cache_headers,
    set_headers,
    set_timestamp_headers,
)

TO_DEPRECATED_ALERT = (
    '{"code":"soft-eol","message":"_to is now deprecated, you should use _before '
    'instead","url":"https://kinto.readthedocs.io/en/2.4.0/api/resource.html'
    '#list-of-available-url-parameters"}'
)


def writer(request: Request) -> str | None:
    """The principal added to a written object's ``write`` ACL (§2.5), if any."""
    if not request.registry.settings["explicit_permissions"]:
        return None
    return request.authenticated_userid or "system.Everyone"


def existing(ctx: Any) -> dict[str, Any]:
    """The targeted object, after its parents; 404 errno 110 when it does not exist."""
    require_parents(ctx)
    if ctx.current is None:
        raise NotFound(ctx.resource.name, ctx.object_id or "")
    return ctx.current


def latest_or_412(request: Request, ctx: Any, loaded: dict[str, Any] | None) -> Any:
    """The targeted object as a write must see it, once If-Match holds (else 412)."""
    storage = request.registry.backends.storage
    object_id = ctx.object_id or ""
    return raise_412_or_latest(
        storage, ctx.resource.name, ctx.parent_id, object_id, request.headers, loaded
    )


def list_timestamp(request: Request, ctx: Any) -> Callable[[], int]:
    """The timestamp of the object's list, for a 412 on an object that does not exist."""
    backends = request.registry.backends
    return lambda: lists.timestamp(backends, ctx.resource, ctx.parent_id)


def changed(
    request: Request,
    ctx: Any,
    action: str,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    acl: dict[str, set[str]] | None = None,
) -> None:
    notify_write(request, action, ctx.resource, ctx.parent_id, old, new, acl)


def object_response(
    request: Request, obj: dict[str, Any], acl: dict[str, set[str]], status: int = 200
) -> dict[str, Any]:
    """``{"permissions", "data"}``: the ACL shown to the object's writers only."""
    request.response.status_int = status
    set_timestamp_headers(request.response, obj["last_modified"])
    shown = objects.acl_lists(acl) if is_writer(acl, request.principals) else {}
    return {"permissions": shown, "data": obj}


def list_params(request: Request) -> querying.ParsedList:
    settings = request.registry.settings
    with refused_before_invalid(request, request.context):
        try:
            parsed = querying.parse_list_params(
                list(request.GET.items()),
                now_ms=now_ms(),
                paginate_by=settings["paginate_by"],
                max_fetch_size=settings["storage_max_fetch_size"],
            )
        except querying.UnusableValue:
            _preconditions_before_values(request)
            raise
    if parsed.deprecated_to:
        request.response.headers["Alert"] = TO_DEPRECATED_ALERT
    return parsed


def _preconditions_before_values(request: Request) -> None:
    """A list's If-Match / If-None-Match are answered (412, 304) before a value of its
    querystring that cannot be used, as Kinto's; the caller's refusal comes first."""
    if "If-Match" not in request.headers and "If-None-Match" not in request.headers:
        return
    ctx = request.context
    ctx.raise_401_403_if_nothing_listed()
    timestamp = lists.timestamp(request.registry.backends, ctx.resource, ctx.parent_id)
    if request.method == "DELETE":
        raise_412_if_modified(request.headers, None, timestamp, plural=True)
    else:
        list_preconditions(request, timestamp)


def set_total(request: Request, total: int | None) -> None:
    """Live objects matching the filters the caller may read (limit and pagination
    aside): ``Total-Objects``, and ``Total-Records`` as older clients read it."""
    if total is None:
        return
    set_headers(request.response, {"Total-Objects": str(total), "Total-Records": str(total)})
    expose(request, "Total-Objects", "Total-Records")


def cache_headers(request: Request, ctx: Any, *more: str) -> None:
    """A read's exposed headers and its anonymous cache lifetime (§3.7)."""
    expose(request, *more, "Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
    collection = ctx.objects.get("collection")
    settings = request.registry.settings
    set_cache_headers(request, cache_expires(settings, ctx.resource.name, ctx.uris, collection))


def listed_timestamp(ctx: Any, page: lists.ListPage) -> int:
    """The ETag of a page read by a caller let in only for what they hold ACEs on: if
    that is nothing and they may not create here, a 401/403 (§6.5), unless they lost
    all they could read, in a ``_since`` poll: then the newest of their tombstones."""
    if page.revoked_timestamp is not None and not page.found and lists_nothing(ctx):
        return page.revoked_timestamp
    if not page.found:
        ctx.raise_401_403_if_nothing_listed()
    return page.timestamp


def set_next_page(request: Request, limit: int, token: str | None) -> None:
    if token is not None:
        request.response.headers["Next-Page"] = next_page_url(request, limit, token)


def list_preconditions(request: Request, timestamp: int) -> None:
    """The list's ETag, then its 412 and 304."""
    set_timestamp_headers(request.response, timestamp)
    raise_412_if_modified(request.headers, None, timestamp, plural=True)
    raise_304_if_not_modified(request.headers, timestamp)
