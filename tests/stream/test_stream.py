"""The change stream of a collection, a bucket and the default bucket, over HTTP against
the real server (uvicorn in front of the WSGI application), on every backend."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.stream.conftest import StreamServer, backend_ini_settings, put
from tests.stream.sse_client import EventStream
from tests.support import auth, default_bucket_id, userid

ALICE, BOB, CAROL = auth("alice"), auth("bob"), auth("carol")


_NAMES = itertools.count()


@dataclass
class Served:
    """The module's server, and a bucket of this test's own."""

    url: str
    bucket: str


@pytest.fixture(scope="module")
def module_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamServer]:
    workdir: Path = tmp_path_factory.mktemp("stream")
    for settings in backend_ini_settings(backend, request, workdir, "m"):
        running = StreamServer(
            workdir,
            {**settings, "kinto.stream_heartbeat_seconds": "0.5", "kinto.stream_settle_ms": "300"},
        )
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def stream_server(module_server: StreamServer) -> Served:
    return Served(module_server.url, f"b{next(_NAMES)}")


def records_url(base: str, bucket: str, collection: str = "c") -> str:
    return f"{base}/buckets/{bucket}/collections/{collection}/records"


def setup_collection(
    base: str | Served,
    bucket_permissions: dict | None = None,
    collection_permissions: dict | None = None,
    bucket: str = "b",
) -> str:
    if isinstance(base, Served):
        base, bucket = base.url, base.bucket
    put(f"{base}/buckets/{bucket}", ALICE, {"permissions": bucket_permissions or {}})
    put(
        f"{base}/buckets/{bucket}/collections/c",
        ALICE,
        {"permissions": collection_permissions or {}},
    )
    return records_url(base, bucket)


def create(url: str, headers: dict[str, str], data: dict, permissions: dict | None = None) -> dict:
    body: dict = {"data": data}
    if permissions:
        body["permissions"] = permissions
    r = requests.post(url, json=body, headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def test_a_stream_sends_each_change_written_by_another_user_shaped_like_a_since_poll(
    stream_server: Served,
) -> None:
    url = setup_collection(
        stream_server, collection_permissions={"read": [userid("bob")], "write": [userid("bob")]}
    )
    with EventStream(url, BOB) as stream:
        assert stream.status == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        assert stream.response.headers["Cache-Control"] == "no-cache"
        ready = stream.next()
        assert ready.event == "ready" and ready.retry is not None
        # One write at a time: an object written twice before the stream read it is sent
        # once, in its latest state, as a _since poll would show it.
        created = create(url, ALICE, {"title": "one"})
        events = stream.changes(1)
        r = requests.patch(
            f"{url}/{created['id']}", json={"data": {"title": "two"}}, headers=ALICE, timeout=10
        )
        updated = r.json()["data"]
        events += stream.changes(1)
        r = requests.delete(f"{url}/{created['id']}", headers=ALICE, timeout=10)
        tombstone = r.json()["data"]
        events += stream.changes(1)
    assert [e.event for e in events] == ["create", "update", "delete"]
    assert [e.data for e in events] == [
        {"action": "create", "data": created},
        {"action": "update", "data": updated},
        {"action": "delete", "data": tombstone},
    ]
    assert [e.id for e in events] == [
        str(o["last_modified"]) for o in (created, updated, tombstone)
    ]
    poll = requests.get(f"{url}?_since={ready.id}", headers=BOB, timeout=10).json()["data"]
    assert poll == [tombstone]


def test_before_it_starts_a_stream_answers_what_the_plural_get_answers(
    stream_server: Served,
) -> None:
    base, b = stream_server.url, stream_server.bucket
    url = setup_collection(stream_server)
    cases = [
        (url, {}),  # anonymous: 401
        (url, BOB),  # authenticated, no permission: 403
        (records_url(base, b, "missing"), ALICE),  # unknown collection: 404
        (records_url(base, "missing", "c"), ALICE),  # unknown bucket: 404
        (f"{url}?_since=yesterday", ALICE),  # malformed _since: 400 errno 107
        (f"{url}?_since=-", ALICE),
    ]
    for target, headers in cases:
        plain = requests.get(target, headers=headers, timeout=10)
        with EventStream(target, headers) as stream:
            assert stream.status == plain.status_code != 200, (target, stream.status)
            assert stream.response.json() == plain.json()
            assert stream.response.headers.get("WWW-Authenticate") == plain.headers.get(
                "WWW-Authenticate"
            )


def test_a_malformed_last_event_id_or_an_unsupported_parameter_is_a_400(
    stream_server: Served,
) -> None:
    url = setup_collection(stream_server)
    for value in ("abc", "12a", "-5", "c:12", "1" * 30):
        with EventStream(url, ALICE, last_event_id=value) as stream:
            assert stream.status == 400
            body = stream.response.json()
            assert body["errno"] == 107 and body["details"][0]["name"] == "Last-Event-ID"
            assert body["details"][0]["location"] == "header"
    # The plural GET accepts both; the stream refuses them itself, both named.
    assert requests.get(f"{url}?_limit=3&title=x", headers=ALICE, timeout=10).status_code == 200
    for query in ("_limit=3&title=x", "_limit=abc&title=x", "_limit=1&_limit=2&title=x"):
        with EventStream(f"{url}?{query}", ALICE) as stream:
            assert stream.status == 400
            body = stream.response.json()
            assert body["errno"] == 107
            assert [d["name"] for d in body["details"]] == ["_limit", "title"]
            assert body["details"][0]["description"] == "not supported on a stream"


def test_since_replays_from_the_database_then_goes_live_without_gap_or_duplicate(
    stream_server: Served,
) -> None:
    url = setup_collection(stream_server)
    first = [create(url, ALICE, {"n": i}) for i in range(5)]
    since = first[1]["last_modified"]
    with EventStream(f"{url}?_since={since}", ALICE) as stream:
        replayed = stream.changes(3)
        live = [create(url, ALICE, {"n": i}) for i in range(5, 8)]
        later = stream.changes(3)
        assert stream.quiet(0.5) == []
    assert [e.data["data"] for e in replayed + later] == first[2:] + live


def test_a_reconnection_with_last_event_id_sees_every_change_exactly_once_in_order(
    stream_server: Served,
) -> None:
    url = setup_collection(stream_server)
    seen: list[dict] = []
    last_id = None
    written: list[dict] = []
    for round_ in range(4):
        with EventStream(url, ALICE, last_event_id=last_id) as stream:
            ready = stream.next()
            assert ready.event == "ready"
            written += [create(url, ALICE, {"round": round_, "n": i}) for i in range(3)]
            seen += [e.data["data"] for e in stream.changes(2)]  # drop before the third
            last_id = stream.last_event_id
        written.append(create(url, ALICE, {"round": round_, "while": "disconnected"}))
    with EventStream(url, ALICE, last_event_id=last_id) as stream:
        rest = len(written) - len(seen)
        seen += [e.data["data"] for e in stream.changes(rest)]
        assert stream.quiet(0.5) == []
    assert seen == written


def test_each_event_is_checked_against_the_permissions_of_that_moment(
    stream_server: Served,
) -> None:
    base, b = stream_server.url, stream_server.bucket
    url = setup_collection(stream_server)
    put(f"{base}/buckets/{b}/groups/friends", ALICE, {"data": {"members": []}})
    early = create(url, ALICE, {"shared": 0}, {"read": [userid("bob")]})
    with EventStream(url, BOB) as stream:
        assert stream.status == 200  # bob may read one record: the GET answers 200 too
        assert requests.get(url, headers=BOB, timeout=10).json()["data"] == [early]
        stream.next()
        secret = create(url, ALICE, {"secret": 1})
        shared = create(url, ALICE, {"shared": 1}, {"read": [userid("bob")]})
        assert [e.data["data"] for e in stream.changes(1)] == [shared]
        # The collection is made readable by a group bob is then added to: mid-stream.
        put(
            f"{base}/buckets/{b}/collections/c",
            ALICE,
            {"permissions": {"read": [f"/buckets/{b}/groups/friends"]}},
        )
        put(f"{base}/buckets/{b}/groups/friends", ALICE, {"data": {"members": [userid("bob")]}})
        via_group = create(url, ALICE, {"group": 1})
        assert [e.data["data"] for e in stream.changes(1)] == [via_group]
        # Out of the group again: a revocation tombstone for each record he read through
        # it and reads no more (not those of his own ACL), then nothing of the collection.
        put(f"{base}/buckets/{b}/groups/friends", ALICE, {"data": {"members": []}})
        lost = stream.changes(2)
        assert sorted(e.data["data"]["id"] for e in lost) == sorted([secret["id"], via_group["id"]])
        assert {e.event for e in lost} == {"delete"}
        assert all(e.data["data"]["revoked"] for e in lost)
        create(url, ALICE, {"secret": 2})
        requests.delete(f"{url}/{via_group['id']}", headers=ALICE, timeout=10)
        # The ACL of one record, changed mid-stream.
        r = requests.patch(
            f"{url}/{shared['id']}", json={"permissions": {"read": []}}, headers=ALICE, timeout=10
        )
        assert r.status_code == 200
        [revoked] = stream.changes(1)
        assert revoked.data == {
            "action": "delete",
            "data": {
                "id": shared["id"],
                "last_modified": int(revoked.id),
                "deleted": True,
                "revoked": True,
            },
        }
        assert stream.quiet(1.0) == []


def test_a_collection_acl_removed_mid_stream_stops_the_events(stream_server: Served) -> None:
    base, b = stream_server.url, stream_server.bucket
    url = setup_collection(stream_server, collection_permissions={"read": [userid("bob")]})
    with EventStream(url, BOB) as stream:
        stream.next()
        one = create(url, ALICE, {"n": 1})
        assert [e.data["data"] for e in stream.changes(1)] == [one]
        put(f"{base}/buckets/{b}/collections/c", ALICE, {"permissions": {"read": []}})
        [revoked] = stream.changes(1)  # what he held goes, as a tombstone
        assert revoked.data["data"] == {
            "id": one["id"],
            "last_modified": int(revoked.id),
            "deleted": True,
            "revoked": True,
        }
        create(url, ALICE, {"n": 2})
        assert stream.quiet(1.0) == []
    # A reconnection from before the revocation replays it, exactly once.
    with EventStream(url, BOB, last_event_id=str(one["last_modified"])) as again:
        assert again.status == 200  # he lost all: only his tombstone shows
        again.next()
        assert [e.id for e in again.changes(1)] == [revoked.id]
        assert again.quiet(1.0) == []


def test_a_record_deleted_reaches_the_reader_of_its_own_acl_once(stream_server: Served) -> None:
    url = setup_collection(stream_server)
    kept = create(url, ALICE, {"n": 0}, {"read": [userid("bob"), userid("carol")]})
    gone = create(url, ALICE, {"n": 1}, {"read": [userid("bob")]})
    with EventStream(url, BOB) as bob, EventStream(url, CAROL) as carol:
        bob.next()
        carol.next()
        r = requests.delete(f"{url}/{gone['id']}", headers=ALICE, timeout=10)
        tombstone = r.json()["data"]
        [event] = bob.changes(1)
        assert event.event == "delete" and event.id == str(tombstone["last_modified"])
        assert event.data == {"action": "delete", "data": tombstone}  # no "revoked"
        assert bob.quiet(1.0) == []
        assert carol.quiet(0.5) == []  # she never could read it
    # A reconnection from before the deletion replays it, exactly once.
    with EventStream(url, BOB, last_event_id=str(kept["last_modified"])) as again:
        again.next()
        assert [e.data["data"] for e in again.changes(1)] == [tombstone]
        assert again.quiet(1.0) == []


def test_the_default_bucket_alias_streams_the_callers_own_collection(stream_server: Served) -> None:
    base = stream_server.url
    alias = f"{base}/buckets/default/collections/tasks/records"
    # Created by a write first: on PostgreSQL a first GET of a new default bucket is a
    # 503 on main for now (reported in FINDINGS.md), the stream's pre-check being a GET.
    create(alias, ALICE, {"description": "before the stream"})
    with EventStream(alias, ALICE) as stream:
        assert stream.status == 200
        stream.next()
        task = create(alias, ALICE, {"description": "Write a tutorial"})
        real = records_url(base, default_bucket_id(userid("alice")), "tasks")
        other = create(real, ALICE, {"description": "by its real URL"})
        assert [e.data["data"] for e in stream.changes(2)] == [task, other]
    with EventStream(alias, {}) as anonymous:
        assert anonymous.status == 401


def test_a_bucket_stream_sends_the_records_of_every_collection_the_caller_may_read(
    stream_server: Served,
) -> None:
    base, b = stream_server.url, stream_server.bucket
    put(f"{base}/buckets/{b}", ALICE)
    put(f"{base}/buckets/{b}/collections/open", ALICE, {"permissions": {"read": [userid("bob")]}})
    put(f"{base}/buckets/{b}/collections/closed", ALICE)
    with EventStream(f"{base}/buckets/{b}/collections", BOB) as stream:
        assert stream.status == 200
        stream.next()
        create(records_url(base, b, "closed"), ALICE, {"n": 0})
        visible = create(records_url(base, b, "open"), ALICE, {"n": 1})
        # A collection created after the stream started is followed too.
        put(
            f"{base}/buckets/{b}/collections/new", ALICE, {"permissions": {"read": [userid("bob")]}}
        )
        fresh = create(records_url(base, b, "new"), ALICE, {"n": 2})
        events = stream.changes(2)
        assert stream.quiet(0.8) == []
    assert [(e.data["collection_id"], e.data["data"]) for e in events] == [
        ("open", visible),
        ("new", fresh),
    ]
    assert [e.id for e in events] == [
        f"open:{visible['last_modified']}",
        f"new:{fresh['last_modified']}",
    ]
    with EventStream(f"{base}/buckets/{b}/collections", CAROL) as nobody:
        assert nobody.status == 403


def test_a_bucket_stream_sends_the_revocations_of_each_collection(
    stream_server: Served,
) -> None:
    base, b = stream_server.url, stream_server.bucket
    bob = userid("bob")
    put(f"{base}/buckets/{b}", ALICE, {"permissions": {"read": [bob]}})
    put(f"{base}/buckets/{b}/collections/one", ALICE)
    put(f"{base}/buckets/{b}/collections/two", ALICE)
    first = create(records_url(base, b, "one"), ALICE, {"n": 1})
    second = create(records_url(base, b, "two"), ALICE, {"n": 2}, {"read": [bob]})
    time.sleep(0.6)  # past the settle time: a bucket stream starts after these two
    with EventStream(f"{base}/buckets/{b}/collections", BOB) as stream:
        stream.next()
        put(f"{base}/buckets/{b}/collections/one", ALICE, {"permissions": {"read": [bob]}})
        put(f"{base}/buckets/{b}", ALICE, {"permissions": {"read": []}})
        # Still read: "one" through its collection, "two" through its own ACL; then not.
        assert stream.quiet(1.5) == []
        put(f"{base}/buckets/{b}/collections/one", ALICE, {"permissions": {"read": []}})
        r = requests.patch(
            f"{records_url(base, b, 'two')}/{second['id']}",
            json={"permissions": {"read": []}},
            headers=ALICE,
            timeout=10,
        )
        assert r.status_code == 200
        events = stream.changes(2)
    assert sorted((e.data["collection_id"], e.data["data"]["id"]) for e in events) == [
        ("one", first["id"]),
        ("two", second["id"]),
    ]
    assert all(e.event == "delete" and e.data["data"]["revoked"] for e in events)
    assert all(
        e.id == f"{e.data['collection_id']}:{e.data['data']['last_modified']}" for e in events
    )


def test_a_bucket_stream_resumes_from_its_last_event_id(stream_server: Served) -> None:
    base, b = stream_server.url, stream_server.bucket
    put(f"{base}/buckets/{b}", ALICE)
    for name in ("x", "y"):
        put(f"{base}/buckets/{b}/collections/{name}", ALICE)
    written = [create(records_url(base, b, name), ALICE, {"i": i}) for i, name in enumerate("xyxy")]
    with EventStream(f"{base}/buckets/{b}/collections?_since=0", ALICE) as stream:
        first = stream.changes(2)
        last_id = stream.last_event_id
    more = [
        create(records_url(base, b, name), ALICE, {"i": i}) for i, name in enumerate("yx", start=4)
    ]
    with EventStream(f"{base}/buckets/{b}/collections", ALICE, last_event_id=last_id) as again:
        rest = again.changes(4)
        assert again.quiet(0.8) == []
    assert [e.data["data"] for e in first + rest] == written + more


def test_idle_streams_get_heartbeat_comments(stream_server: Served) -> None:
    url = setup_collection(stream_server)
    with EventStream(url, ALICE) as stream:
        stream.next()
        assert stream.quiet(1.3) == []
        assert stream.comments >= 2


def test_the_heartbeat_reports_the_stream(stream_server: Served) -> None:
    r = requests.get(f"{stream_server.url}/__heartbeat__", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"storage": True, "permission": True, "stream": True}


def test_the_ordinary_api_is_served_by_the_same_server(stream_server: Served) -> None:
    url = setup_collection(stream_server)
    record = create(url, ALICE, {"n": 1})
    r = requests.head(url, headers=ALICE, timeout=10)
    assert r.status_code == 200 and r.headers["Total-Objects"] == "1" and r.content == b""
    r = requests.get(
        f"{url}/{record['id']}", headers={**ALICE, "Accept": "application/json"}, timeout=10
    )
    assert r.json()["data"] == record
    r = requests.post(
        url,
        data=b"x" * (10 * 1024 * 1024 + 1),
        headers={**ALICE, "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413 and r.json()["errno"] == 113
    # Not a stream: a plain GET of the records asking for JSON, or another method.
    r = requests.get(url, headers={**ALICE, "Accept": "text/html"}, timeout=10)
    assert r.status_code == 406
