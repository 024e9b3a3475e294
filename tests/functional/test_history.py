"""The history plugin (kinto-api.md §10.1): entries, their visibility, settings, snapshot.

The world: Alice owns bucket ``b`` with collection ``c`` and group ``g``; Bob and Carol
own nothing until Alice shares something with them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import webtest

from kinto_clone.settings import ConfigurationError
from tests.querycount import recorded_statements
from tests.support import (
    ALICE,
    BOB,
    CAROL,
    assert_error,
    create_collection,
    default_bucket_id,
    userid,
)

ANONYMOUS: dict[str, str] = {}
EVERYONE = "system.Everyone"

B = "/v1/buckets/b"
C = f"{B}/collections/c"
G = f"{B}/groups/g"
HISTORY = f"{B}/history"
PLUGINS = "kinto_clone.plugins.default_bucket kinto_clone.plugins.history"
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return make_app(includes=PLUGINS)


@pytest.fixture
def world(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app, C)
    return app


def entries(
    app: webtest.TestApp, query: str = "", headers: dict[str, str] = ALICE, path: str = HISTORY
) -> list[dict[str, Any]]:
    return app.get(f"{path}?{query}", headers=headers, status=200).json["data"]


def summary(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["action"], e["uri"]) for e in found]


def record(
    app: webtest.TestApp,
    rid: str,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] = ALICE,
    **body: Any,
) -> dict[str, Any]:
    resp = app.put_json(f"{C}/records/{rid}", {"data": data or {}, **body}, headers=headers)
    return resp.json["data"]


# -- what is recorded ------------------------------------------------------------------------


def test_creating_a_bucket_and_a_collection_records_two_entries(world: webtest.TestApp) -> None:
    assert summary(entries(world)) == [
        ("create", "/buckets/b/collections/c"),
        ("create", "/buckets/b"),
    ]


def test_an_entry_holds_the_change_its_author_and_the_object_with_its_acl(
    world: webtest.TestApp,
) -> None:
    created = record(world, "r", {"title": "one"}, permissions={"read": [userid("bob")]})
    entry = entries(world)[0]
    assert entry == {
        "id": entry["id"],
        "last_modified": entry["last_modified"],
        "uri": "/buckets/b/collections/c/records/r",
        "date": entry["date"],
        "action": "create",
        "resource_name": "record",
        "user_id": userid("alice"),
        "collection_id": "c",
        "record_id": "r",
        "target": {
            "data": created,
            "permissions": {"read": [userid("bob")], "write": [userid("alice")]},
        },
    }
    assert uuid.UUID(entry["id"]).version == 4
    assert DATE.match(entry["date"]), entry["date"]


def test_every_action_on_every_resource_is_recorded(world: webtest.TestApp) -> None:
    world.patch_json(B, {"data": {"title": "blog"}}, headers=ALICE, status=200)
    world.put_json(G, {"data": {"members": []}}, headers=ALICE, status=201)
    world.patch_json(G, {"data": {"members": ["x"]}}, headers=ALICE, status=200)
    world.patch_json(C, {"data": {"title": "c"}}, headers=ALICE, status=200)
    posted = world.post_json(f"{C}/records", {"data": {}}, headers=ALICE, status=201).json
    record(world, "r")
    record(world, "r", {"title": "new"})
    world.delete(f"{C}/records/r", headers=ALICE, status=200)
    world.delete(G, headers=ALICE, status=200)
    world.delete(C, headers=ALICE, status=200)
    found = entries(world, "_sort=last_modified")
    assert [(e["action"], e["resource_name"]) for e in found] == [
        ("create", "bucket"),
        ("create", "collection"),
        ("update", "bucket"),
        ("create", "group"),
        ("update", "group"),
        ("update", "collection"),
        ("create", "record"),
        ("create", "record"),
        ("update", "record"),
        ("delete", "record"),
        ("delete", "group"),
        ("delete", "collection"),
    ]
    # The cascade of the collection deletion (the POSTed record) is not recorded.
    assert found[6]["uri"] == f"/buckets/b/collections/c/records/{posted['data']['id']}"
    ids = {k: v for k, v in found[0].items() if k.endswith("_id") and k != "user_id"}
    assert ids == {"bucket_id": "b"}  # only a bucket's entry names the bucket
    assert {k for k in found[3] if k.endswith("_id")} == {"group_id", "user_id"}
    assert {k for k in found[1] if k.endswith("_id")} == {"collection_id", "user_id"}


def test_a_deletion_records_the_tombstone_and_an_empty_acl(world: webtest.TestApp) -> None:
    record(world, "r", {"title": "one"})
    tombstone = world.delete(f"{C}/records/r", headers=ALICE).json["data"]
    entry = entries(world)[0]
    assert entry["action"] == "delete"
    assert entry["target"] == {"data": tombstone, "permissions": {}}


def test_a_plural_delete_records_one_entry_per_object(world: webtest.TestApp) -> None:
    for rid in ("r1", "r2", "r3"):
        record(world, rid)
    world.delete(f"{C}/records", headers=ALICE, status=200)
    deleted = entries(world, "action=delete")
    assert sorted(e["record_id"] for e in deleted) == ["r1", "r2", "r3"]


def test_anonymous_writes_are_recorded_without_a_user_id(world: webtest.TestApp) -> None:
    world.patch_json(C, {"permissions": {"record:create": [EVERYONE]}}, headers=ALICE)
    world.post_json(f"{C}/records", {"data": {"x": 1}}, headers=ANONYMOUS, status=201)
    assert entries(world)[0]["user_id"] is None


@pytest.mark.parametrize("behavior", ["light", "diff"])
def test_patch_with_a_partial_response_behavior_works_with_history_on(
    world: webtest.TestApp, behavior: str
) -> None:
    # Kinto 26.5 answers 500 here (§10.1).
    record(world, "r", {"a": 1, "b": 1})
    resp = world.patch_json(
        f"{C}/records/r",
        {"data": {"a": 2}},
        headers={**ALICE, "Response-Behavior": behavior},
        status=200,
    )
    assert resp.json == {"data": {"a": 2}} if behavior == "light" else {"data": {}}
    entry = entries(world)[0]
    assert entry["action"] == "update"
    assert entry["target"]["data"]["a"] == 2 and entry["target"]["data"]["b"] == 1


def test_a_refused_or_failed_write_records_nothing(world: webtest.TestApp) -> None:
    before = entries(world)
    world.put_json(f"{C}/records/r", {"data": {}}, headers={**ALICE, "If-Match": '"1"'}, status=412)
    world.put_json(f"{C}/records/r", {"data": {}}, headers=BOB, status=403)
    assert entries(world) == before


def test_a_batch_records_what_it_writes_and_nothing_of_a_failed_subrequest(
    world: webtest.TestApp,
) -> None:
    world.post_json(
        "/v1/batch",
        {
            "requests": [
                {
                    "method": "PUT",
                    "path": "/buckets/b/collections/c/records/r1",
                    "body": {"data": {}},
                },
                {
                    "method": "PUT",
                    "path": "/buckets/b/collections/c/records/r2",
                    "body": {"data": {}},
                    "headers": {"If-Match": '"1"'},
                },
                {
                    "method": "PUT",
                    "path": "/buckets/b/collections/c/records/r3",
                    "body": {"data": {}},
                },
            ]
        },
        headers=ALICE,
        status=200,
    )
    assert sorted(e["record_id"] for e in entries(world, "resource_name=record")) == ["r1", "r3"]


def test_implicit_creations_of_the_default_bucket_are_recorded(app: webtest.TestApp) -> None:
    app.get("/v1/buckets/default/collections/tasks/records", headers=ALICE, status=200)
    bucket = default_bucket_id(userid("alice"))
    found = entries(app, path=f"/v1/buckets/{bucket}/history")
    assert summary(found) == [
        ("create", f"/buckets/{bucket}/collections/tasks"),
        ("create", f"/buckets/{bucket}"),
    ]
    assert {e["user_id"] for e in found} == {userid("alice")}
    assert found[1]["bucket_id"] == bucket
    assert found[1]["target"]["permissions"] == {"write": [userid("alice")]}


def test_deleting_a_bucket_deletes_its_history_and_records_nothing(world: webtest.TestApp) -> None:
    record(world, "r", permissions={"read": [userid("bob")]})
    world.delete(B, headers=ALICE, status=200)
    world.put_json(B, {}, headers=ALICE, status=201)
    assert summary(entries(world)) == [("create", "/buckets/b")]
    # Bob's read ACE on the old record's entry went with it.
    assert_error(world.get(HISTORY, headers=BOB, status=403), 403, 121)


def test_deleting_every_bucket_at_once_records_nothing(world: webtest.TestApp) -> None:
    world.delete("/v1/buckets", headers=ALICE, status=200)
    world.put_json(B, {}, headers=ALICE, status=201)
    assert summary(entries(world)) == [("create", "/buckets/b")]


# -- listing: filters, sorting, pagination, fields ---------------------------------------------


@pytest.fixture
def busy(world: webtest.TestApp) -> webtest.TestApp:
    record(world, "r1", {"title": "first"})
    record(world, "r2", {"title": "second"})
    record(world, "12", {"title": "twelve"})
    record(world, "r1", {"title": "first, again"})
    world.delete(f"{C}/records/r2", headers=ALICE)
    return world


def test_entries_are_newest_first(busy: webtest.TestApp) -> None:
    stamps = [e["last_modified"] for e in entries(busy)]
    assert stamps == sorted(stamps, reverse=True) and len(stamps) == 7


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=delete", [("delete", "r2")]),
        ("action=update", [("update", "r1")]),
        (
            "resource_name=record&action=create",
            [("create", "12"), ("create", "r2"), ("create", "r1")],
        ),
        ("record_id=r1", [("update", "r1"), ("create", "r1")]),
        ("record_id=12", [("create", "12")]),  # a number means the id "12"
        ("in_record_id=12,r2", [("delete", "r2"), ("create", "12"), ("create", "r2")]),
        ("target.data.title=second", [("create", "r2")]),
        ("like_target.data.title=first", [("update", "r1"), ("create", "r1")]),
        ("uri=/buckets/b/collections/c/records/r2", [("delete", "r2"), ("create", "r2")]),
    ],
)
def test_entries_can_be_filtered_on_their_fields(
    busy: webtest.TestApp, query: str, expected: list[tuple[str, str]]
) -> None:
    found = entries(busy, query)
    assert [(e["action"], e["record_id"]) for e in found] == expected


def test_entries_can_be_filtered_on_the_author(busy: webtest.TestApp) -> None:
    busy.patch_json(B, {"permissions": {"write": [userid("bob")]}}, headers=ALICE)
    record(busy, "bobs", headers=BOB)
    assert [e["record_id"] for e in entries(busy, f"user_id={userid('bob')}")] == ["bobs"]


def test_since_returns_the_entries_after_a_timestamp(busy: webtest.TestApp) -> None:
    everything = entries(busy)
    since = everything[2]["last_modified"]
    assert entries(busy, f"_since={since}") == everything[:2]
    assert entries(busy, f"_before={since}") == everything[3:]


def test_the_deprecated_to_works_and_says_so(busy: webtest.TestApp) -> None:
    everything = entries(busy)
    resp = busy.get(f"{HISTORY}?_to={everything[2]['last_modified']}", headers=ALICE)
    assert resp.json["data"] == everything[3:]
    assert '"code":"soft-eol"' in resp.headers["Alert"]


def test_entries_can_be_sorted_on_their_fields(busy: webtest.TestApp) -> None:
    oldest_first = entries(busy, "_sort=last_modified")
    assert oldest_first == list(reversed(entries(busy)))
    by_uri = [e["uri"] for e in entries(busy, "_sort=uri,-last_modified")]
    assert by_uri == sorted(by_uri)


@pytest.mark.parametrize(
    ("query", "name", "description"),
    [
        ("foo=1", "foo", "Unknown filter field 'foo'"),
        ("gt_data.title=1", "gt_data.title", "Unknown filter field 'gt_data.title'"),
        ("_sort=title", "_sort", "Unknown sort field 'title'"),
        ("_fields=title", "Invalid _fields parameter", "Fields title do not exist"),
        ("id=12", "id", "12 is not a string: {'id': ''}"),
    ],
)
def test_the_schema_is_strict(
    busy: webtest.TestApp, query: str, name: str, description: str
) -> None:
    resp = busy.get(f"{HISTORY}?{query}", headers=ALICE, status=400)
    body = assert_error(resp, 400, 107)
    assert body["details"] == [
        {"location": "querystring", "name": name, "description": description}
    ]


def test_fields_selects_top_level_and_nested_fields(busy: webtest.TestApp) -> None:
    found = entries(busy, "_fields=action,target.data.title&resource_name=record&_limit=1")
    assert found == [
        {"id": found[0]["id"], "last_modified": found[0]["last_modified"], "action": "delete"}
    ]  # a tombstone has no title
    found = entries(busy, "_fields=action,target.data.title&action=update")
    assert found[0]["target"] == {"data": {"title": "first, again"}}


def test_pages_follow_next_page_until_every_entry_was_seen(busy: webtest.TestApp) -> None:
    everything = entries(busy)
    seen: list[dict[str, Any]] = []
    url: str | None = f"{HISTORY}?_limit=3"
    pages = 0
    while url:
        resp = busy.get(url, headers=ALICE, status=200)
        seen += resp.json["data"]
        pages += 1
        next_page = resp.headers.get("Next-Page")
        url = None
        if next_page:
            parts = urlsplit(next_page)
            url = f"{parts.path}?{parts.query}"
    assert seen == everything and pages == 3


def test_paginate_by_limits_pages(make_app: Any) -> None:
    app = make_app(includes=PLUGINS, paginate_by=1)
    create_collection(app, C)
    resp = app.get(HISTORY, headers=ALICE, status=200)
    assert len(resp.json["data"]) == 1 and "_limit=1" in resp.headers["Next-Page"]


def test_head_answers_the_headers_of_get_without_a_count(busy: webtest.TestApp) -> None:
    get = busy.get(HISTORY, headers=ALICE, status=200)
    head = busy.head(HISTORY, headers=ALICE, status=200)
    assert head.body == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert "Total-Objects" not in head.headers and "Total-Records" not in head.headers


def test_the_etag_is_the_newest_entry_and_answers_conditional_requests(
    busy: webtest.TestApp,
) -> None:
    resp = busy.get(HISTORY, headers=ALICE, status=200)
    assert resp.headers["ETag"] == f'"{resp.json["data"][0]["last_modified"]}"'
    busy.get(HISTORY, headers={**ALICE, "If-None-Match": resp.headers["ETag"]}, status=304)
    busy.get(HISTORY, headers={**ALICE, "If-Match": '"1"'}, status=412)


# -- visibility ------------------------------------------------------------------------------


@pytest.fixture
def shared(world: webtest.TestApp) -> webtest.TestApp:
    """Entries readable by different people: Bob reads record ``rb``; collection ``pub``
    and its records are public; group ``g`` is Alice's only."""
    world.put_json(G, {"data": {"members": []}}, headers=ALICE, status=201)
    record(world, "ra")
    record(world, "rb", permissions={"read": [userid("bob")]})
    world.put_json(
        f"{B}/collections/pub", {"permissions": {"read": [EVERYONE]}}, headers=ALICE, status=201
    )
    world.put_json(f"{B}/collections/pub/records/p", {"data": {}}, headers=ALICE, status=201)
    return world


def test_bucket_readers_and_writers_see_every_entry(shared: webtest.TestApp) -> None:
    everything = entries(shared)
    assert len(everything) == 7
    shared.patch_json(
        B, {"permissions": {"read": [userid("bob")], "write": [userid("carol")]}}, headers=ALICE
    )
    assert entries(shared, headers=BOB) == entries(shared)
    assert entries(shared, headers=CAROL) == entries(shared)


def test_others_see_the_entries_of_what_they_could_read_at_the_time(
    shared: webtest.TestApp,
) -> None:
    bob_sees = summary(entries(shared, headers=BOB))
    assert bob_sees == [
        ("create", "/buckets/b/collections/pub/records/p"),
        ("create", "/buckets/b/collections/pub"),
        ("create", "/buckets/b/collections/c/records/rb"),
    ]
    # Being granted later does not reveal what happened before.
    shared.patch_json(f"{C}/records/ra", {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    assert summary(entries(shared, headers=BOB))[0] == (
        "update",
        "/buckets/b/collections/c/records/ra",
    )
    assert len(entries(shared, headers=BOB)) == 4


def test_collection_readers_see_the_collection_and_its_records(shared: webtest.TestApp) -> None:
    shared.patch_json(C, {"permissions": {"read": [userid("carol")]}}, headers=ALICE)
    record(shared, "rc")
    carol_sees = summary(entries(shared, headers=CAROL))
    assert carol_sees[:2] == [
        ("create", "/buckets/b/collections/c/records/rc"),
        ("update", "/buckets/b/collections/c"),
    ]
    assert ("create", "/buckets/b/groups/g") not in carol_sees


def test_anonymous_callers_see_the_entries_of_public_objects(shared: webtest.TestApp) -> None:
    assert summary(entries(shared, headers=ANONYMOUS)) == [
        ("create", "/buckets/b/collections/pub/records/p"),
        ("create", "/buckets/b/collections/pub"),
    ]


def test_filters_apply_within_what_a_caller_may_see(shared: webtest.TestApp) -> None:
    assert entries(shared, "resource_name=group", headers=BOB) == []
    assert len(entries(shared, "resource_name=record", headers=BOB)) == 2


def test_strangers_are_refused(world: webtest.TestApp) -> None:
    assert_error(world.get(HISTORY, headers=CAROL, status=403), 403, 121)
    assert_error(world.get(HISTORY, headers=ANONYMOUS, status=401), 401, 104)
    world.head(HISTORY, headers=CAROL, status=403)


def test_the_history_of_a_missing_bucket_is_refused(app: webtest.TestApp) -> None:
    assert_error(app.get("/v1/buckets/nope/history", headers=ALICE, status=403), 403, 121)
    assert_error(app.get("/v1/buckets/nope/history", status=401), 401, 104)


def test_history_read_principals_lets_read_every_history(make_app: Any) -> None:
    app = make_app(includes=PLUGINS, history_read_principals=userid("carol"))
    app.put_json(B, {}, headers=ALICE, status=201)
    assert summary(entries(app, headers=CAROL)) == [("create", "/buckets/b")]
    resp = app.get("/v1/buckets/nope/history", headers=CAROL, status=404)
    assert_error(resp, 404, 111, details={"id": "nope", "resource_name": "bucket"})


def test_without_explicit_permissions_entries_follow_the_containers_acls(make_app: Any) -> None:
    alice = userid("alice")
    app = make_app(
        includes=PLUGINS,
        explicit_permissions=False,
        bucket_create_principals=alice,
        collection_create_principals=alice,
        record_create_principals=alice,
    )
    app.put_json(B, {"permissions": {"read": [userid("carol")]}}, headers=ALICE, status=201)
    app.put_json(C, {}, headers=ALICE, status=201)
    app.put_json(
        f"{C}/records/r", {"permissions": {"read": [userid("bob")]}}, headers=ALICE, status=201
    )
    assert len(entries(app, headers=CAROL)) == 3
    assert_error(app.get(HISTORY, headers=BOB, status=403), 403, 121)


# -- DELETE ----------------------------------------------------------------------------------


def test_bucket_writers_delete_the_matching_entries(busy: webtest.TestApp) -> None:
    resp = busy.delete(f"{HISTORY}?resource_name=record", headers=ALICE, status=200)
    deleted = resp.json["data"]
    assert len(deleted) == 5 and all(e["deleted"] for e in deleted)
    assert resp.headers["ETag"] == f'"{max(e["last_modified"] for e in deleted)}"'
    assert summary(entries(busy)) == [
        ("create", "/buckets/b/collections/c"),
        ("create", "/buckets/b"),
    ]
    # Tombstones show up for a synchronising client.
    assert len(entries(busy, "_since=0")) == 7


def test_deleting_all_entries_paginates_with_limit(busy: webtest.TestApp) -> None:
    resp = busy.delete(f"{HISTORY}?_limit=4", headers=ALICE, status=200)
    assert len(resp.json["data"]) == 4 and "Next-Page" in resp.headers
    resp = busy.delete(f"{HISTORY}?_limit=4", headers=ALICE, status=200)
    assert len(resp.json["data"]) == 3 and "Next-Page" not in resp.headers
    assert entries(busy) == []


def test_only_bucket_writers_may_delete_entries(shared: webtest.TestApp) -> None:
    shared.patch_json(B, {"permissions": {"read": [userid("carol")]}}, headers=ALICE)
    assert_error(shared.delete(HISTORY, headers=BOB, status=403), 403, 121)
    assert_error(shared.delete(HISTORY, headers=CAROL, status=403), 403, 121)
    assert_error(shared.delete(HISTORY, headers=ANONYMOUS, status=401), 401, 104)
    assert len(entries(shared)) == 8


def test_deleted_entries_are_no_longer_visible_to_their_readers(shared: webtest.TestApp) -> None:
    shared.delete(f"{HISTORY}?record_id=rb", headers=ALICE, status=200)
    assert all(e.get("record_id") != "rb" for e in entries(shared, "_since=0", headers=BOB))


# -- settings --------------------------------------------------------------------------------


def test_the_capability_is_advertised(app: webtest.TestApp) -> None:
    capability = app.get("/v1/").json["capabilities"]["history"]
    assert set(capability) == {"description", "url"}


def test_excluded_resources_are_not_recorded(make_app: Any) -> None:
    excluded = "/buckets/quiet /buckets/b/collections/secret /buckets/b/collections/c/records/x"
    app = make_app(includes=PLUGINS, **{"history.exclude_resources": excluded})
    app.put_json("/v1/buckets/quiet", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/quiet/collections/c", {}, headers=ALICE, status=201)
    app.put_json(B, {}, headers=ALICE, status=201)
    app.put_json(f"{B}/collections/secret", {}, headers=ALICE, status=201)
    app.put_json(f"{B}/collections/secret/records/r", {}, headers=ALICE, status=201)
    app.put_json(C, {}, headers=ALICE, status=201)
    app.put_json(f"{C}/records/x", {}, headers=ALICE, status=201)
    app.put_json(f"{C}/records/y", {}, headers=ALICE, status=201)
    assert entries(app, path="/v1/buckets/quiet/history") == []
    assert summary(entries(app)) == [
        ("create", "/buckets/b/collections/c/records/y"),
        ("create", "/buckets/b/collections/c"),
        ("create", "/buckets/b"),
    ]
    capability = app.get("/v1/").json["capabilities"]["history"]
    # Kinto shapes each as an object of ids (issue 10 item 16).
    assert capability["excluded_resources"] == [
        dict(
            zip(
                ("bucket", "collection", "record")[: uri.count("/") // 2],
                uri.split("/")[2::2],
                strict=True,
            )
        )
        for uri in excluded.split()
    ]


def test_excluded_user_ids_are_not_recorded(make_app: Any) -> None:
    app = make_app(includes=PLUGINS, **{"history.exclude_user_ids": userid("bob")})
    app.put_json(B, {"permissions": {"write": [userid("bob")]}}, headers=ALICE, status=201)
    app.put_json(C, {}, headers=BOB, status=201)
    assert summary(entries(app)) == [("create", "/buckets/b")]


@pytest.fixture
def trimming(make_app: Any) -> webtest.TestApp:
    app = make_app(
        includes=PLUGINS, **{"history.auto_trim_max_count": "2", "history.auto_trim_threshold": "1"}
    )
    app.put_json(B, {"permissions": {"write": [userid("bob")]}}, headers=ALICE, status=201)
    app.put_json(C, {}, headers=ALICE, status=201)
    return app


def test_trimming_keeps_the_newest_entries_of_each_resource_type(trimming: webtest.TestApp) -> None:
    for rid in ("r1", "r2", "r3"):
        record(trimming, rid)
    # 3 record entries: not yet beyond 2 + the threshold of 1.
    assert len(entries(trimming, "resource_name=record")) == 3
    record(trimming, "r4")
    assert [e["record_id"] for e in entries(trimming, "resource_name=record")] == ["r4", "r3"]
    # Other resource types keep theirs.
    assert len(entries(trimming, "resource_name=collection")) == 1
    assert len(entries(trimming, "resource_name=bucket")) == 1
    capability = trimming.get("/v1/").json["capabilities"]["history"]
    assert capability["auto_trim_max_count"] == 2


def test_trimming_with_user_ids_only_trims_their_entries(make_app: Any) -> None:
    app = make_app(
        includes=PLUGINS,
        **{
            "history.auto_trim_max_count": "1",
            "history.auto_trim_threshold": "0",
            "history.auto_trim_user_ids": userid("bob"),
        },
    )
    app.put_json(B, {"permissions": {"write": [userid("bob")]}}, headers=ALICE, status=201)
    app.put_json(C, {}, headers=ALICE, status=201)
    for rid in ("a1", "a2", "a3"):
        record(app, rid)
    for rid in ("b1", "b2", "b3"):
        record(app, rid, headers=BOB)
    found = [e["record_id"] for e in entries(app, "resource_name=record")]
    assert found == ["b3", "a3", "a2", "a1"]
    capability = app.get("/v1/").json["capabilities"]["history"]
    assert capability["auto_trim_user_ids"] == [userid("bob")]


@pytest.mark.parametrize(
    "settings",
    [
        {"history.auto_trim_max_count": "many"},
        {"history.auto_trim_threshold": "-1"},
    ],
)
def test_bad_trim_settings_stop_the_start(make_app: Any, settings: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        make_app(includes=PLUGINS, **settings)


# -- snapshot --------------------------------------------------------------------------------


def snapshot(
    app: webtest.TestApp, timestamp: int | str, headers: dict[str, str] = ALICE, status: int = 200
) -> Any:
    return app.get(f"{B}/snapshot/collections/c@{timestamp}", headers=headers, status=status)


def test_a_snapshot_gives_the_records_as_they_were(world: webtest.TestApp) -> None:
    gone = record(world, "gone", {"v": 1})
    record(world, "old", {"v": 1})
    edited = record(world, "edited", {"v": 1})
    record(world, "reborn", {"v": 1})
    world.delete(f"{C}/records/reborn", headers=ALICE)
    kept = record(world, "kept", {"v": 1})
    moment = kept["last_modified"]
    record(world, "edited", {"v": 2})
    record(world, "edited", {"v": 3})
    world.delete(f"{C}/records/gone", headers=ALICE)
    record(world, "later", {"v": 1})
    record(world, "reborn", {"v": 2})
    then = snapshot(world, moment).json["data"]
    assert [r["id"] for r in then] == ["kept", "edited", "old", "gone"]
    assert then[1] == edited and then[3] == gone
    now = world.get(f"{C}/records", headers=ALICE).json["data"]
    assert snapshot(world, now[0]["last_modified"]).json["data"] == now
    assert snapshot(world, 0).json["data"] == []


def test_a_snapshot_needs_read_on_the_bucket_or_the_collection(world: webtest.TestApp) -> None:
    record(world, "r")
    assert_error(snapshot(world, 0, headers=BOB, status=403), 403, 121)
    assert_error(snapshot(world, 0, headers=ANONYMOUS, status=401), 401, 104)
    world.patch_json(C, {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    world.patch_json(B, {"permissions": {"read": [userid("carol")]}}, headers=ALICE)
    now = world.get(f"{C}/records", headers=ALICE).json["data"]
    for reader in (BOB, CAROL):
        assert snapshot(world, 10**13, headers=reader).json["data"] == now


@pytest.mark.parametrize("timestamp", ["abc", "-1", "1.5"])
def test_a_snapshot_at_an_invalid_timestamp_is_a_400(
    world: webtest.TestApp, timestamp: str
) -> None:
    body = assert_error(snapshot(world, timestamp, status=400), 400, 107)
    assert body["details"] == [
        {"location": "path", "name": "timestamp", "description": f"Invalid timestamp '{timestamp}'"}
    ]


# -- cost ------------------------------------------------------------------------------------


def test_recording_a_change_costs_at_most_three_statements(
    world: webtest.TestApp, make_app: Any
) -> None:
    plain = make_app()
    plain.put_json("/v1/buckets/p", {}, headers=ALICE, status=201)
    plain.put_json("/v1/buckets/p/collections/c", {}, headers=ALICE, status=201)
    with recorded_statements(plain) as without:
        plain.put_json("/v1/buckets/p/collections/c/records/r", {}, headers=ALICE, status=201)
    with recorded_statements(world) as with_history:
        world.put_json(f"{C}/records/r", {}, headers=ALICE, status=201)
    # The entry (PostgreSQL: 1 statement; SQLite: 2, the list timestamp then the insert)
    # and its ACE.
    assert len(with_history) - len(without) <= 3, with_history
