"""``GET/HEAD /v1/permissions``: what a caller may do, object by object (kinto-api.md §6.7,
§4, §6.6).

Alice owns the bucket ``blog`` with the collection ``articles`` (readable by Bob), the
record ``articles/r1`` and the group ``editors`` (Carol is a member, and may write the
collection ``drafts``). The endpoint is on unless a test says not.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import webtest

from kinto_clone import db
from tests.support import ALICE, ALICE_ID, BOB, BOB_ID, CAROL, CAROL_ID, assert_error, auth

PERMISSIONS = "/v1/permissions"
BLOG = "/buckets/blog"
ARTICLES = f"{BLOG}/collections/articles"
DRAFTS = f"{BLOG}/collections/drafts"
RECORD = f"{ARTICLES}/records/r1"
EDITORS = f"{BLOG}/groups/editors"

ROOT_ENTRY = {"uri": "/", "resource_name": "root", "permissions": ["bucket:create"]}
BUCKET_WRITE = ["collection:create", "group:create", "read", "read:attributes", "write"]
COLLECTION_WRITE = ["read", "read:attributes", "record:create", "write"]
# Everything Alice may do, in the default order: uri descending.
ALL_URIS = [EDITORS, DRAFTS, RECORD, ARTICLES, BLOG, "/"]


def setup_blog(app: webtest.TestApp) -> webtest.TestApp:
    app.put_json(f"/v1{BLOG}", {}, headers=ALICE, status=201)
    app.put_json(f"/v1{ARTICLES}", {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201)
    app.put_json(f"/v1{RECORD}", {"data": {"title": "hello"}}, headers=ALICE, status=201)
    app.put_json(f"/v1{EDITORS}", {"data": {"members": [CAROL_ID]}}, headers=ALICE, status=201)
    app.put_json(f"/v1{DRAFTS}", {"permissions": {"write": [EDITORS]}}, headers=ALICE, status=201)
    return app


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return setup_blog(make_app(experimental_permissions_endpoint=True))


def entries(
    app: webtest.TestApp, headers: dict[str, str] | None = None, query: str = ""
) -> list[dict[str, Any]]:
    url = f"{PERMISSIONS}?{query}" if query else PERMISSIONS
    data: list[dict[str, Any]] = app.get(url, headers=headers or {}, status=200).json["data"]
    return data


def by_uri(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["uri"]: entry for entry in found}


# Switching it on.


def test_the_endpoint_is_a_404_unless_enabled(make_app: Any) -> None:
    app = make_app()

    assert_error(app.get(PERMISSIONS, headers=ALICE, status=404), 404, 111)
    assert "permissions_endpoint" not in app.get("/v1/").json["capabilities"]


def test_the_capability_is_advertised_when_enabled(app: webtest.TestApp) -> None:
    capability = app.get("/v1/").json["capabilities"]["permissions_endpoint"]
    assert set(capability) == {"description", "url"}


# Entries.


def test_the_owner_gets_an_entry_per_object_with_implied_permissions(
    app: webtest.TestApp,
) -> None:
    found = entries(app, ALICE)

    assert [e["uri"] for e in found] == ALL_URIS  # by uri, descending
    assert by_uri(found) == {
        BLOG: {
            "uri": BLOG,
            "resource_name": "bucket",
            "permissions": BUCKET_WRITE,
            "id": "blog",
            "bucket_id": "blog",
        },
        ARTICLES: {
            "uri": ARTICLES,
            "resource_name": "collection",
            "permissions": COLLECTION_WRITE,
            "id": "articles",
            "bucket_id": "blog",
            "collection_id": "articles",
        },
        DRAFTS: {
            "uri": DRAFTS,
            "resource_name": "collection",
            "permissions": COLLECTION_WRITE,
            "id": "drafts",
            "bucket_id": "blog",
            "collection_id": "drafts",
        },
        EDITORS: {
            "uri": EDITORS,
            "resource_name": "group",
            "permissions": ["read", "write"],
            "id": "editors",
            "bucket_id": "blog",
            "group_id": "editors",
        },
        RECORD: {
            "uri": RECORD,
            "resource_name": "record",
            "permissions": ["read", "write"],
            "id": "r1",
            "bucket_id": "blog",
            "collection_id": "articles",
            "record_id": "r1",
        },
        "/": ROOT_ENTRY,
    }


def test_a_reader_sees_only_what_they_were_granted(app: webtest.TestApp) -> None:
    found = entries(app, BOB)

    assert found == [
        {
            "uri": ARTICLES,
            "resource_name": "collection",
            "permissions": ["read", "read:attributes"],
            "id": "articles",
            "bucket_id": "blog",
            "collection_id": "articles",
        },
        ROOT_ENTRY,
    ]


def test_permissions_held_through_a_group_are_listed(app: webtest.TestApp) -> None:
    found = by_uri(entries(app, CAROL))

    assert set(found) == {DRAFTS, "/"}
    assert found[DRAFTS]["permissions"] == COLLECTION_WRITE


def test_anonymous_callers_see_what_everyone_may_do(app: webtest.TestApp) -> None:
    assert entries(app) == []
    app.patch_json(
        f"/v1{RECORD}", {"permissions": {"read": ["system.Everyone"]}}, headers=ALICE, status=200
    )

    assert [(e["uri"], e["permissions"]) for e in entries(app)] == [(RECORD, ["read"])]


def test_creating_children_implies_reading_the_container_attributes(
    app: webtest.TestApp,
) -> None:
    app.patch_json(
        f"/v1{BLOG}", {"permissions": {"group:create": [BOB_ID]}}, headers=ALICE, status=200
    )
    app.patch_json(
        f"/v1{ARTICLES}", {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE, status=200
    )

    found = by_uri(entries(app, BOB))

    assert found[BLOG]["permissions"] == ["group:create", "read:attributes"]
    assert found[ARTICLES]["permissions"] == ["read", "read:attributes", "record:create"]


def test_acl_entries_on_uris_that_name_no_object_are_skipped(app: webtest.TestApp) -> None:
    permission = app.app.registry.backends.permission
    with db.transaction():
        permission.replace_object_permissions(f"{BLOG}/history/h1", {"read": [BOB_ID]})
        permission.replace_object_permissions("/nowhere", {"write": [BOB_ID]})

    assert {e["uri"] for e in entries(app, BOB)} == {ARTICLES, "/"}


def test_history_entries_are_not_listed(make_app: Any) -> None:
    app = setup_blog(
        make_app(experimental_permissions_endpoint=True, includes="kinto_clone.plugins.history")
    )
    history = app.get(f"/v1{BLOG}/history", headers=ALICE).json["data"]
    assert history  # each has an ACL of its own, which Alice holds

    assert [e["uri"] for e in entries(app, ALICE)] == ALL_URIS


def test_settings_grant_permissions_on_every_object_of_a_kind(make_app: Any) -> None:
    app = setup_blog(
        make_app(
            experimental_permissions_endpoint=True,
            bucket_write_principals=BOB_ID,
            collection_read_principals=CAROL_ID,
            group_create_principals=CAROL_ID,
            record_read_principals=CAROL_ID,  # records are never enumerated
        )
    )
    app.put_json("/v1/buckets/other", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/other/collections/c", {}, headers=ALICE, status=201)

    bob = by_uri(entries(app, BOB))
    carol = by_uri(entries(app, CAROL))

    assert bob[BLOG]["permissions"] == BUCKET_WRITE
    assert bob["/buckets/other"]["permissions"] == BUCKET_WRITE
    assert set(carol) == {
        "/",
        BLOG,
        "/buckets/other",
        ARTICLES,
        DRAFTS,
        "/buckets/other/collections/c",
    }
    assert carol["/buckets/other"]["permissions"] == ["group:create", "read:attributes"]
    assert carol["/buckets/other/collections/c"]["permissions"] == ["read", "read:attributes"]
    assert carol[DRAFTS]["permissions"] == COLLECTION_WRITE  # the group's ACE, merged


def test_the_root_entry_follows_bucket_create_principals(make_app: Any) -> None:
    app = setup_blog(
        make_app(experimental_permissions_endpoint=True, bucket_create_principals=ALICE_ID)
    )

    assert ROOT_ENTRY in entries(app, ALICE)
    assert ROOT_ENTRY not in entries(app, BOB)


def test_accounts_get_entries_and_sign_up_is_listed_on_the_root(make_app: Any) -> None:
    app = make_app(
        experimental_permissions_endpoint=True,
        includes="kinto_clone.plugins.accounts",
        **{
            "multiauth.policies": "account",
            "multiauth.policy.account.use": "kinto.plugins.accounts.AccountsPolicy",
        },
        account_create_principals="system.Everyone",
        account_bcrypt_rounds=4,
    )
    app.put_json("/v1/accounts/ann", {"data": {"password": "ann-secret"}}, status=201)

    found = entries(app, auth("ann", "ann-secret"))

    assert found == [
        {
            "uri": "/accounts/ann",
            "resource_name": "account",
            "permissions": ["read", "write"],
            "id": "ann",
            "account_id": "ann",
        },
        {"uri": "/", "resource_name": "root", "permissions": ["account:create", "bucket:create"]},
    ]
    assert entries(app) == [
        {"uri": "/", "resource_name": "root", "permissions": ["account:create"]}
    ]


# Who may read it.


def test_permissions_read_principals_restricts_the_endpoint(make_app: Any) -> None:
    app = setup_blog(
        make_app(experimental_permissions_endpoint=True, permissions_read_principals=ALICE_ID)
    )

    assert len(entries(app, ALICE)) == 6
    assert_error(app.get(PERMISSIONS, headers=BOB, status=403), 403, 121)
    assert_error(app.get(PERMISSIONS, status=401), 401, 104)


# Filters, sorting, fields.


@pytest.mark.parametrize(
    ("query", "uris"),
    [
        ("resource_name=collection", [DRAFTS, ARTICLES]),
        ("in_resource_name=bucket,group", [EDITORS, BLOG]),
        ("exclude_resource_name=record,collection,root", [EDITORS, BLOG]),
        ("not_resource_name=root", ALL_URIS[:-1]),
        ("collection_id=articles", [RECORD, ARTICLES]),
        ("id=drafts", [DRAFTS]),
        ("contains_permissions=record:create", [DRAFTS, ARTICLES]),
        ('contains_any_permissions=["bucket:create","group:create"]', [BLOG, "/"]),
        ("like_uri=*/groups/*", [EDITORS]),
        ("like_uri=ARTICLES", [RECORD, ARTICLES]),
        ("has_record_id=true", [RECORD]),
        ("has_bucket_id=false", ["/"]),
        ("gt_uri=/buckets/blog/collections", [EDITORS, DRAFTS, RECORD, ARTICLES]),
        ("max_id=blog", [ARTICLES, BLOG]),
        ("_since=0&last_modified=1", ALL_URIS),  # entries have no timestamp
    ],
)
def test_entries_are_filtered_on_their_fields(
    app: webtest.TestApp, query: str, uris: list[str]
) -> None:
    assert [e["uri"] for e in entries(app, ALICE, query)] == uris


@pytest.mark.parametrize(
    ("query", "name", "description"),
    [
        ("title=x", "title", "Unknown filter field 'title'"),
        ("lt_foo=1", "lt_foo", "Unknown filter field 'lt_foo'"),
        ("_sort=title", "_sort", "Unknown sort field 'title'"),
        ("_fields=uri,title", "Invalid _fields parameter", "Fields title do not exist"),
        ("_limit=-1", "_limit", "-1 is less than minimum value 0"),
        ("_token=garbage", None, "_token has invalid content"),
    ],
)
def test_unknown_fields_and_bad_parameters_are_refused(
    app: webtest.TestApp, query: str, name: str | None, description: str
) -> None:
    resp = app.get(f"{PERMISSIONS}?{query}", headers=ALICE, status=400)

    body = assert_error(resp, 400, 107)
    assert body["details"] == [
        {"location": "querystring", "name": name, "description": description}
    ]


@pytest.mark.parametrize(
    ("sort", "uris"),
    [
        ("uri", ALL_URIS[::-1]),
        ("-last_modified", ALL_URIS),
        ("resource_name,-uri", [BLOG, DRAFTS, ARTICLES, EDITORS, RECORD, "/"]),
        # The root has no id: last ascending, first descending.
        ("id", [ARTICLES, BLOG, DRAFTS, EDITORS, RECORD, "/"]),
        ("-id", ["/", RECORD, EDITORS, DRAFTS, BLOG, ARTICLES]),
    ],
)
def test_entries_are_sorted(app: webtest.TestApp, sort: str, uris: list[str]) -> None:
    assert [e["uri"] for e in entries(app, ALICE, f"_sort={sort}")] == uris


def test_fields_keep_only_what_is_asked_and_the_id(app: webtest.TestApp) -> None:
    found = entries(app, ALICE, "_fields=uri&resource_name=bucket")

    assert found == [{"uri": BLOG, "id": "blog"}]


# Pages and counts.


def follow_pages(app: webtest.TestApp, url: str) -> tuple[list[str], int]:
    uris: list[str] = []
    pages = 0
    while url:
        assert pages < 10, "the pages never end"
        resp = app.get(url, headers=ALICE, status=200)
        uris += [e["uri"] for e in resp.json["data"]]
        pages += 1
        next_page = resp.headers.get("Next-Page")
        url = "" if next_page is None else "{0.path}?{0.query}".format(urlsplit(next_page))
    return uris, pages


@pytest.mark.parametrize("sort", ["", "&_sort=resource_name", "&_sort=-id"])
def test_limit_and_token_walk_through_every_entry_once(app: webtest.TestApp, sort: str) -> None:
    everything = [e["uri"] for e in entries(app, ALICE, sort.lstrip("&"))]

    uris, pages = follow_pages(app, f"{PERMISSIONS}?_limit=4{sort}")

    assert uris == everything
    assert pages == 2


def test_paginate_by_limits_pages(make_app: Any) -> None:
    app = setup_blog(make_app(experimental_permissions_endpoint=True, paginate_by=2))

    uris, pages = follow_pages(app, f"{PERMISSIONS}?resource_name=collection&_limit=50")

    assert uris == [DRAFTS, ARTICLES]
    assert pages == 1  # no Next-Page when nothing is left


def test_head_counts_the_matching_entries(app: webtest.TestApp) -> None:
    resp = app.head(f"{PERMISSIONS}?resource_name=collection&_limit=1", headers=ALICE, status=200)

    assert resp.body == b""
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Total-Objects"] == "2"
    assert "Total-Objects" in resp.headers["Access-Control-Expose-Headers"]
