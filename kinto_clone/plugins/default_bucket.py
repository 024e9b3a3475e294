"""The personal bucket: ``/buckets/default`` is each user's own bucket (§8).

Its id is derived from the user id, exactly as Kinto does, so that a user's data has the
same URL on both servers. A request to ``/v1/buckets/default[/...]`` is rewritten to the
real id before routing, after creating the bucket (and the collection it names) if they
do not exist yet. Kinto also rewrites every ``default`` substring of a posted ``data.id``
(``default-thing`` becomes ``<uuid>-thing``); that is a quirk nobody relies on, and we
leave posted ids alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from kinto_clone.body import JSON, check_content_type, json_body_or_none
from kinto_clone.checks import BODY_MEDIA
from kinto_clone.errors import MethodNotAllowed, Unauthorized, ValidationError, detail, invalid
from kinto_clone.events import notify_write
from kinto_clone.resources import objects
from kinto_clone.resources.types import BUCKET, COLLECTION, KINTO_ID_PATTERN, object_uri
from kinto_clone.storage import UnicityError
from kinto_clone.tweens import handle_keeping_earlier_writes
from kinto_clone.views.errors import error_response
from kinto_clone.views.root import add_capability

_PATH = re.compile(r"^/v1/buckets/default(?P<rest>/.*)?$")
_COLLECTION = re.compile(r"^/collections/(?P<cid>[^/]+)(?P<more>/.*)?$")
# RFC 3986's characters of a path segment that need no percent-encoding.
_PATH_SAFE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]+\Z")


def default_bucket_id(settings: dict[str, Any], userid: str) -> str:
    """First 32 hex chars of HMAC-SHA256(default_bucket_hmac_secret, user id), as a UUID.

    Kinto's core default for the secret is the empty string, so that is the key unless
    the setting is given (it does not fall back to ``userid_hmac_secret``).
    """
    secret = str(settings.get("default_bucket_hmac_secret") or "")
    digest = hmac.new(secret.encode(), userid.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def _ensure(request: Request, name: str, parent_id: str, object_id: str) -> bool:
    """Create the object if it does not exist; True when this request created it."""
    backends = request.registry.backends
    resource = request.registry.resource_types[name]  # bound: its children's lists start
    if backends.storage.get_many([(resource.name, parent_id, object_id)]):
        return False
    try:
        created, acl = objects.create(
            backends, resource, parent_id, object_id, {}, {}, request.authenticated_userid
        )
    except UnicityError:
        return False  # created by a concurrent request
    # Implicit creations are changes like any other (the history plugin records them).
    notify_write(request, "create", resource, parent_id, None, created, acl)
    return True


def rewrite(request: Request) -> bool:
    """Point a ``/buckets/default`` request at the caller's bucket, creating it first.

    True when it created the bucket or the collection."""
    match = _PATH.match(request.path_info)
    if match is None or request.method == "OPTIONS":
        return False
    if request.registry.settings["readonly"]:
        raise MethodNotAllowed()
    userid = request.authenticated_userid
    if userid is None:
        raise Unauthorized()
    bucket_id = default_bucket_id(request.registry.settings, userid)
    rest = match.group("rest") or ""
    collection = _COLLECTION.match(rest)
    is_put_on_it = (
        collection is not None
        and request.method == "PUT"
        and collection.group("more") in (None, "/")
    )
    # A PUT of the collection itself whose id Kinto's URL accepts (characters a URL path
    # carries unencoded) but its id syntax does not: Kinto forwards it to the
    # collection's view, which refuses the id once the personal bucket is created, and
    # keeps the bucket (Kinto 26.5.0 on PostgreSQL, differential seeds 3002 and 2384: a
    # space, a control character, % " < \ ` { refused before). With a slash after it, not.
    bad_put_id = (
        is_put_on_it
        and collection is not None
        and not collection.group("more")
        and _PATH_SAFE.match(collection.group("cid")) is not None
        and not KINTO_ID_PATTERN.match(collection.group("cid"))
    )
    if (
        collection is not None
        and not KINTO_ID_PATTERN.match(collection.group("cid"))
        and not bad_put_id
    ):
        # Kinto's wording, before anything else (a 405, a redirect) and before it creates
        # anything (its transaction is rolled back). An id only too long for us
        # (ids-at-most-256) is refused below, as Kinto goes on.
        error = invalid("path", None, "Invalid collection id")
        if request.in_batch:
            # Kinto has created the personal bucket by then, and its batch keeps what a
            # subrequest wrote (differential seed 1259).
            raise _RefusedAfterCreating(error, _ensure(request, BUCKET.name, "", bucket_id))
        raise error
    target = f"/v1/buckets/{bucket_id}{rest}"
    if not request.in_batch and (
        not _served(request.method, rest) or not _routed(request.registry, rest, target)
    ):
        # No view serves the method there (a 405) or no route the URL (a 404, or the
        # redirect of a trailing slash, whatever the body: seed 1206): Kinto keeps
        # nothing it created for it (but in a batch, where its subrequests create the
        # bucket and collection first, and a redirect is followed).
        request.path_info = target
        return False
    refusal = None
    if request.method in BODY_MEDIA and _is_resource(rest):
        refusal = _forwarded_media(request)
    created = False
    if not (request.method == "PUT" and rest in ("", "/")):
        created = _ensure(request, BUCKET.name, "", bucket_id)
    if bad_put_id:  # after a 415 (refusal), as any object id's check
        raise _RefusedAfterCreating(refusal or invalid("path", None, "Invalid object id"), created)
    if collection is not None:
        if not is_put_on_it:
            if not COLLECTION.id_pattern.match(collection.group("cid")):
                # Only too long for us (ids-at-most-256): the bucket stays, as Kinto's.
                error = invalid("path", None, "Invalid collection id")
                raise _RefusedAfterCreating(error, created)
            created = (
                _ensure(
                    request,
                    COLLECTION.name,
                    object_uri(BUCKET, "", bucket_id),
                    collection.group("cid"),
                )
                or created
            )
    if refusal is not None:
        raise _RefusedAfterCreating(refusal, created)
    if rest in ("", "/") and request.method in ("PUT", "PATCH"):
        _replace_alias_in_body(request, bucket_id)
    request.path_info = f"/v1/buckets/{bucket_id}{rest}"
    return created


class _RefusedAfterCreating(Exception):
    """The answer to a request refused once the bucket and collection were created."""

    def __init__(self, error: ValidationError, created: bool) -> None:
        self.error = error
        self.created = created


def _forwarded_media(request: Request) -> ValidationError | None:
    """Kinto forwards a write on the alias as a new JSON request, once it has created the
    bucket and collection: a body needs a JSON Content-Type (else the 415 returned here,
    answered before the path's object ids, also when it has none), and a write without
    a body is ``{"data": {}}`` whatever its Content-Type says (a group gets its empty
    ``members``, a PATCH is no 400). So is a JSON object whose ``data.id`` is a string,
    the body Kinto re-sends as JSON (differential seed 1053): its Content-Type, absent,
    text or a PATCH's JSON-patch or merge-patch, is then ``application/json``."""
    if not request.body:
        request.content_type = JSON
        request.body = b'{"data": {}}'
        return None
    if _names_an_id(request):
        request.content_type = JSON
        return None
    try:
        if not request.content_type:
            media = list(BODY_MEDIA[request.method])
            message = f"Content-Type header should be one of {media}"
            raise ValidationError([detail("header", "Content-Type", message)], code=415)
        check_content_type(request, BODY_MEDIA[request.method])
    except ValidationError as refused:
        return refused
    return None


def _names_an_id(request: Request) -> bool:
    """Whether the body, read as JSON in its charset whatever its Content-Type, is an
    object whose ``data.id`` is a string (a NUL included: refused later, as elsewhere)."""
    try:
        body = json.loads(request.body.decode(request.charset))
    except (ValueError, LookupError, RecursionError):
        return False
    data = body.get("data") if isinstance(body, dict) else None
    return isinstance(data, dict) and isinstance(data.get("id"), str)


# The levels of a path below the bucket: plural (collections, groups, records) and
# object ones alternate, and the methods each serves.
_PLURAL_LEVELS = ("collections", "groups", "records")
_OBJECT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_PLURAL_METHODS = frozenset({"GET", "HEAD", "POST", "DELETE"})


def _served(method: str, rest: str) -> bool:
    """Whether a view serves ``method`` on ``/buckets/default{rest}`` (True for paths
    that are no object or list: those are left to their routes)."""
    if not _is_resource(rest):
        return True
    segments = [s for s in rest.strip("/").split("/") if s]
    plural = len(segments) % 2 == 1
    return method in (_PLURAL_METHODS if plural else _OBJECT_METHODS)


def _routed(registry: Registry, rest: str, path: str) -> bool:
    """Whether a route serves ``path``, which is ``/buckets/default{rest}`` resolved (an
    object or list without a trailing slash always is; a plugin's may be: history...)."""
    if _is_resource(rest) and not rest.endswith("/"):
        return True
    mapper = registry.getUtility(IRoutesMapper)
    return any(route.match(path) is not None for route in mapper.get_routes())


def _is_resource(rest: str) -> bool:
    """Whether ``/buckets/default{rest}`` names an object or a list."""
    segments = [s for s in rest.strip("/").split("/") if s]
    return len(segments) <= 4 and all(s in _PLURAL_LEVELS for s in segments[::2])


def _replace_alias_in_body(request: Request, bucket_id: str) -> None:
    """Clients (kinto-http) write the bucket they name in ``data.id``: ``default`` there
    means the real id."""
    body = json_body_or_none(request)
    if (
        isinstance(body, dict)
        and isinstance(body.get("data"), dict)
        and body["data"].get("id") == "default"
    ):
        body["data"]["id"] = bucket_id


def default_bucket_tween(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    def tween(request: Request) -> Response:
        requested = request.path_info
        try:
            created = rewrite(request)
        except _RefusedAfterCreating as refused:
            # What it created stays (as below), the refusal is the answer.
            request.kept_writes = refused.created
            return error_response(request, refused.error)
        if created:
            # The bucket and collection created on the fly stay, even when the request
            # then fails (a PATCH of a missing record), as Kinto's do.
            response = handle_keeping_earlier_writes(handler, request)
        else:
            response = handler(request)
        if response.location and request.path_info != requested:
            # A redirect (a trailing slash) points at the alias the client used.
            resolved = request.path_info.split("/")[3]
            response.location = response.location.replace(
                f"/v1/buckets/{resolved}", "/v1/buckets/default", 1
            )
        return response

    return tween


def includeme(config: Configurator) -> None:
    config.registry.default_bucket_id = default_bucket_id
    config.add_tween(
        "kinto_clone.plugins.default_bucket.default_bucket_tween",
        under="kinto_clone.tweens.headers_tween",
    )
    add_capability(
        config,
        "default_bucket",
        "The default bucket is an alias for a personal "
        "bucket where collections are created implicitly.",
        "https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html#personal-bucket-default",
    )
