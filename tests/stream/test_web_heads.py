"""Two streaming web heads on one PostgreSQL database behind nginx (config/nginx.conf):
writes through one head reach the streams of the other (NOTIFY), directly and through
nginx, and a stream resumes on the other head after its own head stops."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import requests

from tests import postgres, server
from tests.reliability.conftest import nginx_binary, postgres_server, render_nginx_conf, run_nginx
from tests.stream.conftest import StreamServer, put
from tests.stream.sse_client import EventStream
from tests.stream.test_stream import ALICE, BOB, create
from tests.support import userid


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[StreamServer], str]]:
    nginx_binary()
    maintenance = postgres_server()
    name = f"kinto_clone_stream_heads_{os.getpid()}"
    url = postgres.create_database(maintenance, name)
    running: list[StreamServer] = []
    try:
        for index in (1, 2):
            workdir = tmp_path_factory.mktemp(f"head-{index}")
            head = StreamServer(
                workdir,
                {**server.settings_for("postgresql", url), "kinto.stream_heartbeat_seconds": "1"},
            )
            head.start()
            running.append(head)
        nginx_dir = tmp_path_factory.mktemp("nginx")
        listen = server.free_port()
        conf = render_nginx_conf(nginx_dir, listen, [h.port for h in running])
        with run_nginx(conf, nginx_dir, listen) as nginx_url:
            yield running, nginx_url
    finally:
        for head in running:
            head.stop()
        postgres.drop_database(maintenance, name)


def test_writes_on_one_head_reach_streams_on_the_other_directly_and_through_nginx(
    heads: tuple[list[StreamServer], str],
) -> None:
    (one, two), nginx = heads
    put(f"{one.url}/buckets/spread", ALICE)
    put(f"{one.url}/buckets/spread/collections/c", ALICE)
    path = "/buckets/spread/collections/c/records"
    with EventStream(two.url + path, ALICE) as direct, EventStream(nginx + path, ALICE) as proxied:
        assert direct.status == proxied.status == 200
        assert proxied.response.headers["Content-Type"].startswith("text/event-stream")
        direct.next()
        proxied.next()
        written: list[dict] = []
        lock = threading.Lock()

        def writer(n: int) -> None:
            for i in range(10):
                record = create(one.url + path, ALICE, {"writer": n, "i": i})
                with lock:
                    written.append(record)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for stream in (direct, proxied):
            got = [e.data["data"] for e in stream.changes(30, timeout=20)]
            assert sorted(got, key=lambda r: r["last_modified"]) == got  # in order
            assert sorted(got, key=lambda r: r["id"]) == sorted(written, key=lambda r: r["id"])
            assert stream.quiet(0.5) == []


def test_a_stream_through_nginx_resumes_on_the_other_head_when_its_head_stops(
    heads: tuple[list[StreamServer], str],
) -> None:
    (one, two), nginx = heads
    put(f"{one.url}/buckets/failover", ALICE)
    put(f"{one.url}/buckets/failover/collections/c", ALICE)
    path = "/buckets/failover/collections/c/records"
    first = create(one.url + path, ALICE, {"n": 1})
    with EventStream(f"{two.url}{path}?_since=0", ALICE) as stream:
        assert [e.data["data"] for e in stream.changes(1)] == [first]
        two.stop()
        assert [e.event for e in stream.until_closed()] == ["resume"]
        last_id = stream.last_event_id
    try:
        second = create(one.url + path, ALICE, {"n": 2})
        with EventStream(nginx + path, ALICE, last_event_id=last_id) as resumed:
            assert [e.data["data"] for e in resumed.changes(1)] == [second]
        r = requests.get(f"{nginx}{path}?_since={last_id}", headers=ALICE, timeout=10)
        assert r.json()["data"] == [second]
    finally:
        two.start()


def test_a_group_membership_removed_on_one_head_revokes_on_the_streams_of_the_other(
    heads: tuple[list[StreamServer], str],
) -> None:
    (one, two), _ = heads
    bob = userid("bob")
    group = "/buckets/revoked/groups/readers"
    put(f"{one.url}/buckets/revoked", ALICE)
    put(f"{one.url}{group}", ALICE, {"data": {"members": [bob]}})
    put(f"{one.url}/buckets/revoked/collections/c", ALICE, {"permissions": {"read": [group]}})
    path = "/buckets/revoked/collections/c/records"
    record = create(one.url + path, ALICE, {"shared": True})
    with EventStream(two.url + path, BOB, last_event_id=str(record["last_modified"])) as stream:
        assert stream.status == 200
        stream.next()
        put(f"{one.url}{group}", ALICE, {"data": {"members": []}})  # written on head one
        [event] = stream.changes(1, timeout=20)
        assert stream.quiet(0.5) == []
    assert event.event == "delete"
    assert event.data["data"]["id"] == record["id"] and event.data["data"]["revoked"] is True
