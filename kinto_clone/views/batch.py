"""``POST /v1/batch``: several requests in one transaction (§9).

Each subrequest goes through the whole stack (authentication, permissions, validation)
inside a savepoint: one that fails (4xx) leaves nothing written while the others are kept;
a 5xx fails the whole batch and rolls everything back. So a batch never answers 201 for a
record it did not store (Kinto can: a 409 in one subrequest rolls back the others after
their 201s were reported). Only a path that *is* the batch endpoint is refused as
recursive; Kinto refuses any path containing ``/batch`` (a collection named ``batchc``).
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import colander
from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from kinto_clone import db, json
from kinto_clone.body import check_content_type, json_body
from kinto_clone.errors import ERRNO, HTTPError, ValidationError, detail, error_body
from kinto_clone.json import dumps
from kinto_clone.request import KintoRequest
from kinto_clone.schemas import deserialize

batch = Service(name="batch", path="/batch", description="Batch operations")

METHODS = ("GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH")


def _string_values(node: colander.SchemaNode, value: dict[str, Any]) -> None:
    """Header values must be strings (Kinto's message)."""
    if not all(isinstance(v, str) for v in value.values()):
        raise colander.Invalid(node, f"{value} contains non string value")


class SubRequest(colander.MappingSchema):
    method = colander.SchemaNode(
        colander.String(), validator=colander.OneOf(METHODS), missing="GET"
    )
    path = colander.SchemaNode(colander.String(), validator=colander.Regex(r"^/"))
    headers = colander.SchemaNode(
        colander.Mapping(unknown="preserve"), validator=_string_values, missing=colander.drop
    )
    body = colander.SchemaNode(colander.Mapping(unknown="preserve"), missing=colander.drop)

    @staticmethod
    def schema_type() -> colander.Mapping:
        return colander.Mapping(unknown="raise")


class Defaults(SubRequest):
    method = colander.SchemaNode(
        colander.String(), validator=colander.OneOf(METHODS), missing=colander.drop
    )
    path = colander.SchemaNode(
        colander.String(), validator=colander.Regex(r"^/"), missing=colander.drop
    )


class BatchBody(colander.MappingSchema):
    defaults = Defaults(missing=colander.drop)
    requests = colander.SequenceSchema(SubRequest(), validator=colander.Length(min=0))


# Built once: binding a colander schema deep-copies it (1 ms per batch).
_BATCH_SCHEMA = BatchBody().bind()
_BATCH_SCHEMA.typ.unknown = "raise"


def _merge_defaults(request: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults fill what a request lacks, recursively; the request's values win."""
    merged = copy.deepcopy(defaults)
    for key, value in request.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_defaults(value, merged[key])
        else:
            merged[key] = value
    return merged


def _parse(request: Request) -> list[dict[str, Any]]:
    check_content_type(request)
    body = json_body(request)
    if isinstance(body, dict) and isinstance(body.get("requests"), list):
        defaults = body.get("defaults")
        if not isinstance(defaults, dict):
            defaults = {}
        body = {
            **body,
            "requests": [
                _merge_defaults(r, defaults) if isinstance(r, dict) else r for r in body["requests"]
            ],
        }
    parsed = deserialize(_BATCH_SCHEMA, body)
    limit = request.registry.settings["batch_max_requests"]
    if len(parsed["requests"]) > limit:
        raise ValidationError(
            [detail("body", "requests", f"Number of requests is limited to {limit}")]
        )
    for i, sub in enumerate(parsed["requests"]):
        path = sub["path"].split("?", 1)[0].rstrip("/")
        if path in ("/batch", "/v1/batch"):
            raise ValidationError(
                [detail("body", "requests", "Recursive call on /batch endpoint is forbidden.")]
            )
        try:  # the subrequest's path would fail decoding later: a 500
            unquote_to_bytes(path).decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                [detail("body", f"requests.{i}.path", "Invalid UTF-8 in the URL")]
            ) from None
    return list(parsed["requests"])


def _inherited_headers(request: Request) -> dict[str, str]:
    """The batch request's headers that every subrequest starts from."""
    return {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in ("content-length", "content-type")
    }


def _subrequest(
    request: Request, inherited: dict[str, str], sub: dict[str, Any], path: str | None = None
) -> Request:
    if path is None:
        path = sub["path"]
        if path.split("?", 1)[0] != "/v1" and not path.startswith("/v1/"):
            path = "/v1" + path
    headers = {**inherited, **sub.get("headers", {})}
    body = b""
    if sub.get("body"):  # Kinto sends an empty one as no body at all (seed 885)
        body = dumps(sub["body"])
        headers["Content-Type"] = "application/json; charset=utf-8"
    base_url = request.application_url.rsplit("/v1", 1)[0]
    subrequest = KintoRequest.blank(
        path, base_url=base_url, headers=headers, method=sub["method"], POST=body or None
    )
    if not body:
        subrequest.body = b""
    subrequest.method = sub["method"]
    subrequest.in_batch = True
    if headers.get("Authorization") == request.headers.get("Authorization"):
        # Same credentials: share the caller's identity and principals (one query per batch).
        subrequest.identity_known = True
        subrequest.known_identity = request.known_identity
        subrequest.known_principals = frozenset(request.principals)
    return subrequest


def _redirected(path: str, sub: dict[str, Any], location: str) -> str:
    """Where a redirect points. A trailing slash is dropped from the requested path rather
    than taken from ``Location``, which the default bucket plugin has rewritten."""
    query = sub["path"].partition("?")[2]
    if path.endswith("/") and path.rstrip("/"):
        return path.rstrip("/") + (f"?{query}" if query else "")
    target = urlsplit(location)
    return target.path + (f"?{target.query}" if target.query else "")


_REDIRECTS = (301, 302, 303, 307, 308)
_ALIAS = re.compile(r"^/v1/buckets/default(/|$)")


def _after_slash_redirect(asked: str, followed: str, response: Response) -> tuple[str, Response]:
    """The path shown and the answer of a subrequest followed to drop its trailing slash.

    Kinto (26.5.0, asked black box) shows the answer of the path without the slash,
    except for what its view raises rather than answers: that is not rendered after the
    redirect, so it keeps the requested path (slash included), and when it comes from
    the framework (a refused permission, anonymous or not; a method or URL no route
    serves; a redirect again, ``/v1//``; a 304) it is only ``{code, errno: 999,
    error}``, a refused permission a 403. Validation of the body, querystring and
    headers is answered (``"{name} in {location}: ..."``); ids in the path, an id
    that does not match, a ``_token`` or a filter value that does not parse, a 404 or
    a 412 are raised. Under ``/buckets/default`` all but the framework's is answered.
    """
    status = response.status_code
    if status < 300:
        return followed, response
    body = response.json if response.content_type == "application/json" else {}
    framework = status in (304, 401, 403, 405, *_REDIRECTS) or (
        status == 404 and body.get("errno") == ERRNO.MISSING_RESOURCE and "details" not in body
    )
    if framework:
        code = 404 if status in _REDIRECTS else 403 if status == 401 else status
        bare = Response(
            body=dumps(error_body(code, ERRNO.UNDEFINED)),
            content_type="application/json",
            charset=None,
        )
        bare.status = code  # after the body: WebOb builds a 304 without one
        for name in ("Allow", "ETag", "Last-Modified"):
            if name in response.headers:
                bare.headers[name] = response.headers[name]
        return asked, bare
    if _ALIAS.match(followed) or _answered_validation(body):
        return followed, response
    return asked, response


def _answered_validation(body: dict[str, Any]) -> bool:
    details = body.get("details")
    if body.get("code") != 400 or not isinstance(details, list) or not details:
        return False
    first = details[0]
    named = f"{first.get('name')} in {first.get('location')}: {first.get('description')}"
    return first.get("name") is not None and body.get("message") == named


def _result(path: str, response: Response, method: str) -> dict[str, Any]:
    body: Any = ""
    if response.body and method != "HEAD":  # Kinto's HEAD subresponses have no body
        if response.content_type == "application/json":  # our renderer wrote it
            body = json.raw(response.body)
        else:
            body = response.text
    return {
        "path": path,
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": body,
    }


@batch.post(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def post_batch(request: Request) -> Any:
    subrequests = _parse(request)
    request.authenticated_userid  # noqa: B018  (identity resolved once, shared below)
    databases = list(request.registry.backends.databases.values())
    responses = []
    inherited = _inherited_headers(request)
    for sub in subrequests:
        subrequest = _subrequest(request, inherited, sub)
        # The path as requested (the default bucket plugin rewrites it), unquoted.
        requested = subrequest.path
        try:
            with db.savepoint(databases):
                response = request.invoke_subrequest(subrequest, use_tweens=True)
                kept = subrequest.kept_writes
                location = response.headers.get("Location")
                if response.status_code in _REDIRECTS and location:
                    # Followed once, like Kinto (the trailing-slash redirect).
                    subrequest = _subrequest(
                        request, inherited, sub, _redirected(requested, sub, location)
                    )
                    followed = subrequest.path
                    response = request.invoke_subrequest(subrequest, use_tweens=True)
                    kept = kept or subrequest.kept_writes
                    requested, response = _after_slash_redirect(requested, followed, response)
                # A failed subrequest leaves nothing written, except what it kept.
                if response.status_code >= 400 and not kept:
                    raise _Discard(response)
        except _Discard as discarded:
            response = discarded.response
        if response.status_code >= 500:
            # The whole batch fails and rolls back: no partial success is reported.
            body = response.json if response.content_type == "application/json" else {}
            body = body if isinstance(body, dict) else {}
            raise HTTPError(
                response.status_code,
                body.get("errno", ERRNO.UNDEFINED),
                message=body.get("message"),
            )
        responses.append(_result(unquote(requested), response, sub["method"]))
    return {"responses": responses}


class _Discard(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def includeme(config: Configurator) -> None:
    if not config.registry.settings["readonly"]:
        config.add_cornice_service(batch)
