"""JSON-schema validation of records, collections and groups (kinto-api.md §10.6, §2.6,
§13.33).

Alice owns the bucket ``blog``; its collection ``articles`` holds a schema of blog posts.
The feature is on (``experimental_collection_schema_validation``) unless a test says not.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from kinto_clone.plugins.schema import check_schemas
from tests.support import ALICE, assert_error

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"
GROUPS = f"{BUCKET}/groups"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "body": {"type": "string"},
        "file": {
            "type": "object",
            "properties": {"size": {"type": "number"}, "name": {"type": "string"}},
        },
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title"],
}
VALID = {"title": "About schemas", "body": "They validate."}


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    app: webtest.TestApp = make_app(experimental_collection_schema_validation=True)
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {"data": {"schema": SCHEMA}}, headers=ALICE, status=201)
    return app


def collection_timestamp(app: webtest.TestApp) -> int:
    timestamp: int = app.get(COLLECTION, headers=ALICE).json["data"]["last_modified"]
    return timestamp


def post(app: webtest.TestApp, data: dict[str, Any], status: int = 201) -> Any:
    return app.post_json(RECORDS, {"data": data}, headers=ALICE, status=status)


def invalid_body(name: str, description: str, message: str | None = None) -> dict[str, Any]:
    return {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message or description,
        "details": [{"location": "body", "name": name, "description": description}],
    }


# Switching the feature on and off.


def test_the_schema_capability_is_advertised_when_validation_is_on(app: webtest.TestApp) -> None:
    capability = app.get("/v1/").json["capabilities"]["schema"]
    assert set(capability) == {"description", "url"}


def test_without_the_setting_records_are_neither_validated_nor_stamped(make_app: Any) -> None:
    app = make_app()
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {"data": {"schema": SCHEMA}}, headers=ALICE, status=201)
    assert "schema" not in app.get("/v1/").json["capabilities"]

    record = post(app, {"title": 42}).json["data"]

    assert record["title"] == 42
    assert "schema" not in record


def test_naming_the_plugin_in_includes_does_not_turn_validation_on(make_app: Any) -> None:
    app = make_app(includes="kinto_clone.plugins.default_bucket kinto_clone.plugins.schema")
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {"data": {"schema": SCHEMA}}, headers=ALICE, status=201)

    post(app, {"title": 42}, status=201)


def test_naming_the_plugin_in_includes_as_well_validates_once(make_app: Any) -> None:
    app = make_app(
        experimental_collection_schema_validation=True, includes="kinto_clone.plugins.schema"
    )
    assert app.app.registry.data_checks.count(check_schemas) == 1


# Records against the collection schema.


def test_a_valid_record_is_stored_with_the_version_of_the_schema(app: webtest.TestApp) -> None:
    record = post(app, VALID).json["data"]

    assert record["schema"] == collection_timestamp(app)
    assert record["title"] == VALID["title"]
    stored = app.get(f"{RECORDS}/{record['id']}", headers=ALICE).json["data"]
    assert stored["schema"] == record["schema"]


def test_the_schema_version_sent_by_a_client_is_overwritten(app: webtest.TestApp) -> None:
    record = post(app, {**VALID, "schema": 1}).json["data"]

    assert record["schema"] == collection_timestamp(app)


def test_a_wrongly_typed_field_is_named_in_the_error(app: webtest.TestApp) -> None:
    resp = post(app, {"title": 1}, status=400)

    assert resp.json == invalid_body(
        "title", "1 is not of type 'string'", "title in body: 1 is not of type 'string'"
    )


def test_a_nested_error_names_the_innermost_field(app: webtest.TestApp) -> None:
    resp = post(app, {**VALID, "file": {"size": "big"}}, status=400)

    assert_error(resp, 400, 107, "size in body: 'big' is not of type 'number'")
    assert resp.json["details"][0]["name"] == "size"


def test_an_error_in_an_array_names_the_index_of_the_item(app: webtest.TestApp) -> None:
    resp = post(app, {**VALID, "tags": ["ok", 3]}, status=400)

    assert resp.json["details"][0]["name"] == "1"


def test_a_missing_required_field_is_named(app: webtest.TestApp) -> None:
    resp = post(app, {"body": "untitled"}, status=400)

    assert resp.json == invalid_body("title", "'title' is a required property")


def test_the_missing_field_is_named_even_when_it_is_not_the_last_required_one(
    app: webtest.TestApp,
) -> None:
    # Kinto names the last entry of `required` here ("body"), whatever is missing (§13.33).
    app.patch_json(
        COLLECTION,
        {"data": {"schema": {**SCHEMA, "required": ["title", "body"]}}},
        headers=ALICE,
        status=200,
    )

    missing_title = post(app, {"body": "untitled"}, status=400).json
    missing_body = post(app, {"title": "empty"}, status=400).json

    assert missing_title == invalid_body("title", "'title' is a required property")
    assert missing_body == invalid_body("body", "'body' is a required property")


def test_an_invalid_record_is_not_stored(app: webtest.TestApp) -> None:
    app.put_json(f"{RECORDS}/r1", {"data": {"title": 1}}, headers=ALICE, status=400)

    app.get(f"{RECORDS}/r1", headers=ALICE, status=404)
    assert app.get(RECORDS, headers=ALICE).json["data"] == []


def test_put_replaces_a_record_only_with_valid_data(app: webtest.TestApp) -> None:
    app.put_json(f"{RECORDS}/r1", {"data": VALID}, headers=ALICE, status=201)

    app.put_json(f"{RECORDS}/r1", {"data": {"body": "no title"}}, headers=ALICE, status=400)
    resp = app.put_json(f"{RECORDS}/r1", {"data": {"title": "new"}}, headers=ALICE, status=200)

    assert resp.json["data"]["title"] == "new"
    assert resp.json["data"]["schema"] == collection_timestamp(app)


def test_patch_validates_the_merged_record(app: webtest.TestApp) -> None:
    record = post(app, VALID).json["data"]
    url = f"{RECORDS}/{record['id']}"

    resp = app.patch_json(url, {"data": {"body": 1}}, headers=ALICE, status=400)
    assert resp.json["details"][0]["name"] == "body"
    merge_patch = {"data": {"title": None}}
    resp = app.patch(
        url,
        params=webtest.utils.dumps(merge_patch),
        headers={**ALICE, "Content-Type": "application/merge-patch+json"},
        status=400,
    )
    assert resp.json == invalid_body("title", "'title' is a required property")

    resp = app.patch_json(url, {"data": {"body": "fine"}}, headers=ALICE, status=200)
    assert resp.json["data"]["body"] == "fine"


def test_records_are_stamped_with_the_current_version_of_the_schema(
    app: webtest.TestApp,
) -> None:
    first = post(app, VALID).json["data"]
    app.patch_json(
        COLLECTION,
        {"data": {"schema": {**SCHEMA, "required": ["body"]}}},
        headers=ALICE,
        status=200,
    )

    second = post(app, {"body": "no title needed now"}).json["data"]

    assert second["schema"] == collection_timestamp(app) > first["schema"]


def test_an_empty_schema_accepts_anything_and_still_stamps_records(app: webtest.TestApp) -> None:
    app.patch_json(COLLECTION, {"data": {"schema": {}}}, headers=ALICE, status=200)

    record = post(app, {"title": 42}).json["data"]

    assert record["schema"] == collection_timestamp(app)


def test_a_collection_without_schema_takes_any_record_unstamped(app: webtest.TestApp) -> None:
    app.put_json(f"{BUCKET}/collections/free", {}, headers=ALICE, status=201)

    record = app.post_json(
        f"{BUCKET}/collections/free/records", {"data": {"title": 1}}, headers=ALICE, status=201
    ).json["data"]

    assert "schema" not in record


# Fields the server manages.


def test_managed_fields_are_not_validated(app: webtest.TestApp) -> None:
    strict = {
        **SCHEMA,
        "additionalProperties": False,
        "required": ["title", "id", "last_modified", "schema"],
    }
    app.patch_json(COLLECTION, {"data": {"schema": strict}}, headers=ALICE, status=200)

    app.put_json(
        f"{RECORDS}/r1",
        {"data": {**VALID, "last_modified": 123, "schema": 4}},
        headers=ALICE,
        status=201,
    )
    post(app, VALID, status=201)
    post(app, {**VALID, "extra": True}, status=400)


def test_an_id_declared_by_the_schema_is_validated(app: webtest.TestApp) -> None:
    with_id = {
        **SCHEMA,
        "properties": {**SCHEMA["properties"], "id": {"type": "string", "pattern": "^post-"}},
    }
    app.patch_json(COLLECTION, {"data": {"schema": with_id}}, headers=ALICE, status=200)

    app.put_json(f"{RECORDS}/post-1", {"data": VALID}, headers=ALICE, status=201)
    resp = app.put_json(f"{RECORDS}/page-1", {"data": VALID}, headers=ALICE, status=400)

    assert resp.json == invalid_body(
        "id", "'page-1' does not match '^post-'", "id in body: 'page-1' does not match '^post-'"
    )


def test_a_reference_that_does_not_resolve_is_reported_on_the_schema(
    app: webtest.TestApp,
) -> None:
    broken = {"type": "object", "properties": {"title": {"$ref": "#/definitions/missing"}}}
    app.patch_json(COLLECTION, {"data": {"schema": broken}}, headers=ALICE, status=200)

    resp = post(app, VALID, status=400)

    body = assert_error(resp, 400, 107)
    assert body["details"][0]["location"] == "body"
    assert body["details"][0]["name"] == "schema"
    assert "/definitions/missing" in body["details"][0]["description"]


def test_a_remote_reference_is_not_fetched(app: webtest.TestApp) -> None:
    remote = {"type": "object", "properties": {"title": {"$ref": "http://127.0.0.1:9/x.json"}}}
    app.patch_json(COLLECTION, {"data": {"schema": remote}}, headers=ALICE, status=200)

    resp = post(app, VALID, status=400)

    assert resp.json["details"][0]["name"] == "schema"


def test_the_draft_named_by_the_schema_is_the_one_applied(app: webtest.TestApp) -> None:
    # Valid for Draft 7 (checked on write), but Draft 4 wants a boolean here.
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "exclusiveMinimum": 5}
    app.patch_json(COLLECTION, {"data": {"schema": draft4}}, headers=ALICE, status=200)

    resp = post(app, VALID, status=400)

    assert resp.json["details"][0]["name"] == "schema"
    assert "5 is not of type 'boolean'" in resp.json["details"][0]["description"]


def test_a_very_large_schema_validates_like_any_other(app: webtest.TestApp) -> None:
    large = {**SCHEMA, "description": "x" * 100_000}
    app.patch_json(COLLECTION, {"data": {"schema": large}}, headers=ALICE, status=200)

    post(app, VALID, status=201)
    post(app, {"title": 1}, status=400)


# Schemas set on the bucket.


def test_records_are_validated_against_the_bucket_record_schema_too(
    app: webtest.TestApp,
) -> None:
    record_schema = {"type": "object", "required": ["author"]}
    app.patch_json(BUCKET, {"data": {"record:schema": record_schema}}, headers=ALICE, status=200)

    post(app, {"title": 1, "author": "me"}, status=400)  # the collection schema first
    resp = post(app, VALID, status=400)
    assert resp.json == invalid_body("author", "'author' is a required property")
    record = post(app, {**VALID, "author": "me"}).json["data"]
    assert record["schema"] == collection_timestamp(app)


def test_a_bucket_record_schema_alone_validates_without_stamping(app: webtest.TestApp) -> None:
    app.patch_json(
        BUCKET, {"data": {"record:schema": {"required": ["author"]}}}, headers=ALICE, status=200
    )
    app.put_json(f"{BUCKET}/collections/free", {}, headers=ALICE, status=201)
    records = f"{BUCKET}/collections/free/records"

    app.post_json(records, {"data": {}}, headers=ALICE, status=400)
    record = app.post_json(records, {"data": {"author": "me"}}, headers=ALICE).json["data"]

    assert "schema" not in record


def test_collections_are_validated_against_the_bucket_collection_schema(
    app: webtest.TestApp,
) -> None:
    collection_schema = {
        "type": "object",
        "properties": {"displayFields": {"type": "array", "items": {"type": "string"}}},
        "required": ["displayFields"],
    }
    app.patch_json(
        BUCKET, {"data": {"collection:schema": collection_schema}}, headers=ALICE, status=200
    )

    resp = app.put_json(f"{BUCKET}/collections/c", {"data": {}}, headers=ALICE, status=400)
    assert resp.json == invalid_body("displayFields", "'displayFields' is a required property")
    app.post_json(
        f"{BUCKET}/collections", {"data": {"displayFields": [1]}}, headers=ALICE, status=400
    )
    created = app.put_json(
        f"{BUCKET}/collections/c", {"data": {"displayFields": ["title"]}}, headers=ALICE, status=201
    ).json["data"]
    assert "schema" not in created
    app.patch_json(
        f"{BUCKET}/collections/c", {"data": {"displayFields": "title"}}, headers=ALICE, status=400
    )


def test_groups_are_validated_against_the_bucket_group_schema(app: webtest.TestApp) -> None:
    group_schema = {
        "type": "object",
        "properties": {"members": {"type": "array", "maxItems": 1}},
        "required": ["members", "title"],
    }
    app.patch_json(BUCKET, {"data": {"group:schema": group_schema}}, headers=ALICE, status=200)

    # `members` defaults to [] before validation, as it is stored.
    resp = app.put_json(f"{GROUPS}/g", {"data": {}}, headers=ALICE, status=400)
    assert resp.json == invalid_body("title", "'title' is a required property")
    app.put_json(
        f"{GROUPS}/g", {"data": {"title": "G", "members": ["a", "b"]}}, headers=ALICE, status=400
    )
    app.put_json(f"{GROUPS}/g", {"data": {"title": "G"}}, headers=ALICE, status=201)


def test_buckets_are_never_validated(app: webtest.TestApp) -> None:
    app.patch_json(
        BUCKET, {"data": {"collection:schema": {"required": ["x"]}}}, headers=ALICE, status=200
    )

    app.patch_json(BUCKET, {"data": {"anything": 1}}, headers=ALICE, status=200)


# Batch.


def test_an_invalid_record_in_a_batch_fails_alone(app: webtest.TestApp) -> None:
    body = {
        "defaults": {"method": "POST", "path": "/buckets/blog/collections/articles/records"},
        "requests": [{"body": {"data": VALID}}, {"body": {"data": {"title": 2}}}],
    }

    responses = app.post_json("/v1/batch", body, headers=ALICE, status=200).json["responses"]

    assert [r["status"] for r in responses] == [201, 400]
    assert responses[1]["body"]["details"][0]["name"] == "title"
    assert len(app.get(RECORDS, headers=ALICE).json["data"]) == 1
