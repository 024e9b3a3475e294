"""Buckets and collections: what is specific to them (kinto-api.md §2.2, §2.5, §2.7, §5.3).

Generated ids, the validated collection fields (``schema``, ``cache_expires``), bucket
creation rights, cascades, and which status a missing parent yields to whom.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import webtest

from tests.support import (
    ALICE,
    BOB,
    FORBIDDEN_BODY,
    UNAUTHORIZED_BODY,
    assert_error,
    assert_invalid,
    auth,
    not_found_body,
    userid,
)

B = "/v1/buckets/b"
C = f"{B}/collections/c"
NAME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{7}")


@pytest.fixture
def bucket(app: webtest.TestApp) -> webtest.TestApp:
    app.put_json(B, {}, headers=ALICE, status=201)
    return app


def ids(resp: Any) -> list[str]:
    return sorted(obj["id"] for obj in resp.json["data"])


def send(app: webtest.TestApp, method: str, url: str, headers: dict[str, str]) -> Any:
    if method == "PATCH":
        return app.patch_json(url, {"data": {"x": 1}}, headers=headers, expect_errors=True)
    return app.request(url, method=method, headers=headers, expect_errors=True)


# Buckets.


def test_posting_a_bucket_generates_an_eight_character_id(app: webtest.TestApp) -> None:
    resp = app.post_json("/v1/buckets", {"data": {"title": "blog"}}, headers=ALICE, status=201)
    bid = resp.json["data"]["id"]
    assert NAME_ID.fullmatch(bid), bid
    assert resp.json["data"]["title"] == "blog"
    assert resp.json["permissions"] == {"write": [userid("alice")]}
    app.get(f"/v1/buckets/{bid}", headers=ALICE, status=200)


def test_posting_without_a_body_creates_an_empty_bucket(app: webtest.TestApp) -> None:
    resp = app.post("/v1/buckets", headers=ALICE, status=201)
    assert sorted(resp.json["data"]) == ["id", "last_modified"]


def test_generated_bucket_ids_differ(app: webtest.TestApp) -> None:
    created = {
        app.post_json("/v1/buckets", {}, headers=ALICE, status=201).json["data"]["id"]
        for _ in range(5)
    }
    assert len(created) == 5


def test_posting_a_bucket_with_an_id_uses_it_and_reposting_returns_it(
    app: webtest.TestApp,
) -> None:
    resp = app.post_json("/v1/buckets", {"data": {"id": "blog", "v": 1}}, headers=ALICE)
    assert resp.status_int == 201
    assert resp.json["data"]["id"] == "blog"
    resp = app.post_json("/v1/buckets", {"data": {"id": "blog", "v": 2}}, headers=ALICE)
    assert resp.status_int == 200
    assert resp.json["data"]["v"] == 1


def test_putting_a_bucket_creates_then_replaces_it(app: webtest.TestApp) -> None:
    resp = app.put_json(B, {"data": {"a": 1}}, headers=ALICE, status=201)
    assert resp.json["data"]["id"] == "b"
    resp = app.put_json(B, {"data": {"b": 2}}, headers=ALICE, status=200)
    assert "a" not in resp.json["data"]
    assert resp.json["data"]["b"] == 2


def test_patching_a_bucket_merges_its_data(bucket: webtest.TestApp) -> None:
    bucket.patch_json(B, {"data": {"a": 1}}, headers=ALICE, status=200)
    resp = bucket.patch_json(B, {"data": {"b": 2}}, headers=ALICE, status=200)
    assert resp.json["data"]["a"] == 1
    assert resp.json["data"]["b"] == 2


def test_a_bucket_rejects_unknown_permissions(app: webtest.TestApp) -> None:
    body = {"permissions": {"record:create": [userid("bob")]}}
    resp = app.put_json(B, body, headers=ALICE, status=400)
    assert_error(
        resp,
        400,
        107,
        'permissions in body: "record:create" is not one of '
        "read, write, collection:create, group:create",
    )


@pytest.mark.parametrize("field", ["collection:schema", "group:schema", "record:schema"])
def test_bucket_schema_fields_must_be_json_schemas(app: webtest.TestApp, field: str) -> None:
    resp = app.put_json(B, {"data": {field: "not a schema"}}, headers=ALICE, status=400)
    assert_error(resp, 400, 107, error="Invalid parameters")
    resp = app.put_json(B, {"data": {field: {"type": "object"}}}, headers=ALICE, status=201)
    assert resp.json["data"][field] == {"type": "object"}


def test_an_invalid_bucket_id_in_the_url_is_rejected(app: webtest.TestApp) -> None:
    resp = app.put_json("/v1/buckets/bad.id", {}, headers=ALICE, status=400)
    assert_invalid(resp, "path", None, "Invalid object id", message="path: Invalid object id")


def test_deleting_a_bucket_deletes_everything_inside(bucket: webtest.TestApp) -> None:
    bucket.put_json(C, {}, headers=ALICE, status=201)
    bucket.put_json(f"{C}/records/r", {}, headers=ALICE, status=201)
    bucket.put_json(f"{B}/groups/g", {}, headers=ALICE, status=201)
    resp = bucket.delete(B, headers=ALICE, status=200)
    data = resp.json["data"]
    assert sorted(data) == ["deleted", "id", "last_modified"]
    assert data["id"] == "b"
    assert data["deleted"] is True
    assert "permissions" not in resp.json

    # Recreated, the bucket is empty: no collection, group or record came back.
    bucket.put_json(B, {}, headers=ALICE, status=201)
    assert bucket.get(f"{B}/collections", headers=ALICE).json == {"data": []}
    assert bucket.get(f"{B}/groups", headers=ALICE).json == {"data": []}
    bucket.get(C, headers=ALICE, status=404)


def test_a_deleted_bucket_no_longer_grants_its_permissions(bucket: webtest.TestApp) -> None:
    bucket.patch_json(B, {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    bucket.delete(B, headers=ALICE, status=200)
    # Bob recreates the name: Alice's old write ACE must not make her a writer of it.
    bucket.put_json(B, {}, headers=BOB, status=201)
    assert bucket.get(B, headers=ALICE, status=403).json == FORBIDDEN_BODY
    assert bucket.get(B, headers=BOB).json["permissions"] == {"write": [userid("bob")]}


def test_users_list_only_their_own_buckets(app: webtest.TestApp) -> None:
    app.put_json("/v1/buckets/a1", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/a2", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/b1", {}, headers=BOB, status=201)
    assert ids(app.get("/v1/buckets", headers=ALICE)) == ["a1", "a2"]
    assert ids(app.get("/v1/buckets", headers=BOB)) == ["b1"]
    assert app.head("/v1/buckets", headers=ALICE).headers["Total-Objects"] == "2"


def test_deleting_all_buckets_deletes_only_the_callers_buckets(app: webtest.TestApp) -> None:
    app.put_json("/v1/buckets/a1", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/b1", {}, headers=BOB, status=201)
    resp = app.delete("/v1/buckets", headers=ALICE, status=200)
    assert ids(resp) == ["a1"]
    assert ids(app.get("/v1/buckets", headers=BOB)) == ["b1"]


def test_users_allowed_by_bucket_create_principals_create_buckets(make_app: Any) -> None:
    app = make_app(bucket_create_principals=f"{userid('alice')} {userid('carol')}")
    app.post_json("/v1/buckets", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/carols", {}, headers=auth("carol"), status=201)
    assert app.post_json("/v1/buckets", {}, headers=BOB, status=403).json == FORBIDDEN_BODY
    assert app.post_json("/v1/buckets", {}, status=401).json == UNAUTHORIZED_BODY


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_missing_bucket_is_403_even_for_a_user_allowed_to_create_it(
    app: webtest.TestApp, method: str
) -> None:
    # kinto-api.md §5.3 / §13.9: nobody holds a permission on a missing bucket.
    resp = send(app, method, "/v1/buckets/nope", ALICE)
    assert (resp.status_int, resp.json) == (403, FORBIDDEN_BODY)
    resp = send(app, method, "/v1/buckets/nope", {})
    assert (resp.status_int, resp.json) == (401, UNAUTHORIZED_BODY)


def test_the_children_of_a_missing_bucket_are_403(app: webtest.TestApp) -> None:
    for url in ("/v1/buckets/nope/collections", "/v1/buckets/nope/groups"):
        assert app.get(url, headers=ALICE, status=403).json == FORBIDDEN_BODY
    resp = app.put_json("/v1/buckets/nope/collections/c", {}, headers=ALICE, status=403)
    assert resp.json == FORBIDDEN_BODY


# Collections.


def test_posting_a_collection_generates_an_eight_character_id(bucket: webtest.TestApp) -> None:
    resp = bucket.post_json(f"{B}/collections", {}, headers=ALICE, status=201)
    assert NAME_ID.fullmatch(resp.json["data"]["id"])
    assert resp.json["permissions"] == {"write": [userid("alice")]}


def test_a_collection_is_created_read_updated_and_deleted(bucket: webtest.TestApp) -> None:
    resp = bucket.put_json(C, {"data": {"title": "Tasks"}}, headers=ALICE, status=201)
    assert resp.json["data"]["title"] == "Tasks"
    assert bucket.get(C, headers=ALICE).json["data"]["title"] == "Tasks"
    resp = bucket.patch_json(C, {"data": {"cache_expires": 60}}, headers=ALICE, status=200)
    assert resp.json["data"]["cache_expires"] == 60
    assert resp.json["data"]["title"] == "Tasks"
    resp = bucket.delete(C, headers=ALICE, status=200)
    assert resp.json["data"]["deleted"] is True
    resp = bucket.get(C, headers=ALICE, status=404)
    assert resp.json == not_found_body("collection", "c")


def test_deleting_a_collection_deletes_its_records(bucket: webtest.TestApp) -> None:
    bucket.put_json(C, {}, headers=ALICE, status=201)
    bucket.put_json(f"{C}/records/r", {"data": {"x": 1}}, headers=ALICE, status=201)
    bucket.delete(C, headers=ALICE, status=200)
    bucket.put_json(C, {}, headers=ALICE, status=201)
    assert bucket.get(f"{C}/records", headers=ALICE).json == {"data": []}
    bucket.get(f"{C}/records/r", headers=ALICE, status=404)


def test_a_collection_rejects_unknown_permissions(bucket: webtest.TestApp) -> None:
    body = {"permissions": {"unknownperm": [userid("bob")]}}
    resp = bucket.put_json(C, body, headers=ALICE, status=400)
    assert_error(
        resp,
        400,
        107,
        'permissions in body: "unknownperm" is not one of read, write, record:create',
    )


@pytest.mark.parametrize(
    "schema", ["foo", 42, ["type", "object"], True], ids=["string", "integer", "list", "boolean"]
)
def test_a_collection_schema_must_be_an_object(bucket: webtest.TestApp, schema: Any) -> None:
    resp = bucket.put_json(C, {"data": {"schema": schema}}, headers=ALICE, status=400)
    error = assert_error(resp, 400, 107, error="Invalid parameters")
    assert error["details"][0]["location"] == "body"
    assert error["details"][0]["name"] == "data.schema"
    bucket.get(C, headers=ALICE, status=404)


def test_a_collection_schema_must_be_a_valid_json_schema(bucket: webtest.TestApp) -> None:
    body = {"data": {"schema": {"type": "foo"}}}
    resp = bucket.put_json(C, body, headers=ALICE, status=400)
    error = assert_error(resp, 400, 107, error="Invalid parameters")
    assert error["details"][0]["name"] == "data.schema"
    assert "'foo' is not valid under any of the given schemas" in error["message"]


def test_a_valid_collection_schema_is_stored(bucket: webtest.TestApp) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    resp = bucket.put_json(C, {"data": {"schema": schema}}, headers=ALICE, status=201)
    assert resp.json["data"]["schema"] == schema
    # An empty schema is how one removes it (kinto-api.md §10.6).
    resp = bucket.patch_json(C, {"data": {"schema": {}}}, headers=ALICE, status=200)
    assert resp.json["data"]["schema"] == {}


@pytest.mark.parametrize("value", ["abc", [10], {"s": 10}], ids=["word", "list", "object"])
def test_cache_expires_must_be_an_integer(bucket: webtest.TestApp, value: Any) -> None:
    resp = bucket.put_json(C, {"data": {"cache_expires": value}}, headers=ALICE, status=400)
    error = assert_error(resp, 400, 107, error="Invalid parameters")
    assert error["details"][0]["location"] == "body"
    assert error["details"][0]["name"].endswith("cache_expires")
    bucket.get(C, headers=ALICE, status=404)


def test_patching_cache_expires_to_a_string_names_the_bare_field(bucket: webtest.TestApp) -> None:
    bucket.put_json(C, {"data": {"cache_expires": 10}}, headers=ALICE, status=201)
    resp = bucket.patch_json(C, {"data": {"cache_expires": "abc"}}, headers=ALICE, status=400)
    assert_error(resp, 400, 107, 'cache_expires in body: "abc" is not a number')
    assert bucket.get(C, headers=ALICE).json["data"]["cache_expires"] == 10


def test_cache_expires_accepts_an_integer(bucket: webtest.TestApp) -> None:
    resp = bucket.put_json(C, {"data": {"cache_expires": 3600}}, headers=ALICE, status=201)
    assert resp.json["data"]["cache_expires"] == 3600


def test_collections_accept_arbitrary_extra_fields(bucket: webtest.TestApp) -> None:
    data = {"title": "t", "nested": {"a": [1, 2]}, "flag": False}
    resp = bucket.put_json(C, {"data": data}, headers=ALICE, status=201)
    assert {k: resp.json["data"][k] for k in data} == data


def test_collections_are_listed_to_bucket_readers(bucket: webtest.TestApp) -> None:
    for cid in ("c1", "c2"):
        bucket.put_json(f"{B}/collections/{cid}", {}, headers=ALICE, status=201)
    assert ids(bucket.get(f"{B}/collections", headers=ALICE)) == ["c1", "c2"]
    bucket.get(f"{B}/collections", headers=BOB, status=403)
    bucket.patch_json(B, {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    assert ids(bucket.get(f"{B}/collections", headers=BOB)) == ["c1", "c2"]


# A missing parent collection.


def test_records_of_a_missing_collection_are_404_for_an_allowed_user(
    bucket: webtest.TestApp,
) -> None:
    expected = {
        "code": 404,
        "errno": 111,
        "error": "Not Found",
        "details": {"id": "nope", "resource_name": "collection"},
    }
    url = f"{B}/collections/nope/records"
    assert bucket.get(url, headers=ALICE, status=404).json == expected
    assert bucket.post_json(url, {}, headers=ALICE, status=404).json == expected
    assert bucket.put_json(f"{url}/r", {}, headers=ALICE, status=404).json == expected


def test_records_of_a_missing_collection_are_404_for_a_bucket_reader(
    bucket: webtest.TestApp,
) -> None:
    bucket.patch_json(B, {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    resp = bucket.get(f"{B}/collections/nope/records", headers=BOB, status=404)
    assert resp.json["errno"] == 111


def test_records_of_a_missing_collection_are_403_to_read_and_404_to_write_for_others(
    bucket: webtest.TestApp,
) -> None:
    url = f"{B}/collections/nope/records"
    assert bucket.get(url, headers=BOB, status=403).json == FORBIDDEN_BODY
    assert bucket.get(url, status=401).json == UNAUTHORIZED_BODY
    # A write in a missing collection is a 404 for anyone, as Kinto (issue 10 item 4).
    resp = bucket.post_json(url, {}, headers=BOB, status=404)
    assert resp.json["errno"] == 111
