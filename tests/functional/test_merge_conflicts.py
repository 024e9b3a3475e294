"""The 412 that helps merging (issue 13): the base version named by If-Match and the
fields changed since, next to Kinto's ``details.existing``.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from tests.support import ALICE, BOB, assert_error, create_collection, userid

B = "/v1/buckets/b"
C = f"{B}/collections/c"
R = f"{C}/records/r"
PLUGINS = "kinto_clone.plugins.history"


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return create_collection(make_app(includes=PLUGINS), C)


def if_match(timestamp: int, user: dict[str, str] = ALICE) -> dict[str, str]:
    return {**user, "If-Match": f'"{timestamp}"'}


def test_a_stale_if_match_gets_the_base_version_and_the_dotted_fields_changed_since(
    app: webtest.TestApp,
) -> None:
    base = app.put_json(
        R, {"data": {"title": "a", "meta": {"tags": ["x"], "n": 1}, "gone": 1}}, headers=ALICE
    ).json["data"]
    current = app.put_json(
        R,
        {"data": {"title": "a", "meta": {"tags": ["x", "y"], "n": 1}, "new": True}},
        headers=ALICE,
    ).json["data"]
    for method in ("put_json", "patch_json"):
        resp = getattr(app, method)(
            R, {"data": {"title": "b"}}, headers=if_match(base["last_modified"]), status=412
        )
        body = assert_error(resp, 412, 114, "Resource was modified meanwhile")
        assert body["details"] == {
            "existing": current,
            "base": base,
            "changed": ["gone", "meta.tags", "new"],
        }
    resp = app.delete(R, headers=if_match(base["last_modified"]), status=412)
    assert resp.json["details"]["base"] == base
    assert app.get(R, headers=ALICE).json["data"] == current


def test_buckets_collections_and_groups_get_their_base_version_too(app: webtest.TestApp) -> None:
    for path in (B, C, f"{B}/groups/g"):
        first = app.put_json(path, {"data": {"members": [], "v": 1}}, headers=ALICE).json["data"]
        app.patch_json(path, {"data": {"v": 2}}, headers=ALICE)
        body = app.patch_json(
            path, {"data": {"v": 3}}, headers=if_match(first["last_modified"]), status=412
        ).json
        assert body["details"]["base"] == first and body["details"]["changed"] == ["v"]


def test_a_version_history_does_not_hold_gets_kintos_412_unchanged(app: webtest.TestApp) -> None:
    current = app.put_json(R, {"data": {"v": 1}}, headers=ALICE).json["data"]
    resp = app.patch_json(R, {"data": {"v": 2}}, headers=if_match(12345), status=412)
    assert resp.json["details"] == {"existing": current}


def test_without_history_the_412_is_kintos(make_app: Any) -> None:
    app = make_app()
    app.put_json(B, {}, headers=ALICE)
    app.put_json(C, {}, headers=ALICE)
    base = app.put_json(R, {"data": {"v": 1}}, headers=ALICE).json["data"]
    current = app.put_json(R, {"data": {"v": 2}}, headers=ALICE).json["data"]
    resp = app.patch_json(R, {"data": {}}, headers=if_match(base["last_modified"]), status=412)
    assert resp.json["details"] == {"existing": current}


def test_a_caller_who_could_not_read_that_version_gets_no_base(app: webtest.TestApp) -> None:
    base = app.put_json(R, {"data": {"secret": 1}}, headers=ALICE).json["data"]
    current = app.put_json(
        R, {"data": {"secret": 2}, "permissions": {"write": [userid("bob")]}}, headers=ALICE
    ).json["data"]
    resp = app.patch_json(R, {"data": {}}, headers=if_match(base["last_modified"], BOB), status=412)
    assert resp.json["details"] == {"existing": current}
    # Bob could read the version that granted him write: he gets it as a base.
    app.patch_json(R, {"data": {"secret": 3}}, headers=ALICE)
    resp = app.patch_json(
        R, {"data": {}}, headers=if_match(current["last_modified"], BOB), status=412
    )
    assert resp.json["details"]["base"] == current


def test_a_batch_subrequest_gets_the_base_version(app: webtest.TestApp) -> None:
    base = app.put_json(R, {"data": {"v": 1}}, headers=ALICE).json["data"]
    app.put_json(R, {"data": {"v": 2}}, headers=ALICE)
    resp = app.post_json(
        "/v1/batch",
        {
            "requests": [
                {
                    "method": "PATCH",
                    "path": "/buckets/b/collections/c/records/r",
                    "headers": {"If-Match": f'"{base["last_modified"]}"'},
                    "body": {"data": {"v": 3}},
                }
            ]
        },
        headers=ALICE,
    )
    sub = resp.json["responses"][0]
    assert sub["status"] == 412 and sub["body"]["details"]["base"] == base


def test_if_match_on_a_deleted_object_or_if_none_match_gain_nothing(app: webtest.TestApp) -> None:
    base = app.put_json(R, {"data": {"v": 1}}, headers=ALICE).json["data"]
    app.delete(R, headers=ALICE)
    resp = app.put_json(R, {"data": {}}, headers=if_match(base["last_modified"]), status=412)
    assert "details" not in resp.json
    current = app.put_json(R, {"data": {"v": 2}}, headers=ALICE).json["data"]
    resp = app.put_json(R, {"data": {}}, headers={**ALICE, "If-None-Match": "*"}, status=412)
    assert resp.json["details"] == {"existing": current}
