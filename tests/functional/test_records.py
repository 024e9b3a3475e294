"""Records, and the object/plural behaviour every resource shares (kinto-api.md §1.2, §2.1-§2.6).

Alice owns the bucket ``blog`` and its collection ``articles``; Bob and Carol start with no
permission at all. Every test gets a fresh application on each backend.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import webtest

from tests.support import (
    ALICE,
    ALICE_ID,
    BOB,
    BOB_ID,
    CAROL_ID,
    METHOD_NOT_ALLOWED_BODY,
    assert_error,
    assert_invalid,
    auth,
    not_found_body,
)

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"

INVALID_ID_BODY = {
    "code": 400,
    "errno": 107,
    "error": "Invalid parameters",
    "message": "path: Invalid object id",
    "details": [{"location": "path", "name": None, "description": "Invalid object id"}],
}


def record_url(record_id: str) -> str:
    return f"{RECORDS}/{record_id}"


def put_record(
    app: webtest.TestApp, record_id: str, data: dict[str, Any], **permissions: list[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data}
    if permissions:
        body["permissions"] = permissions
    return app.put_json(record_url(record_id), body, headers=ALICE, status=201).json["data"]


def list_etag(app: webtest.TestApp) -> int:
    return int(app.get(RECORDS, headers=ALICE).headers["ETag"].strip('"'))


def live_ids(app: webtest.TestApp) -> list[str]:
    return sorted(r["id"] for r in app.get(RECORDS, headers=ALICE).json["data"])


# --- Creation with POST -------------------------------------------------------------------


def test_posting_a_record_returns_201_with_a_uuid4_id_and_the_creator_as_sole_writer(blog):
    resp = blog.post_json(RECORDS, {"data": {"title": "hello"}}, headers=ALICE, status=201)

    assert set(resp.json) == {"data", "permissions"}
    data = resp.json["data"]
    assert set(data) == {"id", "last_modified", "title"}
    assert data["title"] == "hello"
    parsed = uuid.UUID(data["id"])
    assert parsed.version == 4 and str(parsed) == data["id"]
    assert isinstance(data["last_modified"], int)
    assert resp.json["permissions"] == {"write": [ALICE_ID]}
    assert resp.headers["ETag"] == f'"{data["last_modified"]}"'


def test_a_posted_record_reads_back_identically(blog):
    created = blog.post_json(RECORDS, {"data": {"n": 1, "nested": {"a": [1, 2]}}}, headers=ALICE)

    resp = blog.get(record_url(created.json["data"]["id"]), headers=ALICE, status=200)

    assert resp.json == created.json


def test_posting_without_a_body_creates_an_empty_record(blog):
    resp = blog.post(RECORDS, headers=ALICE, status=201)

    assert set(resp.json["data"]) == {"id", "last_modified"}


def test_posting_with_an_id_in_data_creates_the_record_under_that_id(blog):
    resp = blog.post_json(RECORDS, {"data": {"id": "r1", "a": 1}}, headers=ALICE, status=201)

    assert resp.json["data"]["id"] == "r1"
    assert blog.get(record_url("r1"), headers=ALICE).json["data"]["a"] == 1


def test_posting_an_existing_id_returns_200_with_the_stored_record_and_ignores_the_body(blog):
    stored = put_record(blog, "r1", {"title": "original"})

    resp = blog.post_json(
        RECORDS, {"data": {"id": "r1", "title": "ignored"}}, headers=ALICE, status=200
    )

    assert resp.json["data"] == stored
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


def test_posted_records_get_distinct_ids(blog):
    ids = {
        blog.post_json(RECORDS, {"data": {}}, headers=ALICE).json["data"]["id"] for _ in range(5)
    }

    assert len(ids) == 5


def test_the_plural_response_is_a_data_list_without_permissions(blog):
    put_record(blog, "r1", {"a": 1})

    resp = blog.get(RECORDS, headers=ALICE, status=200)

    assert set(resp.json) == {"data"}
    assert [r["id"] for r in resp.json["data"]] == ["r1"]


# --- PUT ----------------------------------------------------------------------------------


def test_put_on_a_new_id_creates_the_record_with_201(blog):
    resp = blog.put_json(record_url("r1"), {"data": {"title": "a"}}, headers=ALICE, status=201)

    assert resp.json["data"]["id"] == "r1"
    assert resp.json["data"]["title"] == "a"
    assert resp.json["permissions"] == {"write": [ALICE_ID]}
    assert resp.headers["ETag"] == f'"{resp.json["data"]["last_modified"]}"'


def test_put_on_an_existing_record_replaces_it_with_200_and_drops_fields_not_sent(blog):
    put_record(blog, "r1", {"title": "a", "body": "text", "tags": ["x"]})

    resp = blog.put_json(record_url("r1"), {"data": {"title": "b"}}, headers=ALICE, status=200)

    assert set(resp.json["data"]) == {"id", "last_modified", "title"}
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == resp.json["data"]


def test_put_without_a_body_creates_an_empty_record(blog):
    resp = blog.put(record_url("r1"), headers=ALICE, status=201)

    assert set(resp.json["data"]) == {"id", "last_modified"}


def test_put_with_an_empty_object_body_creates_an_empty_record(blog):
    # What ``{}`` does to an *existing* record is ambiguous in kinto-api.md §2.1 ("created/
    # replaced") versus §2.5 (no ``data`` keeps the stored data): deliberately not asserted.
    resp = blog.put_json(record_url("r1"), {}, headers=ALICE, status=201)

    assert set(resp.json["data"]) == {"id", "last_modified"}


def test_put_with_only_permissions_keeps_the_existing_data(blog):
    put_record(blog, "r1", {"title": "a"})

    resp = blog.put_json(
        record_url("r1"), {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200
    )

    assert resp.json["data"]["title"] == "a"
    assert resp.json["permissions"]["read"] == [BOB_ID]
    assert resp.json["permissions"]["write"] == [ALICE_ID]


def test_put_with_only_permissions_on_a_new_id_creates_an_empty_record(blog):
    resp = blog.put_json(
        record_url("r1"), {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201
    )

    assert set(resp.json["data"]) == {"id", "last_modified"}
    assert resp.json["permissions"] == {"read": [BOB_ID], "write": [ALICE_ID]}


def test_put_without_a_permissions_key_leaves_the_acl_untouched(blog):
    put_record(blog, "r1", {"title": "a"}, read=[BOB_ID])

    resp = blog.put_json(record_url("r1"), {"data": {"title": "b"}}, headers=ALICE, status=200)

    assert resp.json["permissions"] == {"read": [BOB_ID], "write": [ALICE_ID]}
    blog.get(record_url("r1"), headers=BOB, status=200)


def test_put_with_permissions_replaces_the_whole_acl_and_keeps_the_caller_as_writer(blog):
    put_record(blog, "r1", {"title": "a"}, read=[BOB_ID])

    resp = blog.put_json(
        record_url("r1"),
        {"data": {"title": "b"}, "permissions": {"write": [CAROL_ID]}},
        headers=ALICE,
        status=200,
    )

    perms = resp.json["permissions"]
    assert set(perms) == {"write"}
    assert sorted(perms["write"]) == sorted([CAROL_ID, ALICE_ID])
    blog.get(record_url("r1"), headers=BOB, status=403)


# --- PATCH --------------------------------------------------------------------------------


def test_patch_merges_top_level_keys_replaces_nested_objects_and_keeps_nulls(blog):
    put_record(blog, "r1", {"title": "a", "author": {"name": "x", "age": 1}, "n": 1})

    resp = blog.patch_json(
        record_url("r1"),
        {"data": {"author": {"age": 3}, "title": None}},
        headers=ALICE,
        status=200,
    )

    data = resp.json["data"]
    assert {k: v for k, v in data.items() if k != "last_modified"} == {
        "id": "r1",
        "title": None,
        "author": {"age": 3},
        "n": 1,
    }
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == data
    assert resp.json["permissions"] == {"write": [ALICE_ID]}


def test_patch_with_only_permissions_replaces_the_given_permission_and_keeps_the_data(blog):
    stored = put_record(blog, "r1", {"title": "a"}, read=[BOB_ID])

    resp = blog.patch_json(
        record_url("r1"), {"permissions": {"read": [CAROL_ID]}}, headers=ALICE, status=200
    )

    assert resp.json["data"]["title"] == "a"
    assert resp.json["data"]["last_modified"] > stored["last_modified"]
    assert resp.json["permissions"] == {"read": [CAROL_ID], "write": [ALICE_ID]}
    blog.get(record_url("r1"), headers=BOB, status=403)


def test_patch_without_data_nor_permissions_is_rejected(blog):
    stored = put_record(blog, "r1", {"title": "a"})

    resp = blog.patch_json(record_url("r1"), {}, headers=ALICE, status=400)

    assert_invalid(resp, "body", "data", "Provide at least one of data or permissions")
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


def test_patch_on_a_missing_record_is_404(blog):
    resp = blog.patch_json(record_url("nope"), {"data": {"a": 1}}, headers=ALICE, status=404)

    body = assert_error(resp, 404, 110, details={"id": "nope", "resource_name": "record"})
    assert "message" not in body
    blog.get(record_url("nope"), headers=ALICE, status=404)


# --- DELETE and tombstones ----------------------------------------------------------------


def test_delete_returns_the_tombstone_without_permissions(blog):
    stored = put_record(blog, "r1", {"title": "a"})

    resp = blog.delete(record_url("r1"), headers=ALICE, status=200)

    assert set(resp.json) == {"data"}
    tombstone = resp.json["data"]
    assert set(tombstone) == {"id", "last_modified", "deleted"}
    assert tombstone["id"] == "r1" and tombstone["deleted"] is True
    assert tombstone["last_modified"] > stored["last_modified"]
    assert resp.headers["ETag"] == f'"{tombstone["last_modified"]}"'


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_deleted_record_is_404_errno_110_with_details_and_no_message(blog, method):
    put_record(blog, "r1", {"title": "a"})
    blog.delete(record_url("r1"), headers=ALICE, status=200)

    if method == "patch":
        resp = blog.patch_json(record_url("r1"), {"data": {"b": 1}}, headers=ALICE, status=404)
    else:
        resp = getattr(blog, method)(record_url("r1"), headers=ALICE, status=404)

    body = assert_error(resp, 404, 110, details={"id": "r1", "resource_name": "record"})
    assert body == not_found_body("record", "r1")


def test_a_deleted_record_is_hidden_from_plain_listings_but_kept_as_a_tombstone(blog):
    put_record(blog, "r1", {"title": "a"})
    put_record(blog, "r2", {"title": "b"})
    deleted = blog.delete(record_url("r1"), headers=ALICE).json["data"]

    assert live_ids(blog) == ["r2"]
    since = blog.get(f"{RECORDS}?_since=0", headers=ALICE).json["data"]
    assert {"id": "r1", "last_modified": deleted["last_modified"], "deleted": True} in since


@pytest.mark.parametrize("how", ["put", "post"])
def test_a_deleted_record_can_be_recreated_and_its_tombstone_disappears(blog, how):
    put_record(blog, "r1", {"title": "old"})
    tombstone = blog.delete(record_url("r1"), headers=ALICE).json["data"]

    if how == "put":
        resp = blog.put_json(
            record_url("r1"), {"data": {"title": "new"}}, headers=ALICE, status=201
        )
    else:
        resp = blog.post_json(
            RECORDS, {"data": {"id": "r1", "title": "new"}}, headers=ALICE, status=201
        )

    assert resp.json["data"]["title"] == "new"
    assert resp.json["data"]["last_modified"] > tombstone["last_modified"]
    since = blog.get(f"{RECORDS}?_since=0", headers=ALICE).json["data"]
    assert since == [resp.json["data"]]


def test_plural_delete_removes_every_record_with_distinct_timestamps(blog):
    for rid in ("r1", "r2", "r3"):
        put_record(blog, rid, {"title": rid})

    resp = blog.delete(RECORDS, headers=ALICE, status=200)

    deleted = resp.json["data"]
    assert sorted(d["id"] for d in deleted) == ["r1", "r2", "r3"]
    assert all(set(d) == {"id", "last_modified", "deleted"} and d["deleted"] for d in deleted)
    timestamps = [d["last_modified"] for d in deleted]
    assert len(set(timestamps)) == 3
    assert resp.headers["ETag"] == f'"{max(timestamps)}"'
    assert live_ids(blog) == []


def test_plural_delete_honours_filters(blog):
    put_record(blog, "r1", {"kind": "draft"})
    put_record(blog, "r2", {"kind": "final"})
    put_record(blog, "r3", {"kind": "draft"})

    resp = blog.delete(f"{RECORDS}?kind=draft", headers=ALICE, status=200)

    assert sorted(d["id"] for d in resp.json["data"]) == ["r1", "r3"]
    assert live_ids(blog) == ["r2"]


def test_plural_delete_of_an_empty_list_returns_an_empty_list(blog):
    resp = blog.delete(RECORDS, headers=ALICE, status=200)

    assert resp.json == {"data": []}


# --- Cascading deletes --------------------------------------------------------------------


def test_deleting_a_collection_hard_deletes_its_records_and_their_permissions(blog):
    put_record(blog, "r1", {"title": "a"}, read=[BOB_ID])
    put_record(blog, "r2", {"title": "b"})
    blog.delete(record_url("r2"), headers=ALICE, status=200)
    blog.patch_json(COLLECTION, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200)
    blog.get(record_url("r1"), headers=BOB, status=200)

    resp = blog.delete(COLLECTION, headers=ALICE, status=200)

    assert set(resp.json["data"]) == {"id", "last_modified", "deleted"}
    assert resp.json["data"]["id"] == "articles" and resp.json["data"]["deleted"] is True
    missing = blog.get(COLLECTION, headers=ALICE, status=404)
    assert_error(missing, 404, 110, details={"id": "articles", "resource_name": "collection"})
    missing_parent = blog.get(RECORDS, headers=ALICE, status=404)
    assert_error(
        missing_parent, 404, 111, details={"id": "articles", "resource_name": "collection"}
    )

    recreated = blog.put_json(COLLECTION, {}, headers=ALICE, status=201)
    assert recreated.json["permissions"] == {"write": [ALICE_ID]}
    # Children are gone for good: neither live records nor tombstones survive.
    assert blog.get(f"{RECORDS}?_since=0", headers=ALICE).json["data"] == []
    blog.get(record_url("r1"), headers=ALICE, status=404)
    blog.get(COLLECTION, headers=BOB, status=403)
    blog.get(record_url("r1"), headers=BOB, status=403)
    again = blog.put_json(record_url("r1"), {}, headers=ALICE, status=201)
    assert again.json["permissions"] == {"write": [ALICE_ID]}


def test_deleting_a_bucket_hard_deletes_its_children_and_their_permissions(blog):
    put_record(blog, "r1", {"title": "a"}, read=[BOB_ID])
    blog.put_json(
        f"{BUCKET}/groups/editors", {"data": {"members": [BOB_ID]}}, headers=ALICE, status=201
    )
    blog.patch_json(BUCKET, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200)
    blog.get(BUCKET, headers=BOB, status=200)

    resp = blog.delete(BUCKET, headers=ALICE, status=200)

    assert set(resp.json["data"]) == {"id", "last_modified", "deleted"}
    assert resp.json["data"]["id"] == "blog" and resp.json["data"]["deleted"] is True
    # Nobody holds a permission on a missing bucket, not even its former owner.
    assert_error(blog.get(BUCKET, headers=ALICE, status=403), 403, 121)
    blog.get(COLLECTION, headers=ALICE, status=403)
    blog.get(record_url("r1"), headers=ALICE, status=403)

    recreated = blog.put_json(BUCKET, {}, headers=ALICE, status=201)
    assert recreated.json["permissions"] == {"write": [ALICE_ID]}
    assert blog.get(f"{BUCKET}/collections?_since=0", headers=ALICE).json["data"] == []
    assert blog.get(f"{BUCKET}/groups?_since=0", headers=ALICE).json["data"] == []
    assert_error(
        blog.get(RECORDS, headers=ALICE, status=404),
        404,
        111,
        details={"id": "articles", "resource_name": "collection"},
    )
    blog.get(BUCKET, headers=BOB, status=403)
    blog.put_json(COLLECTION, {}, headers=ALICE, status=201)
    assert blog.get(f"{RECORDS}?_since=0", headers=ALICE).json["data"] == []
    blog.get(COLLECTION, headers=BOB, status=403)


# --- Identifiers --------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["a.b", "_under", "-dash", "sp%20ace", "caf%C3%A9", "a@b"])
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_an_invalid_id_in_the_object_url_is_400_invalid_object_id(blog, method, bad_id):
    if method in ("put", "patch"):
        resp = getattr(blog, f"{method}_json")(
            record_url(bad_id), {"data": {"a": 1}}, headers=ALICE, status=400
        )
    else:
        resp = getattr(blog, method)(record_url(bad_id), headers=ALICE, status=400)

    assert resp.json == INVALID_ID_BODY
    assert live_ids(blog) == []


@pytest.mark.parametrize("bad_id", ["a.b", "_under", "", "a b", 123, 1.5, True, None, ["a"]])
def test_an_invalid_or_non_string_id_in_posted_data_is_400_invalid_object_id(blog, bad_id):
    resp = blog.post_json(RECORDS, {"data": {"id": bad_id}}, headers=ALICE, status=400)

    assert resp.json == INVALID_ID_BODY
    assert live_ids(blog) == []


# Kinto sets no length bound; we accept up to 256 characters so that every URI and ACL
# entry fits a PostgreSQL index entry (see resources/types.py and the README).
@pytest.mark.parametrize("good_id", ["a", "A_b-c", "0abc", "x" * 256])
def test_ids_matching_the_default_pattern_are_accepted_up_to_256_characters(blog, good_id):
    blog.put_json(record_url(good_id), {"data": {}}, headers=ALICE, status=201)

    assert blog.get(record_url(good_id), headers=ALICE).json["data"]["id"] == good_id


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_data_id_different_from_the_url_id_is_rejected(blog, method):
    stored = put_record(blog, "r1", {"title": "a"})

    resp = getattr(blog, f"{method}_json")(
        record_url("r1"), {"data": {"id": "other", "title": "b"}}, headers=ALICE, status=400
    )

    assert_invalid(resp, "body", "id", "Object id does not match existing object")
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored
    blog.get(record_url("other"), headers=ALICE, status=404)


def test_a_data_id_equal_to_the_url_id_is_accepted(blog):
    resp = blog.put_json(record_url("r1"), {"data": {"id": "r1"}}, headers=ALICE, status=201)

    assert resp.json["data"]["id"] == "r1"


# --- Body validation ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_unknown_top_level_body_keys_are_rejected(blog, method):
    stored = put_record(blog, "r1", {"title": "a"})
    url = RECORDS if method == "post" else record_url("r1")

    resp = getattr(blog, f"{method}_json")(
        url, {"data": {"id": "r1", "title": "b"}, "foo": 1}, headers=ALICE, status=400
    )

    message = "Unrecognized keys in mapping: \"{'foo': 1}\""
    assert_invalid(resp, "body", "", message)
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


def test_data_that_is_a_list_is_rejected_with_the_mapping_message(blog):
    resp = blog.post_json(RECORDS, {"data": [1]}, headers=ALICE, status=400)

    assert_error(
        resp,
        400,
        107,
        'data in body: "[1]" is not a mapping type: Does not implement dict-like functionality.',
    )
    assert resp.json["details"][0]["location"] == "body"
    assert resp.json["details"][0]["name"] == "data"
    assert live_ids(blog) == []


@pytest.mark.parametrize("data", ["text", 1, True])
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_data_that_is_not_an_object_is_rejected(blog, method, data):
    stored = put_record(blog, "r1", {"title": "a"})
    url = RECORDS if method == "post" else record_url("r1")

    resp = getattr(blog, f"{method}_json")(url, {"data": data}, headers=ALICE, status=400)

    assert_error(resp, 400, 107)
    assert resp.json["message"].startswith("data in body: ")
    assert blog.get(RECORDS, headers=ALICE).json["data"] == [stored]


def test_a_permission_that_is_not_a_list_is_rejected(blog):
    stored = put_record(blog, "r1", {"title": "a"})

    resp = blog.patch_json(
        record_url("r1"), {"permissions": {"read": "x"}}, headers=ALICE, status=400
    )

    assert_invalid(
        resp,
        "body",
        "permissions.read",
        '"x" is not iterable',
        message='permissions.read in body: "x" is not iterable',
    )
    after = blog.get(record_url("r1"), headers=ALICE).json
    assert after == {"data": stored, "permissions": {"write": [ALICE_ID]}}


@pytest.mark.parametrize("permissions", [[], "read", ["read"], {"read": {"a": 1}}])
def test_malformed_permissions_are_rejected(blog, permissions):
    resp = blog.post_json(
        RECORDS, {"data": {"id": "r1"}, "permissions": permissions}, headers=ALICE, status=400
    )

    assert_error(resp, 400, 107)
    blog.get(record_url("r1"), headers=ALICE, status=404)


def test_an_unknown_permission_name_on_a_record_is_rejected(blog):
    resp = blog.put_json(
        record_url("r1"), {"permissions": {"unknownperm": [BOB_ID]}}, headers=ALICE, status=400
    )

    assert_error(resp, 400, 107, 'permissions in body: "unknownperm" is not one of read, write')
    blog.get(record_url("r1"), headers=ALICE, status=404)


def test_an_unknown_permission_name_on_a_collection_lists_the_allowed_ones(blog):
    resp = blog.patch_json(
        COLLECTION, {"permissions": {"unknownperm": [BOB_ID]}}, headers=ALICE, status=400
    )

    assert_error(
        resp,
        400,
        107,
        'permissions in body: "unknownperm" is not one of read, write, record:create',
    )


def test_record_create_is_not_a_record_permission(blog):
    resp = blog.put_json(
        record_url("r1"), {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE, status=400
    )

    assert_error(resp, 400, 107)


# --- Permissions in object responses ------------------------------------------------------


def test_readers_and_inherited_writers_see_empty_permissions(blog):
    put_record(blog, "r1", {"title": "a"}, read=[BOB_ID])
    carol = auth("carol")
    blog.patch_json(BUCKET, {"permissions": {"write": [CAROL_ID]}}, headers=ALICE, status=200)

    as_reader = blog.get(record_url("r1"), headers=BOB, status=200)
    as_bucket_writer = blog.get(record_url("r1"), headers=carol, status=200)

    assert as_reader.json["permissions"] == {}
    assert as_bucket_writer.json["permissions"] == {}
    assert as_reader.json["data"]["title"] == "a"


def test_an_explicit_writer_sees_the_whole_acl(blog):
    put_record(blog, "r1", {"title": "a"}, read=[CAROL_ID], write=[BOB_ID])

    resp = blog.get(record_url("r1"), headers=BOB, status=200)

    assert resp.json["permissions"]["read"] == [CAROL_ID]
    assert sorted(resp.json["permissions"]["write"]) == sorted([BOB_ID, ALICE_ID])


def test_a_writer_who_updates_a_record_is_added_to_its_writers(blog):
    put_record(blog, "r1", {"title": "a"})
    blog.patch_json(COLLECTION, {"permissions": {"write": [BOB_ID]}}, headers=ALICE)

    resp = blog.patch_json(record_url("r1"), {"data": {"title": "b"}}, headers=BOB, status=200)

    assert sorted(resp.json["permissions"]["write"]) == sorted([ALICE_ID, BOB_ID])


# --- Timestamps ---------------------------------------------------------------------------


def test_every_write_gets_a_strictly_greater_timestamp_and_moves_the_list_etag(blog):
    seen: list[int] = []
    for i in range(5):
        resp = blog.post_json(RECORDS, {"data": {"i": i}}, headers=ALICE, status=201)
        seen.append(resp.json["data"]["last_modified"])
        assert list_etag(blog) == seen[-1]
    url = record_url(resp.json["data"]["id"])
    for write in (
        lambda: blog.patch_json(url, {"data": {"i": 9}}, headers=ALICE),
        lambda: blog.put_json(url, {"data": {}}, headers=ALICE),
        lambda: blog.delete(url, headers=ALICE),
    ):
        seen.append(write().json["data"]["last_modified"])

    assert seen == sorted(set(seen))
    assert list_etag(blog) == seen[-1]


def test_creating_records_does_not_change_the_collection_timestamp(blog):
    before = blog.get(COLLECTION, headers=ALICE).json["data"]["last_modified"]

    put_record(blog, "r1", {"a": 1})

    assert blog.get(COLLECTION, headers=ALICE).json["data"]["last_modified"] == before


def test_a_non_integer_client_last_modified_is_ignored(blog):
    previous = list_etag(blog)

    resp = blog.post_json(RECORDS, {"data": {"last_modified": "1234"}}, headers=ALICE)

    assert isinstance(resp.json["data"]["last_modified"], int)
    assert resp.json["data"]["last_modified"] > previous


def test_a_client_last_modified_equal_to_the_list_timestamp_is_bumped_by_one(blog):
    current = put_record(blog, "r1", {})["last_modified"]

    resp = blog.post_json(RECORDS, {"data": {"last_modified": current}}, headers=ALICE)

    assert resp.json["data"]["last_modified"] == current + 1


def test_a_past_client_last_modified_is_stored_as_is_on_create(blog):
    # Whether the list timestamp should then move is a documented Kinto quirk (§13.6): not
    # asserted here.
    put_record(blog, "r1", {})

    resp = blog.put_json(record_url("r2"), {"data": {"last_modified": 1000}}, headers=ALICE)

    assert resp.status_int == 201
    assert resp.json["data"]["last_modified"] == 1000
    assert resp.headers["ETag"] == '"1000"'
    assert blog.get(record_url("r2"), headers=ALICE).json["data"]["last_modified"] == 1000


def test_a_future_client_last_modified_becomes_the_list_timestamp_and_later_writes_follow_it(blog):
    current = put_record(blog, "r1", {})["last_modified"]
    future = current + 3_600_000

    created = blog.post_json(RECORDS, {"data": {"last_modified": future}}, headers=ALICE)
    assert created.json["data"]["last_modified"] == future
    assert list_etag(blog) == future

    following = blog.post_json(RECORDS, {"data": {}}, headers=ALICE)
    patched = blog.patch_json(record_url("r1"), {"data": {"a": 1}}, headers=ALICE)

    assert following.json["data"]["last_modified"] == future + 1
    assert patched.json["data"]["last_modified"] == future + 2


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_greater_client_last_modified_is_used_on_update(blog, method):
    current = put_record(blog, "r1", {"a": 1})["last_modified"]
    wanted = current + 5000

    resp = getattr(blog, f"{method}_json")(
        record_url("r1"), {"data": {"a": 2, "last_modified": wanted}}, headers=ALICE, status=200
    )

    assert resp.json["data"]["last_modified"] == wanted


@pytest.mark.parametrize("offset", [0, -10])
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_client_last_modified_not_greater_than_the_stored_one_is_ignored_on_update(
    blog, method, offset
):
    current = put_record(blog, "r1", {"a": 1})["last_modified"]

    resp = getattr(blog, f"{method}_json")(
        record_url("r1"),
        {"data": {"a": 2, "last_modified": current + offset}},
        headers=ALICE,
        status=200,
    )

    assert resp.json["data"]["last_modified"] > current


def test_delete_with_a_greater_last_modified_uses_it_for_the_tombstone(blog):
    current = put_record(blog, "r1", {})["last_modified"]
    wanted = current + 5000

    resp = blog.delete(f"{record_url('r1')}?last_modified={wanted}", headers=ALICE, status=200)

    assert resp.json["data"]["last_modified"] == wanted
    assert list_etag(blog) == wanted


def test_delete_with_a_smaller_last_modified_ignores_it(blog):
    current = put_record(blog, "r1", {})["last_modified"]

    resp = blog.delete(f"{record_url('r1')}?last_modified=1", headers=ALICE, status=200)

    assert resp.json["data"]["last_modified"] > current


# --- HEAD, 405, redirects and unknown URLs ------------------------------------------------


def test_head_on_an_object_returns_the_get_headers_without_a_body(blog):
    put_record(blog, "r1", {"title": "a"})
    get = blog.get(record_url("r1"), headers=ALICE)

    resp = blog.head(record_url("r1"), headers=ALICE, status=200)

    assert resp.body == b""
    assert resp.headers["ETag"] == get.headers["ETag"]
    assert resp.headers["Last-Modified"] == get.headers["Last-Modified"]


def test_head_on_a_missing_object_is_404(blog):
    resp = blog.head(record_url("nope"), headers=ALICE, status=404)

    assert resp.body == b""


@pytest.mark.parametrize(
    "method, url, allowed",
    [
        ("POST", record_url("r1"), {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
        ("PUT", RECORDS, {"HEAD", "GET", "POST", "DELETE", "OPTIONS"}),
        ("PATCH", RECORDS, {"HEAD", "GET", "POST", "DELETE", "OPTIONS"}),
        ("POST", COLLECTION, {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
        ("PUT", "/v1/buckets", {"HEAD", "GET", "POST", "DELETE", "OPTIONS"}),
    ],
)
def test_an_undefined_method_is_405_with_an_allow_header(blog, method, url, allowed):
    put_record(blog, "r1", {"title": "a"})

    resp = blog.request(url, method=method, headers=ALICE, expect_errors=True)

    assert resp.status_int == 405
    assert resp.json == METHOD_NOT_ALLOWED_BODY
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed
    assert blog.get(record_url("r1"), headers=ALICE).json["data"]["title"] == "a"


def test_an_unversioned_path_redirects_to_v1_keeping_the_querystring(blog):
    resp = blog.get("/buckets/blog/collections?_limit=1&x=2", headers=ALICE, status=307)

    location = urlsplit(resp.headers["Location"])
    assert location.path == "/v1/buckets/blog/collections"
    assert parse_qs(location.query) == {"_limit": ["1"], "x": ["2"]}
    assert "Cache-Control" not in resp.headers


def test_a_trailing_slash_redirects_to_the_path_without_it(blog):
    resp = blog.get(f"{RECORDS}/?_limit=2", headers=ALICE, status=307)

    location = urlsplit(resp.headers["Location"])
    assert location.scheme == "http" and location.hostname == "localhost"
    assert location.path == RECORDS
    assert location.query == "_limit=2"
    assert resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "max-age=3600"
    assert "Expires" in resp.headers


def test_v1_without_slash_redirects_to_the_root(app):
    resp = app.get("/v1", status=307)

    assert urlsplit(resp.headers["Location"]).path == "/v1/"


def test_another_api_version_is_404_errno_116(app):
    resp = app.get("/v2/buckets", headers=ALICE, status=404)

    assert resp.json == {
        "code": 404,
        "errno": 116,
        "error": "Not Found",
        "message": "The requested API version is not available on this server.",
    }


@pytest.mark.parametrize("url", ["/v1/nope", "/v1/buckets/blog/nope", f"{RECORDS}/r1/extra"])
def test_an_unknown_url_is_404_errno_111(blog, url):
    resp = blog.get(url, headers=ALICE, status=404)

    assert resp.json == {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "message": "The resource you are looking for could not be found.",
    }


def test_an_id_longer_than_256_characters_is_an_invalid_object_id(blog):
    resp = blog.put_json(record_url("x" * 257), {"data": {}}, headers=ALICE, status=400)

    assert resp.json == INVALID_ID_BODY
    assert live_ids(blog) == []
