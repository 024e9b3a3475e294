"""Behaviours where we answered otherwise than Kinto 26.5.0 (issue 10), one test per item.

Each expected answer was read from the real Kinto 26.5.0 (memory backend, the settings of
``tests/conftest.py``), asked black box; the tests are named after the item they cover.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from tests.support import assert_error, auth, default_bucket_id, userid

ALICE = auth("alice")
BOB = auth("bob")
RECORDS = "/v1/buckets/b1/collections/c1/records"


def put(
    app: webtest.TestApp, path: str, body: Any = None, headers: Any = None, status: int | str = "2*"
) -> webtest.TestResponse:
    return app.put_json(
        path, body if body is not None else {}, headers=headers or ALICE, status=status
    )


@pytest.fixture
def three_records(app: webtest.TestApp) -> webtest.TestApp:
    put(app, "/v1/buckets/b1")
    put(app, "/v1/buckets/b1/collections/c1")
    for i in range(3):
        put(app, f"{RECORDS}/r{i}", {"data": {"n": i, "s": "x", "a": [1]}})
    return app


# -- item 1: empty and unparsable reserved parameters and filters ---------------------------

# Every reserved parameter and every filter operator, empty, as Kinto answers it on a
# collection of 3 records: the number of records listed (and deleted) or the 400 message.
# An empty filter value is a filter on the empty value; what Kinto reads as "no condition"
# (`min_n=`, `not_n=`, `exclude_id=`, `like_s=`, an empty `_limit`...) stays so.
EMPTY_PARAMETERS: list[tuple[str, int | str]] = [
    ("_limit=", 3),
    ("_limit=%20", 3),
    ("_sort=", 3),
    ("_token=", 3),
    ("_fields=", 3),
    ("_since=", "Invalid value for _since"),
    ("_before=", "Invalid value for _before"),
    ("_to=", "Invalid value for _to"),
    ("last_modified=", "Invalid value for last_modified"),
    ("id=", 0),
    ("n=", 0),
    ("eq_n=", 0),
    ("lt_n=", 0),
    ("gt_n=", 3),
    ("min_n=", 3),
    ("max_n=", 0),
    ("not_n=", 3),
    ("in_n=", 0),
    ("exclude_n=", 3),
    ("like_s=", 3),
    ("has_n=", 0),
    ("contains_a=", 0),
    ("contains_any_a=", 0),
    ("eq_id=", 0),
    ("lt_id=", 0),
    ("gt_id=", 3),
    ("min_id=", 3),
    ("max_id=", 0),
    ("not_id=", 3),
    ("in_id=", 0),
    ("exclude_id=", 3),
    ("like_id=", 3),
    ("has_id=", 0),
    *[
        (f"{op}_last_modified=", f"Invalid value for {op}_last_modified")
        for op in ("eq", "lt", "gt", "min", "max", "not", "in", "exclude", "like", "has")
    ],
    # Other values that are no timestamp at all.
    ("_since=[]", "Invalid value for _since"),
    ("_before={}", "Invalid value for _before"),
    ("last_modified=null", "Invalid value for last_modified"),
    ("_since=%20", '_since in querystring: " " is not a number'),
    ("_since=abc", '_since in querystring: "abc" is not a number'),
    ("_before=-1", "_before in querystring: -1 is less than minimum value 0"),
    ("id=null", 0),
    ("id=0", 0),
]


@pytest.mark.parametrize(("query", "expected"), EMPTY_PARAMETERS)
def test_item_1_an_empty_or_unparsable_parameter_is_read_as_kinto_reads_it_on_get(
    three_records: webtest.TestApp, query: str, expected: int | str
) -> None:
    resp = three_records.get(f"{RECORDS}?{query}", headers=ALICE, status="*")
    if isinstance(expected, int):
        assert resp.status_int == 200, resp.body
        assert len(resp.json["data"]) == expected
    else:
        assert_error(resp, 400, 107, expected)
        assert resp.json["details"][0]["location"] == "querystring"


@pytest.mark.parametrize(("query", "expected"), EMPTY_PARAMETERS)
def test_item_1_a_plural_delete_never_runs_with_a_parameter_it_failed_to_read(
    three_records: webtest.TestApp, query: str, expected: int | str
) -> None:
    resp = three_records.delete(f"{RECORDS}?{query}", headers=ALICE, status="*")
    left = len(three_records.get(RECORDS, headers=ALICE).json["data"])
    if isinstance(expected, int):
        assert resp.status_int == 200, resp.body
        assert len(resp.json["data"]) == expected
        assert left == 3 - expected
    else:
        assert_error(resp, 400, 107, expected)
        assert left == 3


def test_item_1_delete_with_an_empty_before_or_id_keeps_the_collection(
    three_records: webtest.TestApp,
) -> None:
    # The two requests that wiped a collection of 3 records.
    three_records.delete(f"{RECORDS}?_before=", headers=ALICE, status=400)
    assert three_records.delete(f"{RECORDS}?id=", headers=ALICE).json["data"] == []
    assert len(three_records.get(RECORDS, headers=ALICE).json["data"]) == 3


# -- item 2: null permission values -------------------------------------------------------


def test_item_2_null_permission_values_are_accepted_and_ignored(app: webtest.TestApp) -> None:
    me = userid("alice")
    resp = put(
        app,
        "/v1/buckets/n1",
        {"permissions": {"collection:create": None, "read": ["bob"]}},
        status=201,
    )
    assert resp.json["permissions"] == {"read": ["bob"], "write": [me]}
    resp = app.post_json(
        "/v1/buckets",
        {"data": {"id": "n2"}, "permissions": {"write": None}},
        headers=ALICE,
        status=201,
    )
    assert resp.json["permissions"] == {"write": [me]}
    # Whatever its name, a null is no permission: Kinto does not check the name either.
    resp = put(
        app,
        "/v1/buckets/n1/collections/c",
        {"permissions": {"record:create": None, "bogus": None}},
        status=201,
    )
    assert resp.json["permissions"] == {"write": [me]}
    # A plain PATCH ignores it too: the bucket keeps its readers.
    resp = app.patch_json("/v1/buckets/n1", {"permissions": {"read": None}}, headers=ALICE)
    assert resp.json["permissions"] == {"read": ["bob"], "write": [me]}
    resp = put(
        app,
        "/v1/buckets/n1/collections/c/records/r",
        {"permissions": {"read": None, "write": ["x"]}},
        status=201,
    )
    assert resp.json["permissions"] == {"write": sorted([me, "x"])}


def test_item_2_a_null_principal_is_still_refused(app: webtest.TestApp) -> None:
    put(app, "/v1/buckets/n1")
    resp = put(app, "/v1/buckets/n1/groups/g", {"permissions": {"read": [None]}}, status=400)
    assert_error(resp, 400, 107, "permissions.read.0 in body: Required")
    resp = put(app, "/v1/buckets/n1/groups/g", {"permissions": None}, status=400)
    assert resp.json["details"][0]["name"] == "permissions"


# -- item 3: the personal bucket created on the fly survives a failed request -------------

NEWCOMER = auth("newcomer")
NEWCOMER_BUCKET = default_bucket_id(userid("newcomer"))


def test_item_3_the_personal_bucket_survives_a_request_that_then_fails(
    app: webtest.TestApp,
) -> None:
    resp = app.patch_json(
        "/v1/buckets/default/collections/c1/records/missing",
        {"data": {}},
        headers=NEWCOMER,
        status=404,
    )
    assert resp.json["details"] == {"id": "missing", "resource_name": "record"}
    resp = app.get(f"/v1/buckets/{NEWCOMER_BUCKET}/collections/c1", headers=NEWCOMER)
    assert resp.json["data"]["id"] == "c1"
    assert resp.json["permissions"] == {"write": [userid("newcomer")]}
    # What the failed request itself would have written is still undone.
    app.get("/v1/buckets/default/collections/c1/records/missing", headers=NEWCOMER, status=404)


def test_item_3_a_failed_request_keeps_only_the_implicit_creations(
    app: webtest.TestApp,
) -> None:
    # A body that fails validation after the bucket was made: the bucket stays, the
    # records list stays empty.
    app.put_json(
        "/v1/buckets/default/collections/c1/records/r1",
        {"data": "nope"},
        headers=NEWCOMER,
        status=400,
    )
    records = app.get(f"/v1/buckets/{NEWCOMER_BUCKET}/collections/c1/records", headers=NEWCOMER)
    assert records.json["data"] == []


def test_item_3_the_personal_bucket_survives_a_failed_subrequest_of_a_batch(
    app: webtest.TestApp,
) -> None:
    body = {
        "requests": [
            {
                "method": "PATCH",
                "path": "/buckets/default/collections/c2/records/missing",
                "body": {"data": {}},
            },
            {
                "method": "PUT",
                "path": "/buckets/default/collections/c3/records/r",
                "body": {"data": []},
            },
        ]
    }
    resp = app.post_json("/v1/batch", body, headers=NEWCOMER)
    assert [r["status"] for r in resp.json["responses"]] == [404, 400]
    listed = app.get("/v1/buckets/default/collections", headers=NEWCOMER).json["data"]
    assert sorted(c["id"] for c in listed) == ["c2", "c3"]
    records = app.get(f"/v1/buckets/{NEWCOMER_BUCKET}/collections/c3/records", headers=NEWCOMER)
    assert records.json["data"] == []
