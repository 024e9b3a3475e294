"""The Permission contract (``kinto_clone/permission/__init__.py``), on every backend."""

from __future__ import annotations

import pytest

from kinto_clone.db import transaction
from kinto_clone.permission import Permission

BUCKET = "/buckets/b"
COLLECTION = "/buckets/b/collections/c"


# ---------------------------------------------------------------------------------------
# Group membership


def test_user_principals_are_added_once_and_read_for_several_users(
    permission: Permission,
) -> None:
    with transaction():
        permission.add_user_principal("alice", "/buckets/b/groups/g1")
        permission.add_user_principal("alice", "/buckets/b/groups/g1")
        permission.add_user_principal("alice", "/buckets/b/groups/g2")
        permission.add_user_principal("system.Authenticated", "/buckets/b/groups/all")
        permission.add_user_principal("bob", "/buckets/b/groups/g3")
        assert permission.get_user_principals(["alice"]) == {
            "/buckets/b/groups/g1",
            "/buckets/b/groups/g2",
        }
        assert permission.get_user_principals(["alice", "system.Authenticated"]) == {
            "/buckets/b/groups/g1",
            "/buckets/b/groups/g2",
            "/buckets/b/groups/all",
        }
        assert permission.get_user_principals(["nobody"]) == set()
        assert permission.get_user_principals([]) == set()


def test_removing_a_user_principal_is_idempotent(permission: Permission) -> None:
    with transaction():
        permission.add_user_principal("alice", "/buckets/b/groups/g1")
        permission.add_user_principal("alice", "/buckets/b/groups/g2")
        permission.remove_user_principal("alice", "/buckets/b/groups/g1")
        permission.remove_user_principal("alice", "/buckets/b/groups/g1")
        permission.remove_user_principal("nobody", "/buckets/b/groups/g1")
        assert permission.get_user_principals(["alice"]) == {"/buckets/b/groups/g2"}


def test_remove_principal_takes_a_group_away_from_every_user(permission: Permission) -> None:
    with transaction():
        for user in ("alice", "bob", "system.Authenticated"):
            permission.add_user_principal(user, "/buckets/b/groups/g")
            permission.add_user_principal(user, "/buckets/b/groups/other")
        permission.replace_object_permissions(BUCKET, {"read": ["/buckets/b/groups/g"]})
        permission.remove_principal("/buckets/b/groups/g")
        for user in ("alice", "bob", "system.Authenticated"):
            assert permission.get_user_principals([user]) == {"/buckets/b/groups/other"}
        # ACEs naming the group are the caller's business (they go with their objects).
        assert permission.get_objects_permissions([BUCKET])[BUCKET] == {
            "read": {"/buckets/b/groups/g"}
        }


# ---------------------------------------------------------------------------------------
# Access control entries


def test_objects_permissions_are_read_for_several_objects_at_once(
    permission: Permission,
) -> None:
    with transaction():
        permission.replace_object_permissions(
            BUCKET, {"write": ["alice"], "read": ["bob", "system.Everyone"]}
        )
        permission.replace_object_permissions(COLLECTION, {"record:create": ["carol"]})
        assert permission.get_objects_permissions([BUCKET, COLLECTION, "/buckets/none"]) == {
            BUCKET: {"write": {"alice"}, "read": {"bob", "system.Everyone"}},
            COLLECTION: {"record:create": {"carol"}},
            "/buckets/none": {},
        }
        assert permission.get_objects_permissions([]) == {}


def test_replace_object_permissions_touches_only_the_permissions_named(
    permission: Permission,
) -> None:
    with transaction():
        permission.replace_object_permissions(
            BUCKET, {"write": ["alice"], "read": ["bob"], "collection:create": ["carol"]}
        )
        permission.replace_object_permissions(BUCKET, {"read": ["dave", "erin", "dave"]})
        assert permission.get_objects_permissions([BUCKET])[BUCKET] == {
            "write": {"alice"},
            "read": {"dave", "erin"},
            "collection:create": {"carol"},
        }
        permission.replace_object_permissions(BUCKET, {"collection:create": []})
        permission.replace_object_permissions(BUCKET, {})
        assert permission.get_objects_permissions([BUCKET])[BUCKET] == {
            "write": {"alice"},
            "read": {"dave", "erin"},
        }
        permission.replace_object_permissions(BUCKET, {"write": (), "read": set()})
        assert permission.get_objects_permissions([BUCKET])[BUCKET] == {}


def test_delete_object_permissions_removes_one_object_or_a_whole_subtree(
    permission: Permission,
) -> None:
    inside = [COLLECTION, f"{COLLECTION}/records/r", "/buckets/b/groups/g"]
    outside = ["/buckets/b2", "/buckets/b_x", "/buckets/b-x", "/buckets/bb", "/buckets"]
    with transaction():
        for uri in [BUCKET, *inside, *outside]:
            permission.replace_object_permissions(uri, {"read": ["alice"]})
        permission.delete_object_permissions(f"{COLLECTION}/records/r")
        assert permission.get_objects_permissions([f"{COLLECTION}/records/r"]) == {
            f"{COLLECTION}/records/r": {}
        }
        permission.delete_object_permissions(BUCKET)
        acls = permission.get_objects_permissions([BUCKET, *inside, *outside])
        assert acls[BUCKET] == {}
        assert acls[COLLECTION] == {"read": {"alice"}}
        permission.delete_object_permissions(BUCKET, with_children=True)
        acls = permission.get_objects_permissions([*inside, *outside])
        assert all(acls[uri] == {} for uri in inside)
        assert all(acls[uri] == {"read": {"alice"}} for uri in outside)


def test_accessible_objects_are_those_of_the_principals(permission: Permission) -> None:
    with transaction():
        permission.replace_object_permissions(BUCKET, {"write": ["alice"], "read": ["bob"]})
        permission.replace_object_permissions(COLLECTION, {"read": ["alice", "bob"]})
        permission.replace_object_permissions("/buckets/x", {"read": ["system.Everyone"]})
        assert permission.get_accessible_objects(["alice"]) == {
            BUCKET: {"write"},
            COLLECTION: {"read"},
        }
        assert permission.get_accessible_objects(["alice", "system.Everyone"], ["read"]) == {
            COLLECTION: {"read"},
            "/buckets/x": {"read"},
        }
        assert permission.get_accessible_objects(["bob"], ["write", "read"]) == {
            BUCKET: {"read"},
            COLLECTION: {"read"},
        }
        assert permission.get_accessible_objects(["carol"]) == {}
        assert permission.get_accessible_objects([]) == {}
        assert permission.get_accessible_objects(["alice"], []) == {}


def test_flush_deletes_every_ace_and_membership(permission: Permission) -> None:
    with transaction():
        permission.replace_object_permissions(BUCKET, {"write": ["alice"]})
        permission.add_user_principal("alice", "/buckets/b/groups/g")
        permission.flush()
        assert permission.get_objects_permissions([BUCKET]) == {BUCKET: {}}
        assert permission.get_user_principals(["alice"]) == set()


def test_heartbeat_answers_inside_and_outside_a_transaction(permission: Permission) -> None:
    assert permission.heartbeat() is True
    with transaction():
        assert permission.heartbeat() is True


def test_permission_writes_are_rolled_back_with_the_transaction(
    permission: Permission,
) -> None:
    with pytest.raises(RuntimeError), transaction():
        permission.replace_object_permissions(BUCKET, {"write": ["alice"]})
        permission.add_user_principal("alice", "/buckets/b/groups/g")
        raise RuntimeError("boom")
    with transaction():
        assert permission.get_objects_permissions([BUCKET]) == {BUCKET: {}}
        assert permission.get_user_principals(["alice"]) == set()
