"""Restores and reverts (issue 13): ordinary writes that every sync client sees.

The world: Alice owns bucket ``b`` and its collection ``c``; Bob and Carol own nothing
until Alice shares something. Every restore is followed by a ``_since`` poll from the ETag
a client held before it, which must show exactly the objects the restore changed.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from typing import Any

import pytest
import webtest

from tests import server
from tests.querycount import recorded_statements
from tests.support import ALICE, BOB, assert_error, auth, create_collection, userid

B = "/v1/buckets/b"
C = f"{B}/collections/c"
RECORDS = f"{C}/records"
PLUGINS = "kinto_clone.plugins.default_bucket kinto_clone.plugins.history"


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    app = create_collection(make_app(includes=PLUGINS), C)
    wait_past(max(etag(app, "/v1/buckets"), etag(app, f"{B}/collections")))  # see wait_past
    return app


def put(app: webtest.TestApp, rid: str, data: dict[str, Any], **body: Any) -> dict[str, Any]:
    resp = app.put_json(f"{RECORDS}/{rid}", {"data": data, **body}, headers=ALICE)
    return resp.json["data"]


def etag(app: webtest.TestApp, path: str = RECORDS) -> int:
    return int(app.get(path, headers=ALICE).headers["ETag"].strip('"'))


def since(app: webtest.TestApp, timestamp: int, path: str = RECORDS) -> list[dict[str, Any]]:
    return app.get(f"{path}?_since={timestamp}", headers=ALICE).json["data"]


def records(app: webtest.TestApp) -> dict[str, dict[str, Any]]:
    found = app.get(RECORDS, headers=ALICE).json["data"]
    return {r["id"]: {k: v for k, v in r.items() if k != "last_modified"} for r in found}


def restore(
    app: webtest.TestApp,
    path: str,
    at: Any,
    status: int = 200,
    headers: dict[str, str] = ALICE,
    **data: Any,
) -> Any:
    return app.post_json(
        f"{path}/restore", {"data": {"at": at, **data}}, headers=headers, status=status
    )


def history_count(app: webtest.TestApp) -> int:
    return len(app.get(f"{B}/history", headers=ALICE).json["data"])


def clock_ms() -> int:
    """The server's clock (the same process, ``storage/sql.py``'s ``now_ms``)."""
    return time.time_ns() // 1_000_000


def wait_past(at: int) -> None:
    """Let the clock pass ``at``. Timestamps grow per list only: a write to another list
    (the collection after one of its records) in the millisecond of ``at`` is *at* the
    point, not after it; and a point later than the clock is refused as in the future."""
    while clock_ms() <= at:
        time.sleep(0.001)


# -- records of a collection -----------------------------------------------------------------


def test_restoring_a_collection_undoes_updates_creations_and_deletions(
    app: webtest.TestApp,
) -> None:
    put(app, "kept", {"v": 0})
    put(app, "edited", {"v": 1, "nested": {"a": 1, "b": 1}})
    at = put(app, "removed", {"v": 2})["last_modified"]
    state_then = records(app)
    put(app, "edited", {"v": 10, "nested": {"a": 1, "b": 2}})
    app.delete(f"{RECORDS}/removed", headers=ALICE)
    put(app, "added", {"v": 3})
    client_etag = etag(app)

    answer = restore(app, C, at).json["data"]

    assert records(app) == state_then
    assert (answer["create"], answer["update"], answer["delete"]) == (1, 1, 1)
    changes = {c["id"]: (c["action"], c["changed"]) for c in answer["changes"]}
    assert changes == {
        "edited": ("update", ["nested.b", "v"]),
        "removed": ("create", ["v"]),
        "added": ("delete", []),
    }
    polled = since(app, client_etag)
    assert sorted(r["id"] for r in polled) == ["added", "edited", "removed"]
    assert {r["id"]: r.get("deleted", False) for r in polled} == {
        "added": True,
        "edited": False,
        "removed": False,
    }
    assert all(r["last_modified"] > client_etag for r in polled)


def test_a_record_unchanged_since_the_point_is_not_written(app: webtest.TestApp) -> None:
    kept = put(app, "kept", {"v": 0})
    at = put(app, "other", {"v": 1})["last_modified"]
    put(app, "other", {"v": 2})
    restore(app, C, at)
    assert app.get(f"{RECORDS}/kept", headers=ALICE).json["data"] == kept


def test_a_restore_to_the_current_state_writes_nothing(app: webtest.TestApp) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    before, entries = etag(app), history_count(app)
    answer = restore(app, C, at).json["data"]
    assert answer["changes"] == [] and etag(app) == before and history_count(app) == entries


def test_permissions_are_restored_and_the_restorer_is_not_added_to_them(
    app: webtest.TestApp,
) -> None:
    at = put(app, "r", {"v": 1}, permissions={"read": [userid("bob")]})["last_modified"]
    app.patch_json(
        f"{RECORDS}/r", {"permissions": {"read": [], "write": [userid("carol")]}}, headers=ALICE
    )
    app.patch_json(C, {"permissions": {"write": [userid("carol")]}}, headers=ALICE)
    app.get(f"{RECORDS}/r", headers=BOB, status=403)
    restore(app, C, at, headers=auth("carol"))
    resp = app.get(f"{RECORDS}/r", headers=ALICE).json
    assert resp["permissions"] == {"read": [userid("bob")], "write": [userid("alice")]}
    assert app.get(f"{RECORDS}/r", headers=BOB, status=200).json["data"]["v"] == 1


def test_the_collection_attributes_and_acl_are_restored_with_its_records(
    app: webtest.TestApp,
) -> None:
    at = app.patch_json(C, {"data": {"title": "old"}}, headers=ALICE).json["data"]["last_modified"]
    app.patch_json(
        C, {"data": {"title": "new"}, "permissions": {"read": [userid("bob")]}}, headers=ALICE
    )
    restore(app, C, at)
    resp = app.get(C, headers=ALICE).json
    assert resp["data"]["title"] == "old"
    assert resp["permissions"] == {"write": [userid("alice")]}


def test_the_acl_of_a_collection_without_data_is_restored(app: webtest.TestApp) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    wait_past(at)
    app.patch_json(C, {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    restore(app, C, at)
    assert app.get(C, headers=ALICE).json["permissions"] == {"write": [userid("alice")]}


def test_a_dry_run_answers_the_changes_and_writes_nothing(app: webtest.TestApp) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    put(app, "s", {"v": 3})
    before, entries, state = etag(app), history_count(app), records(app)
    resp = restore(app, C, at, dry_run=True)
    answer = resp.json["data"]
    assert answer["dry_run"] is True and answer["at"] == at
    assert [(c["action"], c["id"]) for c in answer["changes"]] == [("update", "r"), ("delete", "s")]
    assert answer["changes"][0]["target"]["data"] == {"v": 1}
    assert (etag(app), history_count(app), records(app)) == (before, entries, state)
    assert resp.headers["ETag"] == f'"{before}"'


def test_if_match_from_a_dry_run_lets_the_restore_through_and_refuses_after_a_change(
    app: webtest.TestApp,
) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    seen = restore(app, C, at, dry_run=True).headers["ETag"]
    put(app, "r", {"v": 3})  # a change the caller has not seen
    resp = restore(app, C, at, status=412, headers={**ALICE, "If-Match": seen})
    assert_error(resp, 412, 114)
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 3
    seen = restore(app, C, at, dry_run=True).headers["ETag"]
    restore(app, C, at, headers={**ALICE, "If-Match": seen})
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 1


def test_the_point_may_be_an_iso_date(app: webtest.TestApp) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    date = datetime.datetime.fromtimestamp(at / 1000, datetime.UTC).isoformat(
        timespec="milliseconds"
    )
    restore(app, C, date)
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 1


# -- one record --------------------------------------------------------------------------------


def test_restoring_one_record_leaves_the_others_alone(app: webtest.TestApp) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    other = put(app, "s", {"v": 3})
    client_etag = etag(app)
    restore(app, f"{RECORDS}/r", at)
    assert app.get(f"{RECORDS}/s", headers=ALICE).json["data"] == other
    assert [(r["id"], r["v"]) for r in since(app, client_etag)] == [("r", 1)]


def test_a_record_deleted_since_is_restored_and_one_created_since_is_deleted(
    app: webtest.TestApp,
) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    app.delete(f"{RECORDS}/r", headers=ALICE)
    client_etag = etag(app)
    restore(app, f"{RECORDS}/r", at)
    assert [(r["id"], r["v"]) for r in since(app, client_etag)] == [("r", 1)]
    put(app, "new", {"v": 2})
    client_etag = etag(app)
    restore(app, f"{RECORDS}/new", at)
    polled = since(app, client_etag)
    assert [(r["id"], r.get("deleted")) for r in polled] == [("new", True)]


def test_the_writes_of_a_restore_are_in_history_with_what_was_restored(
    app: webtest.TestApp,
) -> None:
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    restore(app, C, at, headers=ALICE)
    entry = app.get(f"{B}/history", headers=ALICE).json["data"][0]
    assert entry["action"] == "update" and entry["target"]["data"]["v"] == 1
    assert entry["user_id"] == userid("alice")
    assert entry["restore"] == {
        "uri": "/buckets/b/collections/c",
        "at": at,
        "user_id": userid("alice"),
    }
    filtered = app.get(f"{B}/history?has_restore=true", headers=ALICE).json["data"]
    assert [e["id"] for e in filtered] == [entry["id"]]


# -- a whole bucket ------------------------------------------------------------------------------


def test_restoring_a_bucket_brings_back_a_deleted_collection_with_its_records(
    app: webtest.TestApp,
) -> None:
    put(app, "r1", {"v": 1})
    put(app, "r2", {"v": 2}, permissions={"read": [userid("bob")]})
    app.put_json(f"{B}/groups/g", {"data": {"members": [userid("bob")]}}, headers=ALICE)
    wait_past(max(etag(app), etag(app, f"{B}/groups")))
    at = app.patch_json(B, {"data": {"title": "then"}}, headers=ALICE).json["data"]["last_modified"]
    state = records(app)
    wait_past(at)
    app.delete(C, headers=ALICE)  # hard-deletes r1 and r2
    app.put_json(f"{B}/collections/later", {}, headers=ALICE)
    app.patch_json(f"{B}/groups/g", {"data": {"members": []}}, headers=ALICE)
    app.patch_json(B, {"data": {"title": "now"}}, headers=ALICE)
    collections_etag = etag(app, f"{B}/collections")

    answer = restore(app, B, at).json["data"]

    assert records(app) == state
    assert app.get(B, headers=ALICE).json["data"]["title"] == "then"
    assert app.get(f"{B}/groups/g", headers=ALICE).json["data"]["members"] == [userid("bob")]
    assert app.get(f"{RECORDS}/r2", headers=BOB).json["data"]["v"] == 2
    assert answer["create"] == 3 and answer["delete"] == 1  # c, r1, r2; later
    polled = since(app, collections_etag, f"{B}/collections")
    assert [(c["id"], c.get("deleted", False)) for c in polled] == [("later", True), ("c", False)]
    # The group gave Bob its membership back: he reads through it.
    app.patch_json(C, {"permissions": {"read": ["/buckets/b/groups/g"]}}, headers=ALICE)
    assert len(app.get(RECORDS, headers=BOB).json["data"]) == 2


def test_records_of_a_deleted_collection_do_not_come_back_in_its_next_life(
    app: webtest.TestApp,
) -> None:
    put(app, "r1", {"v": 1})
    app.delete(C, headers=ALICE)
    wait_past(app.put_json(C, {}, headers=ALICE).json["data"]["last_modified"])
    at = put(app, "r2", {"v": 2})["last_modified"]
    put(app, "r1", {"v": 3})  # a new r1, after the point
    restore(app, C, at)
    assert records(app) == {"r2": {"id": "r2", "v": 2}}


def test_a_record_stamped_after_its_collections_deletion_still_went_with_it(
    app: webtest.TestApp,
) -> None:
    # Timestamps grow per list: r1's may equal or (a client's, ahead of the clock) exceed
    # that of the deletion of its collection. History's order says which came first.
    ahead = clock_ms() + 50
    put(app, "r1", {"v": 1, "last_modified": ahead})
    deleted = app.delete(C, headers=ALICE).json["data"]["last_modified"]
    assert deleted < ahead
    recreated = app.put_json(C, {}, headers=ALICE).json["data"]["last_modified"]
    at = max(ahead, recreated)  # r1 (v1) is at or before the point, deleted or not
    wait_past(at)
    put(app, "r1", {"v": 3})  # a new r1, after the point
    restore(app, C, at)
    assert records(app) == {}


def test_a_group_can_be_restored_alone(app: webtest.TestApp) -> None:
    at = app.put_json(f"{B}/groups/g", {"data": {"members": ["x"]}}, headers=ALICE).json["data"][
        "last_modified"
    ]
    app.delete(f"{B}/groups/g", headers=ALICE)
    restore(app, f"{B}/groups/g", at)
    assert app.get(f"{B}/groups/g", headers=ALICE).json["data"]["members"] == ["x"]


# -- reverting one entry -----------------------------------------------------------------------


def latest_entry(app: webtest.TestApp) -> dict[str, Any]:
    entry: dict[str, Any] = app.get(f"{B}/history", headers=ALICE).json["data"][0]
    return entry


def revert(
    app: webtest.TestApp,
    entry_id: str,
    status: int = 200,
    headers: dict[str, str] = ALICE,
    body: Any = None,
) -> Any:
    path = f"{B}/history/{entry_id}/revert"
    if body is None:
        return app.post(path, headers=headers, status=status)
    return app.post_json(path, body, headers=headers, status=status)


def test_reverting_an_update_brings_the_version_before_it_back(app: webtest.TestApp) -> None:
    put(app, "r", {"v": 1})
    put(app, "other", {"v": 5})
    put(app, "r", {"v": 2})
    client_etag = etag(app)
    answer = revert(app, latest_entry(app)["id"]).json["data"]
    assert answer["reverted"] and answer["update"] == 1
    assert [(r["id"], r["v"]) for r in since(app, client_etag)] == [("r", 1)]


def test_reverting_a_creation_deletes_and_reverting_a_deletion_recreates(
    app: webtest.TestApp,
) -> None:
    put(app, "r", {"v": 1})
    client_etag = etag(app)
    revert(app, latest_entry(app)["id"])
    assert [(r["id"], r.get("deleted")) for r in since(app, client_etag)] == [("r", True)]
    deletion = latest_entry(app)
    assert deletion["action"] == "delete" and deletion["restore"]["reverted"]
    revert(app, deletion["id"])
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 1


def test_reverting_a_collection_deletion_brings_its_records_back(app: webtest.TestApp) -> None:
    put(app, "r1", {"v": 1})
    put(app, "r2", {"v": 2})
    state = records(app)
    app.delete(C, headers=ALICE)
    revert(app, latest_entry(app)["id"])
    assert records(app) == state


def test_reverting_a_collection_deletion_brings_back_records_stamped_after_it(
    app: webtest.TestApp,
) -> None:
    # r2's timestamp (a client's, ahead of the clock) exceeds the deletion's; the same
    # holds for one written in the deletion's millisecond. It existed: it comes back.
    put(app, "r1", {"v": 1})
    stamped = put(app, "r2", {"v": 2, "last_modified": clock_ms() + 60_000})["last_modified"]
    state = records(app)
    assert app.delete(C, headers=ALICE).json["data"]["last_modified"] < stamped
    revert(app, latest_entry(app)["id"])
    assert records(app) == state


def test_reverting_an_entry_of_an_object_changed_since_is_a_412_naming_the_conflicts(
    app: webtest.TestApp,
) -> None:
    put(app, "r", {"v": 1})
    first = latest_entry(app)
    current = put(app, "r", {"v": 2})
    before = history_count(app)
    body = assert_error(revert(app, first["id"], status=412), 412, 114)
    assert body["details"]["existing"] == current
    assert [c["action"] for c in body["details"]["conflicts"]] == ["update"]
    assert history_count(app) == before


def test_a_dry_run_revert_writes_nothing(app: webtest.TestApp) -> None:
    put(app, "r", {"v": 1})
    put(app, "r", {"v": 2})
    answer = revert(app, latest_entry(app)["id"], body={"data": {"dry_run": True}}).json["data"]
    assert answer["dry_run"] and answer["changes"][0]["target"]["data"] == {"v": 1}
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 2


# -- permissions ---------------------------------------------------------------------------------


def test_only_writers_of_the_target_may_restore(app: webtest.TestApp) -> None:
    at = put(app, "r", {"v": 1}, permissions={"write": [userid("bob")]})["last_modified"]
    put(app, "r", {"v": 2}, permissions={"write": [userid("bob")]})
    app.patch_json(C, {"permissions": {"read": [userid("carol")]}}, headers=ALICE)
    assert_error(restore(app, C, at, status=403, headers=auth("carol")), 403, 121)
    assert_error(restore(app, C, at, status=401, headers={}), 401, 104)
    assert_error(restore(app, C, at, status=403, headers=BOB), 403, 121)  # record only
    restore(app, f"{RECORDS}/r", at, headers=BOB)
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 1
    entry = latest_entry(app)
    assert_error(revert(app, entry["id"], status=403, headers=auth("carol")), 403, 121)


# -- bad input: a clear error, nothing written ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"data": {"at": "yesterday"}}, "data.at"),
        ({"data": {"at": True}}, "data.at"),
        ({"data": {"at": -1}}, "data.at"),
        ({"data": {"at": 10**20}}, "data.at"),
        ({"data": {"at": 1.5}}, "data.at"),
        ({"data": {"at": "0001-01-01T00:00:00+14:00"}}, "data.at"),
        ({"data": {"at": "9999-12-31T23:59:59-23:59"}}, "data.at"),
        ({"data": {"at": "２０２４"}}, "data.at"),
        ({"data": {}}, "data.at"),
        ({"data": {"at": 1, "dry_run": "yes"}}, "data.dry_run"),
        ({"data": {"at": 1, "force": True}}, "data.force"),
        ({"at": 1}, "data"),
        ([], "data"),
    ],
)
def test_a_malformed_restore_body_is_a_400_and_writes_nothing(
    app: webtest.TestApp, body: Any, name: str
) -> None:
    put(app, "r", {"v": 1})
    before, entries = etag(app), history_count(app)
    resp = app.post_json(f"{C}/restore", body, headers=ALICE, status=400)
    details = assert_error(resp, 400, 107)["details"]
    assert details[0]["name"] == name and details[0]["location"] == "body"
    assert (etag(app), history_count(app)) == (before, entries)


def test_a_point_in_the_future_is_a_400(app: webtest.TestApp) -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    body = assert_error(restore(app, C, later.isoformat(), status=400), 400, 107)
    assert "future" in body["message"]


def test_unknown_targets_are_404s(app: webtest.TestApp) -> None:
    assert_error(
        restore(app, f"{RECORDS}/never", 1, status=404),
        404,
        110,
        details={"id": "never", "resource_name": "record"},
    )
    assert_error(
        restore(app, f"{B}/collections/nope/records/r", 1, status=404),
        404,
        111,
        details={"id": "nope", "resource_name": "collection"},
    )
    assert_error(revert(app, "0a1b2c3d-0000-4000-8000-000000000000", status=404), 404, 110)
    assert_error(restore(app, "/v1/buckets/nope", 1, status=403), 403, 121)


def test_a_point_older_than_retained_history_is_a_400_naming_the_objects(make_app: Any) -> None:
    app = make_app(
        includes=PLUGINS, **{"history.auto_trim_max_count": "1", "history.auto_trim_threshold": "0"}
    )
    app.put_json(B, {}, headers=ALICE)
    app.put_json(C, {}, headers=ALICE)
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    put(app, "r", {"v": 3})  # trims the first two record entries
    before = etag(app)
    body = assert_error(restore(app, C, at, status=400), 400, 107)
    assert [d["uri"] for d in body["details"]] == ["/buckets/b/collections/c/records/r"]
    assert etag(app) == before


def test_excluded_resources_cannot_be_restored(make_app: Any) -> None:
    excluded = "/buckets/b/collections/c/records/secret"
    app = make_app(includes=PLUGINS, **{"history.exclude_resources": excluded})
    app.put_json(B, {}, headers=ALICE)
    app.put_json(C, {}, headers=ALICE)
    at = put(app, "r", {"v": 1})["last_modified"]
    body = assert_error(restore(app, C, at, status=400), 400, 107)
    assert [d["uri"] for d in body["details"]] == [excluded]


def test_a_change_history_did_not_record_makes_the_restore_a_400(make_app: Any) -> None:
    app = make_app(includes=PLUGINS, **{"history.exclude_user_ids": userid("bob")})
    app.put_json(B, {}, headers=ALICE)
    app.put_json(C, {}, headers=ALICE)
    at = put(app, "r", {"v": 1}, permissions={"write": [userid("bob")]})["last_modified"]
    app.patch_json(f"{RECORDS}/r", {"data": {"v": 2}}, headers=BOB)
    body = assert_error(restore(app, C, at, status=400), 400, 107)
    assert [d["uri"] for d in body["details"]] == ["/buckets/b/collections/c/records/r"]
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 2


def test_a_restored_record_is_checked_against_the_current_schema(make_app: Any) -> None:
    app = make_app(includes=PLUGINS, experimental_collection_schema_validation="true")
    app.put_json(B, {}, headers=ALICE)
    app.put_json(C, {}, headers=ALICE)
    at = put(app, "r", {"v": "text"})["last_modified"]
    put(app, "r", {"v": 2})
    schema = {"type": "object", "properties": {"v": {"type": "integer"}}}
    app.patch_json(C, {"data": {"schema": schema}}, headers=ALICE)
    resp = restore(app, f"{RECORDS}/r", at, status=400)
    assert_error(resp, 400, 107)
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 2


def test_the_openapi_document_describes_restore_and_revert(app: webtest.TestApp) -> None:
    doc = app.get("/v1/__api__").json
    restore_op = doc["paths"]["/buckets/{bucket_id}/collections/{id}/restore"]["post"]
    body = restore_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RestoreRequest"}
    assert doc["components"]["schemas"]["RestoreRequest"]["required"] == ["data"]
    assert "post" in doc["paths"]["/buckets/{bucket_id}/history/{id}/revert"]
    explain = doc["paths"][
        "/buckets/{bucket_id}/collections/{collection_id}/records/{id}/permissions"
    ]["get"]
    assert explain["parameters"][0]["name"] == "principal"


# -- access lost through a restore or a revert (README, "Revocations") ---------------------------

CAROL = auth("carol")


def poll_as(
    app: webtest.TestApp, headers: dict[str, str], timestamp: int, path: str = RECORDS
) -> Any:
    return app.get(f"{path}?_since={timestamp}", headers=headers, status=200)


def synced_as(app: webtest.TestApp, headers: dict[str, str], path: str = RECORDS) -> int:
    """A reader's first sync: the ETag they poll from next."""
    return tag(app.get(path, headers=headers, status=200))


def tag(resp: Any) -> int:
    return int(resp.headers["ETag"].strip('"'))


def test_a_revert_deleting_a_record_read_through_its_acl_gives_its_reader_the_tombstone_once(
    app: webtest.TestApp,
) -> None:
    put(app, "carols", {}, permissions={"read": [userid("carol")]})
    put(app, "kept", {}, permissions={"read": [userid("bob")]})
    put(app, "gone", {}, permissions={"read": [userid("bob")]})
    bob_since, carol_since = synced_as(app, BOB), synced_as(app, CAROL)

    revert(app, latest_entry(app)["id"])  # the creation of "gone": a deletion
    tombstone = app.get(f"{RECORDS}?_since={bob_since}", headers=ALICE).json["data"][0]
    first = poll_as(app, BOB, bob_since)

    assert tombstone["id"] == "gone" and tombstone["deleted"] is True
    assert first.json["data"] == [tombstone]  # the record's own: no "revoked"
    assert poll_as(app, BOB, tag(first)).json["data"] == []
    assert poll_as(app, CAROL, carol_since).json["data"] == []  # never could read it


def test_a_restore_deleting_the_last_record_its_reader_read_answers_200_then_403(
    app: webtest.TestApp,
) -> None:
    at = put(app, "before", {})["last_modified"]
    wait_past(at)
    put(app, "bobs", {}, permissions={"read": [userid("bob")]})
    bob_since = synced_as(app, BOB)

    restore(app, C, at)  # "bobs" did not exist then

    first = poll_as(app, BOB, bob_since)
    assert [(r["id"], r.get("deleted"), r.get("revoked")) for r in first.json["data"]] == [
        ("bobs", True, None)
    ]
    app.get(f"{RECORDS}?_since={tag(first)}", headers=BOB, status=403)


def test_a_restore_taking_a_reader_out_of_an_acl_or_a_group_revokes_once(
    app: webtest.TestApp,
) -> None:
    group = f"{B}/groups/friends"
    app.put_json(group, {"data": {"members": []}}, headers=ALICE, status=201)
    put(app, "acl", {})
    at = put(app, "grouped", {}, permissions={"read": [group[3:]]})["last_modified"]
    put(app, "carols", {}, permissions={"read": [userid("carol")]})
    wait_past(max(at, etag(app, f"{B}/groups")))
    app.patch_json(f"{RECORDS}/acl", {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    app.patch_json(group, {"data": {"members": [userid("bob")]}}, headers=ALICE)
    bob_since, carol_since = synced_as(app, BOB), synced_as(app, CAROL)

    revert(app, latest_entry(app)["id"])  # Bob out of the group again
    after_revert = poll_as(app, BOB, bob_since)
    assert [(r["id"], r.get("revoked")) for r in after_revert.json["data"]] == [("grouped", True)]
    restore(app, f"{RECORDS}/acl", at)  # its ACL as before Bob was given read
    again = poll_as(app, BOB, tag(after_revert))

    assert [(r["id"], r.get("revoked")) for r in again.json["data"]] == [("acl", True)]
    assert poll_as(app, CAROL, carol_since).json["data"] == []


# -- the command line ---------------------------------------------------------------------------


def write_ini(path: Any, settings: dict[str, Any], includes: str = PLUGINS) -> str:
    """An ini of the test's backend (``backend_settings``) for the command line."""
    ini = {f"kinto.{key}": value for key, value in settings.items()}
    return str(server.write_ini(path, {**server.BASE_SETTINGS, **ini, "kinto.includes": includes}))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return server.cli("restore", *args)


def test_the_command_line_restores_and_dry_runs_as_the_endpoint(
    app: webtest.TestApp, backend: str, backend_settings: dict[str, Any], tmp_path: Any
) -> None:
    if backend == "memory":
        pytest.skip("the command runs in its own process: it needs a database on disk")
    ini = write_ini(tmp_path / "kinto.ini", backend_settings)
    at = put(app, "r", {"v": 1})["last_modified"]
    put(app, "r", {"v": 2})
    dry = run_cli("/v1/buckets/b/collections/c", "--at", str(at), "--dry-run", "--ini", ini)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["data"]["changes"][0]["target"]["data"] == {"v": 1}
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 2
    done = run_cli("/buckets/b/collections/c/records/r", "--at", str(at), "--ini", ini)
    assert done.returncode == 0, done.stderr
    assert app.get(f"{RECORDS}/r", headers=ALICE).json["data"]["v"] == 1
    entry = app.get(f"{B}/history", headers=ALICE).json["data"][0]
    assert entry["user_id"] is None
    assert entry["restore"] == {
        "uri": "/buckets/b/collections/c/records/r",
        "at": at,
        "user_id": None,
        "by": "command line",
    }

    future = run_cli("/buckets/b", "--at", "2999-01-01", "--ini", ini)
    assert future.returncode == 1 and "future" in future.stderr
    assert run_cli("/buckets/b/nothing", "--at", "1", "--ini", ini).returncode == 2
    unknown = run_cli("/buckets/b/collections/c/records/never", "--at", "1", "--ini", ini)
    assert unknown.returncode == 1, unknown.stderr
    without = write_ini(tmp_path / "without.ini", backend_settings, includes="")
    refused = run_cli("/buckets/b", "--at", "1", "--ini", without)
    assert refused.returncode == 2 and "history plugin" in refused.stderr


def test_a_revert_of_a_collection_acl_tombstones_it_in_its_list_and_its_records(
    app: webtest.TestApp,
) -> None:
    put(app, "r", {})
    app.patch_json(C, {"permissions": {"read": [userid("bob")]}}, headers=ALICE)
    collections_since, records_since = synced_as(app, BOB, f"{B}/collections"), synced_as(app, BOB)

    revert(app, latest_entry(app)["id"])  # the collection's ACL before Bob was given read

    collections = poll_as(app, BOB, collections_since, f"{B}/collections").json["data"]
    assert [(c["id"], c.get("revoked")) for c in collections] == [("c", True)]
    assert [(r["id"], r.get("revoked")) for r in poll_as(app, BOB, records_since).json["data"]] == [
        ("r", True)
    ]


def restore_deletion_costs(app: webtest.TestApp) -> dict[str, int]:
    """Statements of a revert and of a collection restore each deleting a record Bob reads."""
    create_collection(app, C)
    at = put(app, "kept", {})["last_modified"]
    wait_past(at)
    put(app, "reverted", {}, permissions={"read": [userid("bob")]})
    entry = latest_entry(app)["id"]
    put(app, "restored", {}, permissions={"read": [userid("bob")]})
    found = {}
    for name, request in {
        "revert deleting a record": lambda: revert(app, entry),
        "collection restore deleting a record": lambda: restore(app, C, at),
    }.items():
        with recorded_statements(app) as statements:
            request()
        found[name] = len(statements)
    app.delete(B, headers=ALICE)
    return found


def test_a_deletion_by_a_restore_records_its_readers_loss_for_one_or_two_statements(
    make_app: Any,
) -> None:
    on = restore_deletion_costs(make_app(includes=PLUGINS))
    off = restore_deletion_costs(make_app(includes=PLUGINS, revocation_tombstones=False))

    print(f"\nstatements with / without revocation tombstones: {on} / {off}")
    assert {name: on[name] - off[name] for name in on} == {
        "revert deleting a record": 2,  # the bucket's and collection's ACLs, the row
        "collection restore deleting a record": 1,  # the route had those ACLs: the row
    }
