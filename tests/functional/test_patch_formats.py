"""PATCH in its three body formats, and the Response-Behavior header (kinto-api.md §2.5,
§13.13, §13.30, §13.31).

Alice owns the bucket ``blog``, its collection ``articles`` and the record ``r1`` in it,
which Bob and Carol may read. Every test gets a fresh application on each backend.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest
import webtest

from tests.support import (
    ALICE,
    ALICE_ID,
    BOB,
    BOB_ID,
    CAROL_ID,
    assert_error,
    assert_invalid,
    create_collection,
    not_found_body,
)

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORD = f"{COLLECTION}/records/r1"

JSON = "application/json"
MERGE = "application/merge-patch+json"
PATCH = "application/json-patch+json"

DATA = {"title": "t", "author": {"name": "n", "age": 3}, "tags": ["a"]}


@pytest.fixture
def blog(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app)
    app.put_json(
        RECORD,
        {"data": DATA, "permissions": {"read": [BOB_ID, CAROL_ID]}},
        headers=ALICE,
        status=201,
    )
    return app


def patch(
    app: webtest.TestApp,
    body: Any,
    content_type: str = JSON,
    status: int = 200,
    url: str = RECORD,
    headers: dict[str, str] | None = None,
) -> webtest.TestResponse:
    return app.patch(
        url,
        json.dumps(body),
        status=status,
        headers={**ALICE, "Content-Type": content_type, **(headers or {})},
    )


def current(app: webtest.TestApp, url: str = RECORD) -> dict[str, Any]:
    return app.get(url, headers=ALICE, status=200).json


def data_of(body: dict[str, Any], **expected: Any) -> dict[str, Any]:
    """``expected`` plus the managed fields of ``body``'s data."""
    return {**expected, "id": body["data"]["id"], "last_modified": body["data"]["last_modified"]}


def assert_full(
    resp: webtest.TestResponse, data: dict[str, Any], permissions: dict[str, list[str]]
) -> None:
    """The full answer: the whole object, its ACL, its timestamp headers; stored as shown."""
    body = resp.json
    assert list(body) == ["permissions", "data"]
    assert body["data"] == data_of(body, **data)
    assert sorted_acl(body["permissions"]) == sorted_acl(permissions)
    assert resp.headers["ETag"] == f'"{body["data"]["last_modified"]}"'
    stored = current(resp.test_app, resp.request.path)
    assert stored["data"] == body["data"]
    assert sorted_acl(stored["permissions"]) == sorted_acl(permissions)


def sorted_acl(acl: dict[str, list[str]]) -> dict[str, list[str]]:
    """Principals in a stable order (their order in a response is not specified)."""
    return {perm: sorted(principals) for perm, principals in acl.items()}


def assert_unchanged(app: webtest.TestApp, before: dict[str, Any]) -> None:
    assert current(app) == before


# -- application/json: shallow merge -------------------------------------------------------


def test_json_merges_top_level_keys_only(blog: webtest.TestApp) -> None:
    before = current(blog)
    resp = patch(blog, {"data": {"author": {"age": 4}, "title": None, "new": 1}})
    # null is stored as null; the nested object is replaced, not merged (§2.5).
    assert_full(
        resp,
        {"title": None, "author": {"age": 4}, "tags": ["a"], "new": 1},
        {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]},
    )
    assert resp.json["data"]["last_modified"] > before["data"]["last_modified"]


def test_json_replaces_each_named_permission_and_keeps_the_others(
    blog: webtest.TestApp,
) -> None:
    resp = patch(blog, {"permissions": {"read": ["dave"]}})
    assert_full(resp, DATA, {"read": ["dave"], "write": [ALICE_ID]})


def test_json_ignores_a_null_permission(blog: webtest.TestApp) -> None:
    # kinto-api.md §13.31: with plain JSON a null permission is a no-op.
    resp = patch(blog, {"permissions": {"read": None, "write": [BOB_ID]}})
    assert_full(resp, DATA, {"read": [BOB_ID, CAROL_ID], "write": [BOB_ID, ALICE_ID]})


def test_json_cannot_take_write_away_from_the_writer(blog: webtest.TestApp) -> None:
    resp = patch(blog, {"permissions": {"write": []}})
    assert_full(resp, DATA, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})


def test_json_with_only_permissions_keeps_the_data_and_bumps_the_timestamp(
    blog: webtest.TestApp,
) -> None:
    before = current(blog)
    resp = patch(blog, {"permissions": {"read": []}})
    assert resp.json["data"] == {
        **before["data"],
        "last_modified": resp.json["data"]["last_modified"],
    }
    assert resp.json["data"]["last_modified"] > before["data"]["last_modified"]
    assert resp.json["permissions"] == {"write": [ALICE_ID]}


def test_json_with_empty_data_changes_nothing_but_the_timestamp(blog: webtest.TestApp) -> None:
    before = current(blog)
    resp = patch(blog, {"data": {}})
    assert resp.json["data"] == {
        **before["data"],
        "last_modified": resp.json["data"]["last_modified"],
    }
    assert resp.json["data"]["last_modified"] > before["data"]["last_modified"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", None])
def test_json_is_the_default_and_may_carry_a_charset(
    blog: webtest.TestApp, content_type: str | None
) -> None:
    request = webtest.TestRequest.blank(
        RECORD, method="PATCH", headers=ALICE, body=json.dumps({"data": {"x": 1}}).encode()
    )
    if content_type is not None:
        request.headers["Content-Type"] = content_type
    assert request.headers.get("Content-Type") == content_type
    resp = blog.do_request(request, status=200)
    assert resp.json["data"] == data_of(resp.json, **DATA, x=1)


def test_json_with_the_same_id_is_accepted_and_another_is_refused(blog: webtest.TestApp) -> None:
    patch(blog, {"data": {"id": "r1", "x": 1}}, status=200)
    before = current(blog)
    resp = patch(blog, {"data": {"id": "r2", "x": 2}}, status=400)
    assert_invalid(resp, "body", "id", "Object id does not match existing object")
    assert_unchanged(blog, before)


@pytest.mark.parametrize("content_type", [JSON, MERGE])
def test_a_body_without_data_or_permissions_is_refused(
    blog: webtest.TestApp, content_type: str
) -> None:
    before = current(blog)
    resp = patch(blog, {}, content_type, status=400)
    assert resp.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": "Provide at least one of data or permissions",
        "details": [
            {
                "location": "body",
                "name": "data",
                "description": "Provide at least one of data or permissions",
            }
        ],
    }
    assert_unchanged(blog, before)


@pytest.mark.parametrize("content_type", [JSON, MERGE])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"data": [1]},
            'data in body: "[1]" is not a mapping type: '
            "Does not implement dict-like functionality.",
        ),
        ({"data": {}, "foo": 1}, "Unrecognized keys in mapping: \"{'foo': 1}\""),
        (
            {"permissions": {"bogus": ["x"]}},
            'permissions in body: "bogus" is not one of read, write',
        ),
        ({"permissions": {"read": "x"}}, 'permissions.read in body: "x" is not iterable'),
        (
            [{"op": "add", "path": "/data/x", "value": 1}],
            "\"[{'op': 'add', 'path': '/data/x', 'value': 1}]\" is not a mapping type: "
            "Does not implement dict-like functionality.",
        ),
    ],
)
def test_an_invalid_merge_body_is_a_400(
    blog: webtest.TestApp, content_type: str, body: Any, message: str
) -> None:
    before = current(blog)
    assert_error(patch(blog, body, content_type, status=400), 400, 107, message)
    assert_unchanged(blog, before)


# -- application/merge-patch+json: RFC 7396 ------------------------------------------------


def test_merge_patch_merges_recursively_and_null_removes_at_any_depth(
    blog: webtest.TestApp,
) -> None:
    resp = patch(
        blog,
        {"data": {"author": {"age": None, "address": {"city": "c"}}, "title": None, "tags": ["b"]}},
        MERGE,
    )
    assert_full(
        resp,
        {"author": {"name": "n", "address": {"city": "c"}}, "tags": ["b"]},
        {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]},
    )
    assert "title" not in current(blog)["data"]


def test_merge_patch_removing_a_missing_key_is_harmless(blog: webtest.TestApp) -> None:
    resp = patch(blog, {"data": {"missing": None, "author": {"missing": None}}}, MERGE)
    assert_full(resp, DATA, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})


def test_merge_patch_null_permission_clears_it(blog: webtest.TestApp) -> None:
    # kinto-api.md §13.31: merge-patch is the way to clear a permission.
    resp = patch(blog, {"permissions": {"read": None}}, MERGE)
    assert_full(resp, DATA, {"write": [ALICE_ID]})


def test_merge_patch_replaces_a_named_permission_and_keeps_the_others(
    blog: webtest.TestApp,
) -> None:
    resp = patch(blog, {"data": {"x": 1}, "permissions": {"write": [BOB_ID]}}, MERGE)
    assert_full(resp, {**DATA, "x": 1}, {"read": [BOB_ID, CAROL_ID], "write": [BOB_ID, ALICE_ID]})


def test_merge_patch_cannot_take_write_away_from_the_writer(blog: webtest.TestApp) -> None:
    resp = patch(blog, {"permissions": {"write": None}}, MERGE)
    assert_full(resp, DATA, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})


def test_merge_patch_on_a_collection_clears_record_create(blog: webtest.TestApp) -> None:
    blog.patch_json(
        COLLECTION, {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE, status=200
    )
    resp = patch(
        blog,
        {"data": {"cache_expires": 10}, "permissions": {"record:create": None}},
        MERGE,
        url=COLLECTION,
    )
    assert resp.json["permissions"] == {"write": [ALICE_ID]}
    assert resp.json["data"]["cache_expires"] == 10
    blog.post_json(f"{COLLECTION}/records", {}, headers=BOB, status=403)


# -- application/json-patch+json: RFC 6902 -------------------------------------------------


def test_json_patch_applies_every_operation_in_order(blog: webtest.TestApp) -> None:
    resp = patch(
        blog,
        [
            {"op": "add", "path": "/data/new", "value": {"deep": [1]}},
            {"op": "add", "path": "/data/tags/-", "value": "b"},
            {"op": "remove", "path": "/data/author/age"},
            {"op": "replace", "path": "/data/title", "value": "T"},
            {"op": "move", "from": "/data/author/name", "path": "/data/name"},
            {"op": "copy", "from": "/data/title", "path": "/data/copied"},
            {"op": "test", "path": "/data/new/deep/0", "value": 1},
        ],
        PATCH,
    )
    assert_full(
        resp,
        {
            "title": "T",
            "author": {},
            "tags": ["a", "b"],
            "new": {"deep": [1]},
            "name": "n",
            "copied": "T",
        },
        {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]},
    )


def test_json_patch_adds_and_removes_principals_named_in_the_path(
    blog: webtest.TestApp,
) -> None:
    resp = patch(
        blog,
        [
            {"op": "add", "path": "/permissions/read/dave"},
            {"op": "remove", "path": f"/permissions/read/{BOB_ID}"},
            {"op": "add", "path": f"/permissions/write/{BOB_ID}"},
        ],
        PATCH,
    )
    assert_full(resp, DATA, {"read": [CAROL_ID, "dave"], "write": [ALICE_ID, BOB_ID]})


def test_json_patch_record_create_needs_a_value_in_map_form(blog: webtest.TestApp) -> None:
    # kinto-api.md §13.30: only read and write take the principal from the path alone.
    before = current(blog, COLLECTION)
    resp = patch(
        blog,
        [{"op": "add", "path": f"/permissions/record:create/{BOB_ID}"}],
        PATCH,
        url=COLLECTION,
        status=400,
    )
    description = "JSON Patch operation failed: The operation does not contain a 'value' member"
    assert_invalid(resp, "body", None, description, message=f"body: {description}")
    assert current(blog, COLLECTION) == before

    resp = patch(
        blog,
        [{"op": "add", "path": "/permissions/record:create", "value": {BOB_ID: BOB_ID}}],
        PATCH,
        url=COLLECTION,
    )
    assert resp.json["permissions"] == {"record:create": [BOB_ID], "write": [ALICE_ID]}
    blog.post_json(f"{COLLECTION}/records", {}, headers=BOB, status=201)


def test_json_patch_cannot_remove_the_writer_from_write(blog: webtest.TestApp) -> None:
    # kinto-api.md §2.5: the removal is undone, the caller stays a writer.
    resp = patch(blog, [{"op": "remove", "path": f"/permissions/write/{ALICE_ID}"}], PATCH)
    assert_full(resp, DATA, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})


def test_a_failing_test_operation_is_a_400_and_changes_nothing(blog: webtest.TestApp) -> None:
    before = current(blog)
    resp = patch(
        blog,
        [
            {"op": "replace", "path": "/data/title", "value": "changed"},
            {"op": "test", "path": "/data/author/age", "value": 4},
        ],
        PATCH,
        status=400,
    )
    description = (
        "JSON Patch operation failed: 3 (<class 'int'>) is not equal to tested "
        "value 4 (<class 'int'>)"
    )
    assert resp.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": f"body: {description}",
        "details": [{"location": "body", "name": None, "description": description}],
    }
    assert_unchanged(blog, before)


@pytest.mark.parametrize(
    ("operations", "description"),
    [
        (
            [{"op": "remove", "path": "/data/missing"}],
            "JSON Patch operation failed: can't remove a non-existent object 'missing'",
        ),
        (
            [{"op": "replace", "path": "/data/missing", "value": 1}],
            "JSON Patch operation failed: can't replace a non-existent object 'missing'",
        ),
        (
            [{"op": "add", "path": "/data/x"}],
            "JSON Patch operation failed: The operation does not contain a 'value' member",
        ),
        (
            [{"op": "move", "path": "/data/x"}],
            "JSON Patch operation failed: The operation does not contain a 'from' member",
        ),
    ],
)
def test_an_operation_that_cannot_apply_is_a_400(
    blog: webtest.TestApp, operations: list[dict[str, Any]], description: str
) -> None:
    before = current(blog)
    resp = patch(blog, operations, PATCH, status=400)
    assert_invalid(resp, "body", None, description, message=f"body: {description}")
    assert_unchanged(blog, before)


OP_NAMES = '"bogus" is not one of test, add, remove, replace, move, copy'


@pytest.mark.parametrize(
    ("operations", "name", "description"),
    [
        ([{"op": "bogus", "path": "/data/x"}], "0.op", OP_NAMES),
        (
            [
                {"op": "test", "path": "/data/title", "value": "t"},
                {"op": "bogus", "path": "/data/x"},
            ],
            "1.op",
            OP_NAMES,
        ),
        ([{"path": "/data/x", "value": 1}], "0.op", "Required"),
        ([{"op": "add", "value": 1}], "0.path", "Required"),
        (
            [{"op": "add", "path": "data/x", "value": 1}],
            "0.path",
            "String does not match expected pattern",
        ),
        (
            [{"op": "move", "from": "data/x", "path": "/data/y"}],
            "0.from",
            "String does not match expected pattern",
        ),
        (
            [{"op": "add", "path": "/data/x", "value": 1, "foo": 1}],
            "0",
            "Unrecognized keys in mapping: \"{'foo': 1}\"",
        ),
        (
            [["add", "/data/x"]],
            "0",
            "\"['add', '/data/x']\" is not a mapping type: "
            "Does not implement dict-like functionality.",
        ),
        (
            {"op": "add", "path": "/data/x", "value": 1},
            "",
            "\"{'op': 'add', 'path': '/data/x', 'value': 1}\" is not iterable",
        ),
    ],
)
def test_an_invalid_operation_is_a_400_with_kintos_message(
    blog: webtest.TestApp, operations: Any, name: str, description: str
) -> None:
    before = current(blog)
    resp = patch(blog, operations, PATCH, status=400)
    message = f"{name} in body: {description}" if name else description
    assert resp.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": message,
        "details": [{"location": "body", "name": name, "description": description}],
    }
    assert_unchanged(blog, before)


def test_json_patch_sees_the_id_and_cannot_change_it(blog: webtest.TestApp) -> None:
    resp = patch(
        blog,
        [
            {"op": "test", "path": "/data/id", "value": "r1"},
            {"op": "add", "path": "/data/x", "value": 1},
        ],
        PATCH,
    )
    assert_full(resp, {**DATA, "x": 1}, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})
    before = current(blog)
    resp = patch(blog, [{"op": "replace", "path": "/data/id", "value": "r2"}], PATCH, status=400)
    assert_invalid(resp, "body", "id", "Object id does not match existing object")
    assert_unchanged(blog, before)
    blog.get(f"{COLLECTION}/records/r2", headers=ALICE, status=404)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (JSON, lambda ts: {"data": {"last_modified": ts}}),
        (MERGE, lambda ts: {"data": {"last_modified": ts}}),
        (PATCH, lambda ts: [{"op": "replace", "path": "/data/last_modified", "value": ts}]),
    ],
)
def test_a_greater_last_modified_is_used_and_a_smaller_one_ignored(
    blog: webtest.TestApp, content_type: str, body: Any
) -> None:
    # kinto-api.md §2.3: on update, a client timestamp is kept only if it is greater.
    before = current(blog)["data"]["last_modified"]
    resp = patch(blog, body(before + 1000), content_type)
    assert resp.json["data"]["last_modified"] == before + 1000
    resp = patch(blog, body(before - 1000), content_type)
    assert resp.json["data"]["last_modified"] == before + 1001
    assert current(blog)["data"] == data_of(resp.json, **DATA)


def test_json_patch_must_leave_data_an_object(blog: webtest.TestApp) -> None:
    # Kinto 26.5 answers 500 (TypeError) to this; a 400 is the honest answer.
    before = current(blog)
    resp = patch(blog, [{"op": "replace", "path": "/data", "value": [1]}], PATCH, status=400)
    assert_error(resp, 400, 107, "JSON Patch must leave data an object")
    assert_unchanged(blog, before)


def test_json_patch_on_an_unknown_permission_is_a_400(blog: webtest.TestApp) -> None:
    before = current(blog)
    resp = patch(
        blog, [{"op": "add", "path": "/permissions/bogus", "value": {"x": "x"}}], PATCH, status=400
    )
    assert_error(resp, 400, 107, 'permissions in body: "bogus" is not one of read, write')
    assert_unchanged(blog, before)


def test_an_empty_json_patch_only_bumps_the_timestamp(blog: webtest.TestApp) -> None:
    before = current(blog)
    resp = patch(blog, [], PATCH)
    assert resp.json["data"]["last_modified"] > before["data"]["last_modified"]
    assert_full(resp, DATA, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (JSON, {"data": {"x": 1}}),
        (MERGE, {"data": {"x": 1}}),
        (PATCH, [{"op": "add", "path": "/data/x", "value": 1}]),
    ],
)
def test_every_format_is_a_404_on_a_missing_object(
    blog: webtest.TestApp, content_type: str, body: Any
) -> None:
    resp = patch(blog, body, content_type, status=404, url=f"{COLLECTION}/records/nope")
    assert resp.json == not_found_body("record", "nope")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (JSON, {"data": {"x": 1}}),
        (MERGE, {"data": {"x": 1}}),
        (PATCH, [{"op": "add", "path": "/data/x", "value": 1}]),
    ],
)
def test_every_format_needs_write_permission(
    blog: webtest.TestApp, content_type: str, body: Any
) -> None:
    before = current(blog)
    resp = blog.patch(
        RECORD, json.dumps(body), status=403, headers={**BOB, "Content-Type": content_type}
    )
    assert_error(resp, 403, 121, "This user cannot access this resource.")
    assert_unchanged(blog, before)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/merge-patch",
        "application/patch+json",
    ],
)
def test_other_content_types_are_a_415_listing_the_three_formats(
    blog: webtest.TestApp, content_type: str
) -> None:
    before = current(blog)
    resp = patch(blog, {"data": {"x": 1}}, content_type, status=415)
    body = assert_error(resp, 415, 107)
    prefix = "Content-Type header should be one of "
    assert body["message"].startswith(prefix)
    # Kinto 26.5 lists them as ['application/json-patch+json', 'application/json',
    # 'application/merge-patch+json']; the order carries no meaning.
    listed = ast.literal_eval(body["message"][len(prefix) :])
    assert sorted(listed) == sorted([JSON, MERGE, PATCH])
    assert body["details"] == [
        {"location": "header", "name": "Content-Type", "description": body["message"]}
    ]
    assert_unchanged(blog, before)


# -- Response-Behavior ---------------------------------------------------------------------


def test_full_is_the_default_behavior(blog: webtest.TestApp) -> None:
    default = patch(blog, {"data": {"n": 1}})
    assert_full(default, {**DATA, "n": 1}, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})
    full = patch(blog, {"data": {"n": 2}}, headers={"Response-Behavior": "full"})
    assert_full(full, {**DATA, "n": 2}, {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]})


def test_light_answers_only_the_fields_whose_value_changed(blog: webtest.TestApp) -> None:
    before = current(blog)
    resp = patch(blog, {"data": {"title": "t", "j": 2}}, headers={"Response-Behavior": "light"})
    assert resp.json == {"data": {"j": 2}}  # kinto-api.md §13.13, no "permissions" key
    stored = current(blog)
    assert stored["data"] == {
        **before["data"],
        "j": 2,
        "last_modified": stored["data"]["last_modified"],
    }
    assert resp.headers["ETag"] == f'"{stored["data"]["last_modified"]}"'


def test_diff_answers_nothing_when_the_server_kept_what_was_sent(blog: webtest.TestApp) -> None:
    resp = patch(blog, {"data": {"title": "t", "j": 2}}, headers={"Response-Behavior": "diff"})
    assert resp.json == {"data": {}}  # kinto-api.md §13.13
    assert current(blog)["data"]["j"] == 2
    assert resp.headers["ETag"] == f'"{current(blog)["data"]["last_modified"]}"'


def test_light_with_merge_patch_answers_the_changed_top_level_fields(
    blog: webtest.TestApp,
) -> None:
    # Kinto 26.5 answers {"data": {}} here (the merge mutates its copy of the old object)
    # and 500 (KeyError) when a field is removed; removed fields are simply not shown.
    resp = patch(
        blog,
        {"data": {"author": {"age": 4}, "title": None}},
        MERGE,
        headers={"Response-Behavior": "light"},
    )
    assert resp.json == {"data": {"author": {"name": "n", "age": 4}}}
    assert "title" not in current(blog)["data"]


def test_light_with_json_patch(blog: webtest.TestApp) -> None:
    # Kinto 26.5 also lists last_modified here (and only for JSON Patch); we answer the
    # same fields whatever the format.
    resp = patch(
        blog,
        [
            {"op": "add", "path": "/data/j", "value": 2},
            {"op": "replace", "path": "/data/title", "value": "t"},
        ],
        PATCH,
        headers={"Response-Behavior": "light"},
    )
    assert resp.json == {"data": {"j": 2}}
    resp = patch(
        blog,
        [{"op": "add", "path": "/data/k", "value": 3}],
        PATCH,
        headers={"Response-Behavior": "diff"},
    )
    assert resp.json == {"data": {}}


def test_light_after_a_permissions_only_change_is_empty(blog: webtest.TestApp) -> None:
    resp = patch(blog, {"permissions": {"read": []}}, headers={"Response-Behavior": "light"})
    assert resp.json == {"data": {}}
    assert current(blog)["permissions"] == {"write": [ALICE_ID]}


def test_diff_answers_the_fields_the_server_set_otherwise(make_app: Any) -> None:
    app = make_app(experimental_collection_schema_validation=True)
    create_collection(app, data={"schema": {"type": "object"}})
    app.put_json(RECORD, {"data": {"a": 1}}, headers=ALICE, status=201)
    schema_version = app.patch_json(
        COLLECTION,
        {"data": {"schema": {"type": "object", "title": "v2"}}},
        headers=ALICE,
        status=200,
    ).json["data"]["last_modified"]
    # The record's "schema" is the server's (the collection's timestamp), never the client's.
    light = patch(app, {"data": {"a": 2, "schema": 5}}, headers={"Response-Behavior": "light"})
    assert light.json == {"data": {"a": 2, "schema": schema_version}}
    app.patch_json(
        COLLECTION,
        {"data": {"schema": {"type": "object", "title": "v3"}}},
        headers=ALICE,
        status=200,
    )
    diff = patch(app, {"data": {"a": 3, "schema": 5}}, headers={"Response-Behavior": "diff"})
    assert list(diff.json["data"]) == ["schema"]  # "a" is as sent, "schema" is not


@pytest.mark.parametrize("value", ["bogus", "LIGHT", "Full", ""])
def test_an_unknown_behavior_is_a_400_and_changes_nothing(
    blog: webtest.TestApp, value: str
) -> None:
    before = current(blog)
    resp = patch(blog, {"data": {"x": 1}}, headers={"Response-Behavior": value}, status=400)
    # Case-sensitive, as in Kinto (colander.OneOf).
    description = f'"{value}" is not one of full, light, diff'
    assert resp.json == {
        "code": 400,
        "errno": 107,
        "error": "Invalid parameters",
        "message": f"Response-Behavior in header: {description}",
        "details": [
            {"location": "header", "name": "Response-Behavior", "description": description}
        ],
    }
    assert_unchanged(blog, before)


def test_response_behavior_applies_to_patch_only(blog: webtest.TestApp) -> None:
    resp = blog.put_json(
        RECORD, {"data": {"x": 1}}, headers={**ALICE, "Response-Behavior": "light"}, status=200
    )
    assert resp.json["data"] == data_of(resp.json, x=1)
    assert sorted_acl(resp.json["permissions"]) == sorted_acl(
        {"read": [BOB_ID, CAROL_ID], "write": [ALICE_ID]}
    )
