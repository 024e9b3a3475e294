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
        self.serving: set[Stream] = set()  # the streams past their first frame
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
        admitted = await self._admit(scope, send)
        if admitted is None:
            return
        stream, kept = admitted
        try:
            await self._serve(stream, receive, send, kept)
        finally:
            self.hub.unsubscribe(stream)

    async def _admit(
        self, scope: dict[str, Any], send: Callable[..., Any]
    ) -> tuple[Stream, list[tuple[bytes, bytes]]] | None:
        """The pre-check and the subscription; None once a refusal was sent. (Its own
        frame: the pre-check's environ, request and answer are garbage when the stream
        starts, not objects that live, and are walked by every full collection, as long
        as the stream.)"""
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
            return None
        try:
            stream = self._subscriber(scope, userid, path, headers, params)
        except HTTPError as error:
            await _error(send, error, kept)
            return None
        try:
            await self.hub.subscribe(stream)
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
            return None
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
            return None
        return stream, kept

    def _subscriber(
        self,
        scope: dict[str, Any],
        userid: str | None,
        path: str,
        headers: list[tuple[bytes, bytes]],
        params: dict[str, str],
    ) -> Stream:
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
        return Stream(
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
        stream: Stream,
        receive: Callable[..., Any],
        send: Callable[..., Any],
        kept: list[tuple[bytes, bytes]],
    ) -> None:
        """Start the response, then wait for the client to leave (or for the response to
        end: uvicorn's ``receive`` answers ``http.disconnect`` then too). Frames are sent
        by ``Stream.wake``."""
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
            str(stream.since)
            if stream.since_collection is None
            else f"{stream.since_collection}:{stream.since}"
        )
        first = sse.frame(
            "ready", {"since": position}, position, retry_ms=self.hub.options.retry_ms
        )
        try:
            await _send(send, first, more=True, timeout=stream.send_timeout)
        except (TimeoutError, OSError):
            return
        loop = asyncio.get_running_loop()
        stream.open(send, loop, self.hub.options.heartbeat_seconds)
        self.serving.add(stream)
        try:
            if stream.queue or stream.done:
                stream.wake()
            while (await receive())["type"] != "http.disconnect":
                pass
        except asyncio.CancelledError:
            if not stream.abandoned:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self.serving.discard(stream)
            stream.close()

    async def _heartbeats(self) -> None:
        """Make every stream that sent nothing for a heartbeat period send a comment. One
        timer for all the streams: a timeout on each stream's wait cost a task and a
        cancellation per stream and period (bench/RESULTS.md, issue 12)."""
        period = self.hub.options.heartbeat_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, period / 4))
            self._beat(loop.time() - period)

    def _beat(self, due: float) -> None:
        # A function of its own: a loop variable of the coroutine would keep the last
        # stream alive while it sleeps, after the stream ended.
        for stream in self.serving:
            if stream.last_sent <= due:
                stream.beat()


class Stream(Subscriber):
    """A subscriber whose frames go to an open response.

    An idle stream is one coroutine waiting in ``receive`` for the client to leave;
    nothing of it wakes up. When there is something to send (``wake``: frames, the end,
    or a heartbeat), one short task sends it and ends. So an idle stream allocates
    nothing between heartbeats, and a heartbeat leaves nothing behind: with a waiting
    sender per stream, each wait's future and coroutine lived a heartbeat period, long
    enough to reach the collector's oldest generation, and ten thousand streams made
    Python run a full collection (a pause of the whole process, ~0.5 s at 10,000
    streams) every minute or so (bench/RESULTS.md, issue 12).
    """

    __slots__ = (
        "send",
        "loop",
        "sender",
        "last_sent",
        "heartbeat",
        "abandoned",
        "main",
        "send_timeout",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.send: Callable[..., Any] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sender: asyncio.Task[None] | None = None
        self.last_sent = 0.0  # the event loop's time of the last frame sent
        self.heartbeat = False  # a heartbeat is due
        self.abandoned = False  # the client read nothing for send_timeout: given up
        self.main: asyncio.Task[Any] | None = None
        self.send_timeout = float(SEND_TIMEOUT_SECONDS)

    def open(
        self, send: Callable[..., Any], loop: asyncio.AbstractEventLoop, heartbeat_seconds: float
    ) -> None:
        """The response started: frames may be sent from now on."""
        self.send, self.loop, self.main = send, loop, asyncio.current_task()
        self.last_sent = loop.time()
        self.send_timeout = max(SEND_TIMEOUT_SECONDS, 4 * heartbeat_seconds)

    def close(self) -> None:
        """The response is over (or the client left): nothing more is sent."""
        self.send = None
        if self.sender is not None:
            self.sender.cancel()
        self.main = None

    def beat(self) -> None:
        self.heartbeat = True
        self.wake()

    def wake(self) -> None:
        if self.sender is None and self.send is not None and self.loop is not None:
            self.sender = self.loop.create_task(self._flush(self.send))

    async def _flush(self, send: Callable[..., Any]) -> None:
        """Send what is queued (and the end, or a heartbeat) until nothing is left. Frames
        queued while a send waits are taken by the next turn, so the stream's order is the
        queue's; ``wake`` starts no second sender meanwhile."""
        try:
            while self.send is not None:
                chunk = self.take()
                if self.done:
                    await _send(
                        send, chunk + (self.final or b""), more=False, timeout=self.send_timeout
                    )
                    return
                if not chunk:
                    if not self.heartbeat:
                        return
                    chunk = sse.HEARTBEAT
                self.heartbeat = False
                await _send(send, chunk, more=True, timeout=self.send_timeout)
                assert self.loop is not None
                self.last_sent = self.loop.time()
        except (TimeoutError, OSError):
            # The client went away, or read nothing for send_timeout: end the response
            # (uvicorn then closes the connection).
            self.abandoned = True
            if self.main is not None:
                self.main.cancel()
        finally:
            self.sender = None


async def _send(send: Callable[..., Any], chunk: bytes, *, more: bool, timeout: float) -> None:
    # A client that stops reading blocks this send (the server's flow control) while its
    # queue stays bounded (subscriber.py); one that reads nothing for ``timeout`` is given
    # up, without its final event. (asyncio.timeout, not wait_for: no task per send.)
    async with asyncio.timeout(timeout):
        await send({"type": "http.response.body", "body": chunk, "more_body": more})


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
