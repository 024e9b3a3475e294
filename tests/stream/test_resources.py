"""What open streams hold, and that they let go of it: the gateway and the hub under a real
uvicorn, in this process (memory backends, so that the server's objects and tasks can be
counted), streams opened over plain sockets.

- An idle stream is one task waiting for its client to leave; a heartbeat is sent by a
  short task that ends, so heartbeats leave no object behind (with a waiting sender per
  stream, each wait lived a heartbeat period and ten thousand of them kept Python's full
  collections coming: bench/RESULTS.md, issue 12).
- Once the streams are closed the hub holds nothing of them (lists, bucket watchers,
  per-user counts), no task of theirs is left and the objects they held are gone.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import socket
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import requests
import uvicorn

import kinto_clone
from kinto_clone.stream import server as stream_server
from kinto_clone.stream.gateway import Gateway, Stream
from tests.server import BASE_SETTINGS, settings_for

T = TypeVar("T")
ALICE = "Basic " + base64.b64encode(b"alice:alicepassword").decode()
STREAMS = 60  # per kind: collection streams, then bucket-wide ones


class InProcessServer:
    def __init__(self, settings: dict[str, str]) -> None:
        self.gateway: Gateway = stream_server.build(kinto_clone.main({}, **settings))
        config = uvicorn.Config(
            self.gateway,
            host="127.0.0.1",
            port=0,
            loop="uvloop",  # as server.py
            http="httptools",
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    def in_loop(self, func: Callable[[], T]) -> T:
        """``func()`` run in the server's event loop (its state is the loop's alone)."""
        loop = self.gateway.hub.loop
        assert loop is not None

        async def call() -> T:
            return func()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(10)

    def tasks(self) -> int:
        return self.in_loop(lambda: len(asyncio.all_tasks()))

    def open(self, path: str) -> Client:
        client = Client(socket.create_connection(("127.0.0.1", self.port), timeout=10))
        client.sock.sendall(
            f"GET /v1{path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ALICE}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        client.wait_for(b"event: ready")
        return client


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = b""

    def wait_for(self, marker: bytes, count: int = 1) -> None:
        """Until ``marker`` was received ``count`` times since the stream opened."""
        while self.received.count(marker) < count:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed before {marker!r}: {self.received[:300]!r}"
            self.received += chunk

    def close(self) -> None:
        self.sock.close()


def tracked() -> int:
    gc.collect()
    return sum(not _dead_weakref(o) for o in gc.get_objects())


def _dead_weakref(o: object) -> bool:
    """A weak set's record of a task that ended, dropped at its next change."""
    return isinstance(o, weakref.ref) and o() is None


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def live() -> Iterator[InProcessServer]:
    settings: dict[str, Any] = {
        **BASE_SETTINGS,
        **settings_for("memory"),
        "kinto.stream_heartbeat_seconds": "1",
        "kinto.stream_max_per_user": "1000",
    }
    with InProcessServer(settings) as running:
        base = f"http://127.0.0.1:{running.port}/v1"
        for url in (f"{base}/buckets/b", f"{base}/buckets/b/collections/c"):
            assert requests.put(url, json={}, headers={"Authorization": ALICE}).status_code in (
                200,
                201,
            )
        yield running


PATHS = ["/buckets/b/collections/c/records"] * STREAMS + ["/buckets/b/collections"] * STREAMS


def test_idle_streams_hold_one_task_each_and_heartbeats_leave_nothing_behind(
    live: InProcessServer,
) -> None:
    for sock in [live.open(path) for path in PATHS[:4]]:  # warm-up: lazy imports, caches
        sock.close()
    wait_for(lambda: not live.gateway.serving)
    tasks = live.tasks()
    socks = [live.open(path) for path in PATHS]
    try:
        for sock in socks:
            sock.wait_for(b": heartbeat")
        assert live.tasks() == tasks + len(PATHS)  # no sender waits while a stream idles
        time.sleep(0.2)  # the sends' timers closed: between two heartbeats, nothing moves
        gc.collect()  # what is alive now is in the oldest generation
        old = {id(o) for o in gc.get_objects(generation=2)}
        beats = max(sock.received.count(b": heartbeat") for sock in socks)
        for sock in socks:  # two more heartbeat periods, each stream sending
            sock.wait_for(b": heartbeat", beats + 2)
        time.sleep(0.2)
        gc.collect(1)  # what the heartbeats left alive is moved there too
        new = [
            o
            for o in gc.get_objects(generation=2)
            if id(o) not in old and o is not old and not _dead_weakref(o)
        ]
        # A sender waiting per stream left its wait's future and coroutine (at least)
        # per stream and period; a heartbeat in flight leaves a few objects.
        assert len(new) < len(PATHS) // 2, Counter(type(o).__name__ for o in new)
        assert live.tasks() == tasks + len(PATHS)
    finally:
        for sock in socks:
            sock.close()


def test_closed_streams_leave_nothing_in_the_hub_nor_in_memory(live: InProcessServer) -> None:
    hub = live.gateway.hub
    tasks, start = live.tasks(), 0
    for round_ in range(3):
        socks = [live.open(path) for path in PATHS]
        wait_for(lambda: len(live.gateway.serving) == len(PATHS))  # past their first frame
        assert sum(hub.per_user.values()) == len(PATHS)
        assert live.in_loop(lambda: len(hub.subscribers())) == len(PATHS)
        for sock in socks:
            sock.close()
        del socks, sock  # the test's own references
        wait_for(lambda: not live.gateway.serving)
        wait_for(lambda: live.tasks() == tasks)
        assert live.in_loop(lambda: (hub.lists, hub.bucket_subscribers, dict(hub.per_user))) == (
            {},
            {},
            {},
        )
        gc.collect()
        assert not [o for o in gc.get_objects() if isinstance(o, Stream)]
        time.sleep(0.2)  # the last sends' timers closed
        if round_ == 0:  # the first streams filled caches (compiled statements...)
            start = tracked()
        else:  # each stream held ~50 objects: none is left
            assert tracked() - start < len(PATHS) // 2
