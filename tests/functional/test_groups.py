"""Groups: CRUD, member validation, and group principals (kinto-api.md §2.7, §6.4, §7.5).

A group's principal is its full URI, ``/buckets/{bid}/groups/{gid}``; every member (and,
through ``system.Authenticated``, every user) holds it for as long as the group lists them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import webtest

from tests.support import (
    ALICE,
    BOB,
    CAROL,
    assert_error,
    assert_invalid,
    auth,
    create_collection,
    not_found_body,
    userid,
)

B = "/v1/buckets/b"
GROUPS = f"{B}/groups"
C = f"{B}/collections/c"
R = f"{C}/records/r"
READERS = "/buckets/b/groups/readers"  # the principal: a URI without the /v1 prefix


@pytest.fixture
def bucket(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app, C)
    app.put_json(R, {"data": {"title": "secret"}}, headers=ALICE, status=201)
    return app


def make_group(app: webtest.TestApp, gid: str, *members: str, status: int = 201) -> Any:
    return app.put_json(
        f"{GROUPS}/{gid}", {"data": {"members": list(members)}}, headers=ALICE, status=status
    )


def principals(app: webtest.TestApp, headers: dict[str, str]) -> list[str]:
    return app.get("/v1/", headers=headers).json["user"]["principals"]


# CRUD.


def test_a_group_is_created_read_updated_and_deleted(bucket: webtest.TestApp) -> None:
    resp = make_group(bucket, "readers", userid("bob"))
    assert resp.json["data"]["id"] == "readers"
    assert resp.json["data"]["members"] == [userid("bob")]
    assert isinstance(resp.json["data"]["last_modified"], int)
    assert resp.json["permissions"] == {"write": [userid("alice")]}

    resp = bucket.get(f"{GROUPS}/readers", headers=ALICE, status=200)
    assert resp.json["data"]["members"] == [userid("bob")]

    body = {"data": {"members": [userid("carol")], "title": "Readers"}}
    resp = bucket.patch_json(f"{GROUPS}/readers", body, headers=ALICE, status=200)
    assert resp.json["data"]["members"] == [userid("carol")]
    assert resp.json["data"]["title"] == "Readers"

    resp = bucket.delete(f"{GROUPS}/readers", headers=ALICE, status=200)
    tombstone = resp.json["data"]
    assert tombstone["id"] == "readers"
    assert tombstone["deleted"] is True
    resp = bucket.get(f"{GROUPS}/readers", headers=ALICE, status=404)
    assert resp.json == not_found_body("group", "readers")


def test_a_group_without_members_gets_an_empty_member_list(bucket: webtest.TestApp) -> None:
    resp = bucket.put_json(f"{GROUPS}/empty", {"data": {}}, headers=ALICE, status=201)
    assert resp.json["data"]["members"] == []
    # Without data at all, no members key, as Kinto (issue 10 item 17).
    resp = bucket.put_json(f"{GROUPS}/bare", {}, headers=ALICE, status=201)
    assert "members" not in resp.json["data"]


def test_posting_a_group_generates_an_eight_character_id(bucket: webtest.TestApp) -> None:
    resp = bucket.post_json(GROUPS, {"data": {"members": []}}, headers=ALICE, status=201)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{7}", resp.json["data"]["id"])


def test_groups_of_a_bucket_are_listed(bucket: webtest.TestApp) -> None:
    make_group(bucket, "one")
    make_group(bucket, "two", userid("bob"))
    resp = bucket.get(GROUPS, headers=ALICE, status=200)
    assert sorted(group["id"] for group in resp.json["data"]) == ["one", "two"]


def test_a_group_accepts_only_read_and_write_permissions(bucket: webtest.TestApp) -> None:
    body = {"permissions": {"record:create": [userid("bob")]}}
    resp = bucket.put_json(f"{GROUPS}/g", body, headers=ALICE, status=400)
    assert_error(resp, 400, 107, 'permissions in body: "record:create" is not one of read, write')


# Member validation (§2.7).


@pytest.mark.parametrize(
    ("members", "name", "bad"),
    [
        (["system.Everyone"], "data.members.0", "system.Everyone"),
        ([userid("bob"), "system.Everyone"], "data.members.1", "system.Everyone"),
        (["/buckets/b/groups/other"], "data.members.0", "/buckets/b/groups/other"),
        (["/buckets/"], "data.members.0", "/buckets/"),
    ],
    ids=["everyone", "everyone-second", "group-uri", "bare-buckets-prefix"],
)
def test_system_everyone_and_bucket_uris_are_not_valid_members(
    bucket: webtest.TestApp, members: list[str], name: str, bad: str
) -> None:
    resp = make_group(bucket, "g", *members, status=400)
    description = f"'{bad}' is not a valid user ID."
    assert_invalid(resp, "body", name, description, message=f"{name} in body: {description}")
    bucket.get(f"{GROUPS}/g", headers=ALICE, status=404)


def test_an_invalid_member_is_also_rejected_on_patch(bucket: webtest.TestApp) -> None:
    make_group(bucket, "g", userid("bob"))
    body = {"data": {"members": ["system.Everyone"]}}
    resp = bucket.patch_json(f"{GROUPS}/g", body, headers=ALICE, status=400)
    # After the merge, Kinto names the member within the data (no "data." prefix).
    assert_error(resp, 400, 107, "members.0 in body: 'system.Everyone' is not a valid user ID.")
    assert bucket.get(f"{GROUPS}/g", headers=ALICE).json["data"]["members"] == [userid("bob")]


@pytest.mark.parametrize(
    ("members", "name"),
    [
        ("bob", "data.members"),
        ({"bob": True}, "data.members"),
        ([1], "data.members.0"),
        ([["bob"]], "data.members.0"),
        ([None], "data.members.0"),
    ],
    ids=["string", "object", "integer-item", "list-item", "null-item"],
)
def test_members_must_be_a_list_of_strings(
    bucket: webtest.TestApp, members: Any, name: str
) -> None:
    body = {"data": {"members": members}}
    resp = bucket.put_json(f"{GROUPS}/g", body, headers=ALICE, status=400)
    error = assert_error(resp, 400, 107, error="Invalid parameters")
    assert error["details"][0]["location"] == "body"
    assert error["details"][0]["name"] == name


def test_members_are_not_checked_against_existing_users(bucket: webtest.TestApp) -> None:
    resp = make_group(bucket, "g", "basicauth:nobody", "account:ghost", "system.Authenticated")
    assert resp.json["data"]["members"] == [
        "basicauth:nobody",
        "account:ghost",
        "system.Authenticated",
    ]


# Group principals grant access (§6.4).


def test_a_group_principal_grants_read_on_a_record(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.patch_json(R, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    resp = bucket.get(R, headers=BOB, status=200)
    assert resp.json["data"]["title"] == "secret"
    assert resp.json["permissions"] == {}
    bucket.get(R, headers=CAROL, status=403)


def test_a_group_principal_grants_read_on_a_collection_and_its_records(
    bucket: webtest.TestApp,
) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.patch_json(C, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    bucket.get(C, headers=BOB, status=200)
    resp = bucket.get(f"{C}/records", headers=BOB, status=200)
    assert [record["id"] for record in resp.json["data"]] == ["r"]


def test_a_group_principal_grants_write_on_a_bucket(bucket: webtest.TestApp) -> None:
    make_group(bucket, "editors", userid("bob"))
    body = {"permissions": {"write": ["/buckets/b/groups/editors"]}}
    bucket.patch_json(B, body, headers=ALICE, status=200)
    bucket.put_json(f"{B}/collections/bobs", {}, headers=BOB, status=201)
    resp = bucket.get(B, headers=BOB, status=200)
    # Bob writes through the group, one of his principals: he sees the bucket's ACL.
    assert sorted(resp.json["permissions"]["write"]) == sorted(
        ["/buckets/b/groups/editors", userid("alice")]
    )


def test_a_group_principal_grants_access_in_another_bucket(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.put_json("/v1/buckets/other", {}, headers=ALICE, status=201)
    body = {"permissions": {"read": [READERS]}}
    bucket.patch_json("/v1/buckets/other", body, headers=ALICE, status=200)
    bucket.get("/v1/buckets/other", headers=BOB, status=200)


def test_a_group_principal_lets_members_list_the_shared_objects(bucket: webtest.TestApp) -> None:
    bucket.put_json(f"{C}/records/r2", {}, headers=ALICE, status=201)
    make_group(bucket, "readers", userid("bob"))
    bucket.patch_json(R, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    resp = bucket.get(f"{C}/records", headers=BOB, status=200)
    assert [record["id"] for record in resp.json["data"]] == ["r"]
    assert bucket.head(f"{C}/records", headers=BOB).headers["Total-Objects"] == "1"


def test_adding_a_member_on_update_grants_him_access(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.patch_json(R, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    bucket.get(R, headers=CAROL, status=403)

    body = {"data": {"members": [userid("bob"), userid("carol")]}}
    bucket.patch_json(f"{GROUPS}/readers", body, headers=ALICE, status=200)
    bucket.get(R, headers=CAROL, status=200)
    assert READERS in principals(bucket, CAROL)


def test_removing_a_member_on_update_revokes_his_access(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"), userid("carol"))
    bucket.patch_json(R, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    bucket.get(R, headers=BOB, status=200)

    body = {"data": {"members": [userid("carol")]}}
    bucket.patch_json(f"{GROUPS}/readers", body, headers=ALICE, status=200)
    bucket.get(R, headers=BOB, status=403)
    bucket.get(R, headers=CAROL, status=200)
    assert READERS not in principals(bucket, BOB)


def test_replacing_a_group_with_put_updates_its_membership(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.patch_json(R, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    make_group(bucket, "readers", userid("carol"), status=200)
    bucket.get(R, headers=BOB, status=403)
    bucket.get(R, headers=CAROL, status=200)


def test_deleting_a_group_revokes_the_access_of_its_members(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.patch_json(R, {"permissions": {"read": [READERS]}}, headers=ALICE, status=200)
    bucket.delete(f"{GROUPS}/readers", headers=ALICE, status=200)
    bucket.get(R, headers=BOB, status=403)
    assert READERS not in principals(bucket, BOB)


def test_recreating_a_deleted_group_does_not_restore_old_members(
    bucket: webtest.TestApp,
) -> None:
    make_group(bucket, "readers", userid("bob"))
    bucket.delete(f"{GROUPS}/readers", headers=ALICE, status=200)
    make_group(bucket, "readers", userid("carol"))
    assert READERS not in principals(bucket, BOB)
    assert READERS in principals(bucket, CAROL)


def test_deleting_all_groups_revokes_their_memberships(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    make_group(bucket, "writers", userid("bob"))
    bucket.delete(GROUPS, headers=ALICE, status=200)
    bob_principals = principals(bucket, BOB)
    assert READERS not in bob_principals
    assert "/buckets/b/groups/writers" not in bob_principals


def test_deleting_a_bucket_revokes_the_memberships_of_its_groups(
    bucket: webtest.TestApp,
) -> None:
    # Not spelled out by kinto-api.md; the only safe behaviour: a group that no longer
    # exists must not keep granting its principal (a new bucket ``b`` could reuse the URI).
    make_group(bucket, "readers", userid("bob"))
    bucket.delete(B, headers=ALICE, status=200)
    assert READERS not in principals(bucket, BOB)


def test_system_authenticated_as_a_member_gives_the_group_to_every_user(
    bucket: webtest.TestApp,
) -> None:
    make_group(bucket, "everybody", "system.Authenticated")
    body = {"permissions": {"read": ["/buckets/b/groups/everybody"]}}
    bucket.patch_json(R, body, headers=ALICE, status=200)
    bucket.get(R, headers=CAROL, status=200)
    assert "/buckets/b/groups/everybody" in principals(bucket, auth("dave"))
    resp = bucket.get(R, status=401)
    assert_error(resp, 401, 104, "Please authenticate yourself to use this endpoint.")


def test_the_root_lists_the_groups_of_the_user_among_his_principals(
    bucket: webtest.TestApp,
) -> None:
    make_group(bucket, "readers", userid("bob"))
    make_group(bucket, "everybody", "system.Authenticated")
    make_group(bucket, "others", userid("carol"))
    assert sorted(principals(bucket, BOB)) == sorted(
        [
            userid("bob"),
            "system.Everyone",
            "system.Authenticated",
            READERS,
            "/buckets/b/groups/everybody",
        ]
    )


def test_a_group_is_only_readable_by_those_allowed(bucket: webtest.TestApp) -> None:
    make_group(bucket, "readers", userid("bob"))
    # Being a member gives no right on the group object itself.
    bucket.get(f"{GROUPS}/readers", headers=BOB, status=403)
    bucket.patch_json(
        f"{GROUPS}/readers", {"permissions": {"read": [READERS]}}, headers=ALICE, status=200
    )
    resp = bucket.get(f"{GROUPS}/readers", headers=BOB, status=200)
    assert resp.json["permissions"] == {}
    bucket.patch_json(f"{GROUPS}/readers", {"data": {"members": []}}, headers=BOB, status=403)
