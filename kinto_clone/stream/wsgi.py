"""The WSGI application behind the ASGI server: every ordinary request runs there.

Each request runs the Pyramid application to completion on one thread of a bounded pool
(``stream_wsgi_threads``, like waitress' ``threads``) and its response is sent from the
event loop: one hand-off each way. (a2wsgi and uvicorn's own adapter hand every chunk of
the response over separately.) Our responses are whole bodies, never streamed.

The request body is read in the event loop first, bounded: a body announced larger than
``max_request_body_bytes`` is not read at all, and a chunked one is read up to one byte
more than that limit, so that the application answers 413 as it does behind waitress.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Environ = dict[str, Any]
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def environ_of(scope: dict[str, Any], body: bytes) -> Environ:
    """The WSGI environ of an ASGI HTTP scope (PEP 3333 strings: latin-1)."""
    server = scope.get("server") or ("localhost", 80)
    environ: Environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            name = "HTTP_" + name
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    return environ


def call(app: Callable[..., Any], environ: Environ) -> Response:
    """Run the WSGI ``app`` on ``environ`` (in a worker thread); its whole response."""
    started: list[Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return chunks.append

    chunks: list[bytes] = []
    iterable = app(environ, start_response)
    try:
        chunks.extend(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    status, headers = started
    return (
        int(status.split(" ", 1)[0]),
        [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        b"".join(chunks),
    )


async def read_body(scope: dict[str, Any], receive: Callable[..., Any], limit: int) -> bytes:
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b""  # refused with 413 before anything is read, as waitress' app does
    parts, size, more = [], 0, True
    while more and size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        more = message.get("more_body", False)
    return b"".join(parts)


def call_request(router: Any, environ: Environ) -> tuple[Response, str | None, str]:
    """Run the Pyramid application on ``environ`` as its WSGI entry point does (request
    context, tweens, finished callbacks); its whole response, and what the stream needs
    of the request afterwards: the authenticated user id and the path once the default
    bucket was resolved."""
    with router.request_context(environ) as request:
        response = router.invoke_request(request)
        answer = (
            response.status_int,
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headerlist],
            response.body,
        )
        return answer, request.authenticated_userid, request.path_info


class WSGIBridge:
    def __init__(self, app: Callable[..., Any], threads: int, body_limit: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="wsgi")
        self.body_limit = body_limit

    async def run(self, environ: Environ) -> Response:
        return await asyncio.get_running_loop().run_in_executor(self.pool, call, self.app, environ)

    async def run_request(self, environ: Environ) -> tuple[Response, str | None, str]:
        """``call_request`` on the pool (the application is a Pyramid ``Router``)."""
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, call_request, self.app, environ
        )

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        body = b""
        if scope["method"] not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            body = await read_body(scope, receive, self.body_limit)
        status, headers, content = await self.run(environ_of(scope, body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
