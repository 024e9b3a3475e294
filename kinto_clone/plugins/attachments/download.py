"""Serving a file of the database store: ``ETag``, ``Range`` (206/416), HEAD, caching.

A stored file never changes (its name is its sha256), so it is cached for ever
(``immutable``) and ``If-None-Match`` with its ETag is a 304. One byte range is served
(``bytes=a-b``, ``bytes=a-``, ``bytes=-n``); several ranges, or a Range header that does
not parse, are ignored as RFC 9110 allows: the whole file is sent. The body is read
chunk by chunk while it is sent, each chunk in a transaction of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pyramid.request import Request
from pyramid.response import Response

from kinto_clone.errors import UnknownURL
from kinto_clone.plugins.attachments.database import DatabaseFiles, FileVanished

HASH = re.compile(r"^[0-9a-f]{64}\Z")
RANGE = re.compile(r"^bytes=(\d*)-(\d*)\Z")
CACHE_CONTROL = "public, max-age=31536000, immutable"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """``(start, end)`` (end excluded) of a satisfiable single range; None: no usable
    Range (serve everything); False: a range that no byte of the file satisfies."""
    if not header:
        return None
    match = RANGE.match(header.strip().replace(" ", ""))
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last n bytes
        suffix = int(last)
        if suffix == 0:
            return False
        return max(size - suffix, 0), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return False
    return start, end


def respond(request: Request, store: DatabaseFiles, name: str) -> Response:
    stored = store.stat(name) if HASH.match(name) else None
    if stored is None:
        raise UnknownURL()
    etag = f'"{stored.hash}"'
    response = Response(content_type=stored.mimetype, charset=None)
    response.headers.update(
        {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Accept-Ranges": "bytes"}
    )
    if etag in _etags(request.headers.get("If-None-Match")):
        response.status_int = 304
        del response.content_type
        return response
    wanted = byte_range(request.headers.get("Range"), stored.size)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        wanted = None
    if wanted is False:
        response.status_int = 416
        response.headers["Content-Range"] = f"bytes */{stored.size}"
        response.content_length = 0
        return response
    start, end = (0, stored.size) if wanted is None or wanted is True else wanted
    if wanted is not None:
        response.status_int = 206
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{stored.size}"
    response.content_length = end - start
    if request.method != "HEAD":
        response.app_iter = _body(store, name, start, end)
    return response


def _etags(header: str | None) -> list[str]:
    if not header:
        return []
    return [tag.strip().removeprefix("W/") for tag in header.split(",")]


def _body(store: DatabaseFiles, name: str, start: int, end: int) -> Iterator[bytes]:
    try:
        yield from store.read(name, start, end)
    except FileVanished:
        # Removed while being sent: stop short; the client sees fewer bytes than
        # Content-Length announced, hence a failed download, never a wrong file.
        return
