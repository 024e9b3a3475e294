"""The ASGI application: streams here, every other request to the WSGI application.

A stream is a ``GET`` asking for ``text/event-stream`` (what EventSource sends) of
- a collection's records, ``/v1/buckets/{bid}/collections/{cid}/records``: that list;
- a bucket's collections, ``/v1/buckets/{bid}/collections``: the records of every
  collection of that list that the caller may read (the collections a ``GET`` of it
  shows), each event naming its collection.
``/v1/buckets/default/...`` works for both (the WSGI application resolves it).

Before a stream starts, the WSGI application answers the same ``GET`` as JSON (with
``_limit=1``): routing, authentication, the default bucket, the parents, the permission
and ``_since`` are checked by the very code of every request, and any answer but a 200
(401, 403, 404, 400, 503...) is sent as it is. Its ``ETag`` is where a stream without
``_since`` starts.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from kinto_clone import json
from kinto_clone.errors import ERRNO, HTTPError, ValidationError, detail, error_body
from kinto_clone.resources.types import ID_PATTERN
from kinto_clone.stream import sse
from kinto_clone.stream.hub import Hub, TooManyStreams
from kinto_clone.stream.subscriber import Subscriber
from kinto_clone.stream.wsgi import WSGIBridge, environ_of

_COLLECTION = re.compile(r"^/v1/buckets/([^/]+)/collections/([^/]+)/records$")
_BUCKET = re.compile(r"^/v1/buckets/([^/]+)/collections$")
_ALLOWED_PARAMS = frozenset({"_since"})
SEND_TIMEOUT_SECONDS = 60
# Headers of the pre-check's answer that the stream's answer carries too.
_KEPT_HEADERS = (
    b"access-control-allow-origin",
    b"access-control-expose-headers",
    b"content-security-policy",
    b"x-content-type-options",
)


def wants_stream(scope: dict[str, Any]) -> bool:
    if scope["method"] != "GET":
        return False
    accept = next((v for k, v in scope["headers"] if k == b"accept"), b"")
    if b"text/event-stream" not in accept:
        return False
    path = scope["path"]
    return bool(_COLLECTION.match(path) or _BUCKET.match(path))


class Gateway:
    def __init__(self, wsgi: WSGIBridge, hub: Hub, settings: dict[str, Any]) -> None:
        self.wsgi = wsgi
        self.hub = hub
        self.settings = settings
        self.serving: set[Subscriber] = set()  # the streams past their first frame
        self.ticker: asyncio.Task[None] | None = None

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "http":
            if wants_stream(scope):
                await self.stream(scope, receive, send)
            else:
                await self.wsgi(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.hub.start()
                self.ticker = asyncio.get_running_loop().create_task(self._heartbeats())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.ticker is not None:
                    self.ticker.cancel()
                await self.hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- a stream -----------------------------------------------------------------------

    async def stream(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        environ = environ_of(scope, b"")
        params = _params(environ["QUERY_STRING"])
        environ["QUERY_STRING"] = _precheck_query(
            environ["QUERY_STRING"], _resumed_since(scope, params)
        )
        environ["HTTP_ACCEPT"] = "application/json"
        for header in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH"):
            environ.pop(header, None)
        (status, headers, body), userid, path = await self.wsgi.run_request(environ)
        kept = [(k, v) for k, v in headers if k in _KEPT_HEADERS]
        if status != 200:
            await _respond(send, status, headers, body)
            return
        try:
            subscriber = self._subscriber(scope, userid, path, headers, params)
        except HTTPError as error:
            await _error(send, error, kept)
            return
        try:
            await self.hub.subscribe(subscriber)
        except TooManyStreams:
            retry = str(self.settings["retry_after_seconds"]).encode()
            await _error(
                send,
                HTTPError(
                    429,
                    ERRNO.CLIENT_REACHED_CAPACITY,
                    error="Too Many Requests",
                    message=f"At most {self.hub.options.max_per_user} open streams per user.",
                ),
                [*kept, (b"retry-after", retry)],
            )
            return
        except Exception:
            await _error(
                send,
                HTTPError(
                    503,
                    ERRNO.BACKEND,
                    message="Service temporary "
                    "unavailable due to overloading or maintenance, please retry later.",
                ),
                [*kept, (b"retry-after", str(self.settings["retry_after_seconds"]).encode())],
            )
            return
        try:
            await self._serve(subscriber, receive, send, kept)
        finally:
            self.hub.unsubscribe(subscriber)

    def _subscriber(
        self,
        scope: dict[str, Any],
        userid: str | None,
        path: str,
        headers: list[tuple[bytes, bytes]],
        params: dict[str, str],
    ) -> Subscriber:
        """``path``: the URL's path once the default bucket's alias was resolved."""
        unknown = sorted(set(params) - _ALLOWED_PARAMS)
        if unknown:
            raise ValidationError(
                [detail("querystring", name, "not supported on a stream") for name in unknown]
            )
        match = _COLLECTION.match(path)
        bucket_id: str
        collection_id: str | None
        if match is not None:
            bucket_id, collection_id = match.groups()
        else:
            bucket_id, collection_id = path.split("/")[3], None  # /v1/buckets/{bid}/...
        since, since_collection = _position(
            scope, params, headers, collection_id is None, self.hub.options.settle_ms
        )
        client = (scope.get("client") or ("", 0))[0]
        options = self.hub.options
        return Subscriber(
            userid=userid,
            limit_key=userid or f"anonymous:{client}",
            bucket_id=bucket_id,
            collection_id=collection_id,
            since=since,
            since_collection=since_collection,
            max_queued=options.max_queued_events,
            retry_ms=options.retry_ms,
            settle_ms=options.settle_ms,
        )

    async def _serve(
        self,
        subscriber: Subscriber,
        receive: Callable[..., Any],
        send: Callable[..., Any],
        kept: list[tuple[bytes, bytes]],
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *kept,
                ],
            }
        )
        position = (
            str(subscriber.since)
            if subscriber.since_collection is None
            else f"{subscriber.since_collection}:{subscriber.since}"
        )
        first = sse.frame(
            "ready", {"since": position}, position, retry_ms=self.hub.options.retry_ms
        )
        disconnected = asyncio.Event()
        watcher = asyncio.get_running_loop().create_task(_watch(receive, disconnected, subscriber))
        loop = asyncio.get_running_loop()
        try:
            await self._send(send, first, more=True)
            subscriber.last_sent = loop.time()
            self.serving.add(subscriber)
            while not disconnected.is_set():
                # Woken by events, by the end of the stream, by the client leaving, or
                # by the heartbeat ticker (_heartbeats) when nothing was sent for a while.
                await subscriber.wake.wait()
                if disconnected.is_set():
                    break
                chunk = subscriber.take() or (b"" if subscriber.done else sse.HEARTBEAT)
                if subscriber.done:
                    await self._send(send, chunk + (subscriber.final or b""), more=False)
                    return
                await self._send(send, chunk, more=True)
                subscriber.last_sent = loop.time()
        except (TimeoutError, OSError):
            return  # the client went away, or read nothing for SEND_TIMEOUT_SECONDS
        finally:
            self.serving.discard(subscriber)
            watcher.cancel()

    async def _send(self, send: Callable[..., Any], chunk: bytes, *, more: bool) -> None:
        # A client that stops reading blocks this send (the server's flow control) while
        # its queue stays bounded (subscriber.py); one that reads nothing for
        # SEND_TIMEOUT_SECONDS is given up, without its final event. (asyncio.timeout,
        # not wait_for: no task per send.)
        async with asyncio.timeout(
            max(SEND_TIMEOUT_SECONDS, 4 * self.hub.options.heartbeat_seconds)
        ):
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    async def _heartbeats(self) -> None:
        """Wake every stream that sent nothing for a heartbeat period (it then sends a
        comment). One timer for all the streams: a timeout on each stream's wait cost a
        task and a cancellation per stream and period (bench/RESULTS.md, issue 12)."""
        period = self.hub.options.heartbeat_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, period / 4))
            due = loop.time() - period
            for subscriber in self.serving:
                if subscriber.last_sent <= due:
                    subscriber.wake.set()


async def _watch(
    receive: Callable[..., Any], disconnected: asyncio.Event, subscriber: Subscriber
) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected.set()
            subscriber.wake.set()
            return


def _params(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


def _precheck_query(query: str, since: str | None = None) -> str:
    """The pre-check's query: the client's, with its own ``_limit`` replaced by ``_limit=1``
    (and ``_since`` of a collection stream resumed by ``Last-Event-ID``).

    A stream refuses ``_limit`` itself (_subscriber); kept, the two ``_limit`` would make the
    plural GET answer a 400 about a repeated value the client never sent. With ``_since``,
    a caller who lost all they could read there since that position is let in (a 200
    with their access-revoked tombstones, README "Revocations"), to receive those.
    """
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.partition("=")[0]).strip() != "_limit"
    ]
    if since is not None:
        kept.append(f"_since={since}")
    return "&".join([*kept, "_limit=1"])


def _resumed_since(scope: dict[str, Any], params: dict[str, str]) -> str | None:
    """The timestamp of a collection stream's ``Last-Event-ID`` when no ``_since`` is given
    (a malformed one is refused later, by ``_position``)."""
    if "_since" in params or not _COLLECTION.match(scope["path"]):
        return None
    last = next((v for k, v in scope["headers"] if k == b"last-event-id"), b"").strip()
    return last.decode() if last.isdigit() and len(last) <= 18 else None


def _position(
    scope: dict[str, Any],
    params: dict[str, str],
    headers: list[tuple[bytes, bytes]],
    bucket_wide: bool,
    settle_ms: int,
) -> tuple[int, str | None]:
    """Where the stream starts: ``Last-Event-ID`` (a reconnection), else ``_since``, else
    now (a collection: its timestamp, the pre-check's ETag)."""
    last = next((v for k, v in scope["headers"] if k == b"last-event-id"), None)
    if last is not None:
        return _parse_last_event_id(last.decode("latin-1").strip(), bucket_wide)
    if "_since" in params:  # validated by the pre-check, quotes included
        return int(params["_since"].strip('"')), None
    if bucket_wide:
        return time.time_ns() // 1_000_000 - settle_ms, None
    etag = next(v for k, v in headers if k == b"etag")
    return int(etag.strip(b'"')), None


def _parse_last_event_id(value: str, bucket_wide: bool) -> tuple[int, str | None]:
    collection, sep, timestamp = value.rpartition(":")
    valid = timestamp.isdigit() and len(timestamp) <= 18 and timestamp.isascii()
    if sep and (not bucket_wide or not ID_PATTERN.match(collection)):
        valid = False
    if not valid:
        expected = "<collection id>:<timestamp>" if bucket_wide else "a timestamp"
        raise ValidationError([detail("header", "Last-Event-ID", f'"{value}" is not {expected}')])
    return int(timestamp), (collection if sep else None)


async def _respond(
    send: Callable[..., Any], status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(
    send: Callable[..., Any], error: HTTPError, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(
        error_body(
            error.code, error.errno, error=error.error, message=error.message, details=error.details
        )
    )
    await _respond(
        send,
        error.code,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        body,
    )
