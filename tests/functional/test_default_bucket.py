"""The personal ``default`` bucket (kinto-api.md §8, §13.10, §13.11).

``/buckets/default`` is an alias of a bucket whose id is derived from the user id; the
bucket, and the collection named in the URL, are created on first use.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import webtest

from tests.support import (
    ALICE,
    BOB,
    UNAUTHORIZED_BODY,
    assert_error,
    default_bucket_id,
    userid,
)

ALICE_BUCKET = default_bucket_id(userid("alice"))
TASKS = "/v1/buckets/default/collections/tasks"


def test_the_id_formula_matches_the_value_observed_on_kinto() -> None:
    # kinto-api.md §8: HMAC-SHA256(b"", b"account:alice")[:32] formatted as a UUID.
    assert default_bucket_id("account:alice") == "73141b75-6d02-0c03-6aee-82ad1ea55d41"


# Id derivation.


def test_the_default_bucket_id_uses_an_empty_secret_by_default(app: webtest.TestApp) -> None:
    # kinto-api.md §13.10: the key is "", not userid_hmac_secret (here "test-secret").
    resp = app.get("/v1/buckets/default", headers=ALICE, status=200)
    assert resp.json["data"]["id"] == ALICE_BUCKET
    assert default_bucket_id(userid("alice"), "test-secret") != ALICE_BUCKET


def test_the_root_gives_the_default_bucket_id_of_the_user(app: webtest.TestApp) -> None:
    assert app.get("/v1/", headers=ALICE).json["user"]["bucket"] == ALICE_BUCKET
    # Reading the root does not create the bucket.
    assert app.get("/v1/buckets", headers=ALICE).json == {"data": []}


def test_the_default_bucket_hmac_secret_setting_changes_the_id(make_app: Any) -> None:
    app = make_app(default_bucket_hmac_secret="bucketsalt")
    expected = default_bucket_id(userid("alice"), "bucketsalt")
    assert expected != ALICE_BUCKET
    assert app.get("/v1/", headers=ALICE).json["user"]["bucket"] == expected
    assert app.get("/v1/buckets/default", headers=ALICE).json["data"]["id"] == expected


def test_each_user_has_his_own_default_bucket(app: webtest.TestApp) -> None:
    bob_bucket = app.get("/v1/buckets/default", headers=BOB).json["data"]["id"]
    assert bob_bucket == default_bucket_id(userid("bob"))
    assert bob_bucket != ALICE_BUCKET


# Implicit creation.


def test_getting_the_default_bucket_creates_it_for_its_owner(app: webtest.TestApp) -> None:
    resp = app.get("/v1/buckets/default", headers=ALICE, status=200)
    assert resp.json["permissions"] == {"write": [userid("alice")]}
    assert isinstance(resp.json["data"]["last_modified"], int)
    real = app.get(f"/v1/buckets/{ALICE_BUCKET}", headers=ALICE, status=200)
    assert real.json["data"] == resp.json["data"]
    assert [b["id"] for b in app.get("/v1/buckets", headers=ALICE).json["data"]] == [ALICE_BUCKET]


def test_the_implicit_bucket_is_created_only_once(app: webtest.TestApp) -> None:
    first = app.get("/v1/buckets/default", headers=ALICE).json["data"]
    second = app.get("/v1/buckets/default", headers=ALICE).json["data"]
    assert first == second


def test_putting_the_default_bucket_creates_it_explicitly(app: webtest.TestApp) -> None:
    resp = app.put_json("/v1/buckets/default", {"data": {"title": "mine"}}, headers=ALICE)
    assert resp.status_int == 201
    assert resp.json["data"]["id"] == ALICE_BUCKET
    assert resp.json["data"]["title"] == "mine"
    resp = app.put_json("/v1/buckets/default", {"data": {"title": "still mine"}}, headers=ALICE)
    assert resp.status_int == 200


def test_using_a_collection_creates_the_bucket_and_the_collection(app: webtest.TestApp) -> None:
    resp = app.get(f"{TASKS}/records", headers=ALICE, status=200)
    assert resp.json == {"data": []}
    resp = app.get(f"/v1/buckets/{ALICE_BUCKET}/collections/tasks", headers=ALICE, status=200)
    assert resp.json["data"]["id"] == "tasks"
    assert resp.json["permissions"] == {"write": [userid("alice")]}
    resp = app.get("/v1/buckets/default/collections", headers=ALICE, status=200)
    assert [c["id"] for c in resp.json["data"]] == ["tasks"]


def test_putting_a_collection_of_the_default_bucket_creates_it_explicitly(
    app: webtest.TestApp,
) -> None:
    resp = app.put_json(TASKS, {"data": {"cache_expires": 10}}, headers=ALICE, status=201)
    assert resp.json["data"]["id"] == "tasks"
    assert resp.json["data"]["cache_expires"] == 10


def test_implicit_creation_leaves_existing_objects_alone(app: webtest.TestApp) -> None:
    app.put_json("/v1/buckets/default", {"data": {"title": "b"}}, headers=ALICE, status=201)
    app.put_json(TASKS, {"data": {"title": "c"}}, headers=ALICE, status=201)
    app.get(f"{TASKS}/records", headers=ALICE, status=200)
    assert app.get("/v1/buckets/default", headers=ALICE).json["data"]["title"] == "b"
    assert app.get(TASKS, headers=ALICE).json["data"]["title"] == "c"


def test_a_deleted_default_bucket_is_recreated_empty_on_next_use(app: webtest.TestApp) -> None:
    app.post_json(f"{TASKS}/records", {"data": {"x": 1}}, headers=ALICE, status=201)
    resp = app.delete("/v1/buckets/default", headers=ALICE, status=200)
    assert resp.json["data"]["id"] == ALICE_BUCKET
    assert resp.json["data"]["deleted"] is True
    assert app.get(f"{TASKS}/records", headers=ALICE).json == {"data": []}


# Records through the alias.


def test_records_are_created_read_updated_and_deleted_through_the_alias(
    app: webtest.TestApp,
) -> None:
    body = {"data": {"description": "Write a tutorial explaining Kinto", "status": "todo"}}
    resp = app.post_json(f"{TASKS}/records", body, headers=ALICE, status=201)
    record = resp.json["data"]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", record["id"]
    )
    assert resp.json["permissions"] == {"write": [userid("alice")]}
    url = f"{TASKS}/records/{record['id']}"

    assert app.get(url, headers=ALICE, status=200).json["data"] == record
    real = f"/v1/buckets/{ALICE_BUCKET}/collections/tasks/records/{record['id']}"
    assert app.get(real, headers=ALICE, status=200).json["data"] == record

    resp = app.patch_json(url, {"data": {"status": "doing"}}, headers=ALICE, status=200)
    assert resp.json["data"]["status"] == "doing"
    assert resp.json["data"]["description"] == body["data"]["description"]

    resp = app.put_json(url, {"data": {"status": "done"}}, headers=ALICE, status=200)
    assert resp.json["data"] == {
        "id": record["id"],
        "last_modified": resp.json["data"]["last_modified"],
        "status": "done",
    }

    resp = app.get(f"{TASKS}/records", headers=ALICE, status=200)
    assert [r["id"] for r in resp.json["data"]] == [record["id"]]

    resp = app.delete(url, headers=ALICE, status=200)
    assert resp.json["data"]["deleted"] is True
    resp = app.get(url, headers=ALICE, status=404)
    assert_error(resp, 404, 110, details={"id": record["id"], "resource_name": "record"})


def test_a_record_can_be_put_with_a_chosen_id_through_the_alias(app: webtest.TestApp) -> None:
    resp = app.put_json(f"{TASKS}/records/task-1", {"data": {"a": 1}}, headers=ALICE, status=201)
    assert resp.json["data"]["id"] == "task-1"


def test_the_querystring_is_kept_through_the_alias(app: webtest.TestApp) -> None:
    for status in ("todo", "done", "todo"):
        app.post_json(f"{TASKS}/records", {"data": {"status": status}}, headers=ALICE)
    resp = app.get(f"{TASKS}/records?status=todo", headers=ALICE, status=200)
    assert [r["status"] for r in resp.json["data"]] == ["todo", "todo"]
    head = app.head(f"{TASKS}/records?status=done", headers=ALICE, status=200)
    assert head.headers["Total-Objects"] == "1"


def test_next_page_links_use_the_real_bucket_id(make_app: Any) -> None:
    app = make_app(paginate_by=1)
    app.post_json(f"{TASKS}/records", {"data": {"n": 1}}, headers=ALICE, status=201)
    app.post_json(f"{TASKS}/records", {"data": {"n": 2}}, headers=ALICE, status=201)
    resp = app.get(f"{TASKS}/records", headers=ALICE, status=200)
    next_page = resp.headers["Next-Page"]
    prefix = f"http://localhost/v1/buckets/{ALICE_BUCKET}/collections/tasks/records?"
    assert next_page.startswith(prefix)
    assert "_limit=1" in next_page
    assert "_token=" in next_page
    resp2 = app.get(next_page.replace("http://localhost", ""), headers=ALICE, status=200)
    ids = {r["id"] for r in resp.json["data"] + resp2.json["data"]}
    assert len(ids) == 2
    assert "Next-Page" not in resp2.headers


def test_the_default_bucket_is_private_to_its_owner(app: webtest.TestApp) -> None:
    app.post_json(f"{TASKS}/records", {"data": {"x": 1}}, headers=ALICE, status=201)
    app.get(f"/v1/buckets/{ALICE_BUCKET}", headers=BOB, status=403)
    app.get(f"/v1/buckets/{ALICE_BUCKET}/collections/tasks/records", headers=BOB, status=403)
    # Bob's own alias leads to his own, empty, bucket.
    assert app.get(f"{TASKS}/records", headers=BOB).json == {"data": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/buckets/default"),
        ("PUT", "/v1/buckets/default"),
        ("GET", "/v1/buckets/default/collections"),
        ("GET", f"{TASKS}/records"),
        ("POST", f"{TASKS}/records"),
        ("DELETE", f"{TASKS}/records/r1"),
    ],
)
def test_the_default_bucket_needs_authentication(
    app: webtest.TestApp, method: str, path: str
) -> None:
    resp = app.request(
        path,
        method=method,
        body=b"{}" if method in ("PUT", "POST") else b"",
        headers={"Content-Type": "application/json"} if method in ("PUT", "POST") else {},
        expect_errors=True,
    )
    assert (resp.status_int, resp.json) == (401, UNAUTHORIZED_BODY)
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_a_posted_id_containing_the_word_default_is_left_alone(app: webtest.TestApp) -> None:
    # Kinto rewrites every "default" substring of a posted data.id into the bucket id
    # (kinto-api.md §8, §13.11: "default-thing" becomes "<uuid>-thing"). We deliberately
    # do not (see kinto_clone/plugins/default_bucket.py): an id is the client's to choose.
    body = {"data": {"id": "default-thing"}}
    resp = app.post_json("/v1/buckets/default/collections", body, headers=ALICE, status=201)
    assert resp.json["data"]["id"] == "default-thing"
    app.get(f"/v1/buckets/{ALICE_BUCKET}/collections/default-thing", headers=ALICE, status=200)


def test_putting_the_default_bucket_with_its_alias_as_data_id_is_accepted(
    app: webtest.TestApp,
) -> None:
    # The alias in the body names the same bucket as the alias in the URL: Kinto accepts
    # it (its data.id rewrite), and clients such as kinto-http send the bucket name there.
    body = {"data": {"id": "default", "title": "mine"}}
    resp = app.put_json("/v1/buckets/default", body, headers=ALICE, status=201)
    assert resp.json["data"]["id"] == ALICE_BUCKET
    assert resp.json["data"]["title"] == "mine"


def test_batch_subrequests_reach_the_default_bucket(app: webtest.TestApp) -> None:
    body = {
        "requests": [
            {
                "method": "PUT",
                "path": "/buckets/default/collections/tasks/records/r1",
                "body": {"data": {"a": 1}},
            },
            {"method": "GET", "path": "/buckets/default/collections/tasks/records"},
        ]
    }
    resp = app.post_json("/v1/batch", body, headers=ALICE, status=200)
    put, listing = resp.json["responses"]
    assert put["status"] == 201
    assert put["path"] == "/v1/buckets/default/collections/tasks/records/r1"
    assert put["body"]["data"]["a"] == 1
    assert listing["status"] == 200
    assert [r["id"] for r in listing["body"]["data"]] == ["r1"]
    real = f"/v1/buckets/{ALICE_BUCKET}/collections/tasks/records/r1"
    app.get(real, headers=ALICE, status=200)


def test_the_root_advertises_the_default_bucket_capability(app: webtest.TestApp) -> None:
    capability = app.get("/v1/").json["capabilities"]["default_bucket"]
    assert isinstance(capability["description"], str)
    assert isinstance(capability["url"], str)
