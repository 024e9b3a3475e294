"""The one place where exceptions become HTTP responses (§5), and unknown URLs (§3.11)."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from pyramid.config import Configurator
from pyramid.httpexceptions import (
    HTTPException,
    HTTPForbidden,
    HTTPMethodNotAllowed,
    HTTPNotFound,
)
from pyramid.request import Request
from pyramid.response import Response

from kinto_clone.errors import (
    ERRNO,
    BackendError,
    HTTPError,
    MethodNotAllowed,
    NotModified,
    PreconditionFailed,
    ServiceUnavailable,
    UnknownURL,
)
from kinto_clone.json import dumps
from kinto_clone.views.http import application_url, cache_for, set_headers, set_timestamp_headers

logger = logging.getLogger(__name__)

_VERSIONED = re.compile(r"^/v\d+(/|$)")


def error_response(request: Request, error: HTTPError) -> Response:
    """Render an HTTPError with the standard envelope and its extra headers."""
    info = None
    if isinstance(error, PreconditionFailed):
        # Plugins may add to a 412's details (the history plugin: the base version).
        for provider in getattr(request.registry, "precondition_details", ()):
            provider(request, error)
    if error.code >= 500 and error.errno == ERRNO.UNDEFINED:
        info = request.registry.settings["error_info_link"]
    response = Response(
        body=dumps(error.body(info)),
        status=error.code,
        content_type="application/json",
        charset=None,
    )
    response.headers.update(error.headers)
    if isinstance(error, PreconditionFailed):
        set_timestamp_headers(response, error.timestamp)
    if error.code == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Realm"'
    if error.code == 503 or error.errno == ERRNO.CONSTRAINT_VIOLATED:
        response.headers["Retry-After"] = str(request.registry.settings["retry_after_seconds"])
    return response


def http_error_view(exc: HTTPError, request: Request) -> Response:
    return error_response(request, exc)


def not_modified_view(exc: NotModified, request: Request) -> Response:
    response = Response(status=304)
    set_timestamp_headers(response, exc.timestamp)
    del response.content_type
    return response


def forbidden_view(exc: HTTPForbidden, request: Request) -> Response:
    from kinto_clone.errors import Forbidden, Unauthorized

    error = Unauthorized() if request.authenticated_userid is None else Forbidden()
    return error_response(request, error)


def backend_error_view(exc: BackendError, request: Request) -> Response:
    logger.error("backend failure: %s", exc, exc_info=exc.original or exc)
    return error_response(request, ServiceUnavailable())


def method_not_allowed_view(exc: HTTPMethodNotAllowed, request: Request) -> Response:
    allowed = exc.headers.get("Allow", "")
    methods = [m.strip() for m in allowed.split(",") if m.strip()]
    if methods and "OPTIONS" not in methods:
        methods.append("OPTIONS")
    return error_response(request, MethodNotAllowed(methods or None))


def not_found_view(exc: HTTPNotFound, request: Request) -> Response:
    """Redirect unversioned paths and trailing slashes (``/v1`` is ``/v1/`` without its
    slash); else 404 (§3.11)."""
    settings = request.registry.settings
    path = request.path_info
    query = f"?{request.query_string}" if request.query_string else ""
    if not _VERSIONED.match(path):
        if settings["version_prefix_redirect_enabled"]:
            return _redirect(
                request,
                f"{_quoted('/v1' + path)}{query}",
                settings["version_prefix_redirect_ttl_seconds"],
            )
    elif not path.startswith("/v1/") and path != "/v1":
        return error_response(
            request,
            HTTPError(
                404,
                ERRNO.VERSION_NOT_AVAILABLE,
                message="The requested API version is not available on this server.",
            ),
        )
    elif settings["trailing_slash_redirect_enabled"] and (path == "/v1" or path.endswith("/")):
        target = "/v1/" if path == "/v1" else path.rstrip("/")
        return _redirect(
            request, f"{_quoted(target)}{query}", settings["trailing_slash_redirect_ttl_seconds"]
        )
    return error_response(request, UnknownURL())


def _quoted(path: str) -> str:
    """A path as a URL carries it: percent-encoded but for the characters a path segment
    may hold as they are (RFC 3986), as Kinto's ``Location`` has it."""
    return quote(path, safe="/~!$&'()*+,;=:@")


# What a redirect's body may be, in the order of preference when the client accepts
# several equally (no Accept, or */*: the HTML page), as Kinto (WebOb) negotiates it.
_REDIRECT_BODIES = ("text/html", "application/json", "text/plain")


def _redirect(request: Request, location: str, ttl: int | None) -> Response:
    """A 307 to ``location``; its body in the form the client accepts: our HTML page,
    Kinto's JSON shape (``code``, ``title``, and our ``message``), else plain text."""
    url = application_url(request) + location
    message = f"This resource moved to {url}."
    offers = request.accept.acceptable_offers(list(_REDIRECT_BODIES))
    kind = offers[0][0] if offers else "text/plain"
    if kind == "application/json":
        body = {"message": message, "code": "307 Temporary Redirect", "title": "Temporary Redirect"}
        response = Response(
            status=307, body=dumps(body), content_type="application/json", charset=None
        )
    elif kind == "text/html":
        page = f'<html><body>This resource moved to <a href="{url}">{url}</a>.</body></html>'
        response = Response(
            status=307, body=page.encode(), content_type="text/html", charset="UTF-8"
        )
    else:
        text = f"307 Temporary Redirect\n\n{message}\n"
        response = Response(
            status=307, body=text.encode(), content_type="text/plain", charset="UTF-8"
        )
    response.location = url
    if ttl is not None and ttl >= 0:
        set_headers(response, cache_for(ttl))
    return response


def other_http_view(exc: HTTPException, request: Request) -> Response:
    if exc.code and exc.code >= 400:
        return error_response(
            request, HTTPError(exc.code, ERRNO.UNDEFINED, message=exc.detail or exc.explanation)
        )
    return exc


def unexpected_view(exc: Exception, request: Request) -> Response:
    logger.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(
        request,
        HTTPError(
            500,
            ERRNO.UNDEFINED,
            message="A programmatic error occurred, developers have been informed.",
        ),
    )


def includeme(config: Configurator) -> None:
    config.add_view(http_error_view, context=HTTPError)
    config.add_view(not_modified_view, context=NotModified)
    config.add_view(backend_error_view, context=BackendError)
    config.add_view(method_not_allowed_view, context=HTTPMethodNotAllowed)
    config.add_notfound_view(not_found_view)
    config.add_forbidden_view(forbidden_view)
    config.add_view(other_http_view, context=HTTPException)
    config.add_view(unexpected_view, context=Exception)
