"""The order of the checks of a resource request, as Kinto makes them: one sequence.

Every resource endpoint (buckets, groups, collections, records, and the accounts plugin)
runs ``CHECKS`` in this order before its view, through its route context's ``permits``.
Each step is named after what it raises; the first that fails answers the request:

1. ``raise_404_if_parent_id_invalid``: a write under a parent whose id cannot exist.
2. ``raise_404_if_collection_missing``: a record write in a collection that does not
   exist (whoever asks, anonymous included: Kinto checks it before permissions).
3. ``raise_400_if_posted_id_invalid``: a POST whose ``data.id`` is no valid id.
4. ``raise_415_if_content_type_wrong``: a body that is not JSON.
5. ``raise_401_403_if_not_permitted``: authentication and authorisation.
6. ``raise_404_if_parent_missing``: a read (or plural DELETE) under a missing parent.
7. ``raise_400_if_request_invalid``: a body that is not JSON, or neither an object nor
   an array, alone; then every fault of the ``If-Match`` / ``If-None-Match`` headers, of
   a list's reserved parameters and of the body's envelope and data, in one 400.
8. ``raise_400_if_object_id_invalid``: the object id of the URL.

The view then reads the rest of the querystring (400), checks existence (404 errno 111 for a missing
parent, 110 for the object) and preconditions (412, ``preconditions.py``), in that order.
Checks measured against Kinto 26.5.0 (issue 10, items 4-10).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from pyramid.request import Request

from kinto_clone.body import (
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    check_content_type,
    json_body,
    json_body_or_none,
)
from kinto_clone.errors import (
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationError,
    gathered,
    invalid_id,
)
from kinto_clone.preconditions import parse_condition
from kinto_clone.resources import querying
from kinto_clone.schemas import check_body_shape, check_json_document

# Media types a body may have, per method (Kinto's order, which its 415 message shows).
BODY_MEDIA = {
    "PUT": (JSON,),
    "POST": (JSON,),
    "PATCH": (MERGE_PATCH, JSON_PATCH, JSON),
}

Step = Callable[[Request, Any, str], None]


def is_write(request: Request, ctx: Any) -> bool:
    """Writes that Kinto resolves against storage before permissions: an object's PUT,
    PATCH or DELETE, and a plural POST."""
    if ctx.is_plural:
        return request.method == "POST"
    return request.method in ("PUT", "PATCH", "DELETE")


def raise_404_if_parent_id_invalid(request: Request, ctx: Any, permission: str) -> None:
    if not is_write(request, ctx):
        return
    for level_type, _, level_id in ctx.chain:
        if not level_type.id_pattern.match(level_id):
            raise NotFound(level_type.name, level_id, parent=True)


def raise_404_if_collection_missing(request: Request, ctx: Any, permission: str) -> None:
    if ctx.resource.name != "record" or not is_write(request, ctx):
        return
    ctx.load(extra_id=posted_id(request) if ctx.is_plural else None)
    if ctx.objects.get("collection") is None:
        _, _, collection_id = ctx.chain[-1]
        raise NotFound("collection", collection_id, parent=True)


def raise_400_if_posted_id_invalid(request: Request, ctx: Any, permission: str) -> None:
    if not ctx.is_plural or request.method != "POST":
        return
    body = json_body_or_none(request)
    if isinstance(body, dict) and isinstance(body.get("data"), dict) and "id" in body["data"]:
        object_id = body["data"]["id"]
        if not isinstance(object_id, str) or not ctx.resource.id_pattern.match(object_id):
            raise invalid_id()


def raise_415_if_content_type_wrong(request: Request, ctx: Any, permission: str) -> None:
    media = BODY_MEDIA.get(request.method)
    if media is not None:
        check_content_type(request, media)


def raise_401_403_if_not_permitted(request: Request, ctx: Any, permission: str) -> None:
    if not ctx.decide(permission):
        raise Unauthorized() if request.authenticated_userid is None else Forbidden()


def require_parents(ctx: Any) -> None:
    """404 errno 111 for a missing parent, unless the caller was only let in to see the
    objects they hold permissions on: then nothing there is theirs, and it is a 401/403."""
    for level_type, _, level_id in ctx.chain:
        if ctx.objects.get(level_type.name) is None:
            if ctx.readable_by is not None:
                refused = ctx.request.authenticated_userid is None
                raise Unauthorized() if refused else Forbidden()
            raise NotFound(level_type.name, level_id, parent=True)


def raise_404_if_parent_missing(request: Request, ctx: Any, permission: str) -> None:
    """A read, or a plural DELETE, under a parent that does not exist: once the caller is
    let in, the missing parent comes before the headers (and the querystring) are read.
    (Writes met their missing parent before the permission check.)"""
    if not is_write(request, ctx):
        require_parents(ctx)


@contextlib.contextmanager
def refused_before_invalid(request: Request, ctx: Any) -> Iterator[None]:
    """A list the caller was let in to only for the objects they hold permissions on:
    if they hold none (a 401/403, which the view learns from its page, saving a query),
    that refusal comes before a 400 on the querystring or headers, as Kinto's."""
    try:
        yield
    except ValidationError:
        refuse = getattr(ctx, "raise_401_403_if_nothing_listed", None)
        if refuse is not None:
            refuse()
        raise


def raise_400_if_request_invalid(request: Request, ctx: Any, permission: str) -> None:
    """Headers, querystring and body, each fault of all three listed in one 400 (sorted by
    name), as Kinto's schema does: ``If-Match`` / ``If-None-Match`` that do not parse, the
    types of a list's reserved parameters (plural GET, HEAD, DELETE; the values that
    cannot be used come after the preconditions, ``querying.UnusableValue``), and a write's
    envelope with its data checked by the resource's own rules (PUT and POST: a group's
    members, a collection's schema). A body that is no JSON document, or neither an object
    nor an array, is refused alone, before anything else is read."""
    checks: list[Callable[[], object]] = [
        lambda: parse_condition(request.headers, "If-Match"),
        lambda: parse_condition(request.headers, "If-None-Match"),
    ]
    if ctx.is_plural and request.method in ("GET", "HEAD", "DELETE"):
        checks.append(lambda: querying.check_reserved(list(request.GET.items())))
    if request.method in BODY_MEDIA:
        body = json_body(request)
        check_json_document(body)
        writes_data = request.method in ("PUT", "POST")
        checks.append(
            lambda: check_body_shape(
                body,
                ctx.resource.permissions,
                patch=request.method == "PATCH",
                json_patch=(request.content_type or "").lower() == JSON_PATCH,
                validate_data=ctx.resource.validate if writes_data else None,
            )
        )
    with refused_before_invalid(request, ctx):
        gathered(*checks)


def raise_400_if_object_id_invalid(request: Request, ctx: Any, permission: str) -> None:
    if ctx.object_id is not None and not ctx.resource.id_pattern.match(ctx.object_id):
        raise invalid_id()


CHECKS: tuple[Step, ...] = (
    raise_404_if_parent_id_invalid,
    raise_404_if_collection_missing,
    raise_400_if_posted_id_invalid,
    raise_415_if_content_type_wrong,
    raise_401_403_if_not_permitted,
    raise_404_if_parent_missing,
    raise_400_if_request_invalid,
    raise_400_if_object_id_invalid,
)


def run(request: Request, ctx: Any, permission: str) -> bool:
    """Run every check in order; each raises the error that answers the request."""
    for check in CHECKS:
        check(request, ctx, permission)
    return True


def posted_id(request: Request) -> str | None:
    """``data.id`` of a POST body, if it parses and is a string."""
    body = json_body_or_none(request)
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        object_id = body["data"].get("id")
        return object_id if isinstance(object_id, str) else None
    return None
