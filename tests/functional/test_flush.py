"""``POST /v1/__flush__`` (kinto-api.md §10.2, §13.39): anyone may wipe the whole server
when the plugin is included, which is why only test servers include it."""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from tests.support import ALICE, BOB, assert_error, auth, userid

FLUSH = "/v1/__flush__"
WITH_FLUSH = "kinto_clone.plugins.default_bucket kinto.plugins.flush"


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    app: webtest.TestApp = make_app(includes=WITH_FLUSH)
    app.put_json(
        "/v1/buckets/blog",
        {"permissions": {"read": ["system.Everyone"]}},
        headers=ALICE,
        status=201,
    )
    app.put_json(
        "/v1/buckets/blog/groups/friends",
        {"data": {"members": [userid("bob")]}},
        headers=ALICE,
        status=201,
    )
    app.put_json("/v1/buckets/blog/collections/articles", {}, headers=ALICE, status=201)
    app.put_json(
        "/v1/buckets/blog/collections/articles/records/r1",
        {"data": {"n": 1}},
        headers=ALICE,
        status=201,
    )
    app.put_json(
        "/v1/buckets/default/collections/tasks/records/t1", {"data": {}}, headers=BOB, status=201
    )
    return app


def test_the_endpoint_does_not_exist_without_the_plugin(make_app: Any) -> None:
    app = make_app()

    assert_error(app.post(FLUSH, status=404), 404, 111)
    assert "flush_endpoint" not in app.get("/v1/").json["capabilities"]


def test_the_capability_is_advertised_with_the_plugin(app: webtest.TestApp) -> None:
    capability = app.get("/v1/").json["capabilities"]["flush_endpoint"]
    assert set(capability) == {"description", "url"}


def test_anyone_can_flush_without_credentials(app: webtest.TestApp) -> None:
    resp = app.post(FLUSH, status=202)

    assert resp.content_type == "application/json"
    assert resp.json == {}


def test_a_flush_deletes_every_object_and_permission(app: webtest.TestApp) -> None:
    app.post(FLUSH, status=202)

    assert app.get("/v1/buckets", headers=ALICE, status=200).json["data"] == []
    # Public read on the bucket is gone along with the bucket itself.
    assert_error(app.get("/v1/buckets/blog", status=401), 401, 104)
    # So are group memberships: Bob is no friend of anyone any more.
    assert (
        "/buckets/blog/groups/friends"
        not in app.get("/v1/", headers=BOB).json["user"]["principals"]
    )
    # Recreating the bucket starts from nothing: no old collection, no old ACE.
    app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=201)
    assert app.get("/v1/buckets/blog/collections", headers=ALICE).json["data"] == []
    assert app.get("/v1/buckets/blog", headers=ALICE).json["permissions"] == {
        "write": [userid("alice")]
    }
    assert_error(app.get("/v1/buckets/blog", status=401), 401, 104)


def test_a_flushed_default_bucket_is_created_again_on_use(app: webtest.TestApp) -> None:
    app.post(FLUSH, status=202)

    records = app.get("/v1/buckets/default/collections/tasks/records", headers=BOB).json
    assert records["data"] == []


def test_flush_answers_only_post(app: webtest.TestApp) -> None:
    resp = app.get(FLUSH, status=405)

    assert_error(resp, 405, 115)
    app.get("/v1/buckets/blog", headers=ALICE, status=200)


def test_flush_is_refused_in_readonly_mode(make_app: Any) -> None:
    app = make_app(includes=WITH_FLUSH, readonly=True)

    assert_error(app.post(FLUSH, status=405), 405, 115, "Method not allowed on this endpoint.")


def test_a_flush_forgets_the_logins_of_the_accounts_it_deleted(make_app: Any) -> None:
    app = make_app(
        includes="kinto_clone.plugins.accounts kinto.plugins.flush",
        **{
            "multiauth.policies": "account",
            "multiauth.policy.account.use": "kinto.plugins.accounts.AccountsPolicy",
        },
        account_create_principals="system.Everyone",
        account_bcrypt_rounds=4,
    )
    ann = auth("ann", "ann-secret")
    app.put_json("/v1/accounts/ann", {"data": {"password": "ann-secret"}}, status=201)
    assert app.get("/v1/", headers=ann).json["user"]["id"] == "account:ann"  # cached now

    app.post(FLUSH, status=202)

    assert "user" not in app.get("/v1/", headers=ann).json
    assert_error(app.get("/v1/accounts/ann", headers=ann, status=401), 401, 104)
