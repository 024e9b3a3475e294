"""Error responses (kinto-api.md §5): body format, 401 vs 403, 404 vs 403, and no side effects.

Every failing write is followed by a read proving that nothing changed: an error aborts the
request's transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from tests.support import (
    ALICE,
    BOB,
    BOB_ID,
    CAROL,
    FORBIDDEN_BODY,
    UNAUTHORIZED_BODY,
    assert_error,
    auth,
    create_collection,
)

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"
RECORD = f"{RECORDS}/r1"


def send_json_text(blog: webtest.TestApp, method: str, url: str, raw: bytes, **kwargs: Any) -> Any:
    """``raw`` bytes sent by Alice as ``application/json``, whatever they are."""
    headers = {**ALICE, "Content-Type": "application/json"}
    return blog.request(url, method=method, body=raw, headers=headers, **kwargs)


def record_url(record_id: str) -> str:
    return f"{RECORDS}/{record_id}"


@pytest.fixture
def blog(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app, data={"cache_expires": 10})
    app.put_json(RECORD, {"data": {"title": "original", "n": 1}}, headers=ALICE, status=201)
    return app


def snapshot(app: webtest.TestApp) -> dict[str, Any]:
    """Everything Alice can see of the bucket, to compare before and after a failed request."""
    return {
        "bucket": app.get(BUCKET, headers=ALICE).json,
        "collection": app.get(COLLECTION, headers=ALICE).json,
        "records": app.get(f"{RECORDS}?_since=0", headers=ALICE).json,
        "record": app.get(RECORD, headers=ALICE).json,
        "etag": app.get(RECORDS, headers=ALICE).headers["ETag"],
    }


def send(
    app: webtest.TestApp,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    if body is None:
        return app.request(url, method=method, headers=headers or {}, expect_errors=True)
    return getattr(app, f"{method.lower()}_json")(url, body, headers=headers, expect_errors=True)


WRITES = [
    ("POST", RECORDS, {"data": {"id": "r2", "title": "x"}}),
    ("PUT", RECORD, {"data": {"title": "x"}}),
    ("PATCH", RECORD, {"data": {"title": "x"}}),
    ("DELETE", RECORD, None),
    ("DELETE", RECORDS, None),
    ("PUT", record_url("r2"), {"data": {"title": "x"}}),
    ("PATCH", COLLECTION, {"data": {"cache_expires": 1}}),
    ("DELETE", COLLECTION, None),
    ("DELETE", BUCKET, None),
]


# --- Malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", [b'{"data": {', b"{foo}", b"not json", b'{"data": {"a": 1,}}', b"{'data': {}}"]
)
@pytest.mark.parametrize("method, url", [("POST", RECORDS), ("PUT", RECORD), ("PATCH", RECORD)])
def test_malformed_json_is_400_errno_107_with_the_parse_error_and_required(blog, method, url, raw):
    before = snapshot(blog)

    resp = send_json_text(blog, method, url, raw, expect_errors=True)

    body = assert_error(resp, 400, 107, error="Invalid parameters")
    assert body["message"].startswith("Invalid JSON")
    assert body["details"] == [
        {"location": "body", "name": "", "description": body["message"]},
        {"location": "body", "name": "", "description": "Required"},
    ]
    assert snapshot(blog) == before


@pytest.mark.parametrize("raw", [b"[1]", b'"data"', b"1", b"true"])
@pytest.mark.parametrize("method, url", [("POST", RECORDS), ("PUT", RECORD), ("PATCH", RECORD)])
def test_a_body_that_is_not_a_json_object_is_rejected(blog, method, url, raw):
    before = snapshot(blog)

    resp = send_json_text(blog, method, url, raw, expect_errors=True)

    assert_error(resp, 400, 107, error="Invalid parameters")
    assert snapshot(blog) == before


@pytest.mark.parametrize(
    "method, url, body, message",
    [
        (
            "POST",
            RECORDS,
            {"data": [1]},
            'data in body: "[1]" is not a mapping type: Does not implement dict-like '
            "functionality.",
        ),
        ("PUT", RECORD, {"data": {}, "permissions": {"read": "x"}}, None),
        (
            "PATCH",
            RECORD,
            {"permissions": {"read": "x"}},
            'permissions.read in body: "x" is not iterable',
        ),
        ("PATCH", RECORD, {"permissions": ["read"]}, None),
        ("PATCH", RECORD, {"data": "title"}, None),
        ("POST", RECORDS, {"data": {"id": 123}}, "path: Invalid object id"),
        ("POST", RECORDS, {"data": {}, "extra": True}, None),
        (
            "PATCH",
            COLLECTION,
            {"data": {"cache_expires": "abc"}},
            'cache_expires in body: "abc" is not a number',
        ),
        (
            "PUT",
            COLLECTION,
            {"data": {"cache_expires": "abc"}},
            'data.cache_expires in body: "abc" is not a number',
        ),
        ("PATCH", COLLECTION, {"data": {"cache_expires": [1]}}, None),
    ],
)
def test_values_of_the_wrong_type_are_400_and_change_nothing(blog, method, url, body, message):
    before = snapshot(blog)

    resp = send(blog, method, url, body, headers=ALICE)

    assert_error(resp, 400, 107, message, error="Invalid parameters")
    assert snapshot(blog) == before


def test_an_unknown_response_behavior_is_400_and_changes_nothing(blog):
    before = snapshot(blog)

    resp = blog.patch_json(
        RECORD,
        {"data": {"title": "x"}},
        headers={**ALICE, "Response-Behavior": "bogus"},
        status=400,
    )

    assert_error(
        resp, 400, 107, 'Response-Behavior in header: "bogus" is not one of full, light, diff'
    )
    assert snapshot(blog) == before


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" + b"0" * 400 + b".5"])
def test_numbers_too_big_for_a_double_are_invalid_json(blog, number):
    before = snapshot(blog)

    resp = send_json_text(
        blog, "POST", RECORDS, b'{"data": {"id": "big", "n": ' + number + b"}}", expect_errors=True
    )

    body = assert_error(resp, 400, 107, error="Invalid parameters")
    assert body["message"].startswith("Invalid JSON")
    assert snapshot(blog) == before


def test_large_integers_and_floats_round_trip_exactly(blog):
    big = 12345678901234567890
    raw = b'{"data": {"big": 12345678901234567890, "neg": -12345678901234567890, "f": 1.0}}'

    resp = send_json_text(blog, "PUT", record_url("big"), raw)
    read = blog.get(record_url("big"), headers=ALICE)

    for data in (resp.json["data"], read.json["data"]):
        assert data["big"] == big
        assert data["neg"] == -big
        assert isinstance(data["f"], float) and data["f"] == 1.0


# --- 401 and 403 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("GET", RECORD, None),
        ("GET", RECORDS, None),
        ("GET", COLLECTION, None),
        ("GET", BUCKET, None),
        ("GET", "/v1/buckets", None),
        ("PUT", "/v1/buckets/other", {"data": {}}),
        *WRITES,
    ],
)
def test_anonymous_requests_without_permission_are_401_with_a_basic_challenge(
    blog, method, url, body
):
    before = snapshot(blog)

    resp = send(blog, method, url, body)

    assert resp.status_int == 401
    assert resp.json == UNAUTHORIZED_BODY
    assert resp.headers.getall("WWW-Authenticate") == ['Basic realm="Realm"']
    assert snapshot(blog) == before


@pytest.mark.parametrize(
    "authorization", ["Bearer abc", "Basic !!!notbase64", "Basic " + "Ym9i", "Token xyz"]
)
def test_unusable_credentials_count_as_anonymous(blog, authorization):
    resp = blog.get(RECORD, headers={"Authorization": authorization}, status=401)

    assert resp.json == UNAUTHORIZED_BODY


def test_any_basic_credentials_authenticate_so_a_wrong_password_is_a_stranger(blog):
    resp = blog.get(RECORD, headers=auth("alice", "wrong"), status=403)

    assert resp.json == FORBIDDEN_BODY


@pytest.mark.parametrize(
    "method, url, body",
    [("GET", RECORD, None), ("GET", RECORDS, None), ("GET", COLLECTION, None), *WRITES],
)
def test_authenticated_strangers_get_403_without_a_challenge(blog, method, url, body):
    before = snapshot(blog)

    resp = send(blog, method, url, body, headers=BOB)

    assert resp.status_int == 403
    assert resp.json == FORBIDDEN_BODY
    assert "WWW-Authenticate" not in resp.headers
    assert snapshot(blog) == before


def test_a_reader_cannot_write(blog):
    blog.patch_json(RECORD, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200)
    before = snapshot(blog)

    for method, url, body in (
        ("PUT", RECORD, {"data": {"title": "x"}}),
        ("PATCH", RECORD, {"data": {"title": "x"}}),
        ("DELETE", RECORD, None),
    ):
        assert send(blog, method, url, body, headers=BOB).json == FORBIDDEN_BODY
    assert snapshot(blog) == before
    blog.get(RECORD, headers=BOB, status=200)


def test_posting_an_existing_id_without_read_permission_is_forbidden(blog):
    blog.patch_json(
        COLLECTION, {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE, status=200
    )
    before = snapshot(blog)

    resp = blog.post_json(RECORDS, {"data": {"id": "r1"}}, headers=BOB, status=403)

    assert resp.json == FORBIDDEN_BODY
    assert snapshot(blog) == before


def test_errors_keep_the_cors_headers(blog):
    resp = blog.get(RECORD, headers={**BOB, "Origin": "http://foo.com"}, status=403)

    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Backoff" in resp.headers["Access-Control-Expose-Headers"]


# --- 404 versus 403 -----------------------------------------------------------------------


def not_found(resource_name: str, object_id: str, errno: int = 110) -> dict[str, Any]:
    return {
        "code": 404,
        "errno": errno,
        "error": "Not Found",
        "details": {"id": object_id, "resource_name": resource_name},
    }


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_missing_record_is_404_for_whoever_can_read_its_collection(blog, method):
    blog.patch_json(COLLECTION, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200)
    body = {"data": {"a": 1}} if method == "PATCH" else None
    before = snapshot(blog)

    for who in (ALICE, BOB):
        resp = send(blog, method, record_url("abc"), body, headers=who)
        assert resp.status_int == 404
        assert resp.json == not_found("record", "abc")
    assert snapshot(blog) == before


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_missing_record_is_403_for_strangers_and_401_for_anonymous(blog, method):
    body = {"data": {"a": 1}} if method == "PATCH" else None

    assert send(blog, method, record_url("abc"), body, headers=CAROL).json == FORBIDDEN_BODY
    assert send(blog, method, record_url("abc"), body).json == UNAUTHORIZED_BODY


def test_a_missing_bucket_is_403_even_for_a_user_allowed_to_create_it(blog):
    assert blog.get("/v1/buckets/nope", headers=ALICE, status=403).json == FORBIDDEN_BODY
    assert blog.get("/v1/buckets/nope", status=401).json == UNAUTHORIZED_BODY
    blog.put_json("/v1/buckets/nope/collections/c", {}, headers=ALICE, status=403)
    blog.get("/v1/buckets/nope/collections/c/records", headers=ALICE, status=403)
    blog.get("/v1/buckets/bad.id/collections", headers=ALICE, status=403)


def test_a_missing_collection_or_group_is_404_for_the_bucket_owner_and_403_for_others(blog):
    collection = blog.get(f"{BUCKET}/collections/nope", headers=ALICE, status=404)
    group = blog.get(f"{BUCKET}/groups/nope", headers=ALICE, status=404)

    assert collection.json == not_found("collection", "nope")
    assert group.json == not_found("group", "nope")
    assert "message" not in collection.json
    assert blog.get(f"{BUCKET}/collections/nope", headers=BOB, status=403).json == FORBIDDEN_BODY


def test_a_plural_endpoint_under_a_missing_parent_is_404_errno_111(blog):
    url = f"{BUCKET}/collections/nope/records"

    resp = blog.get(url, headers=ALICE, status=404)

    assert resp.json == not_found("collection", "nope", errno=111)
    assert blog.get(url, headers=BOB, status=403).json == FORBIDDEN_BODY
    assert blog.get(url, status=401).json == UNAUTHORIZED_BODY
    blog.post_json(url, {"data": {}}, headers=ALICE, status=404)
    blog.get(f"{BUCKET}/collections", headers=ALICE, status=200)
    blog.get(f"{BUCKET}/collections/nope", headers=ALICE, status=404)


def test_creating_with_put_needs_the_create_permission_on_the_parent(blog):
    blog.patch_json(COLLECTION, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200)
    before = snapshot(blog)

    resp = blog.put_json(record_url("new"), {"data": {}}, headers=BOB, status=403)

    assert resp.json == FORBIDDEN_BODY
    assert snapshot(blog) == before
    blog.patch_json(
        COLLECTION, {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE, status=200
    )
    created = blog.put_json(record_url("new"), {"data": {}}, headers=BOB, status=201)
    assert created.json["permissions"] == {"write": [BOB_ID]}


def test_record_creators_can_list_only_their_own_records(blog):
    blog.patch_json(
        COLLECTION, {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE, status=200
    )

    assert blog.get(RECORDS, headers=BOB, status=200).json == {"data": []}
    blog.post_json(RECORDS, {"data": {"id": "bobs"}}, headers=BOB, status=201)
    assert [r["id"] for r in blog.get(RECORDS, headers=BOB).json["data"]] == ["bobs"]


def test_authenticated_users_can_list_buckets_but_anonymous_cannot(blog):
    assert blog.get("/v1/buckets", headers=BOB, status=200).json == {"data": []}
    assert blog.get("/v1/buckets", status=401).json == UNAUTHORIZED_BODY
