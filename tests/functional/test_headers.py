"""Response and request headers (kinto-api.md §3).

Alice owns the bucket ``blog`` and its collection ``articles``. Timestamps are compared through
the headers that carry them: ``ETag`` is the quoted millisecond integer, ``Last-Modified`` the
HTTP-date of the same instant truncated to the second.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import webtest

from tests.support import (
    ALICE,
    BOB,
    BOB_ID,
    PRECONDITION_FAILED_BODY,
    assert_error,
    assert_invalid,
    auth,
    create_collection,
)

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"

BASE_EXPOSED = {"Backoff", "Retry-After", "Alert", "Content-Length", "Content-Type"}
CACHE_EXPOSED = {"Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma"}
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none';"


def record_url(record_id: str) -> str:
    return f"{RECORDS}/{record_id}"


def http_date(ms: int) -> str:
    return formatdate(ms // 1000, usegmt=True)


def etag(resp: Any) -> int:
    return int(resp.headers["ETag"].strip('"'))


def comma_set(value: str) -> set[str]:
    return {item.strip() for item in value.split(",") if item.strip()}


def put_record(app: webtest.TestApp, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return app.put_json(record_url(record_id), {"data": data}, headers=ALICE).json["data"]


def assert_timestamp_headers(resp: Any, ms: int) -> None:
    assert resp.headers["ETag"] == f'"{ms}"'
    assert resp.headers["Last-Modified"] == http_date(ms)


# --- ETag and Last-Modified ---------------------------------------------------------------


def test_every_object_response_carries_the_etag_and_last_modified_of_the_returned_object(blog):
    created = blog.post_json(RECORDS, {"data": {"id": "r1"}}, headers=ALICE, status=201)
    assert_timestamp_headers(created, created.json["data"]["last_modified"])

    got = blog.get(record_url("r1"), headers=ALICE)
    assert_timestamp_headers(got, got.json["data"]["last_modified"])

    replaced = blog.put_json(record_url("r1"), {"data": {"a": 1}}, headers=ALICE)
    assert_timestamp_headers(replaced, replaced.json["data"]["last_modified"])

    patched = blog.patch_json(record_url("r1"), {"data": {"a": 2}}, headers=ALICE)
    assert_timestamp_headers(patched, patched.json["data"]["last_modified"])

    deleted = blog.delete(record_url("r1"), headers=ALICE)
    assert_timestamp_headers(deleted, deleted.json["data"]["last_modified"])


def test_a_timestamp_of_1000_is_the_first_second_of_the_epoch(blog):
    resp = blog.put_json(record_url("r1"), {"data": {"last_modified": 1000}}, headers=ALICE)

    assert resp.headers["ETag"] == '"1000"'
    assert resp.headers["Last-Modified"] == "Thu, 01 Jan 1970 00:00:01 GMT"


def test_plural_etag_is_the_list_timestamp_whatever_the_filters_limit_or_fields(blog):
    stamps = [put_record(blog, rid, {"title": rid})["last_modified"] for rid in ("a", "b", "c")]

    for query in ("", "?_limit=1", "?title=a", "?_fields=title", "?_sort=title"):
        resp = blog.get(f"{RECORDS}{query}", headers=ALICE)
        assert_timestamp_headers(resp, max(stamps))
    assert_timestamp_headers(blog.head(RECORDS, headers=ALICE), max(stamps))


def test_plural_etag_moves_to_the_tombstone_timestamp_after_a_delete(blog):
    put_record(blog, "a", {})
    deleted = blog.delete(record_url("a"), headers=ALICE).json["data"]

    assert_timestamp_headers(blog.get(RECORDS, headers=ALICE), deleted["last_modified"])


def test_plural_delete_etag_is_the_greatest_deleted_timestamp_or_the_list_timestamp(blog):
    for rid in ("a", "b"):
        put_record(blog, rid, {})

    resp = blog.delete(RECORDS, headers=ALICE)
    assert_timestamp_headers(resp, max(d["last_modified"] for d in resp.json["data"]))

    current = etag(blog.get(RECORDS, headers=ALICE))
    assert_timestamp_headers(blog.delete(RECORDS, headers=ALICE), current)


def test_the_etag_of_an_empty_list_is_stable_between_reads(blog):
    first = blog.get(RECORDS, headers=ALICE)
    second = blog.get(RECORDS, headers=ALICE)

    assert etag(first) > 0
    assert first.headers["ETag"] == second.headers["ETag"]


def test_root_and_error_responses_have_no_etag(blog):
    for resp in (
        blog.get("/v1/", headers=ALICE),
        blog.get(record_url("nope"), headers=ALICE, status=404),
        blog.get(record_url("a.b"), headers=ALICE, status=400),
    ):
        assert "ETag" not in resp.headers
        assert "Last-Modified" not in resp.headers


# --- If-None-Match ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [record_url("r1"), RECORDS])
def test_if_none_match_with_the_current_etag_is_304_with_empty_body_and_headers(blog, url):
    put_record(blog, "r1", {"a": 1})
    current = blog.get(url, headers=ALICE)

    resp = blog.get(url, headers={**ALICE, "If-None-Match": current.headers["ETag"]}, status=304)

    assert resp.body == b""
    assert resp.headers["ETag"] == current.headers["ETag"]
    assert resp.headers["Last-Modified"] == current.headers["Last-Modified"]
    assert "Access-Control-Expose-Headers" in resp.headers


@pytest.mark.parametrize("url", [record_url("r1"), RECORDS])
def test_if_none_match_with_an_old_etag_returns_the_fresh_content(blog, url):
    put_record(blog, "r1", {"a": 1})
    old = blog.get(url, headers=ALICE).headers["ETag"]
    blog.patch_json(record_url("r1"), {"data": {"a": 2}}, headers=ALICE)

    resp = blog.get(url, headers={**ALICE, "If-None-Match": old}, status=200)

    assert resp.headers["ETag"] != old


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_if_none_match_star_on_an_existing_object_is_412_and_changes_nothing(blog, method):
    stored = put_record(blog, "r1", {"a": 1})
    headers = {**ALICE, "If-None-Match": "*"}

    if method in ("put", "patch"):
        resp = getattr(blog, f"{method}_json")(
            record_url("r1"), {"data": {"a": 2}}, headers=headers, status=412
        )
    else:
        resp = getattr(blog, method)(record_url("r1"), headers=headers, status=412)

    assert resp.json == {**PRECONDITION_FAILED_BODY, "details": {"existing": stored}}
    assert_timestamp_headers(resp, stored["last_modified"])
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


def test_if_none_match_star_lets_put_create_a_missing_object(blog):
    resp = blog.put_json(
        record_url("r1"), {"data": {"a": 1}}, headers={**ALICE, "If-None-Match": "*"}, status=201
    )

    assert resp.json["data"]["a"] == 1


def test_if_none_match_star_on_post_fails_only_for_an_existing_id(blog):
    stored = put_record(blog, "r1", {"a": 1})
    headers = {**ALICE, "If-None-Match": "*"}

    clash = blog.post_json(RECORDS, {"data": {"id": "r1", "a": 2}}, headers=headers, status=412)
    assert clash.json == {**PRECONDITION_FAILED_BODY, "details": {"existing": stored}}

    blog.post_json(RECORDS, {"data": {"id": "r2"}}, headers=headers, status=201)
    blog.post_json(RECORDS, {"data": {}}, headers=headers, status=201)
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


@pytest.mark.parametrize("method", ["get", "head", "delete"])
def test_if_none_match_star_on_a_plural_endpoint_is_always_412(blog, method):
    put_record(blog, "r1", {})
    current = blog.get(RECORDS, headers=ALICE)

    resp = getattr(blog, method)(RECORDS, headers={**ALICE, "If-None-Match": "*"}, status=412)

    if method != "head":
        assert resp.json == PRECONDITION_FAILED_BODY
    assert resp.headers["ETag"] == current.headers["ETag"]
    assert [r["id"] for r in blog.get(RECORDS, headers=ALICE).json["data"]] == ["r1"]


def test_if_none_match_star_on_an_empty_plural_endpoint_is_412(blog):
    resp = blog.get(RECORDS, headers={**ALICE, "If-None-Match": "*"}, status=412)

    assert resp.json == PRECONDITION_FAILED_BODY


# --- If-Match -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("value", ["current", "*"])
def test_if_match_with_the_current_etag_or_star_lets_the_write_through(blog, method, value):
    stored = put_record(blog, "r1", {"a": 1})
    header = f'"{stored["last_modified"]}"' if value == "current" else "*"
    headers = {**ALICE, "If-Match": header}

    if method in ("put", "patch"):
        getattr(blog, f"{method}_json")(
            record_url("r1"), {"data": {"a": 2}}, headers=headers, status=200
        )
    else:
        blog.delete(record_url("r1"), headers=headers, status=200)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_if_match_with_a_stale_etag_is_412_with_the_existing_object(blog, method):
    old = put_record(blog, "r1", {"a": 1})
    stored = blog.patch_json(record_url("r1"), {"data": {"a": 2}}, headers=ALICE).json["data"]
    headers = {**ALICE, "If-Match": f'"{old["last_modified"]}"'}

    if method in ("put", "patch"):
        resp = getattr(blog, f"{method}_json")(
            record_url("r1"), {"data": {"a": 3}}, headers=headers, status=412
        )
    else:
        resp = getattr(blog, method)(record_url("r1"), headers=headers, status=412)

    assert resp.json == {**PRECONDITION_FAILED_BODY, "details": {"existing": stored}}
    assert_timestamp_headers(resp, stored["last_modified"])
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


@pytest.mark.parametrize("value", ['"1234"', "*"])
def test_if_match_on_a_missing_object_is_412_without_details(blog, value):
    resp = blog.put_json(
        record_url("r1"), {"data": {"a": 1}}, headers={**ALICE, "If-Match": value}, status=412
    )

    assert resp.json == PRECONDITION_FAILED_BODY
    blog.get(record_url("r1"), headers=ALICE, status=404)


@pytest.mark.parametrize("value", ["list", "*"])
def test_post_with_if_match_and_no_existing_id_always_fails(blog, value):
    put_record(blog, "r1", {})
    current = blog.get(RECORDS, headers=ALICE).headers["ETag"]
    header = current if value == "list" else "*"

    resp = blog.post_json(
        RECORDS, {"data": {"a": 1}}, headers={**ALICE, "If-Match": header}, status=412
    )

    assert resp.json == PRECONDITION_FAILED_BODY
    assert [r["id"] for r in blog.get(RECORDS, headers=ALICE).json["data"]] == ["r1"]


def test_if_match_on_a_plural_get_compares_with_the_list_timestamp(blog):
    put_record(blog, "r1", {})
    current = blog.get(RECORDS, headers=ALICE)

    blog.get(RECORDS, headers={**ALICE, "If-Match": current.headers["ETag"]}, status=200)
    resp = blog.get(RECORDS, headers={**ALICE, "If-Match": '"1234"'}, status=412)

    assert resp.json == PRECONDITION_FAILED_BODY
    assert resp.headers["ETag"] == current.headers["ETag"]
    assert resp.headers["Last-Modified"] == current.headers["Last-Modified"]


def test_a_plural_delete_with_a_stale_if_match_deletes_nothing(blog):
    put_record(blog, "r1", {})
    stale = blog.get(RECORDS, headers=ALICE).headers["ETag"]
    put_record(blog, "r2", {})

    resp = blog.delete(RECORDS, headers={**ALICE, "If-Match": stale}, status=412)

    assert resp.json == PRECONDITION_FAILED_BODY
    assert len(blog.get(RECORDS, headers=ALICE).json["data"]) == 2


@pytest.mark.parametrize("header", ["If-Match", "If-None-Match"])
@pytest.mark.parametrize("value", ['W/"123"', '"1", "2"', "123", '"abc"', '""', "abc"])
def test_a_malformed_precondition_header_is_400(blog, header, value):
    stored = put_record(blog, "r1", {"a": 1})
    description = "The value should be integer between double quotes."

    get = blog.get(record_url("r1"), headers={**ALICE, header: value}, status=400)
    put = blog.put_json(
        record_url("r1"), {"data": {"a": 2}}, headers={**ALICE, header: value}, status=400
    )

    for resp in (get, put):
        assert_invalid(
            resp, "header", header, description, message=f"{header} in header: {description}"
        )
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


@pytest.mark.parametrize("header", ["If-Modified-Since", "If-Unmodified-Since"])
def test_if_modified_since_and_if_unmodified_since_are_ignored(blog, header):
    put_record(blog, "r1", {"a": 1})

    blog.get(record_url("r1"), headers={**ALICE, header: http_date(0)}, status=200)
    blog.get(record_url("r1"), headers={**ALICE, header: formatdate(usegmt=True)}, status=200)
    blog.patch_json(
        record_url("r1"), {"data": {"a": 2}}, headers={**ALICE, header: http_date(0)}, status=200
    )


# --- Total-Objects and Next-Page ----------------------------------------------------------


def test_plural_head_counts_live_matching_objects_ignoring_limit(blog):
    for rid, kind in (("a", "x"), ("b", "x"), ("c", "y"), ("d", "x")):
        put_record(blog, rid, {"kind": kind})
    blog.delete(record_url("d"), headers=ALICE)

    for query, count in (("", 3), ("?kind=x", 2), ("?_limit=1", 3), ("?_since=0", 3)):
        resp = blog.head(f"{RECORDS}{query}", headers=ALICE, status=200)
        assert resp.body == b""
        assert resp.headers["Total-Objects"] == str(count)
        assert resp.headers["Total-Records"] == str(count)
        assert "ETag" in resp.headers


def test_next_page_is_an_absolute_url_keeping_filters_with_limit_and_token(blog):
    for rid in ("a", "b", "c"):
        put_record(blog, rid, {"kind": "x"})
    put_record(blog, "d", {"kind": "y"})

    first = blog.get(f"{RECORDS}?kind=x&_limit=2", headers=ALICE)

    assert len(first.json["data"]) == 2
    url = urlsplit(first.headers["Next-Page"])
    assert url.scheme == "http" and url.hostname == "localhost"
    assert url.path == RECORDS
    query = parse_qs(url.query)
    assert query["kind"] == ["x"]
    assert query["_limit"] == ["2"]
    assert len(query["_token"]) == 1 and query["_token"][0]
    last = blog.get(f"{url.path}?{url.query}", headers=ALICE)
    assert len(last.json["data"]) == 1
    assert "Next-Page" not in last.headers


def test_no_next_page_when_everything_fits(blog):
    put_record(blog, "a", {})

    assert "Next-Page" not in blog.get(f"{RECORDS}?_limit=1", headers=ALICE).headers
    assert "Next-Page" not in blog.get(RECORDS, headers=ALICE).headers


# --- Backoff ------------------------------------------------------------------------------


def test_backoff_is_sent_on_every_response_including_errors(make_app):
    app = create_collection(make_app(backoff=10))
    put_record(app, "r1", {})
    current = app.get(record_url("r1"), headers=ALICE).headers["ETag"]

    responses = [
        app.get("/v1/", status=200),
        app.get(RECORDS, headers=ALICE, status=200),
        app.post_json(RECORDS, {"data": {}}, headers=ALICE, status=201),
        app.get(record_url("r1"), headers={**ALICE, "If-None-Match": current}, status=304),
        app.get(record_url("r1"), headers={**ALICE, "If-Match": '"1"'}, status=412),
        app.get(record_url("nope"), headers=ALICE, status=404),
        app.get(record_url("a.b"), headers=ALICE, status=400),
        app.get(record_url("r1"), status=401),
        app.get(record_url("r1"), headers=BOB, status=403),
        app.post(record_url("r1"), headers=ALICE, status=405),
        app.get("/v1/unknown", status=404),
        app.get("/buckets", status=307),
        app.options(RECORDS, headers={"Origin": "http://a.com"}, status=400),
    ]

    for resp in responses:
        assert resp.headers.get("Backoff") == "10", resp.status


def test_no_backoff_header_by_default(blog):
    assert "Backoff" not in blog.get(RECORDS, headers=ALICE).headers


# --- Cache-Control ------------------------------------------------------------------------


def make_public_blog(app: webtest.TestApp, **collection_data: Any) -> webtest.TestApp:
    everyone = {"read": ["system.Everyone"]}
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(
        COLLECTION, {"data": collection_data, "permissions": everyone}, headers=ALICE, status=201
    )
    put_record(app, "r1", {"a": 1})
    return app


def assert_max_age(resp: Any, seconds: int) -> None:
    assert resp.headers["Cache-Control"] == f"max-age={seconds}"
    expires = parsedate_to_datetime(resp.headers["Expires"]).timestamp()
    assert abs(expires - (time.time() + seconds)) < 60


def test_authenticated_reads_are_never_cached(make_app):
    app = make_public_blog(make_app(record_cache_expires_seconds=3600), cache_expires=60)

    for url in (record_url("r1"), RECORDS, COLLECTION, BUCKET):
        resp = app.get(url, headers=ALICE)
        assert resp.headers["Cache-Control"] == "no-cache, no-store"
        assert "Expires" not in resp.headers


def test_anonymous_reads_without_configuration_are_not_cached(make_app):
    app = make_public_blog(make_app())

    for url in (record_url("r1"), RECORDS, COLLECTION):
        assert app.get(url).headers["Cache-Control"] == "no-cache, no-store"


def test_anonymous_record_reads_use_record_cache_expires_seconds(make_app):
    app = make_public_blog(make_app(record_cache_expires_seconds=3600))

    assert_max_age(app.get(record_url("r1")), 3600)
    assert_max_age(app.get(RECORDS), 3600)


def test_the_collection_specific_record_cache_setting_wins_over_the_generic_one(make_app):
    app = make_public_blog(
        make_app(
            record_cache_expires_seconds=3600, **{"blog.articles.record_cache_expires_seconds": 30}
        )
    )

    assert_max_age(app.get(record_url("r1")), 30)


def test_the_collection_cache_expires_applies_to_its_records_not_to_itself(make_app):
    app = make_public_blog(make_app(), cache_expires=60)

    assert_max_age(app.get(record_url("r1")), 60)
    assert_max_age(app.get(RECORDS), 60)
    assert app.get(COLLECTION).headers["Cache-Control"] == "no-cache, no-store"


@pytest.mark.parametrize("setting, cache_expires, expected", [(10, 60, 60), (100, 60, 100)])
def test_the_longest_of_setting_and_cache_expires_wins(make_app, setting, cache_expires, expected):
    app = make_public_blog(
        make_app(record_cache_expires_seconds=setting), cache_expires=cache_expires
    )

    assert_max_age(app.get(RECORDS), expected)


def test_a_zero_cache_expires_forbids_caching_explicitly(make_app):
    app = make_public_blog(make_app(), cache_expires=0)

    for url in (record_url("r1"), RECORDS):
        resp = app.get(url)
        assert comma_set(resp.headers["Cache-Control"]) == {
            "max-age=0",
            "must-revalidate",
            "no-cache",
            "no-store",
        }
        assert resp.headers["Pragma"] == "no-cache"
        expires = parsedate_to_datetime(resp.headers["Expires"]).timestamp()
        assert abs(expires - time.time()) < 60


def test_anonymous_bucket_reads_use_bucket_cache_expires_seconds(make_app):
    app = make_app(bucket_cache_expires_seconds=120)
    app.put_json(BUCKET, {"permissions": {"read": ["system.Everyone"]}}, headers=ALICE)

    assert_max_age(app.get(BUCKET), 120)


# --- CORS ---------------------------------------------------------------------------------


def test_exposed_headers_are_sent_without_an_origin_and_depend_on_the_endpoint(blog):
    put_record(blog, "r1", {})

    def exposed(resp: Any) -> set[str]:
        return comma_set(resp.headers["Access-Control-Expose-Headers"])

    assert exposed(blog.get(record_url("r1"), headers=ALICE)) == BASE_EXPOSED | CACHE_EXPOSED
    assert exposed(blog.get(RECORDS, headers=ALICE)) == BASE_EXPOSED | CACHE_EXPOSED | {
        "Next-Page",
        "Total-Objects",  # on GET too (total_records_on_get, tests/functional/test_totals.py)
        "Total-Records",
    }
    assert exposed(blog.head(RECORDS, headers=ALICE)) == BASE_EXPOSED | CACHE_EXPOSED | {
        "Next-Page",
        "Total-Objects",
        "Total-Records",
    }
    assert exposed(blog.get("/v1/nope", status=404)) == BASE_EXPOSED
    assert exposed(blog.get("/buckets", status=307)) == BASE_EXPOSED
    for resp in (
        blog.post_json(RECORDS, {"data": {}}, headers=ALICE, status=201),
        blog.patch_json(record_url("r1"), {"data": {"a": 1}}, headers=ALICE, status=200),
        blog.get(record_url("nope"), headers=ALICE, status=404),
        blog.get(record_url("r1"), status=401),
        blog.get("/v1/", status=200),
    ):
        assert BASE_EXPOSED <= exposed(resp)


def test_any_origin_is_allowed_by_default_with_a_star(blog):
    resp = blog.get(RECORDS, headers={**ALICE, "Origin": "http://anything.org"})

    assert resp.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "configured, origin",
    [
        ("http://good.com", "http://good.com"),
        ("http://other.com http://good.com", "http://good.com"),
        ("http://*.good.com", "http://api.good.com"),
    ],
)
def test_a_configured_origin_is_echoed(make_app, configured, origin):
    app = create_collection(make_app(cors_origins=configured))

    resp = app.get(RECORDS, headers={**ALICE, "Origin": origin})

    assert resp.headers["Access-Control-Allow-Origin"] == origin


def test_a_disallowed_origin_rejects_the_request(make_app):
    app = create_collection(make_app(cors_origins="http://good.com"))
    evil = {**ALICE, "Origin": "http://evil.com"}
    message = "Origin in header: http://evil.com not allowed"

    get = app.get(RECORDS, headers=evil, status=400)
    post = app.post_json(RECORDS, {"data": {"id": "r1"}}, headers=evil, status=400)

    for resp in (get, post):
        assert_error(resp, 400, 107, message, error="Invalid parameters")
    app.get(record_url("r1"), headers=ALICE, status=404)


@pytest.mark.parametrize(
    "url, method, allowed",
    [
        (RECORDS, "POST", {"HEAD", "GET", "POST", "DELETE", "OPTIONS"}),
        (record_url("r1"), "PATCH", {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
        (BUCKET, "PUT", {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
        ("/v1/buckets", "GET", {"HEAD", "GET", "POST", "DELETE", "OPTIONS"}),
    ],
)
def test_a_preflight_needs_no_authentication_and_lists_methods_and_headers(
    blog, url, method, allowed
):
    resp = blog.options(
        url,
        headers={
            "Origin": "http://foo.com",
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "Authorization, If-Match, X-Custom-Thing",
        },
        status=200,
    )

    assert resp.json is None
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert comma_set(resp.headers["Access-Control-Allow-Methods"]) == allowed
    allowed_headers = {h.lower() for h in comma_set(resp.headers["Access-Control-Allow-Headers"])}
    assert {"authorization", "if-match", "x-custom-thing"} <= allowed_headers
    assert resp.headers["Access-Control-Max-Age"] == "3600"
    assert "Access-Control-Allow-Credentials" not in resp.headers


def test_a_preflight_on_an_unversioned_path_is_not_redirected(blog):
    headers = {"Origin": "http://foo.com", "Access-Control-Request-Method": "GET"}

    resp = blog.options("/buckets/blog/collections", headers=headers, status=200)

    assert "Access-Control-Allow-Methods" in resp.headers


@pytest.mark.parametrize(
    "headers, message",
    [
        (
            {"Origin": "http://foo.com"},
            "Access-Control-Request-Method in header: this header is mandatory",
        ),
        (
            {"Access-Control-Request-Method": "GET"},
            "Origin in header: this header is mandatory",
        ),
        (
            {"Origin": "http://foo.com", "Access-Control-Request-Method": "PUT"},
            "Access-Control-Request-Method in header: Method not allowed",
        ),
    ],
)
def test_an_incomplete_or_impossible_preflight_is_400(blog, headers, message):
    resp = blog.options(RECORDS, headers=headers, status=400)

    assert_error(resp, 400, 107, message)


def test_a_preflight_without_origin_nor_method_reports_both(blog):
    resp = blog.options(RECORDS, status=400)

    body = assert_error(resp, 400, 107)
    descriptions = {(d["name"], d["description"]) for d in body["details"]}
    assert descriptions == {
        ("Access-Control-Request-Method", "this header is mandatory"),
        ("Origin", "this header is mandatory"),
    }


# --- Content-Type and Accept --------------------------------------------------------------


JSON_ONLY = "Content-Type header should be one of ['application/json']"


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_non_json_content_type_is_415_and_writes_nothing(blog, method, content_type):
    url = RECORDS if method == "POST" else record_url("r1")

    resp = blog.request(
        url,
        method=method,
        body=b'{"data": {"id": "r1"}}',
        headers={**ALICE, "Content-Type": content_type},
        expect_errors=True,
    )

    assert resp.status_int == 415
    assert resp.json == {
        "code": 415,
        "errno": 107,
        "error": "Invalid parameters",
        "message": JSON_ONLY,
        "details": [{"location": "header", "name": "Content-Type", "description": JSON_ONLY}],
    }
    blog.get(record_url("r1"), headers=ALICE, status=404)


def test_curl_style_form_posts_are_415(blog):
    resp = blog.post(RECORDS, params='{"data": {}}', headers=ALICE, status=415)

    assert_error(resp, 415, 107, JSON_ONLY)


def test_patch_with_a_bad_content_type_lists_the_three_accepted_types(blog):
    stored = put_record(blog, "r1", {"a": 1})

    resp = blog.patch(
        record_url("r1"),
        params=b'{"data": {"a": 2}}',
        headers=ALICE,
        content_type="text/plain",
        status=415,
    )

    body = assert_error(resp, 415, 107, error="Invalid parameters")
    assert body["message"].startswith("Content-Type header should be one of [")
    for accepted in (
        "'application/json'",
        "'application/merge-patch+json'",
        "'application/json-patch+json'",
    ):
        assert accepted in body["message"]
    assert blog.get(record_url("r1"), headers=ALICE).json["data"] == stored


def test_json_with_a_charset_parameter_is_accepted(blog):
    resp = blog.post(
        RECORDS,
        params=b'{"data": {"a": 1}}',
        headers=ALICE,
        content_type="application/json; charset=utf-8",
        status=201,
    )

    assert resp.json["data"]["a"] == 1


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_body_without_content_type_is_read_as_json(blog, method):
    url = RECORDS if method == "POST" else record_url("r1")

    resp = blog.request(url, method=method, body=b'{"data": {"id": "r1", "a": 1}}', headers=ALICE)

    assert resp.status_int == 201
    assert resp.json["data"]["a"] == 1


@pytest.mark.parametrize(
    "content_type", ["application/merge-patch+json", "application/json-patch+json"]
)
def test_patch_accepts_the_patch_content_types(blog, content_type):
    put_record(blog, "r1", {"a": 1})
    body = (
        {"data": {"a": 2}}
        if content_type == "application/merge-patch+json"
        else [{"op": "replace", "path": "/data/a", "value": 2}]
    )

    resp = blog.patch(
        record_url("r1"),
        params=json.dumps(body),
        headers=ALICE,
        content_type=content_type,
        status=200,
    )

    assert resp.json["data"]["a"] == 2


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/*"])
def test_an_accept_header_excluding_json_is_406(blog, accept):
    resp = blog.get(RECORDS, headers={**ALICE, "Accept": accept}, status=406)

    assert_error(
        resp,
        406,
        107,
        "Accept header should be one of ['application/json']",
        error="Invalid parameters",
    )


@pytest.mark.parametrize(
    "accept", ["*/*", "application/*", "application/json", "text/html, application/json;q=0.5"]
)
def test_an_accept_header_compatible_with_json_is_fine(blog, accept):
    blog.get(RECORDS, headers={**ALICE, "Accept": accept}, status=200)


def test_json_responses_have_a_bare_json_content_type(blog):
    put_record(blog, "r1", {})

    for resp in (
        blog.get(record_url("r1"), headers=ALICE),
        blog.get(RECORDS, headers=ALICE),
        blog.get(record_url("nope"), headers=ALICE, status=404),
        blog.get("/v1/"),
    ):
        assert resp.headers["Content-Type"] == "application/json"


# --- Security headers ---------------------------------------------------------------------


def test_every_response_carries_the_content_security_policy(blog):
    put_record(blog, "r1", {})

    for resp in (
        blog.get("/v1/"),
        blog.get(record_url("r1"), headers=ALICE),
        blog.get(RECORDS, headers=ALICE),
        blog.get(record_url("r1"), headers=BOB, status=403),
        blog.get("/v1/nope", status=404),
        blog.get("/buckets", status=307),
    ):
        # Kinto sends a trailing space after the last directive; it carries no meaning.
        assert resp.headers["Content-Security-Policy"].rstrip() == CSP


def test_service_responses_forbid_content_sniffing(blog):
    put_record(blog, "r1", {})

    for resp in (
        blog.get("/v1/"),
        blog.get(record_url("r1"), headers=ALICE),
        blog.get(RECORDS, headers=ALICE),
        blog.post_json(RECORDS, {"data": {}}, headers=ALICE),
    ):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_readers_get_is_not_cached_either(blog):
    blog.put_json(record_url("r1"), {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201)

    assert blog.get(record_url("r1"), headers=BOB).headers["Cache-Control"] == "no-cache, no-store"


def test_a_plural_head_answers_as_json_without_a_body(app: webtest.TestApp) -> None:
    app.put_json("/v1/buckets/headjson", {}, headers=auth("alice"))
    resp = app.head("/v1/buckets", headers=auth("alice"))
    assert resp.content_type == "application/json"
    assert resp.body == b""
    assert resp.headers["Total-Objects"] == "1"
