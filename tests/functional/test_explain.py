"""``GET {object URL}/permissions``: which permissions a principal holds and why (issue 13).

The first tests go through every cell of the inheritance table (kinto-api.md §6.2): Bob
is granted that one ACE, then a request that needs the row's permission and the
explanation must agree, and the explanation must name that ACE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import webtest

from kinto_clone.authorization import INHERITANCE
from tests.support import ALICE, BOB, BOB_ID, assert_error, userid

MEMBERS = "/buckets/b/groups/members"
URIS = {
    "bucket": "/buckets/b",
    "group": "/buckets/b/groups/g",
    "collection": "/buckets/b/collections/c",
    "record": "/buckets/b/collections/c/records/r",
}


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    app = make_app()
    app.put_json("/v1/buckets/b", {}, headers=ALICE, status=201)
    app.put_json(f"/v1{URIS['group']}", {"data": {"members": []}}, headers=ALICE, status=201)
    app.put_json(f"/v1{MEMBERS}", {"data": {"members": [BOB_ID]}}, headers=ALICE, status=201)
    app.put_json(f"/v1{URIS['collection']}", {}, headers=ALICE, status=201)
    app.put_json(f"/v1{URIS['record']}", {"data": {}}, headers=ALICE, status=201)
    return app


def explain(
    app: webtest.TestApp,
    uri: str,
    headers: dict[str, str] = BOB,
    query: str = "",
    status: int = 200,
) -> Any:
    return app.get(f"/v1{uri}/permissions{query}", headers=headers, status=status)


def _listed(app: webtest.TestApp, path: str, wanted: str) -> bool:
    resp = app.get(f"/v1{path}", headers=BOB, expect_errors=True)
    return resp.status_int == 200 and wanted in [o["id"] for o in resp.json["data"]]


def _status(method: str, path: str, body: Any = None) -> Callable[[webtest.TestApp], bool]:
    def attempt(app: webtest.TestApp) -> bool:
        resp = app.request(
            f"/v1{path}",
            method=method,
            headers=BOB,
            expect_errors=True,
            body=None if body is None else json.dumps(body).encode(),
            content_type="application/json",
        )
        assert resp.status_int in (200, 201, 403), resp.body
        return resp.status_int < 400

    return attempt


# The request that needs each row's permission, and tells whether it was let through.
ASK: dict[tuple[str, str], Callable[[webtest.TestApp], bool]] = {
    ("bucket", "write"): _status("PATCH", URIS["bucket"], {"data": {}}),
    ("bucket", "read"): lambda app: _listed(app, "/buckets/b/groups", "g"),
    ("bucket", "read:attributes"): _status("GET", URIS["bucket"]),
    ("bucket", "collection:create"): _status("POST", "/buckets/b/collections", {"data": {}}),
    ("bucket", "group:create"): _status("POST", "/buckets/b/groups", {"data": {"members": []}}),
    ("group", "write"): _status("PATCH", URIS["group"], {"data": {}}),
    ("group", "read"): _status("GET", URIS["group"]),
    ("collection", "write"): _status("PATCH", URIS["collection"], {"data": {}}),
    ("collection", "read"): lambda app: _listed(app, f"{URIS['collection']}/records", "r"),
    ("collection", "read:attributes"): _status("GET", URIS["collection"]),
    ("collection", "record:create"): _status("POST", f"{URIS['collection']}/records", {"data": {}}),
    ("record", "write"): _status("PATCH", URIS["record"], {"data": {}}),
    ("record", "read"): _status("GET", URIS["record"]),
}
CELLS = [
    (target, perm, level, granting)
    for (target, perm), cells in INHERITANCE.items()
    for level, granting in cells
]


def test_every_row_of_the_inheritance_table_has_a_request_here() -> None:
    assert set(ASK) == set(INHERITANCE)


def grant(app: webtest.TestApp, level: str, permission: str, principal: str) -> None:
    app.patch_json(
        f"/v1{URIS[level]}", {"permissions": {permission: [principal]}}, headers=ALICE, status=200
    )


def aces(answer: dict[str, Any], permission: str) -> list[tuple[str, str, str]]:
    return [
        (b["ace"]["uri"], b["ace"]["permission"], b["ace"]["principal"])
        for b in answer["data"]["permissions"][permission]["because"]
        if "ace" in b
    ]


@pytest.mark.parametrize(("target", "permission", "level", "granting"), CELLS)
def test_each_cell_of_the_inheritance_table_is_explained_as_requests_decide(
    app: webtest.TestApp, target: str, permission: str, level: str, granting: str
) -> None:
    grant(app, level, granting, BOB_ID)
    answer = explain(app, URIS[target]).json
    assert answer["data"]["permissions"][permission]["granted"] is True
    assert (URIS[level], granting, BOB_ID) in aces(answer, permission)
    assert ASK[(target, permission)](app) is True


@pytest.mark.parametrize(("target", "permission"), list(INHERITANCE))
def test_without_a_grant_each_row_is_refused_by_both(
    app: webtest.TestApp, target: str, permission: str
) -> None:
    answer = explain(app, URIS[target]).json
    assert answer["data"]["permissions"][permission] == {
        "granted": False,
        "because": [],
        "granted_by": answer["data"]["permissions"][permission]["granted_by"],
    }
    assert ASK[(target, permission)](app) is False


@pytest.mark.parametrize(
    ("target", "permission", "level", "granting"),
    [c for c in CELLS if c[2] == c[0] or c[2] == "bucket"],
)
def test_a_grant_through_a_group_names_the_membership(
    app: webtest.TestApp, target: str, permission: str, level: str, granting: str
) -> None:
    grant(app, level, granting, MEMBERS)
    answer = explain(app, URIS[target]).json
    reasons = answer["data"]["permissions"][permission]["because"]
    assert {
        "principal": MEMBERS,
        "as": "member of this group",
        "member": BOB_ID,
    }.items() <= reasons[0].items()
    assert MEMBERS in answer["data"]["principals"]
    assert ASK[(target, permission)](app) is True


def test_a_grant_to_every_authenticated_user_says_so(app: webtest.TestApp) -> None:
    grant(app, "collection", "read", "system.Authenticated")
    reasons = explain(app, URIS["record"]).json["data"]["permissions"]["read"]["because"]
    assert reasons == [
        {
            "ace": {
                "uri": URIS["collection"],
                "permission": "read",
                "principal": "system.Authenticated",
            },
            "step": "read on its collection grants read on the record",
            "principal": "system.Authenticated",
            "as": "every authenticated user",
        }
    ]


@pytest.mark.parametrize(
    ("setting", "target", "permission"),
    [
        ("record_write_principals", "record", "write"),
        ("record_write_principals", "record", "read"),
        ("record_read_principals", "record", "read"),
        ("collection_write_principals", "collection", "write"),
        ("bucket_read_principals", "bucket", "read:attributes"),
        ("group_write_principals", "group", "write"),
    ],
)
def test_a_setting_that_grants_a_permission_is_named(
    make_app: Any, setting: str, target: str, permission: str
) -> None:
    app = make_app(**{setting: BOB_ID})
    app.put_json("/v1/buckets/b", {}, headers=ALICE)
    app.put_json(f"/v1{URIS['group']}", {"data": {"members": []}}, headers=ALICE)
    app.put_json(f"/v1{URIS['collection']}", {}, headers=ALICE)
    app.put_json(f"/v1{URIS['record']}", {"data": {}}, headers=ALICE)
    answer = explain(app, URIS[target]).json["data"]["permissions"][permission]
    assert answer["granted"] is True
    assert {"setting": setting, "principal": BOB_ID, "as": "this user"} in answer["because"]
    assert ASK[(target, permission)](app) is True


def test_creating_a_missing_object_is_explained(app: webtest.TestApp) -> None:
    missing = "/buckets/b/collections/c/records/new"
    assert explain(app, missing).json["data"]["permissions"]["create"]["granted"] is False
    app.put_json(f"/v1{missing}", {"data": {}}, headers=BOB, status=403)
    grant(app, "collection", "record:create", BOB_ID)
    create = explain(app, missing).json["data"]["permissions"]["create"]
    assert create["granted"] is True
    assert create["because"][0]["step"] == "record:create on its collection grants creating it"
    app.put_json(f"/v1{missing}", {"data": {}}, headers=BOB, status=201)
    # Buckets: only bucket_create_principals (system.Authenticated in these tests).
    bucket = explain(app, "/buckets/other").json["data"]["permissions"]["create"]
    assert bucket["because"][0]["setting"] == "bucket_create_principals"


# -- who may learn what --------------------------------------------------------------------------


def test_a_stranger_learns_nothing_about_whether_the_object_exists(
    app: webtest.TestApp,
) -> None:
    def decided(uri: str) -> dict[str, Any]:
        data = explain(app, uri).json["data"]
        assert "readers" not in data
        return {p: (a["granted"], a["because"]) for p, a in data["permissions"].items()}

    assert decided(URIS["record"]) == decided("/buckets/b/collections/c/records/nope")
    assert not any(granted for granted, _ in decided(URIS["record"]).values())


def test_anonymous_callers_are_explained_as_everyone(app: webtest.TestApp) -> None:
    grant(app, "record", "read", "system.Everyone")
    answer = explain(app, URIS["record"], headers={}).json["data"]
    assert answer["principal"] == "system.Everyone"
    assert answer["principals"] == ["system.Everyone"]
    assert answer["permissions"]["read"]["granted"] is True
    app.get(f"/v1{URIS['record']}", status=200)


def test_writers_may_ask_about_anyone_and_see_the_readers(app: webtest.TestApp) -> None:
    grant(app, "collection", "read", MEMBERS)
    answer = explain(app, URIS["record"], headers=ALICE, query=f"?principal={BOB_ID}").json
    assert answer["data"]["principal"] == BOB_ID
    assert answer["data"]["permissions"]["read"]["granted"] is True
    assert answer["data"]["permissions"]["write"]["granted"] is False
    readers = answer["data"]["readers"]
    assert set(readers) == {userid("alice"), MEMBERS}
    assert readers[MEMBERS][0]["ace"] == {
        "uri": URIS["collection"],
        "permission": "read",
        "principal": MEMBERS,
    }


def test_a_reader_who_is_not_a_writer_may_not_ask_about_others(app: webtest.TestApp) -> None:
    grant(app, "record", "read", BOB_ID)
    body = assert_error(
        explain(app, URIS["record"], query="?principal=account:x", status=403), 403, 121
    )
    assert "writers" in body["message"]
    assert_error(
        explain(app, URIS["record"], headers={}, query="?principal=account:x", status=401), 401, 104
    )
    assert "readers" not in explain(app, URIS["record"]).json["data"]
    own = explain(app, URIS["record"], query=f"?principal={BOB_ID}").json["data"]
    assert own["permissions"]["read"]["granted"] is True


@pytest.mark.parametrize("query", ["?principal=", "?principal=" + "x" * 1025])
def test_a_malformed_principal_is_a_400(app: webtest.TestApp, query: str) -> None:
    body = assert_error(
        explain(app, URIS["record"], headers=ALICE, query=query, status=400), 400, 107
    )
    assert body["details"][0]["name"] == "principal"


def test_an_invalid_id_in_the_url_is_a_400(app: webtest.TestApp) -> None:
    assert_error(
        app.get("/v1/buckets/b/collections/c/records/a%20b/permissions", headers=ALICE, status=400),
        400,
        107,
    )
