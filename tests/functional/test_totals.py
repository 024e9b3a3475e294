"""``Total-Records`` (and ``Total-Objects``) on plural GET and HEAD (kinto-api.md §3.4).

The number of live objects matching the filters the caller may read: tombstones, ``_limit``
and the page token aside. Kinto 26 sends it on HEAD only; the tutorial (and Kinto before
it) on GET as well, which we do unless ``total_records_on_get = false``. The unfiltered
count is kept in the list's timestamps row by every write: the tests below write in every
way there is and compare the header with what a full listing holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import webtest

from tests.support import ALICE, BOB, BOB_ID, auth, create_collection

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/tasks"
RECORDS = f"{COLLECTION}/records"


def total(resp: Any) -> int:
    assert resp.headers["Total-Objects"] == resp.headers["Total-Records"]
    return int(resp.headers["Total-Records"])


def etag(resp: Any) -> int:
    return int(resp.headers["ETag"].strip('"'))


@pytest.fixture
def blog(app: webtest.TestApp) -> webtest.TestApp:
    return create_collection(app, COLLECTION)


def put(app: webtest.TestApp, rid: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return app.put_json(f"{RECORDS}/{rid}", {"data": data, **kwargs}, headers=ALICE)


def listed(app: webtest.TestApp) -> int:
    """Live records, counted from the pages themselves."""
    return len(app.get(f"{RECORDS}?_limit=10000", headers=ALICE).json["data"])


def test_the_tutorial_list_counts_one_and_its_since_answer_with_a_tombstone_counts_zero(
    blog: webtest.TestApp,
) -> None:
    created = blog.post_json(
        RECORDS, {"data": {"description": "Write a tutorial"}}, headers=ALICE, status=201
    ).json["data"]
    listing = blog.get(RECORDS, headers=ALICE)
    assert total(listing) == 1
    assert "Total-Records" in listing.headers["Access-Control-Expose-Headers"]
    since = etag(listing)
    blog.delete(f"{RECORDS}/{created['id']}", headers=ALICE)

    changes = blog.get(f"{RECORDS}?_since={since}", headers=ALICE)

    assert changes.json["data"][0]["deleted"] is True
    assert total(changes) == 0


def test_get_and_head_count_filters_and_ignore_limit_pages_and_tombstones(
    blog: webtest.TestApp,
) -> None:
    for n in range(6):
        put(blog, f"r{n}", {"n": n})
    middle = etag(blog.get(f"{RECORDS}/r2", headers=ALICE))
    blog.delete(f"{RECORDS}/r5", headers=ALICE)
    cases = {
        "": 5,
        "?_limit=2": 5,
        "?_sort=n&_limit=1": 5,
        "?min_n=2": 3,
        "?n=9": 0,
        f"?_since={middle}": 2,
        f"?_before={middle}": 2,
        f"?_since={middle}&_limit=1": 2,
        "?has_n=true": 5,
    }
    for querystring, expected in cases.items():
        got = blog.get(RECORDS + querystring, headers=ALICE)
        head = blog.head(RECORDS + querystring, headers=ALICE)
        assert (querystring, total(got), total(head)) == (querystring, expected, expected)
    first = blog.get(f"{RECORDS}?_limit=2", headers=ALICE)
    second = blog.get(first.headers["Next-Page"], headers=ALICE)
    assert total(second) == 5


def test_a_reader_of_some_records_counts_only_those(blog: webtest.TestApp) -> None:
    for n in range(5):
        put(blog, f"r{n}", {"n": n}, **({"permissions": {"read": [BOB_ID]}} if n in (1, 3) else {}))

    assert total(blog.get(RECORDS, headers=BOB)) == 2
    assert total(blog.head(RECORDS, headers=BOB)) == 2
    assert total(blog.get(f"{RECORDS}?n=3", headers=BOB)) == 1
    assert total(blog.get(f"{RECORDS}?_limit=1", headers=BOB)) == 2


def test_buckets_collections_groups_and_accounts_lists_are_counted(
    make_app: Callable[..., webtest.TestApp],
) -> None:
    app = make_app(
        **{
            "includes": "kinto_clone.plugins.accounts",
            "account_create_principals": "system.Everyone",
            "multiauth.policies": "account basicauth",
            "multiauth.policy.account.use": "kinto.plugins.accounts.AccountsPolicy",
        }
    )
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/other", {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {}, headers=ALICE, status=201)
    app.put_json(f"{BUCKET}/groups/g", {"data": {"members": []}}, headers=ALICE, status=201)
    app.put_json("/v1/accounts/zoe", {"data": {"password": "secret"}}, status=201)
    zoe = auth("zoe", "secret")

    assert total(app.get("/v1/buckets", headers=ALICE)) == 2
    assert total(app.get(f"{BUCKET}/collections", headers=ALICE)) == 1
    assert total(app.get(f"{BUCKET}/groups", headers=ALICE)) == 1
    assert total(app.get("/v1/accounts", headers=zoe)) == 1
    assert total(app.head("/v1/accounts", headers=zoe)) == 1


def test_history_lists_send_no_total_as_on_head(
    make_app: Callable[..., webtest.TestApp],
) -> None:
    app = make_app(includes="kinto_clone.plugins.history")
    app.put_json(BUCKET, {}, headers=ALICE, status=201)

    for resp in (
        app.get(f"{BUCKET}/history", headers=ALICE),
        app.head(f"{BUCKET}/history", headers=ALICE),
    ):
        assert resp.status_int == 200
        assert "Total-Records" not in resp.headers


def test_with_total_records_on_get_off_only_head_sends_the_total(
    make_app: Callable[..., webtest.TestApp],
) -> None:
    app = make_app(total_records_on_get="false")
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {}, headers=ALICE, status=201)
    put(app, "a", {})

    listing = app.get(RECORDS, headers=ALICE)

    assert "Total-Records" not in listing.headers
    assert "Total-Objects" not in listing.headers
    assert "Total-Records" not in listing.headers["Access-Control-Expose-Headers"]
    assert total(app.head(RECORDS, headers=ALICE)) == 1


def test_a_total_records_on_get_that_is_no_boolean_stops_the_server(
    make_app: Callable[..., webtest.TestApp],
) -> None:
    from kinto_clone.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="total_records_on_get"):
        make_app(total_records_on_get="sometimes")


def test_the_kept_count_follows_every_kind_of_write(blog: webtest.TestApp) -> None:
    def check() -> None:
        assert total(blog.get(RECORDS, headers=ALICE)) == listed(blog)
        assert total(blog.head(RECORDS, headers=ALICE)) == listed(blog)

    check()
    for n in range(4):
        blog.post_json(RECORDS, {"data": {"n": n}}, headers=ALICE, status=201)
    put(blog, "p", {"n": 10})  # PUT creating
    put(blog, "p", {"n": 11})  # PUT replacing
    blog.patch_json(f"{RECORDS}/p", {"data": {"n": 12}}, headers=ALICE, status=200)
    blog.post_json(RECORDS, {"data": {"id": "p"}}, headers=ALICE, status=200)  # exists
    check()
    blog.delete(f"{RECORDS}/p", headers=ALICE, status=200)
    blog.delete(f"{RECORDS}/p", headers=ALICE, status=404)
    put(blog, "p", {"n": 13})  # a tombstone brought back
    check()
    # Client-supplied timestamps take another path (the list is locked, then written).
    stamp = etag(blog.get(RECORDS, headers=ALICE)) + 1000
    put(blog, "q", {"last_modified": stamp})
    put(blog, "q", {"last_modified": stamp + 1})
    blog.post_json(RECORDS, {"data": {"id": "s", "last_modified": 5}}, headers=ALICE, status=201)
    blog.delete(f"{RECORDS}/s?last_modified={stamp + 10}", headers=ALICE, status=200)
    check()
    blog.delete(f"{RECORDS}?_limit=2", headers=ALICE, status=200)
    check()
    failing = {
        "requests": [
            {"method": "PUT", "path": RECORDS[3:] + "/t1", "body": {"data": {}}},
            {"method": "PUT", "path": RECORDS[3:] + "/t2", "body": {"data": "not an object"}},
        ]
    }
    blog.post_json("/v1/batch", failing, headers=ALICE)
    check()
    blog.delete(RECORDS, headers=ALICE, status=200)
    assert total(blog.get(RECORDS, headers=ALICE)) == 0
    put(blog, "after", {})
    check()


def test_a_collection_deleted_and_created_again_starts_from_zero(blog: webtest.TestApp) -> None:
    put(blog, "a", {})
    put(blog, "b", {})
    blog.delete(COLLECTION, headers=ALICE, status=200)
    blog.put_json(COLLECTION, {}, headers=ALICE, status=201)

    assert total(blog.get(RECORDS, headers=ALICE)) == 0
    put(blog, "c", {})
    assert total(blog.get(RECORDS, headers=ALICE)) == 1
