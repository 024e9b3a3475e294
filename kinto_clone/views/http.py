"""HTTP details shared by the resource views: timestamps as headers, caching, Next-Page."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from pyramid.request import Request
from pyramid.response import Response

from kinto_clone.settings import as_list


def now_ms() -> int:
    return int(time.time() * 1000)


def set_headers(response: Response, headers: dict[str, str]) -> None:
    """Set several response headers at once, replacing any of the same names. (WebOb's
    ``response.headers[name] = value`` scans the whole list for each header it sets.)"""
    if not headers:
        return
    names = {name.lower() for name in headers}
    kept = [(k, v) for k, v in response.headerlist if k.lower() not in names]
    response.headerlist = kept + list(headers.items())


def set_timestamp_headers(response: Response, timestamp: int | None) -> None:
    """``ETag: "<ms>"`` and ``Last-Modified`` (HTTP date, truncated to the second)."""
    if timestamp is None:
        return
    set_headers(
        response,
        {"ETag": f'"{timestamp}"', "Last-Modified": formatdate(timestamp // 1000, usegmt=True)},
    )


def set_cache_headers(request: Request, expires: int | None) -> None:
    """Authenticated reads are never cached; anonymous ones as configured (§3.7)."""
    if request.authenticated_userid is not None or expires is None or expires < 0:
        headers = {"Cache-Control": "no-cache, no-store"}
    else:
        headers = cache_for(expires)
    set_headers(request.response, headers)


def cache_for(seconds: int) -> dict[str, str]:
    """The headers that let a response be cached ``seconds`` (0: not at all)."""
    if seconds == 0:
        return {
            "Cache-Control": "max-age=0, must-revalidate, no-cache, no-store",
            "Expires": formatdate(time.time(), usegmt=True),
            "Pragma": "no-cache",
        }
    return {
        "Cache-Control": f"max-age={seconds}",
        "Expires": formatdate(time.time() + seconds, usegmt=True),
    }


def cache_expires(
    settings: dict[str, Any], resource: str, uris: dict[str, str], collection: dict[str, Any] | None
) -> int | None:
    """The anonymous cache lifetime of a resource: settings, then collection cache_expires."""
    if resource != "record":
        value = settings.get(f"{resource}_cache_expires_seconds")
        return value if isinstance(value, int) else None
    bid = uris["bucket"].rsplit("/", 1)[-1]
    cid = uris["collection"].rsplit("/", 1)[-1]
    value = None
    for key in (
        f"{bid}.{cid}.record_cache_expires_seconds",
        f"{bid}.record_cache_expires_seconds",
        "record_cache_expires_seconds",
        f"{bid}_{cid}_record_cache_expires_seconds",
        f"{bid}_record_cache_expires_seconds",
    ):
        if isinstance(settings.get(key), int):
            value = settings[key]
            break
    if collection and isinstance(collection.get("cache_expires"), int):
        value = max(-1 if value is None else value, collection["cache_expires"])
    return value


def application_url(request: Request) -> str:
    """Scheme and host as the client sees them, honouring ``http_scheme``/``http_host``."""
    settings = request.registry.settings
    if not settings.get("http_scheme") and not settings.get("http_host"):
        return str(request.host_url)
    scheme = settings.get("http_scheme") or request.scheme
    host = settings.get("http_host") or request.host
    return f"{scheme}://{host}"


def next_page_url(request: Request, limit: int, token: str) -> str:
    params = [(k, v) for k, v in request.GET.items() if k not in ("_limit", "_token")]
    params += [("_limit", str(limit)), ("_token", token)]
    return f"{application_url(request)}{request.path}?{urlencode(params)}"


def expose(request: Request, *names: str) -> None:
    """Add response headers to Access-Control-Expose-Headers for this endpoint."""
    request.exposed_headers += names


def allowed_origin(settings: dict[str, Any], origin: str) -> bool:
    import fnmatch

    patterns = as_list(settings["cors_origins"])
    return any(fnmatch.fnmatchcase(origin, pattern) for pattern in patterns)
