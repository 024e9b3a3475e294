"""The view of each method of a route is found by asking its predicates
(``views/dispatch.py``): every method gets its own view's answer, an unknown one a 405,
and no ``PredicateMismatch`` (an HTTP exception built as a whole response) is raised on
the way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import webtest
from pyramid.exceptions import PredicateMismatch

from tests.support import ALICE, METHOD_NOT_ALLOWED_BODY

RECORDS = "/v1/buckets/b/collections/c/records"


@pytest.fixture
def mismatches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    built: list[str] = []
    original = PredicateMismatch.__init__

    def counted(self: PredicateMismatch, *args: object, **kwargs: object) -> None:
        built.append(str(args[:1]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(PredicateMismatch, "__init__", counted)
    yield built


def test_each_method_of_an_object_reaches_its_own_view_without_a_mismatch(
    app: webtest.TestApp, mismatches: list[str]
) -> None:
    app.put_json("/v1/buckets/b", {}, headers=ALICE)
    app.put_json("/v1/buckets/b/collections/c", {}, headers=ALICE)
    record = f"{RECORDS}/r1"

    put = app.put_json(record, {"data": {"n": 1}}, headers=ALICE, status=201)
    assert put.json["data"]["n"] == 1
    get = app.get(record, headers=ALICE, status=200)
    assert get.json["data"] == put.json["data"]
    head = app.head(record, headers=ALICE, status=200)
    assert head.body == b"" and head.headers["ETag"] == get.headers["ETag"]
    patch = app.patch_json(record, {"data": {"n": 2}}, headers=ALICE, status=200)
    assert patch.json["data"]["n"] == 2
    posted = app.post_json(RECORDS, {"data": {"n": 3}}, headers=ALICE, status=201)
    assert posted.json["data"]["n"] == 3
    listed = app.get(RECORDS, headers=ALICE, status=200)
    assert len(listed.json["data"]) == 2
    deleted = app.delete(record, headers=ALICE, status=200)
    assert deleted.json["data"]["deleted"] is True
    assert app.delete(RECORDS, headers=ALICE, status=200).json["data"][0]["deleted"] is True

    assert mismatches == []


def test_a_method_no_view_serves_is_still_a_405(app: webtest.TestApp) -> None:
    app.put_json("/v1/buckets/b", {}, headers=ALICE)
    app.put_json("/v1/buckets/b/collections/c", {}, headers=ALICE)
    object_methods = {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}
    for url, refused, allowed in (
        (f"{RECORDS}/r1", "POST", object_methods),
        (RECORDS, "PUT", {"GET", "HEAD", "POST", "DELETE", "OPTIONS"}),
    ):
        r = app.request(url, method=refused, headers=ALICE, expect_errors=True)
        assert r.status_int == 405 and r.json == METHOD_NOT_ALLOWED_BODY
        assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed
