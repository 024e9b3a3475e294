"""Access-revoked tombstones in ``_since`` polls (issue 12 item 4; README, "Revocations").

Bob syncs a collection of Alice's with ``_since``. Whatever way Alice takes his read access
to a record away (its ACL, the collection's, the bucket's, a group he is removed from, a
group deleted, Everyone or Authenticated removed), his next poll carries a tombstone
``{"id", "last_modified", "deleted": true, "revoked": true}`` for it, once; a record he
never could read never shows; one he still reads through another principal gives none.
A record deleted while he read it through its own ACL gives him its very tombstone
(``"deleted": true``, no ``revoked``), as a reader of the collection gets it.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from kinto_clone import db
from tests.querycount import recorded_statements
from tests.support import auth, userid

ALICE = auth("alice")
BOB = auth("bob")
CAROL = auth("carol")
BOB_ID = userid("bob")
CAROL_ID = userid("carol")
BUCKET = "/v1/buckets/shared"
COLLECTION = f"{BUCKET}/collections/tasks"
RECORDS = f"{COLLECTION}/records"
GROUP = f"{BUCKET}/groups/friends"
GROUP_URI = GROUP[3:]


def etag(resp: Any) -> int:
    return int(resp.headers["ETag"].strip('"'))


def put(app: webtest.TestApp, rid: str, **permissions: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"data": {"title": rid}}
    if permissions:
        body["permissions"] = permissions
    resp = app.put_json(f"{RECORDS}/{rid}", body, headers=ALICE)
    return dict(resp.json["data"])


def poll(app: webtest.TestApp, since: int, headers: dict[str, str] = BOB, **kwargs: Any) -> Any:
    return app.get(f"{RECORDS}?_since={since}", headers=headers, **kwargs)


def revoked_ids(resp: Any) -> list[str]:
    return sorted(o["id"] for o in resp.json["data"] if o.get("revoked"))


@pytest.fixture
def shared(app: webtest.TestApp) -> webtest.TestApp:
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {}, headers=ALICE, status=201)
    return app


def synced(app: webtest.TestApp, headers: dict[str, str] = BOB) -> int:
    """Bob's first sync: every record he may read; the ETag he polls from next."""
    return etag(app.get(RECORDS, headers=headers, status=200))


# -- each way to lose access ---------------------------------------------------------------


def test_removing_a_reader_from_a_record_acl_gives_him_one_tombstone(
    shared: webtest.TestApp,
) -> None:
    put(shared, "kept", read=[BOB_ID])
    put(shared, "lost", read=[BOB_ID])
    since = synced(shared)
    total_before = poll(shared, since).headers["Total-Records"]

    shared.patch_json(f"{RECORDS}/lost", {"permissions": {"read": []}}, headers=ALICE)
    first = poll(shared, since, status=200)

    [tombstone] = first.json["data"]
    assert tombstone["id"] == "lost" and tombstone["deleted"] is True
    assert tombstone["revoked"] is True
    assert set(tombstone) == {"id", "last_modified", "deleted", "revoked"}
    assert etag(first) >= tombstone["last_modified"] > since
    assert first.headers["Total-Records"] == total_before  # revocations never count
    assert poll(shared, etag(first), status=200).json["data"] == []  # exactly once


def test_removing_the_collection_or_bucket_acl_revokes_every_record(
    shared: webtest.TestApp,
) -> None:
    for uri in (COLLECTION, BUCKET):
        shared.patch_json(uri, {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
        put(shared, "a")
        put(shared, "b")
        since = synced(shared)

        shared.patch_json(uri, {"permissions": {"read": []}}, headers=ALICE)
        resp = poll(shared, since, status=200)

        assert revoked_ids(resp) == ["a", "b"], uri
        assert resp.headers["Total-Records"] == "0"
        assert etag(resp) == max(o["last_modified"] for o in resp.json["data"])
        # He lost everything here: the next poll is the refusal a stranger gets.
        poll(shared, etag(resp), status=403)
        shared.delete(RECORDS, headers=ALICE)


def test_a_member_removed_from_a_group_and_the_members_of_a_deleted_group_lose_its_records(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(GROUP, {"data": {"members": [BOB_ID, CAROL_ID]}}, headers=ALICE)
    put(shared, "one", read=[GROUP_URI])
    bob_since, carol_since = synced(shared), synced(shared, CAROL)

    shared.patch_json(GROUP, {"data": {"members": [CAROL_ID]}}, headers=ALICE)
    assert revoked_ids(poll(shared, bob_since)) == ["one"]
    assert poll(shared, carol_since, CAROL).json["data"] == []

    shared.delete(GROUP, headers=ALICE)
    assert revoked_ids(poll(shared, carol_since, CAROL)) == ["one"]


def test_a_group_losing_its_ace_revokes_it_for_each_member(shared: webtest.TestApp) -> None:
    shared.put_json(GROUP, {"data": {"members": [BOB_ID]}}, headers=ALICE)
    put(shared, "one", read=[GROUP_URI])
    since = synced(shared)

    shared.patch_json(f"{RECORDS}/one", {"permissions": {"read": []}}, headers=ALICE)

    assert revoked_ids(poll(shared, since)) == ["one"]


@pytest.mark.parametrize("principal", ["system.Everyone", "system.Authenticated"])
def test_removing_everyone_or_authenticated_revokes_it_for_their_callers(
    shared: webtest.TestApp, principal: str
) -> None:
    put(shared, "public", read=[principal])
    since = synced(shared)
    anonymous_since = synced(shared, {}) if principal == "system.Everyone" else None

    shared.patch_json(f"{RECORDS}/public", {"permissions": {"read": []}}, headers=ALICE)

    assert revoked_ids(poll(shared, since)) == ["public"]
    if anonymous_since is not None:
        assert revoked_ids(poll(shared, anonymous_since, {})) == ["public"]


def test_a_bucket_acl_removed_revokes_the_records_of_each_of_its_collections(
    shared: webtest.TestApp,
) -> None:
    other = f"{BUCKET}/collections/notes/records"
    shared.patch_json(BUCKET, {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    shared.put_json(f"{BUCKET}/collections/notes", {}, headers=ALICE, status=201)
    put(shared, "task")
    shared.put_json(f"{other}/note", {"data": {}}, headers=ALICE, status=201)
    task_since = synced(shared)
    note_since = etag(shared.get(other, headers=BOB, status=200))

    shared.patch_json(BUCKET, {"permissions": {"read": []}}, headers=ALICE)

    assert revoked_ids(poll(shared, task_since)) == ["task"]
    notes = shared.get(f"{other}?_since={note_since}", headers=BOB, status=200)
    assert revoked_ids(notes) == ["note"]


def test_access_given_back_then_taken_again_gives_a_second_tombstone(
    shared: webtest.TestApp,
) -> None:
    put(shared, "r", read=[BOB_ID])
    since = synced(shared)
    shared.patch_json(f"{RECORDS}/r", {"permissions": {"read": []}}, headers=ALICE)
    first = poll(shared, since)
    assert revoked_ids(first) == ["r"]

    shared.patch_json(f"{RECORDS}/r", {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    back = poll(shared, etag(first))
    assert [o["id"] for o in back.json["data"]] == ["r"] and revoked_ids(back) == []
    shared.patch_json(f"{RECORDS}/r", {"permissions": {"read": []}}, headers=ALICE)

    assert revoked_ids(poll(shared, etag(back))) == ["r"]


def test_a_record_deleted_after_its_reader_lost_it_keeps_his_tombstone(
    shared: webtest.TestApp,
) -> None:
    put(shared, "mine", read=[BOB_ID])
    put(shared, "gone", read=[BOB_ID])
    since = synced(shared)
    shared.patch_json(f"{RECORDS}/gone", {"permissions": {"read": []}}, headers=ALICE)

    shared.delete(f"{RECORDS}/gone", headers=ALICE)

    assert revoked_ids(poll(shared, since)) == ["gone"]


# -- a record deleted while read through its own ACL ------------------------------------------


def test_a_record_deleted_gives_its_acl_reader_the_tombstone_the_owner_sees_once(
    shared: webtest.TestApp,
) -> None:
    put(shared, "kept", read=[BOB_ID])
    put(shared, "gone", read=[BOB_ID])
    put(shared, "carols", read=[CAROL_ID])
    bob_since, carol_since = synced(shared), synced(shared, CAROL)
    alice_since = synced(shared, ALICE)

    deleted = shared.delete(f"{RECORDS}/gone", headers=ALICE).json["data"]
    first = poll(shared, bob_since, status=200)

    assert first.json["data"] == [deleted]  # no "revoked": the record is gone for everyone
    assert poll(shared, alice_since, ALICE).json["data"] == [deleted]
    assert etag(first) == deleted["last_modified"]
    assert poll(shared, etag(first), status=200).json["data"] == []  # exactly once
    # Carol never could read it: nothing of it (the ETag is the list's, as before).
    assert poll(shared, carol_since, CAROL, status=200).json["data"] == []


def test_a_record_deleted_reaches_the_members_of_a_group_that_read_it(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(GROUP, {"data": {"members": [BOB_ID, CAROL_ID]}}, headers=ALICE)
    put(shared, "kept", read=[BOB_ID, CAROL_ID])
    put(shared, "gone", read=[GROUP_URI])
    bob_since, carol_since = synced(shared), synced(shared, CAROL)

    deleted = shared.delete(f"{RECORDS}/gone", headers=ALICE).json["data"]

    assert poll(shared, bob_since).json["data"] == [deleted]
    assert poll(shared, carol_since, CAROL).json["data"] == [deleted]


def test_a_writer_who_deletes_his_own_record_tells_his_other_devices(
    shared: webtest.TestApp,
) -> None:
    shared.patch_json(COLLECTION, {"permissions": {"record:create": [BOB_ID]}}, headers=ALICE)
    mine = shared.post_json(RECORDS, {"data": {"title": "mine"}}, headers=BOB).json["data"]
    since = synced(shared)  # his phone

    deleted = shared.delete(f"{RECORDS}/{mine['id']}", headers=BOB).json["data"]  # his laptop

    resp = poll(shared, since, status=200)
    assert resp.json["data"] == [deleted]
    assert resp.headers["Total-Records"] == "0"
    assert poll(shared, etag(resp), status=200).json["data"] == []  # once


def test_a_plural_delete_gives_each_reader_the_tombstones_of_what_he_read(
    shared: webtest.TestApp,
) -> None:
    put(shared, "bobs", read=[BOB_ID])
    put(shared, "carols", read=[CAROL_ID])
    put(shared, "alices")
    bob_since, carol_since = synced(shared), synced(shared, CAROL)

    deleted = shared.delete(RECORDS, headers=ALICE).json["data"]

    by_id = {t["id"]: t for t in deleted}
    assert poll(shared, bob_since).json["data"] == [by_id["bobs"]]
    assert poll(shared, carol_since, CAROL).json["data"] == [by_id["carols"]]


def test_the_last_record_a_reader_read_deleted_answers_200_then_403(
    shared: webtest.TestApp,
) -> None:
    put(shared, "only", read=[BOB_ID])
    since = synced(shared)

    deleted = shared.delete(f"{RECORDS}/only", headers=ALICE).json["data"]

    resp = poll(shared, since, status=200)  # Kinto: 403, and his device keeps the record
    assert resp.json["data"] == [deleted]
    poll(shared, etag(resp), status=403)  # from there he reads nothing, as a stranger


def test_a_deleted_record_read_again_under_the_same_id_shows_no_tombstone(
    shared: webtest.TestApp,
) -> None:
    put(shared, "back", read=[BOB_ID])
    since = synced(shared)
    shared.delete(f"{RECORDS}/back", headers=ALICE)

    again = put(shared, "back", read=[BOB_ID])

    assert poll(shared, since).json["data"] == [again]


def test_a_deleted_record_the_reader_read_through_the_collection_is_an_ordinary_tombstone(
    shared: webtest.TestApp,
) -> None:
    shared.patch_json(COLLECTION, {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    put(shared, "gone", read=[BOB_ID])
    since = synced(shared)

    deleted = shared.delete(f"{RECORDS}/gone", headers=ALICE).json["data"]

    assert poll(shared, since).json["data"] == [deleted]


# -- lists of collections, groups and buckets ---------------------------------------------------

COLLECTIONS = f"{BUCKET}/collections"
GROUPS = f"{BUCKET}/groups"
NOTES = f"{COLLECTIONS}/notes"


def poll_list(app: webtest.TestApp, path: str, since: int, headers: dict[str, str] = BOB) -> Any:
    return app.get(f"{path}?_since={since}", headers=headers, status=200)


def synced_list(app: webtest.TestApp, path: str, headers: dict[str, str] = BOB) -> int:
    return etag(app.get(path, headers=headers, status=200))


def test_a_collection_whose_acl_stops_naming_its_reader_is_tombstoned_in_the_bucket_list(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(NOTES, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201)
    shared.put_json(f"{COLLECTIONS}/bobs", {"permissions": {"write": [BOB_ID]}}, headers=ALICE)
    shared.put_json(f"{COLLECTIONS}/carols", {"permissions": {"read": [CAROL_ID]}}, headers=ALICE)
    since, carol_since = synced_list(shared, COLLECTIONS), synced_list(shared, COLLECTIONS, CAROL)

    shared.patch_json(NOTES, {"permissions": {"read": []}}, headers=ALICE)
    first = poll_list(shared, COLLECTIONS, since)

    [tombstone] = first.json["data"]
    assert tombstone["id"] == "notes" and tombstone["revoked"] is True
    assert set(tombstone) == {"id", "last_modified", "deleted", "revoked"}
    assert [c["id"] for c in shared.get(COLLECTIONS, headers=BOB).json["data"]] == ["bobs"]
    assert poll_list(shared, COLLECTIONS, etag(first)).json["data"] == []  # exactly once
    assert poll_list(shared, COLLECTIONS, carol_since, CAROL).json["data"] == []


def test_a_collection_read_through_another_of_its_permissions_is_not_tombstoned(
    shared: webtest.TestApp,
) -> None:
    both = {"read": [BOB_ID], "record:create": [BOB_ID]}
    shared.put_json(NOTES, {"permissions": both}, headers=ALICE, status=201)
    since = synced_list(shared, COLLECTIONS)

    shared.patch_json(NOTES, {"permissions": {"read": []}}, headers=ALICE)

    assert [o.get("revoked") for o in poll_list(shared, COLLECTIONS, since).json["data"]] == [None]


def test_the_bucket_acl_removed_tombstones_its_collections_groups_and_itself(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(GROUP, {"data": {"members": []}}, headers=ALICE, status=201)
    shared.patch_json(BUCKET, {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    collections_since, groups_since = (
        synced_list(shared, COLLECTIONS),
        synced_list(shared, GROUPS),
    )
    buckets_since = synced_list(shared, "/v1/buckets")

    shared.patch_json(BUCKET, {"permissions": {"read": []}}, headers=ALICE)

    collections = poll_list(shared, COLLECTIONS, collections_since)
    assert revoked_ids(collections) == ["tasks"]
    assert revoked_ids(poll_list(shared, GROUPS, groups_since)) == ["friends"]
    assert revoked_ids(poll_list(shared, "/v1/buckets", buckets_since)) == ["shared"]
    shared.get(f"{COLLECTIONS}?_since={etag(collections)}", headers=BOB, status=403)


def test_a_group_left_or_deleted_tombstones_the_collections_and_groups_it_gave(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(GROUP, {"data": {"members": [BOB_ID, CAROL_ID]}}, headers=ALICE)
    shared.put_json(NOTES, {"permissions": {"read": [GROUP_URI]}}, headers=ALICE, status=201)
    shared.patch_json(GROUP, {"permissions": {"read": [GROUP_URI]}}, headers=ALICE)
    bob = synced_list(shared, COLLECTIONS), synced_list(shared, GROUPS)
    carol = synced_list(shared, COLLECTIONS, CAROL), synced_list(shared, GROUPS, CAROL)

    shared.patch_json(GROUP, {"data": {"members": [CAROL_ID]}}, headers=ALICE)
    assert revoked_ids(poll_list(shared, COLLECTIONS, bob[0])) == ["notes"]
    assert revoked_ids(poll_list(shared, GROUPS, bob[1])) == ["friends"]
    assert poll_list(shared, COLLECTIONS, carol[0], CAROL).json["data"] == []

    deleted = shared.delete(GROUP, headers=ALICE).json["data"]
    assert revoked_ids(poll_list(shared, COLLECTIONS, carol[0], CAROL)) == ["notes"]
    # The group itself: its own tombstone, as for a record deleted (no "revoked").
    assert poll_list(shared, GROUPS, carol[1], CAROL).json["data"] == [deleted]


def test_a_collection_deleted_gives_its_acl_reader_its_tombstone_once(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(NOTES, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=201)
    shared.put_json(f"{COLLECTIONS}/carols", {"permissions": {"read": [CAROL_ID]}}, headers=ALICE)
    since, carol_since = synced_list(shared, COLLECTIONS), synced_list(shared, COLLECTIONS, CAROL)

    deleted = shared.delete(NOTES, headers=ALICE).json["data"]
    first = poll_list(shared, COLLECTIONS, since)  # the last he could read: 200, then 403

    assert first.json["data"] == [deleted]
    assert etag(first) == deleted["last_modified"]
    shared.get(f"{COLLECTIONS}?_since={etag(first)}", headers=BOB, status=403)
    assert poll_list(shared, COLLECTIONS, carol_since, CAROL).json["data"] == []


def test_a_bucket_whose_acl_stops_naming_its_reader_is_tombstoned_in_the_buckets_list(
    shared: webtest.TestApp,
) -> None:
    shared.put_json("/v1/buckets/bobs", {}, headers=BOB, status=201)
    shared.patch_json(BUCKET, {"permissions": {"write": [BOB_ID]}}, headers=ALICE)
    since = synced_list(shared, "/v1/buckets")

    shared.patch_json(BUCKET, {"permissions": {"write": []}}, headers=ALICE)
    first = poll_list(shared, "/v1/buckets", since)

    assert revoked_ids(first) == ["shared"]
    assert poll_list(shared, "/v1/buckets", etag(first)).json["data"] == []
    shared.patch_json(BUCKET, {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    since = synced_list(shared, "/v1/buckets")

    deleted = shared.delete(BUCKET, headers=ALICE).json["data"]

    assert poll_list(shared, "/v1/buckets", since).json["data"] == [deleted]


# -- purged with the tombstones ---------------------------------------------------------------


def purge(app: webtest.TestApp, **limits: int) -> int:
    with db.transaction():
        return int(app.app.registry.backends.storage.purge_deleted("record", **limits))


def test_a_purge_before_a_timestamp_forgets_the_revocations_older_than_it(
    shared: webtest.TestApp,
) -> None:
    for rid in ("old", "deleted", "new"):
        put(shared, rid, read=[BOB_ID])
    since = synced(shared)
    shared.patch_json(f"{RECORDS}/old", {"permissions": {"read": []}}, headers=ALICE)
    shared.delete(f"{RECORDS}/deleted", headers=ALICE)
    cutoff = etag(shared.patch_json(f"{RECORDS}/new", {"permissions": {"read": []}}, headers=ALICE))
    assert revoked_ids(poll(shared, since)) == ["new", "old"]

    assert purge(shared, before=cutoff) == 1  # the tombstone of "deleted"

    assert [o["id"] for o in poll(shared, since).json["data"]] == ["new"]


def test_a_purge_keeping_the_newest_tombstones_forgets_the_revocations_up_to_what_it_removed(
    shared: webtest.TestApp,
) -> None:
    for rid in ("revoked", "first", "later", "kept"):
        put(shared, rid, read=[BOB_ID])
    since = synced(shared)
    shared.patch_json(f"{RECORDS}/revoked", {"permissions": {"read": []}}, headers=ALICE)
    shared.delete(f"{RECORDS}/first", headers=ALICE)
    later = shared.delete(f"{RECORDS}/later", headers=ALICE).json["data"]
    shared.patch_json(f"{RECORDS}/kept", {"permissions": {"read": []}}, headers=ALICE)

    assert purge(shared, max_retained=1) == 1  # the tombstone of "first"

    shown = poll(shared, since).json["data"]  # newest first
    assert [o["id"] for o in shown] == ["kept", "later"]
    assert shown[0]["revoked"] is True and shown[1] == later


# -- what must not show ----------------------------------------------------------------------


def test_a_caller_who_never_could_read_a_record_learns_nothing_of_it(
    shared: webtest.TestApp,
) -> None:
    put(shared, "mine", read=[BOB_ID])
    put(shared, "secret", read=[CAROL_ID])
    since = synced(shared)
    total_before = poll(shared, since).headers["Total-Records"]

    shared.patch_json(f"{RECORDS}/secret", {"permissions": {"read": []}}, headers=ALICE)
    resp = poll(shared, since, status=200)

    assert resp.json["data"] == []
    assert resp.headers["Total-Records"] == total_before


def test_a_member_who_joins_after_the_loss_learns_nothing_of_it(
    shared: webtest.TestApp,
) -> None:
    put(shared, "mine", read=[BOB_ID])
    shared.put_json(GROUP, {"data": {"members": [CAROL_ID]}}, headers=ALICE)
    put(shared, "theirs", read=[GROUP_URI])
    since = synced(shared)

    shared.patch_json(f"{RECORDS}/theirs", {"permissions": {"read": []}}, headers=ALICE)
    shared.patch_json(GROUP, {"data": {"members": [CAROL_ID, BOB_ID]}}, headers=ALICE)

    assert poll(shared, since).json["data"] == []


def test_no_tombstone_while_another_principal_still_grants_read(
    shared: webtest.TestApp,
) -> None:
    shared.put_json(GROUP, {"data": {"members": [BOB_ID]}}, headers=ALICE)
    put(shared, "both", read=[BOB_ID, GROUP_URI])
    since = synced(shared)

    shared.patch_json(f"{RECORDS}/both", {"permissions": {"read": [GROUP_URI]}}, headers=ALICE)
    assert revoked_ids(poll(shared, since)) == []  # the record itself, changed: he reads it

    shared.patch_json(GROUP, {"data": {"members": []}}, headers=ALICE)
    assert revoked_ids(poll(shared, since)) == ["both"]


def test_no_tombstone_for_the_reader_of_the_whole_collection(shared: webtest.TestApp) -> None:
    shared.patch_json(COLLECTION, {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    put(shared, "r", read=[BOB_ID])
    since = synced(shared)

    shared.patch_json(f"{RECORDS}/r", {"permissions": {"read": []}}, headers=ALICE)

    assert [o["id"] for o in poll(shared, since).json["data"]] == ["r"]  # its new version
    assert revoked_ids(poll(shared, since)) == []


def test_the_last_readable_record_revoked_answers_200_with_only_its_tombstone(
    shared: webtest.TestApp,
) -> None:
    put(shared, "other")  # Alice's alone: Bob must learn nothing of it
    only = put(shared, "only", read=[BOB_ID])
    since = synced(shared)
    put(shared, "later")

    shared.patch_json(f"{RECORDS}/only", {"permissions": {"read": []}}, headers=ALICE)
    resp = poll(shared, since, status=200)

    [tombstone] = resp.json["data"]
    assert tombstone["id"] == "only" and tombstone["last_modified"] > only["last_modified"]
    assert etag(resp) == tombstone["last_modified"]  # not the list's: nothing of it
    assert resp.headers["Total-Records"] == "0"
    poll(shared, etag(resp), status=403)


def test_tombstones_follow_the_page_order_and_only_the_first_page(
    shared: webtest.TestApp,
) -> None:
    put(shared, "a", read=[BOB_ID])
    put(shared, "b", read=[BOB_ID])
    since = synced(shared)
    shared.patch_json(f"{RECORDS}/a", {"permissions": {"read": []}}, headers=ALICE)
    put(shared, "b", read=[BOB_ID])  # a change he still reads, after the revocation

    newest_first = poll(shared, since).json["data"]
    oldest_first = shared.get(f"{RECORDS}?_since={since}&_sort=last_modified", headers=BOB)

    assert [o["id"] for o in newest_first] == ["b", "a"]
    assert [o["id"] for o in oldest_first.json["data"]] == ["a", "b"]
    filtered = shared.get(f"{RECORDS}?_since={since}&title=b", headers=BOB).json["data"]
    assert [o["id"] for o in filtered] == ["b"]
    fields = shared.get(f"{RECORDS}?_since={since}&_fields=title", headers=BOB).json["data"]
    assert fields[1] == {**newest_first[1]}  # the tombstone keeps its markers
    assert fields[0] == {"id": "b", "last_modified": newest_first[0]["last_modified"], "title": "b"}


def test_the_setting_off_gives_kintos_answers(make_app: Any) -> None:
    app = make_app(revocation_tombstones=False)
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {}, headers=ALICE, status=201)
    put(app, "kept", read=[BOB_ID])
    put(app, "lost", read=[BOB_ID])
    since = synced(app)

    patched = app.patch_json(f"{RECORDS}/lost", {"permissions": {"read": []}}, headers=ALICE)

    assert poll(app, since).json["data"] == []
    # Nothing recorded: the list's timestamp is the write's own, as on Kinto.
    assert etag(app.get(RECORDS, headers=ALICE)) == patched.json["data"]["last_modified"]
    app.patch_json(f"{RECORDS}/kept", {"permissions": {"read": []}}, headers=ALICE)
    poll(app, since, status=403)


def test_a_revocation_tombstones_setting_that_is_no_boolean_stops_the_server(
    make_app: Any,
) -> None:
    from kinto_clone.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="revocation_tombstones"):
        make_app(revocation_tombstones="sometimes")


def test_a_collection_deleted_forgets_its_revocations(shared: webtest.TestApp) -> None:
    put(shared, "x", read=[BOB_ID])
    put(shared, "y", read=[BOB_ID])
    since = synced(shared)
    shared.patch_json(f"{RECORDS}/x", {"permissions": {"read": []}}, headers=ALICE)

    shared.delete(COLLECTION, headers=ALICE)
    shared.put_json(COLLECTION, {}, headers=ALICE, status=201)
    put(shared, "z", read=[BOB_ID])

    assert [o["id"] for o in poll(shared, since).json["data"]] == ["z"]


# -- cost --------------------------------------------------------------------------------------


def costs(app: webtest.TestApp) -> dict[str, int]:
    """Statements of the requests revocations could touch, on a fresh collection."""
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(COLLECTION, {}, headers=ALICE, status=201)
    for n in range(3):
        put(app, f"r{n}", read=[BOB_ID])
    put(app, "own")
    since = synced(app)
    put(app, "r0", read=[BOB_ID])
    measured: dict[str, Any] = {
        "owner _since poll": lambda: poll(app, since, ALICE, status=200),
        "reader _since poll, nothing lost": lambda: poll(app, since, status=200),
        "PATCH keeping the ACL": lambda: app.patch_json(
            f"{RECORDS}/r1", {"data": {"n": 1}}, headers=ALICE, status=200
        ),
        "PATCH removing a reader": lambda: app.patch_json(
            f"{RECORDS}/r1", {"permissions": {"read": []}}, headers=ALICE, status=200
        ),
        "reader _since poll, one lost": lambda: poll(app, since, status=200),
        "DELETE by the owner": lambda: app.delete(f"{RECORDS}/own", headers=ALICE, status=200),
        "DELETE of a record a reader read": lambda: app.delete(
            f"{RECORDS}/r2", headers=ALICE, status=200
        ),
        "plural DELETE": lambda: app.delete(RECORDS, headers=ALICE, status=200),
    }
    found = {}
    for name, request in measured.items():
        with recorded_statements(app) as statements:
            request()
        found[name] = len(statements)
    app.delete(BUCKET, headers=ALICE)  # SQLite and PostgreSQL: both apps share the database
    return found


def test_revocations_cost_nothing_but_a_probe_for_partial_readers_and_3_per_loss(
    make_app: Any,
) -> None:
    on, off = costs(make_app()), costs(make_app(revocation_tombstones=False))

    extra = {name: on[name] - off[name] for name in on}

    print(f"\nstatements with / without revocation tombstones: {on} / {off}")
    assert extra == {
        "owner _since poll": 0,  # reads the whole list: nothing to look up
        "reader _since poll, nothing lost": 1,  # one indexed probe
        "PATCH keeping the ACL": 0,
        "PATCH removing a reader": 3,  # lock the list's row, the rows, its timestamp
        "reader _since poll, one lost": 1,
        "DELETE by the owner": 0,  # the owner reads the whole list: nothing recorded
        "DELETE of a record a reader read": 1,  # the reader's row, at the tombstone's time
        "plural DELETE": 2,  # read the records' ACEs, then the readers' rows
    }


def list_costs(app: webtest.TestApp) -> dict[str, int]:
    """Statements of the requests revocations of a bucket's lists could touch."""
    app.put_json(BUCKET, {}, headers=ALICE, status=201)
    app.put_json(GROUP, {"data": {"members": []}}, headers=ALICE, status=201)
    for cid in ("tasks", "notes", "gone"):
        app.put_json(f"{COLLECTIONS}/{cid}", {"permissions": {"read": [BOB_ID]}}, headers=ALICE)
    put(app, "r")
    since = synced_list(app, COLLECTIONS)
    measured: dict[str, Any] = {
        "collections _since poll of a partial reader": lambda: poll_list(app, COLLECTIONS, since),
        "collection PATCH keeping its readers": lambda: app.patch_json(
            COLLECTION, {"data": {"n": 1}}, headers=ALICE, status=200
        ),
        "collection PATCH removing a reader": lambda: app.patch_json(
            COLLECTION, {"permissions": {"read": []}}, headers=ALICE, status=200
        ),
        "DELETE of a collection a reader read": lambda: app.delete(
            f"{COLLECTIONS}/gone", headers=ALICE, status=200
        ),
        "bucket PATCH giving read": lambda: app.patch_json(
            BUCKET, {"permissions": {"read": [BOB_ID]}}, headers=ALICE, status=200
        ),
        "bucket PATCH removing a reader": lambda: app.patch_json(
            BUCKET, {"permissions": {"read": []}}, headers=ALICE, status=200
        ),
    }
    found = {}
    for name, request in measured.items():
        with recorded_statements(app) as statements:
            request()
        found[name] = len(statements)
    app.delete(BUCKET, headers=ALICE)
    return found


def test_revocations_in_a_bucket_lists_cost_what_records_do(make_app: Any) -> None:
    on, off = list_costs(make_app()), list_costs(make_app(revocation_tombstones=False))

    extra = {name: on[name] - off[name] for name in on}

    print(f"\nstatements with / without revocation tombstones: {on} / {off}")
    assert extra == {
        "collections _since poll of a partial reader": 1,  # one indexed probe
        "collection PATCH keeping its readers": 0,
        # 3 for the collection in its bucket's list; 1 to find its records list, 3 there
        "collection PATCH removing a reader": 7,
        "DELETE of a collection a reader read": 1,  # the reader's row, at its tombstone's
        "bucket PATCH giving read": 0,
        # 3 in /buckets, 1 + 3 for the collections list and for the groups list, 1 to
        # find its 2 records lists, 3 in the one with a record, 2 in the empty one
        "bucket PATCH removing a reader": 17,
    }
