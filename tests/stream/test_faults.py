"""Streams under bad conditions: too many of them, a client that does not read, a server
restart, the database going away (PostgreSQL)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.reliability.conftest import Cluster
from tests.stream.conftest import StreamServer, put
from tests.stream.sse_client import EventStream
from tests.stream.test_stream import ALICE, create, setup_collection
from tests.support import userid


@pytest.fixture
def stream_settings() -> dict[str, str]:
    return {
        "kinto.stream_heartbeat_seconds": "0.5",
        "kinto.stream_max_per_user": "2",
        "kinto.stream_max_queued_events": "5",
        "kinto.stream_retry_ms": "500",
    }


def test_past_the_limit_of_streams_per_user_the_answer_is_429_with_retry_after(
    stream_server: StreamServer,
) -> None:
    url = setup_collection(stream_server.url, collection_permissions={"read": [userid("bob")]})
    with EventStream(url, ALICE) as one, EventStream(url, ALICE) as two:
        assert one.status == two.status == 200
        with EventStream(url, ALICE) as third:
            assert third.status == 429
            assert third.response.headers["Retry-After"] == "3"
            body = third.response.json()
            assert body["errno"] == 117 and body["code"] == 429
        from tests.support import auth

        with EventStream(url, auth("bob")) as other_user:  # the limit is per user
            assert other_user.status == 200
    # Closed streams no longer count, once the server has seen them close.
    deadline = time.monotonic() + 5
    while True:
        with EventStream(url, ALICE) as again:
            if again.status == 200 or time.monotonic() > deadline:
                assert again.status == 200
                break
        time.sleep(0.1)


def _raw_stream(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept: text/event-stream",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    sock.sendall("\r\n".join(lines).encode())
    return sock


def _read_until(sock: socket.socket, marker: bytes, received: bytes) -> bytes:
    """``received`` and what arrives next, read a little at a time until ``marker``."""
    while marker not in received:
        chunk = sock.recv(4096)
        assert chunk, f"the stream closed before {marker!r}"
        received += chunk
    return received


def test_a_client_that_does_not_read_is_dropped_with_a_final_resume_event(
    stream_server: StreamServer,
) -> None:
    url = setup_collection(stream_server.url)
    path = url.split(str(stream_server.port), 1)[1]
    sock = _raw_stream(stream_server.port, path, ALICE)
    received = b""
    try:
        big = "x" * 300_000
        # One event is on its way first: read until its start arrived. Written in a burst,
        # a fast backend (memory) puts more than the queue holds in one round, and the
        # stream then ends before any event was sent, with nothing to check the order of.
        sock.settimeout(10)
        received = _read_until(sock, b"event: ready", received)
        create(url, ALICE, {"n": 0, "text": big})
        received = _read_until(sock, b"event: create", received)
        # 12 MB of events: more than the kernel's socket buffers on loopback (up to 4 MB
        # each way) and the queue of 5 events hold, while the client reads nothing.
        for i in range(1, 40):
            create(url, ALICE, {"n": i, "text": big})
        time.sleep(1.0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break  # the server closed the stream
            received += chunk
    finally:
        sock.close()
    text = received.decode()
    assert "event: resume" in text
    assert '"reason":"slow reader"' in text
    assert text.count("event: create") < 40
    # The resume event comes once, last, after the events that were delivered (the
    # body is chunked: the chunk sizes are in the text too).
    assert text.count("event: resume") == 1
    assert text.rindex("event: resume") > text.rindex("event: create")
    assert text.endswith("0\r\n\r\n")


@pytest.fixture
def restartable_server(backend: str, request: pytest.FixtureRequest) -> StreamServer:
    """The test's server, on a backend whose data outlives the server's process."""
    if backend == "memory":
        pytest.skip("the memory backend's data dies with the process: nothing to resume")
    server: StreamServer = request.getfixturevalue("stream_server")
    return server


def test_after_a_server_restart_a_client_resumes_with_no_loss(
    restartable_server: StreamServer,
) -> None:
    stream_server = restartable_server
    url = setup_collection(stream_server.url)
    before = create(url, ALICE, {"n": 0})
    with EventStream(f"{url}?_since={before['last_modified'] - 1}", ALICE) as stream:
        assert [e.data["data"] for e in stream.changes(1)] == [before]
        stream_server.process.terminate()  # type: ignore[union-attr]
        final = stream.until_closed()
        last_id = stream.last_event_id
    assert [e.event for e in final] == ["resume"]
    assert final[0].data == {"reason": "server restart"} and final[0].retry == 500
    stream_server.process.wait(10)  # type: ignore[union-attr]
    stream_server.start()
    meanwhile = create(url, ALICE, {"n": 1})
    with EventStream(url, ALICE, last_event_id=last_id) as resumed:
        assert [e.data["data"] for e in resumed.changes(1)] == [meanwhile]
        assert resumed.quiet(0.5) == []


@pytest.fixture
def outage_server(tmp_path: Path) -> Iterator[tuple[Cluster, StreamServer]]:
    cluster = Cluster()
    try:
        cluster.start()
        from tests import server

        running = StreamServer(
            tmp_path,
            {
                **server.settings_for("postgresql", cluster.url),
                "kinto.stream_heartbeat_seconds": "0.5",
                "kinto.stream_retry_ms": "300",
            },
        )
        running.start()
        try:
            yield cluster, running
        finally:
            running.stop()
    finally:
        cluster.destroy()


def test_when_the_database_goes_away_streams_end_with_a_resume_hint_and_the_heartbeat_says_so(
    outage_server: tuple[Cluster, StreamServer],
) -> None:
    """PostgreSQL only (a throwaway cluster of the test's own, stopped and started)."""
    cluster, running = outage_server
    base = running.url
    put(f"{base}/buckets/b", ALICE)
    put(f"{base}/buckets/b/collections/c", ALICE)
    url = f"{base}/buckets/b/collections/c/records"
    first = create(url, ALICE, {"n": 1})
    with EventStream(f"{url}?_since=0", ALICE) as stream:
        assert [e.data["data"] for e in stream.changes(1)] == [first]
        cluster.stop("fast")
        final = stream.until_closed(timeout=15)
        last_id = stream.last_event_id
    assert [e.event for e in final] == ["resume"]
    assert final[0].data["reason"] == "backend unavailable"
    r = requests.get(f"{base}/__heartbeat__", timeout=15)
    assert r.status_code == 503 and r.json()["stream"] is False
    with EventStream(url, ALICE, last_event_id=last_id) as refused:
        assert refused.status == 503 and "Retry-After" in refused.response.headers
    cluster.start()
    deadline = time.monotonic() + 20
    while requests.get(f"{base}/__heartbeat__", timeout=15).status_code != 200:
        assert time.monotonic() < deadline, "the heartbeat did not recover"
        time.sleep(0.2)
    # A pooled connection that died with the server answers one more 503 (Retry-After),
    # as in tests/reliability/test_database_outage.py: a client retries.
    for _attempt in range(10):
        r = requests.post(url, json={"data": {"n": 2}}, headers=ALICE, timeout=10)
        if r.status_code != 503:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text
    second = r.json()["data"]
    with EventStream(url, ALICE, last_event_id=last_id) as resumed:
        assert [e.data["data"] for e in resumed.changes(1)] == [second]
