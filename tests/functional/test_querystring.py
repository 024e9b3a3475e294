"""Filtering, sorting, pagination and projection on plural endpoints (kinto-api.md §4).

Querystring values are JSON-coerced before use (``?n=3`` is the number, ``?n="3"`` the string),
and comparisons across types follow PostgreSQL's JSONB ordering:
``null < string < number < boolean < array < object``; a missing field is not ``null``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import webtest

from tests.support import ALICE, assert_error, assert_invalid, create_collection

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"

# One record per interesting shape of the fields ``n``, ``s``, ``tags``, ``author`` and ``flag``.
DATASET: dict[str, dict[str, Any]] = {
    "r1": {"n": 1, "s": "apple", "tags": ["a", "b"], "author": {"name": "ann"}, "flag": True},
    "r2": {"n": 5, "s": "Banana", "tags": ["b", "c"], "author": {"name": "bob"}, "flag": False},
    "r3": {"n": "3", "s": "cherry pie", "tags": [], "author": {"name": "Ann"}},
    "r4": {"n": None, "s": "date"},
    "r5": {"s": "elder"},
    "r6": {"n": 10, "tags": "a"},
}
EVERY = sorted(DATASET)


def record_url(record_id: str) -> str:
    return f"{RECORDS}/{record_id}"


def put_record(app: webtest.TestApp, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return app.put_json(record_url(record_id), {"data": data}, headers=ALICE, status=201).json[
        "data"
    ]


@pytest.fixture
def dataset(blog: webtest.TestApp) -> webtest.TestApp:
    for record_id, data in DATASET.items():
        put_record(blog, record_id, data)
    return blog


def listed(app: webtest.TestApp, query: str) -> list[dict[str, Any]]:
    return app.get(f"{RECORDS}?{query}", headers=ALICE, status=200).json["data"]


def ids(app: webtest.TestApp, query: str) -> list[str]:
    """Ids returned by the query, in response order."""
    return [r["id"] for r in listed(app, query)]


def q(value: Any) -> str:
    """A JSON value, URL-encoded for a querystring."""
    return quote(json.dumps(value, separators=(",", ":")), safe="")


def later_than_tomorrow() -> int:
    return int((time.time() + 48 * 3600) * 1000)


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# --- Filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, expected",
    [
        ("n=1", ["r1"]),
        ("eq_n=5", ["r2"]),
        ("n=3", []),
        (f"n={q('3')}", ["r3"]),
        ("n=null", ["r4"]),
        ("flag=true", ["r1"]),
        ("flag=false", ["r2"]),
        ("s=apple", ["r1"]),
        ("s=APPLE", []),
        (f"tags={q(['a', 'b'])}", ["r1"]),
        ("n=1&s=apple", ["r1"]),
        ("n=1&s=Banana", []),
    ],
)
def test_equality_compares_json_values_including_their_type(dataset, query, expected):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("author.name=ann", ["r1"]),
        ("in_author.name=ann,bob", ["r1", "r2"]),
        ("not_author.name=ann", ["r2", "r3", "r4", "r5", "r6"]),
        ("like_author.name=ANN", ["r1", "r3"]),
        ("has_author.name=true", ["r1", "r2", "r3"]),
    ],
)
def test_dotted_field_names_filter_on_nested_values(dataset, query, expected):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        # A missing field matches not_, exclude_, gt_ and min_ ...
        ("not_n=1", ["r2", "r3", "r4", "r5", "r6"]),
        ("not_s=apple", ["r2", "r3", "r4", "r5", "r6"]),
        ("exclude_n=1,5", ["r3", "r4", "r5", "r6"]),
        ("gt_n=3", ["r2", "r5", "r6"]),
        ("min_n=5", ["r2", "r5", "r6"]),
        # ... and never eq, in_, like_, contains_, contains_any_, lt_ nor max_.
        ("in_n=1,5,10", ["r1", "r2", "r6"]),
        ("in_s=apple,date,nothing", ["r1", "r4"]),
        ("lt_n=5", ["r1", "r3", "r4"]),
        ("max_n=5", ["r1", "r2", "r3", "r4"]),
        ("like_s=e", ["r1", "r3", "r4", "r5"]),
        ("contains_tags=b", ["r1", "r2"]),
        ("contains_any_tags=a", ["r1"]),
    ],
)
def test_comparison_operators_follow_the_missing_field_rules(dataset, query, expected):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        # "3" is a string, and strings sort before every number.
        ("lt_n=5", ["r1", "r3", "r4"]),
        (f"lt_n={q('4')}", ["r3", "r4"]),
        ("gt_n=null", ["r1", "r2", "r3", "r5", "r6"]),
        # Booleans sort after numbers, so every number is below true.
        ("lt_n=true", ["r1", "r2", "r3", "r4", "r6"]),
    ],
)
def test_comparisons_across_types_follow_jsonb_ordering(dataset, query, expected):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("in_n=1,5", ["r1", "r2"]),
        (f"in_n={q('3')},1", ["r1", "r3"]),
        ("in_n=3", []),
        ("exclude_n=null,1", ["r2", "r3", "r5", "r6"]),
        (f"exclude_n={q('3')}", ["r1", "r2", "r4", "r5", "r6"]),
    ],
)
def test_in_and_exclude_coerce_each_comma_separated_item(dataset, query, expected):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("like_s=an", ["r2"]),
        ("like_s=AN", ["r2"]),
        ("like_s=*e", ["r1", "r3", "r4"]),
        ("like_s=a*", ["r1"]),
        ("like_s=*an*a", ["r2"]),
        ("like_s=che*ie", ["r3"]),
        ("like_s=pie", ["r3"]),
        ("like_s=*", ["r1", "r2", "r3", "r4", "r5"]),
    ],
)
def test_like_is_case_insensitive_with_star_wildcards_and_contains_without_them(
    dataset, query, expected
):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("has_n=true", ["r1", "r2", "r3", "r4", "r6"]),
        ("has_n=1", ["r1", "r2", "r3", "r4", "r6"]),
        ("has_n=false", ["r5"]),
        ("has_n=0", ["r5"]),
        ("has_tags=true", ["r1", "r2", "r3", "r6"]),
        ("has_nothing=true", []),
        ("has_nothing=false", EVERY),
    ],
)
def test_has_tests_presence_even_of_a_null_value(dataset, query, expected):
    assert sorted(ids(dataset, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ("contains_tags=a", ["r1"]),
        (f"contains_tags={q(['a'])}", ["r1"]),
        (f"contains_tags={q(['b'])}", ["r1", "r2"]),
        (f"contains_tags={q(['a', 'b'])}", ["r1"]),
        (f"contains_tags={q(['a', 'c'])}", []),
        (f"contains_any_tags={q(['a', 'c'])}", ["r1", "r2"]),
        ("contains_any_tags=c", ["r2"]),
        (f"contains_any_tags={q(['z'])}", []),
    ],
)
def test_contains_needs_all_values_and_contains_any_one_of_them_in_arrays_only(
    dataset, query, expected
):
    assert sorted(ids(dataset, query)) == expected


def test_unknown_underscore_parameters_are_ignored(dataset):
    assert sorted(ids(dataset, "_whatever=1&_foo=bar")) == EVERY


def test_filters_apply_to_head_counts_and_plural_delete(dataset):
    head = dataset.head(f"{RECORDS}?gt_n=3", headers=ALICE, status=200)
    assert head.headers["Total-Objects"] == "3"

    deleted = dataset.delete(f"{RECORDS}?gt_n=3", headers=ALICE, status=200).json["data"]

    assert sorted(d["id"] for d in deleted) == ["r2", "r5", "r6"]
    assert sorted(ids(dataset, "")) == ["r1", "r3", "r4"]


def test_numeric_looking_ids_must_be_quoted_in_filters(blog):
    put_record(blog, "123", {})
    put_record(blog, "abc", {})

    assert ids(blog, f"id={q('123')}") == ["123"]
    assert sorted(ids(blog, f"in_id={q('123')},abc")) == ["123", "abc"]
    assert ids(blog, "id=abc") == ["abc"]


# --- Validation errors --------------------------------------------------------------------


def assert_querystring_error(resp: Any, message: str | None, description: str) -> None:
    body = assert_error(resp, 400, 107, message, error="Invalid parameters")
    assert body["details"][0]["location"] == "querystring"
    assert body["details"][0]["description"] == description


@pytest.mark.parametrize(
    "query, message, description",
    [
        ("_limit=abc", '_limit in querystring: "abc" is not a number', '"abc" is not a number'),
        (
            "_limit=-1",
            "_limit in querystring: -1 is less than minimum value 0",
            "-1 is less than minimum value 0",
        ),
        ("_since=true", '_since in querystring: "true" is not a number', '"true" is not a number'),
        (
            "_before=true",
            '_before in querystring: "true" is not a number',
            '"true" is not a number',
        ),
        ("_since=abc", '_since in querystring: "abc" is not a number', '"abc" is not a number'),
        ("_since=-1", None, None),
        ("id=123", "123 is not a string: {'id': ''}", "123 is not a string: {'id': ''}"),
        ("in_id=1,2", "Invalid value for in_id", "Invalid value for in_id"),
        ("exclude_id=1", "Invalid value for exclude_id", "Invalid value for exclude_id"),
        ("in_last_modified=a,b", None, None),
        ("last_modified=abc", None, None),
        ("last_modified=-1", None, None),
        ("like_n=1", "Invalid value for like_n", "Invalid value for like_n"),
        ("contains_id=a", None, "Field 'id' is not an array"),
        ("contains_any_id=a", None, "Field 'id' is not an array"),
        ("contains_last_modified=1", None, "Field 'last_modified' is not an array"),
        ("s=a%00b", None, "Invalid character 0x00"),
        ("s%00x=1", None, "Invalid character 0x00"),
    ],
)
def test_invalid_querystrings_are_rejected_with_exact_messages(
    dataset, query, message, description
):
    resp = dataset.get(f"{RECORDS}?{query}", headers=ALICE, status=400)

    if description is None:
        assert_error(resp, 400, 107)
    else:
        assert_querystring_error(resp, message, description)


@pytest.mark.parametrize("param", ["_since", "_before", "last_modified"])
def test_timestamps_more_than_a_day_ahead_are_rejected(dataset, param):
    resp = dataset.get(f"{RECORDS}?{param}={later_than_tomorrow()}", headers=ALICE, status=400)

    assert_querystring_error(resp, f"Invalid value for {param}", f"Invalid value for {param}")


def test_querystring_errors_also_apply_to_plural_delete_which_then_deletes_nothing(dataset):
    dataset.delete(f"{RECORDS}?_limit=abc", headers=ALICE, status=400)
    dataset.delete(f"{RECORDS}?in_id=1,2", headers=ALICE, status=400)

    assert sorted(ids(dataset, "")) == EVERY


# --- Polling: _since, _before, _to and tombstones -----------------------------------------


@pytest.fixture
def timeline(blog: webtest.TestApp) -> dict[str, int]:
    return {rid: put_record(blog, rid, {"kind": "x"})["last_modified"] for rid in "abc"}


def test_since_returns_strictly_newer_objects(blog, timeline):
    assert sorted(ids(blog, f"_since={timeline['a']}")) == ["b", "c"]
    assert sorted(ids(blog, f"_since={q(str(timeline['a']))}")) == ["b", "c"]
    assert ids(blog, f"_since={timeline['c']}") == []


def test_before_returns_strictly_older_objects(blog, timeline):
    assert sorted(ids(blog, f"_before={timeline['c']}")) == ["a", "b"]
    assert sorted(ids(blog, f"_before={q(str(timeline['c']))}")) == ["a", "b"]
    assert ids(blog, f"_since={timeline['a']}&_before={timeline['c']}") == ["b"]


def test_to_is_a_deprecated_alias_of_before_that_adds_an_alert(blog, timeline):
    resp = blog.get(f"{RECORDS}?_to={timeline['c']}", headers=ALICE, status=200)

    assert sorted(r["id"] for r in resp.json["data"]) == ["a", "b"]
    assert json.loads(resp.headers["Alert"]) == {
        "code": "soft-eol",
        "message": "_to is now deprecated, you should use _before instead",
        "url": (
            "https://kinto.readthedocs.io/en/2.4.0/api/resource.html"
            "#list-of-available-url-parameters"
        ),
    }
    assert "Alert" not in blog.get(f"{RECORDS}?_before={timeline['c']}", headers=ALICE).headers


@pytest.mark.parametrize(
    "operator, expected", [("gt", ["c"]), ("min", ["b", "c"]), ("lt", ["a"]), ("", ["b"])]
)
def test_last_modified_can_be_filtered_with_operators(blog, timeline, operator, expected):
    name = f"{operator}_last_modified" if operator else "last_modified"

    assert sorted(ids(blog, f"{name}={timeline['b']}")) == expected


def test_tombstones_appear_only_when_filtering_on_last_modified(blog, timeline):
    tombstone = blog.delete(record_url("b"), headers=ALICE).json["data"]
    expected_tombstone = {"id": "b", "last_modified": tombstone["last_modified"], "deleted": True}
    just_after = tombstone["last_modified"] + 1

    assert sorted(ids(blog, "")) == ["a", "c"]
    assert sorted(ids(blog, "kind=x")) == ["a", "c"]
    assert ids(blog, "deleted=true") == []
    for query in (
        f"_since={timeline['a']}",
        f"_before={just_after}",
        f"_to={just_after}",
        "gt_last_modified=0",
        f"last_modified={tombstone['last_modified']}",
    ):
        assert expected_tombstone in listed(blog, query), query
    assert listed(blog, f"_since={timeline['c']}") == [expected_tombstone]


def test_since_polling_sees_creations_updates_and_deletions(blog, timeline):
    etag = blog.get(RECORDS, headers=ALICE).headers["ETag"]
    put_record(blog, "d", {})
    blog.patch_json(record_url("a"), {"data": {"kind": "y"}}, headers=ALICE)
    blog.delete(record_url("c"), headers=ALICE)

    changes = {r["id"]: r for r in listed(blog, f"_since={quote(etag)}")}

    assert sorted(changes) == ["a", "c", "d"]
    assert changes["a"]["kind"] == "y"
    assert changes["c"]["deleted"] is True


# --- Sorting ------------------------------------------------------------------------------


@pytest.fixture
def sortable(blog: webtest.TestApp) -> webtest.TestApp:
    # Created in this order, so s5 is the most recent.
    rows = [
        ("s1", {"cat": "x", "v": 2, "meta": {"rank": 3}}),
        ("s2", {"cat": "x", "v": 1, "meta": {"rank": 1}}),
        ("s3", {"cat": "y", "v": 3, "meta": {"rank": 2}}),
        ("s4", {"cat": "a", "v": 3}),
        ("s5", {"v": 0, "meta": {"rank": 0}}),
    ]
    for record_id, data in rows:
        put_record(blog, record_id, data)
    return blog


@pytest.mark.parametrize(
    "sort, expected",
    [
        ("", ["s5", "s4", "s3", "s2", "s1"]),
        ("last_modified", ["s1", "s2", "s3", "s4", "s5"]),
        ("-last_modified", ["s5", "s4", "s3", "s2", "s1"]),
        ("v", ["s5", "s2", "s1", "s4", "s3"]),
        ("cat,-v", ["s4", "s1", "s2", "s3", "s5"]),
        ("-cat,v", ["s5", "s3", "s2", "s1", "s4"]),
        ("%2Bcat,%2Bv", ["s4", "s2", "s1", "s3", "s5"]),
        # Ties fall back to -last_modified: s2 is newer than s1.
        ("cat", ["s4", "s2", "s1", "s3", "s5"]),
        ("meta.rank", ["s5", "s2", "s3", "s1", "s4"]),
        ("-meta.rank", ["s4", "s1", "s3", "s2", "s5"]),
        ("id", ["s1", "s2", "s3", "s4", "s5"]),
        ("-id", ["s5", "s4", "s3", "s2", "s1"]),
        ("unknown", ["s5", "s4", "s3", "s2", "s1"]),
        # Items that are not field names are dropped silently.
        ("-", ["s5", "s4", "s3", "s2", "s1"]),
        ("cat,-,!v", ["s4", "s2", "s1", "s3", "s5"]),
    ],
)
def test_sort_orders_by_each_field_in_turn(sortable, sort, expected):
    query = f"_sort={sort}" if sort else ""

    assert ids(sortable, query) == expected


def test_sort_puts_missing_fields_last_ascending_and_first_descending_across_types(dataset):
    # JSONB order: null < string < number; a missing field is not null.
    assert ids(dataset, "_sort=n") == ["r4", "r3", "r1", "r2", "r6", "r5"]
    assert ids(dataset, "_sort=-n") == ["r5", "r6", "r2", "r1", "r3", "r4"]


# --- Limit and pagination -----------------------------------------------------------------


def walk(app: webtest.TestApp, url: str) -> tuple[list[str], list[int]]:
    """Follow Next-Page links from ``url``; return every id seen and the size of each page."""
    seen: list[str] = []
    sizes: list[int] = []
    while url:
        resp = app.get(url, headers=ALICE, status=200)
        page = [r["id"] for r in resp.json["data"]]
        seen.extend(page)
        sizes.append(len(page))
        next_page = resp.headers.get("Next-Page")
        url = relative(next_page) if next_page else ""
        assert len(sizes) < 50, "pagination does not terminate"
    return seen, sizes


@pytest.fixture
def seven(blog: webtest.TestApp) -> webtest.TestApp:
    for i in range(7):
        put_record(blog, f"p{i}", {"group": i % 3, "odd": i % 2 == 1})
    return blog


def test_limit_restricts_the_page_and_next_page_walks_everything_exactly_once(seven):
    everything = ids(seven, "")

    seen, sizes = walk(seven, f"{RECORDS}?_limit=3")

    assert sizes == [3, 3, 1]
    assert seen == everything
    assert len(set(seen)) == 7


@pytest.mark.parametrize("sort", ["group", "-group,id", "odd,-group", "-last_modified", "id"])
@pytest.mark.parametrize("limit", [1, 2, 4])
def test_pagination_follows_the_sort_order_with_ties(seven, sort, limit):
    everything = ids(seven, f"_sort={sort}")

    seen, _ = walk(seven, f"{RECORDS}?_sort={sort}&_limit={limit}")

    assert seen == everything


def test_pagination_keeps_the_filters(seven):
    seen, sizes = walk(seven, f"{RECORDS}?odd=true&_limit=2")

    assert sorted(seen) == ["p1", "p3", "p5"]
    assert sizes == [2, 1]


def test_a_record_deleted_between_pages_neither_duplicates_nor_skips_the_rest(seven):
    first = seven.get(f"{RECORDS}?_limit=3", headers=ALICE)
    page1 = [r["id"] for r in first.json["data"]]
    seven.delete(record_url(page1[0]), headers=ALICE)
    put_record(seven, "newer", {})

    rest, _ = walk(seven, relative(first.headers["Next-Page"]))

    assert rest == ["p3", "p2", "p1", "p0"]


def test_limit_zero_means_no_explicit_limit(seven):
    resp = seven.get(f"{RECORDS}?_limit=0", headers=ALICE)

    assert len(resp.json["data"]) == 7
    assert "Next-Page" not in resp.headers


def test_paginate_by_caps_every_page_and_next_page_carries_the_capped_limit(make_app):
    app = create_collection(make_app(paginate_by=2))
    for i in range(5):
        put_record(app, f"p{i}", {})

    for query in ("", "?_limit=100", "?_limit=0"):
        resp = app.get(f"{RECORDS}{query}", headers=ALICE)
        assert len(resp.json["data"]) == 2
        assert parse_qs(urlsplit(resp.headers["Next-Page"]).query)["_limit"] == ["2"]
    assert len(app.get(f"{RECORDS}?_limit=1", headers=ALICE).json["data"]) == 1

    seen, sizes = walk(app, RECORDS)

    assert sizes == [2, 2, 1]
    assert sorted(seen) == [f"p{i}" for i in range(5)]


def test_storage_max_fetch_size_bounds_an_unpaginated_list(make_app):
    app = create_collection(make_app(storage_max_fetch_size=3))
    for i in range(4):
        put_record(app, f"p{i}", {})

    resp = app.get(RECORDS, headers=ALICE)

    assert len(resp.json["data"]) == 3
    assert "Next-Page" in resp.headers
    assert sorted(walk(app, RECORDS)[0]) == [f"p{i}" for i in range(4)]


def test_plural_delete_with_a_limit_deletes_one_page_and_links_the_next(seven):
    resp = seven.delete(f"{RECORDS}?_limit=3", headers=ALICE, status=200)

    assert sorted(d["id"] for d in resp.json["data"]) == ["p4", "p5", "p6"]
    assert "Next-Page" in resp.headers
    assert ids(seven, "") == ["p3", "p2", "p1", "p0"]


def token(content: Any) -> str:
    raw = content if isinstance(content, str) else json.dumps(content)
    return quote(base64.b64encode(raw.encode()).decode(), safe="")


NONCE = "pagination-token-00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    "bad_token",
    [
        "abc",
        "!!!",
        token("{not json"),
        token([]),
        token({"last_object": "x", "offset": 1, "nonce": NONCE}),
        token({"last_object": {"last_modified": 1}, "offset": -1, "nonce": NONCE}),
        token({"last_object": {"last_modified": 1}, "offset": True, "nonce": NONCE}),
        token({"last_object": {"last_modified": "abc"}, "offset": 1, "nonce": NONCE}),
        token({"last_object": {"last_modified": 1, "a": {"b": 1}}, "offset": 1, "nonce": NONCE}),
        token({"last_object": {"last_modified": 1, "a": [1]}, "offset": 1, "nonce": NONCE}),
    ],
)
def test_an_invalid_token_is_400(seven, bad_token):
    resp = seven.get(f"{RECORDS}?_limit=2&_token={bad_token}", headers=ALICE, status=400)

    assert_invalid(
        resp,
        "querystring",
        None,
        "_token has invalid content",
        message="querystring: _token has invalid content",
    )


# --- _fields ------------------------------------------------------------------------------


def test_fields_projects_plural_results_and_always_keeps_id_and_last_modified(dataset):
    for record in listed(dataset, "_fields=s"):
        expected = {"id", "last_modified"} | ({"s"} if "s" in DATASET[record["id"]] else set())
        assert set(record) == expected
        if "s" in record:
            assert record["s"] == DATASET[record["id"]]["s"]


def test_fields_accepts_several_and_dotted_names(dataset):
    records = {r["id"]: r for r in listed(dataset, "_fields=author.name,flag")}

    assert set(records["r1"]) == {"id", "last_modified", "author", "flag"}
    assert records["r1"]["author"] == {"name": "ann"}
    assert records["r2"]["flag"] is False
    assert set(records["r4"]) == {"id", "last_modified"}


def test_fields_on_an_object_get_drops_the_permissions(dataset):
    resp = dataset.get(f"{record_url('r1')}?_fields=s,author.name", headers=ALICE, status=200)

    assert set(resp.json) == {"data"}
    data = resp.json["data"]
    assert set(data) == {"id", "last_modified", "s", "author"}
    assert data["author"] == {"name": "ann"}
    assert data["s"] == "apple"
