"""Tweens: what wraps every request.

- ``transaction_tween`` (outermost): one database transaction per request; any response
  with a status >= 400 rolls it back, so a failed request leaves nothing written (except
  what ``handle_keeping_earlier_writes`` was asked to keep).
- ``headers_tween``: CORS (origin check, preflight, exposed headers), Backoff, end of
  service (Alert / 410), readonly and the security headers every response carries.
"""

from __future__ import annotations

import datetime
import functools
import json
import random
from collections.abc import Callable
from typing import Any

from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from kinto_clone import db
from kinto_clone.errors import (
    BackendError,
    ConfigurationError,
    Gone,
    HTTPError,
    MethodNotAllowed,
    RequestTooLarge,
    ValidationError,
    detail,
)
from kinto_clone.views.errors import error_response
from kinto_clone.views.http import allowed_origin, set_headers

Handler = Callable[[Request], Response]
READ_METHODS = ("GET", "HEAD", "OPTIONS")
BASE_EXPOSED = ("Backoff", "Retry-After", "Alert", "Content-Length", "Content-Type")
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "


class _RollBack(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def rolls_back(request: Request, response: Response) -> bool:
    """Whether the request's writes are undone: on any error, except the writes it kept,
    which only a server error (5xx) undoes."""
    if response.status_code >= 500:
        return True
    return response.status_code >= 400 and not request.kept_writes


def handle_keeping_earlier_writes(handler: Handler, request: Request) -> Response:
    """Run ``handler`` in a savepoint: if it fails, only its own writes are undone, and
    what the request wrote before is committed anyway."""
    request.kept_writes = True
    if request.method in READ_METHODS:
        # A read writes nothing of its own to undo (and on PostgreSQL its connection
        # commits each statement: there is no transaction to put a savepoint in).
        return handler(request)
    databases = list(request.registry.backends.databases.values())
    try:
        with db.savepoint(databases):
            response = handler(request)
            if response.status_code >= 400:
                raise _RollBack(response)
    except _RollBack as rollback:
        response = rollback.response
    return response


def transaction_tween(handler: Handler, registry: Registry) -> Handler:
    def tween(request: Request) -> Response:
        try:
            with db.transaction(write=request.method not in READ_METHODS):
                response = handler(request)
                if rolls_back(request, response):
                    raise _RollBack(response)
        except _RollBack as rollback:
            return rollback.response
        except BackendError as exc:  # the commit itself failed
            from kinto_clone.views.errors import backend_error_view

            return backend_error_view(exc, request)
        return response

    return tween


def headers_tween(handler: Handler, registry: Registry) -> Handler:
    settings = registry.settings
    _end_of_service(settings)  # a malformed `eos` fails at start-up, not on every request

    def tween(request: Request) -> Response:
        try:
            response = _guarded(handler, request, settings)
        except HTTPError as error:
            response = error_response(request, error)
        _add_headers(request, response, settings)
        return response

    return tween


def _guarded(handler: Handler, request: Request, settings: dict[str, Any]) -> Response:
    if _end_of_service(settings) == "hard-eol":
        raise Gone()
    _check_url(request)
    body_limit = getattr(request.registry, "body_limit", None)  # a plugin's (attachments)
    _limit_body(
        request,
        settings["max_request_body_bytes"]
        if body_limit is None
        else body_limit(request, settings["max_request_body_bytes"]),
    )
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        return _preflight(request, settings)
    if origin is not None and not allowed_origin(settings, origin):
        raise ValidationError([detail("header", "Origin", f"{origin} not allowed")])
    if settings["readonly"] and request.method not in READ_METHODS:
        # Every write, whatever the URL (/batch too), before any view: a 405 without
        # Allow, like Kinto's (§11.3, §13.36).
        raise MethodNotAllowed()
    return handler(request)


def _limit_body(request: Request, limit: int) -> None:
    """413 for a body over ``limit``, announced by Content-Length or not (chunked)."""
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestTooLarge(limit)
        return
    if request.is_body_readable:
        # No Content-Length (a chunked body the server did not buffer): read at most one
        # byte more than allowed, never the whole stream.
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestTooLarge(limit)
        request.body = data


def _check_url(request: Request) -> None:
    """A path or querystring that is not UTF-8, or a NUL in the querystring, is a 400
    (a view would otherwise fail decoding it: a 500, or no response at all)."""
    try:
        request.path_info  # noqa: B018  (read for its decoding error only)
    except UnicodeDecodeError:
        raise ValidationError([detail("path", None, "Invalid UTF-8 in the URL")]) from None
    try:
        params = list(request.GET.items())
    except UnicodeDecodeError:
        raise ValidationError(
            [detail("querystring", None, "Invalid UTF-8 in the querystring")]
        ) from None
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            raise ValidationError([detail("querystring", name, "Invalid character 0x00")])


def _route_methods(request: Request) -> list[str] | None:
    mapper = request.registry.queryUtility(IRoutesMapper)
    if mapper is None:
        return None
    info = mapper(request)
    route = info.get("route")
    if route is None:
        return None
    services = getattr(request.registry, "cornice_services", {})
    service = services.get(route.pattern)
    if service is None:
        return None
    return list(service.defined_methods)


def _preflight(request: Request, settings: dict[str, Any]) -> Response:
    errors = []
    origin = request.headers.get("Origin")
    method = request.headers.get("Access-Control-Request-Method")
    if origin is None:
        errors.append(detail("header", "Origin", "this header is mandatory"))
    if method is None:
        errors.append(detail("header", "Access-Control-Request-Method", "this header is mandatory"))
    if errors:
        raise ValidationError(errors)
    assert origin is not None and method is not None
    if not allowed_origin(settings, origin):
        raise ValidationError([detail("header", "Origin", f"{origin} not allowed")])
    methods = _route_methods(request) or ["GET", "HEAD"]
    if method.upper() not in methods:
        raise ValidationError(
            [detail("header", "Access-Control-Request-Method", "Method not allowed")]
        )
    requested = [
        h.strip()
        for h in request.headers.get("Access-Control-Request-Headers", "").split(",")
        if h.strip()
    ]
    response = Response(body=b"null", content_type="application/json", charset=None)
    response.headers["Access-Control-Allow-Methods"] = ",".join([*methods, "OPTIONS"])
    response.headers["Access-Control-Allow-Headers"] = ",".join(
        dict.fromkeys(
            [
                *BASE_EXPOSED,
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                *requested,
            ]
        )
    )
    response.headers["Access-Control-Max-Age"] = str(settings["cors_max_age_seconds"])
    return response


@functools.lru_cache(maxsize=8)
def _eos_moment(value: str) -> datetime.datetime:
    """``eos`` as a date (``2030-01-31``, midnight) or a date and time, ISO 8601."""
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(f"Setting 'eos' must be an ISO 8601 date: {value!r}") from exc


def _end_of_service(settings: dict[str, Any]) -> str | None:
    eos = settings.get("eos")
    if not eos:
        return None
    moment = _eos_moment(str(eos))
    # Without a time zone, local time, as Kinto compares it.
    return "hard-eol" if moment <= datetime.datetime.now(moment.tzinfo) else "soft-eol"


def _add_headers(request: Request, response: Response, settings: dict[str, Any]) -> None:
    headers = {}
    origin = request.headers.get("Origin")
    if origin is not None and allowed_origin(settings, origin):
        patterns = settings["cors_origins"]
        headers["Access-Control-Allow-Origin"] = "*" if str(patterns).strip() == "*" else origin
    exposed = request.exposed_headers
    headers["Access-Control-Expose-Headers"] = ", ".join(dict.fromkeys([*BASE_EXPOSED, *exposed]))
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    backoff = settings.get("backoff")
    if backoff is not None:
        percentage = settings.get("backoff_percentage")
        if percentage is None or random.random() * 100 < float(percentage):
            headers["Backoff"] = str(backoff)
    eol = _end_of_service(settings)
    if eol is not None:
        headers["Alert"] = json.dumps(
            {
                "code": eol,
                "message": settings.get("eos_message"),
                "url": settings.get("eos_url") or settings["project_docs"],
            },
            separators=(",", ":"),
        )
    set_headers(response, headers)
