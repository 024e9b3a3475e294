"""Permissions seen through the HTTP API (kinto-api.md §6, §2.1, §2.5, §5.3).

The heart of this module is one table: who holds which permission where (§6.2), and what
that lets them do on every kind of object and plural endpoint. The other tests pin the
rules around it: the permission each request needs (§6.3), the 404-versus-403 choice,
who sees the ``permissions`` of an object, list filtering (§6.5), the system principals
and the ``*_principals`` settings (§6.6).

The world: Alice owns bucket ``b`` (groups ``g``, ``g2``; collections ``c``, ``c2``;
records ``r``, ``r2`` in ``c``) and bucket ``b2``. Bob and Carol own nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest

from tests.support import (
    ALICE,
    BOB,
    CAROL,
    FORBIDDEN_BODY,
    UNAUTHORIZED_BODY,
    assert_error,
    not_found_body,
    userid,
)

ANONYMOUS: dict[str, str] = {}

B = "/v1/buckets/b"
G = f"{B}/groups/g"
C = f"{B}/collections/c"
R = f"{C}/records/r"
TARGETS = {"bucket": B, "group": G, "collection": C, "record": R}


@pytest.fixture
def world(app: webtest.TestApp) -> webtest.TestApp:
    app.put_json(B, {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/b2", {}, headers=ALICE, status=201)
    for gid in ("g", "g2"):
        app.put_json(f"{B}/groups/{gid}", {"data": {"members": []}}, headers=ALICE, status=201)
    for cid in ("c", "c2"):
        app.put_json(f"{B}/collections/{cid}", {}, headers=ALICE, status=201)
    for rid in ("r", "r2"):
        app.put_json(f"{C}/records/{rid}", {"data": {"title": rid}}, headers=ALICE, status=201)
    return app


def grant(app: webtest.TestApp, path: str, permission: str, *principals: str) -> None:
    """Alice sets ``permission`` of the object at ``path`` to exactly ``principals``."""
    body = {"permissions": {permission: list(principals)}}
    app.patch_json(path, body, headers=ALICE, status=200)


def listed(app: webtest.TestApp, url: str, headers: dict[str, str]) -> list[str] | int:
    """The sorted ids a plural GET returns, or its status code when it is refused."""
    resp = app.get(url, headers=headers, expect_errors=True)
    if resp.status_int != 200:
        return resp.status_int
    return sorted(obj["id"] for obj in resp.json["data"])


def send(
    app: webtest.TestApp, method: str, url: str, headers: dict[str, str]
) -> webtest.TestResponse:
    """GET or DELETE ``url``, PATCH it with a small change, or PUT an empty object there."""
    if method == "GET":
        return app.get(url, headers=headers, expect_errors=True)
    if method == "DELETE":
        return app.delete(url, headers=headers, expect_errors=True)
    if method == "PATCH":
        return app.patch_json(url, {"data": {"touched": True}}, headers=headers, expect_errors=True)
    return app.put_json(url, {}, headers=headers, expect_errors=True)


# The operations probed for every row of the table, with their success status. Lists come
# first, then reads, then writes and creations, so that what a row writes cannot change
# what it lists.
OPERATIONS: dict[str, tuple[str, str, int]] = {
    "read bucket": ("GET", B, 200),
    "read group": ("GET", G, 200),
    "read collection": ("GET", C, 200),
    "read record": ("GET", R, 200),
    "write bucket": ("PATCH", B, 200),
    "write group": ("PATCH", G, 200),
    "write collection": ("PATCH", C, 200),
    "write record": ("PATCH", R, 200),
    "create group": ("PUT", f"{B}/groups/new", 201),
    "create collection": ("PUT", f"{B}/collections/new", 201),
    "create record": ("PUT", f"{C}/records/new", 201),
}
EVERYTHING = set(OPERATIONS)
ALL_GROUPS = ["g", "g2"]
ALL_COLLECTIONS = ["c", "c2"]
ALL_RECORDS = ["r", "r2"]
DENIED = "denied"  # stands for 403 (authenticated) or 401 (anonymous)

# kinto-api.md §6.2, one row per (where, permission): the operations it allows, and what
# the plural endpoints under bucket ``b`` show (§6.5). ``GET /buckets`` is derived: it lists
# ``b`` when the grant is on the bucket, otherwise it is empty for users allowed to create
# buckets (bucket_create_principals) and refused for the others.
INHERITANCE_TABLE: list[tuple[str | None, str | None, set[str], dict[str, Any]]] = [
    (
        "bucket",
        "write",
        EVERYTHING,
        {"groups": ALL_GROUPS, "collections": ALL_COLLECTIONS, "records": ALL_RECORDS},
    ),
    (
        "bucket",
        "read",
        {"read bucket", "read group", "read collection", "read record"},
        {"groups": ALL_GROUPS, "collections": ALL_COLLECTIONS, "records": ALL_RECORDS},
    ),
    (
        "bucket",
        "collection:create",
        {"read bucket", "create collection"},
        {"groups": DENIED, "collections": [], "records": DENIED},
    ),
    (
        "bucket",
        "group:create",
        {"read bucket", "create group"},
        {"groups": [], "collections": DENIED, "records": DENIED},
    ),
    (
        "group",
        "write",
        {"read group", "write group"},
        {"groups": ["g"], "collections": DENIED, "records": DENIED},
    ),
    (
        "group",
        "read",
        {"read group"},
        {"groups": ["g"], "collections": DENIED, "records": DENIED},
    ),
    (
        "collection",
        "write",
        {"read collection", "write collection", "create record", "read record", "write record"},
        {"groups": DENIED, "collections": ["c"], "records": ALL_RECORDS},
    ),
    (
        "collection",
        "read",
        {"read collection", "read record"},
        {"groups": DENIED, "collections": ["c"], "records": ALL_RECORDS},
    ),
    (
        "collection",
        "record:create",
        {"read collection", "create record"},
        {"groups": DENIED, "collections": ["c"], "records": []},
    ),
    (
        "record",
        "write",
        {"read record", "write record"},
        {"groups": DENIED, "collections": DENIED, "records": ["r"]},
    ),
    (
        "record",
        "read",
        {"read record"},
        {"groups": DENIED, "collections": DENIED, "records": ["r"]},
    ),
    (
        None,
        None,
        set(),
        {"groups": DENIED, "collections": DENIED, "records": DENIED},
    ),
]

# Who receives the grant, and how they call: Bob by his user id, Bob through
# system.Authenticated, and an anonymous caller through system.Everyone.
GRANTEES = {
    "bob": (userid("bob"), BOB, 403),
    "authenticated": ("system.Authenticated", BOB, 403),
    "everyone": ("system.Everyone", ANONYMOUS, 401),
}


def row_id(row: tuple[str | None, str | None, set[str], dict[str, Any]]) -> str:
    where, permission, _, _ = row
    return f"{where}-{permission}" if where else "nothing"


@pytest.mark.parametrize("grantee", sorted(GRANTEES))
@pytest.mark.parametrize("row", INHERITANCE_TABLE, ids=row_id)
def test_a_permission_grants_exactly_what_the_inheritance_table_says(
    world: webtest.TestApp,
    row: tuple[str | None, str | None, set[str], dict[str, Any]],
    grantee: str,
) -> None:
    where, permission, allowed, lists = row
    principal, headers, denied = GRANTEES[grantee]
    if where is not None and permission is not None:
        grant(world, TARGETS[where], permission, principal)

    if where == "bucket":
        buckets: list[str] | int = ["b"]
    else:
        # Only authenticated users may create buckets by default; that alone lets them list.
        buckets = [] if headers else denied
    expected: dict[str, Any] = {
        "list buckets": buckets,
        **{f"list {name}": denied if ids == DENIED else ids for name, ids in lists.items()},
        **{
            op: (success if op in allowed else denied) for op, (_, _, success) in OPERATIONS.items()
        },
    }
    actual: dict[str, Any] = {
        "list buckets": listed(world, "/v1/buckets", headers),
        "list groups": listed(world, f"{B}/groups", headers),
        "list collections": listed(world, f"{B}/collections", headers),
        "list records": listed(world, f"{C}/records", headers),
    }
    for op, (method, url, _) in OPERATIONS.items():
        actual[op] = send(world, method, url, headers).status_int
    assert actual == expected


# §6.3 — the permission each request needs.


def test_creating_with_put_needs_the_create_permission_on_the_parent(
    world: webtest.TestApp,
) -> None:
    grant(world, R, "write", userid("bob"))
    resp = world.put_json(f"{C}/records/new", {}, headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY

    grant(world, C, "record:create", userid("bob"))
    world.put_json(f"{C}/records/new", {}, headers=BOB, status=201)


def test_replacing_with_put_needs_write_on_the_object_not_create_on_the_parent(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "record:create", userid("bob"))
    resp = world.put_json(R, {"data": {"title": "mine"}}, headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY
    assert world.get(R, headers=ALICE).json["data"]["title"] == "r"


def test_put_with_if_none_match_star_always_needs_the_create_permission(
    world: webtest.TestApp,
) -> None:
    # The writer of the existing record lacks record:create: refused before the 412.
    grant(world, R, "write", userid("bob"))
    headers = {**BOB, "If-None-Match": "*"}
    resp = world.put_json(R, {}, headers=headers, status=403)
    assert resp.json == FORBIDDEN_BODY

    # With record:create, the precondition is what fails.
    grant(world, C, "record:create", userid("bob"))
    resp = world.put_json(R, {}, headers=headers, status=412)
    assert_error(resp, 412, 114, "Resource was modified meanwhile")


def test_posting_the_id_of_an_existing_object_needs_read_on_that_object(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "record:create", userid("bob"))
    body = {"data": {"id": "r", "title": "overwritten?"}}
    resp = world.post_json(f"{C}/records", body, headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY

    grant(world, R, "read", userid("bob"))
    resp = world.post_json(f"{C}/records", body, headers=BOB, status=200)
    assert resp.json["data"]["title"] == "r"


def test_anonymous_posting_the_id_of_an_existing_object_it_cannot_read_gets_401(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "record:create", "system.Everyone")
    resp = world.post_json(f"{C}/records", {"data": {"id": "r"}}, status=401)
    assert resp.json == UNAUTHORIZED_BODY


# (kind of missing object, URL of the missing object, object whose read makes it a 404)
MISSING = [
    ("record", f"{C}/records/nope", C),
    ("collection", f"{B}/collections/nope", B),
    ("group", f"{B}/groups/nope", B),
]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(("resource_name", "url", "parent"), MISSING, ids=[m[0] for m in MISSING])
def test_a_reader_of_the_parent_gets_404_on_a_missing_object(
    world: webtest.TestApp, resource_name: str, url: str, parent: str, method: str
) -> None:
    grant(world, parent, "read", userid("bob"))
    resp = send(world, method, url, BOB)
    assert resp.status_int == 404
    assert resp.json == not_found_body(resource_name, "nope")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(("resource_name", "url", "parent"), MISSING, ids=[m[0] for m in MISSING])
def test_a_stranger_gets_403_and_anonymous_401_on_a_missing_object(
    world: webtest.TestApp, resource_name: str, url: str, parent: str, method: str
) -> None:
    resp = send(world, method, url, BOB)
    assert (resp.status_int, resp.json) == (403, FORBIDDEN_BODY)
    resp = send(world, method, url, ANONYMOUS)
    assert (resp.status_int, resp.json) == (401, UNAUTHORIZED_BODY)
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_a_writer_of_a_sibling_record_gets_403_on_a_missing_record(
    world: webtest.TestApp,
) -> None:
    # Write on record r is not read on collection c, so a missing record is not revealed.
    grant(world, R, "write", userid("bob"))
    resp = world.get(f"{C}/records/nope", headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY


def test_deleting_an_object_needs_write_on_it(world: webtest.TestApp) -> None:
    grant(world, R, "read", userid("bob"))
    resp = world.delete(R, headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY

    grant(world, R, "write", userid("bob"))
    resp = world.delete(R, headers=BOB, status=200)
    assert resp.json["data"]["deleted"] is True


def test_deleting_a_plural_endpoint_without_any_right_is_refused(world: webtest.TestApp) -> None:
    resp = world.delete(f"{C}/records", headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY
    resp = world.delete(f"{C}/records", status=401)
    assert resp.json == UNAUTHORIZED_BODY
    assert listed(world, f"{C}/records", ALICE) == ALL_RECORDS


def test_reading_a_plural_endpoint_does_not_allow_deleting_it(world: webtest.TestApp) -> None:
    grant(world, C, "read", userid("bob"))
    resp = world.delete(f"{C}/records", headers=BOB, status=403)
    assert resp.json == FORBIDDEN_BODY
    assert listed(world, f"{C}/records", ALICE) == ALL_RECORDS


# §2.1 — ``permissions`` is shown only to the writers of that exact object.


def test_the_owner_sees_exactly_the_non_empty_permissions_of_the_object(
    world: webtest.TestApp,
) -> None:
    grant(world, R, "read", userid("bob"))
    grant(world, R, "read")  # now empty: it must disappear from the response
    resp = world.get(R, headers=ALICE)
    assert resp.json["permissions"] == {"write": [userid("alice")]}


def test_a_reader_sees_an_empty_permissions_object(world: webtest.TestApp) -> None:
    grant(world, R, "read", userid("bob"))
    resp = world.get(R, headers=BOB, status=200)
    assert resp.json["permissions"] == {}
    assert resp.json["data"]["id"] == "r"


@pytest.mark.parametrize(
    ("where", "url"),
    [("bucket", G), ("bucket", C), ("bucket", R), ("collection", R)],
    ids=["bucket-to-group", "bucket-to-collection", "bucket-to-record", "collection-to-record"],
)
def test_an_inherited_writer_sees_an_empty_permissions_object(
    world: webtest.TestApp, where: str, url: str
) -> None:
    grant(world, TARGETS[where], "write", userid("bob"))
    assert world.get(url, headers=BOB, status=200).json["permissions"] == {}


def test_a_writer_of_the_exact_object_sees_its_permissions(world: webtest.TestApp) -> None:
    grant(world, R, "write", userid("bob"))
    grant(world, R, "read", userid("carol"))
    perms = world.get(R, headers=BOB, status=200).json["permissions"]
    assert sorted(perms) == ["read", "write"]
    assert sorted(perms["write"]) == sorted([userid("alice"), userid("bob")])
    assert perms["read"] == [userid("carol")]


def test_a_writer_through_system_authenticated_sees_the_permissions(
    world: webtest.TestApp,
) -> None:
    grant(world, R, "write", "system.Authenticated")
    perms = world.get(R, headers=BOB, status=200).json["permissions"]
    assert sorted(perms["write"]) == sorted([userid("alice"), "system.Authenticated"])


def test_plural_responses_carry_no_permissions(world: webtest.TestApp) -> None:
    assert list(world.get(f"{C}/records", headers=ALICE).json) == ["data"]


# §2.5 — the writer is always added to ``write``.


def test_the_creator_of_an_object_is_its_only_writer(world: webtest.TestApp) -> None:
    grant(world, C, "write", userid("bob"))
    resp = world.post_json(f"{C}/records", {"data": {"by": "bob"}}, headers=BOB, status=201)
    assert resp.json["permissions"] == {"write": [userid("bob")]}


def test_updating_an_object_adds_the_updater_to_its_writers(world: webtest.TestApp) -> None:
    grant(world, C, "write", userid("bob"))
    resp = world.patch_json(R, {"data": {"by": "bob"}}, headers=BOB, status=200)
    # Bob was only an inherited writer; the update made him a writer of the record itself,
    # hence he now sees its permissions.
    assert sorted(resp.json["permissions"]["write"]) == sorted([userid("alice"), userid("bob")])


def test_a_permissions_only_update_also_adds_the_updater(world: webtest.TestApp) -> None:
    grant(world, B, "write", userid("bob"))
    body = {"permissions": {"read": [userid("carol")]}}
    resp = world.patch_json(C, body, headers=BOB, status=200)
    assert sorted(resp.json["permissions"]["write"]) == sorted([userid("alice"), userid("bob")])
    assert resp.json["permissions"]["read"] == [userid("carol")]


def test_put_with_permissions_replaces_the_whole_acl_but_keeps_the_writer(
    world: webtest.TestApp,
) -> None:
    grant(world, R, "read", userid("bob"))
    body = {"data": {"title": "r"}, "permissions": {"write": [userid("carol")]}}
    resp = world.put_json(R, body, headers=ALICE, status=200)
    assert sorted(resp.json["permissions"]) == ["write"]
    assert sorted(resp.json["permissions"]["write"]) == sorted([userid("alice"), userid("carol")])
    world.get(R, headers=BOB, status=403)


def test_put_without_permissions_leaves_the_acl_untouched(world: webtest.TestApp) -> None:
    grant(world, R, "read", userid("bob"))
    resp = world.put_json(R, {"data": {"title": "again"}}, headers=ALICE, status=200)
    assert resp.json["permissions"]["read"] == [userid("bob")]


def test_a_writer_cannot_remove_himself_from_write(world: webtest.TestApp) -> None:
    body = {"permissions": {"write": [userid("carol")]}}
    resp = world.patch_json(R, body, headers=ALICE, status=200)
    assert sorted(resp.json["permissions"]["write"]) == sorted([userid("alice"), userid("carol")])
    world.get(R, headers=ALICE, status=200)


def test_an_anonymous_write_adds_system_everyone_to_write(world: webtest.TestApp) -> None:
    grant(world, C, "record:create", "system.Everyone")
    resp = world.post_json(f"{C}/records", {"data": {"anon": True}}, status=201)
    assert resp.json["permissions"] == {"write": ["system.Everyone"]}
    # Which makes the record writable by anyone at all.
    world.patch_json(
        f"{C}/records/{resp.json['data']['id']}", {"data": {"x": 1}}, headers=BOB, status=200
    )


# §6.5 — lists are filtered to what the caller may read.


def test_a_reader_of_some_records_lists_counts_and_polls_only_those(
    world: webtest.TestApp,
) -> None:
    grant(world, R, "read", userid("bob"))
    world.patch_json(f"{C}/records/r2", {"data": {"title": "changed"}}, headers=ALICE)
    world.put_json(f"{C}/records/r3", {"data": {"title": "r3"}}, headers=ALICE, status=201)
    world.delete(f"{C}/records/r3", headers=ALICE, status=200)

    assert listed(world, f"{C}/records", BOB) == ["r"]
    # _since makes tombstones appear; the tombstone of r3 is none of Bob's business.
    assert listed(world, f"{C}/records?_since=0", BOB) == ["r"]
    assert listed(world, f"{C}/records?title=changed", BOB) == []
    assert listed(world, f"{C}/records?in_id=r,r2,r3", BOB) == ["r"]
    assert listed(world, f"{C}/records?_sort=title", BOB) == ["r"]
    head = world.head(f"{C}/records", headers=BOB, status=200)
    assert head.headers["Total-Objects"] == "1"
    assert head.headers["Total-Records"] == "1"
    assert world.head(f"{C}/records?_since=0", headers=BOB).headers["Total-Objects"] == "1"


def test_pagination_never_leaks_unreadable_records(make_app: Any) -> None:
    app = make_app(paginate_by=1)
    app.put_json(B, {}, headers=ALICE, status=201)
    app.put_json(C, {}, headers=ALICE, status=201)
    for rid in ("r1", "r2", "r3", "r4"):
        app.put_json(f"{C}/records/{rid}", {}, headers=ALICE, status=201)
    for rid in ("r1", "r3"):
        grant(app, f"{C}/records/{rid}", "read", userid("bob"))

    seen: list[str] = []
    url: str | None = f"{C}/records"
    while url:
        resp = app.get(url, headers=BOB, status=200)
        seen += [obj["id"] for obj in resp.json["data"]]
        next_page = resp.headers.get("Next-Page")
        url = next_page.replace("http://localhost", "") if next_page else None
    assert sorted(seen) == ["r1", "r3"]


def test_a_reader_of_one_collection_lists_and_counts_only_that_collection(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "read", userid("bob"))
    assert listed(world, f"{B}/collections", BOB) == ["c"]
    head = world.head(f"{B}/collections", headers=BOB, status=200)
    assert head.headers["Total-Objects"] == "1"


def test_a_creator_without_readable_objects_lists_nothing_and_counts_zero(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "record:create", userid("bob"))
    resp = world.get(f"{C}/records", headers=BOB, status=200)
    assert resp.json == {"data": []}
    assert world.head(f"{C}/records", headers=BOB).headers["Total-Objects"] == "0"


def test_listing_without_any_right_is_403_for_users_and_401_for_anonymous(
    world: webtest.TestApp,
) -> None:
    assert world.get(f"{C}/records", headers=BOB, status=403).json == FORBIDDEN_BODY
    world.head(f"{C}/records", headers=BOB, status=403)
    resp = world.get(f"{C}/records", status=401)
    assert resp.json == UNAUTHORIZED_BODY
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Realm"'


def test_plural_delete_only_deletes_the_objects_the_caller_may_write(
    world: webtest.TestApp,
) -> None:
    grant(world, R, "write", userid("bob"))
    resp = world.delete(f"{C}/records", headers=BOB, status=200)
    [tombstone] = resp.json["data"]
    assert tombstone["id"] == "r"
    assert tombstone["deleted"] is True
    assert listed(world, f"{C}/records", ALICE) == ["r2"]


def test_plural_delete_of_collections_only_deletes_writable_collections(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "write", userid("bob"))
    resp = world.delete(f"{B}/collections", headers=BOB, status=200)
    assert [obj["id"] for obj in resp.json["data"]] == ["c"]
    assert listed(world, f"{B}/collections", ALICE) == ["c2"]


def test_a_reader_of_some_records_may_not_delete_the_list(world: webtest.TestApp) -> None:
    # Read on a record is no write on it: nothing Bob may delete, nor may he create.
    grant(world, R, "read", userid("bob"))
    assert world.delete(f"{C}/records", headers=BOB, status=403).json == FORBIDDEN_BODY
    assert listed(world, f"{C}/records", ALICE) == ALL_RECORDS


def test_a_creator_without_writable_objects_deletes_nothing_from_the_list(
    world: webtest.TestApp,
) -> None:
    # §6.5 step 3 applies to plural DELETE too: allowed, filtered to the empty set.
    grant(world, C, "record:create", userid("bob"))
    assert world.delete(f"{C}/records", headers=BOB, status=200).json == {"data": []}
    assert listed(world, f"{C}/records", ALICE) == ALL_RECORDS


def test_buckets_are_listed_only_to_those_who_may_read_them(world: webtest.TestApp) -> None:
    world.put_json("/v1/buckets/bobs", {}, headers=BOB, status=201)
    assert listed(world, "/v1/buckets", ALICE) == ["b", "b2"]
    assert listed(world, "/v1/buckets", BOB) == ["bobs"]
    # Having access to a collection does not reveal its bucket.
    grant(world, C, "read", userid("carol"))
    assert listed(world, "/v1/buckets", CAROL) == []


def test_anonymous_lists_buckets_only_when_some_bucket_is_public(world: webtest.TestApp) -> None:
    resp = world.get("/v1/buckets", status=401)
    assert resp.json == UNAUTHORIZED_BODY
    grant(world, B, "read", "system.Everyone")
    assert listed(world, "/v1/buckets", ANONYMOUS) == ["b"]


# §6.4 — system principals.


def test_system_everyone_lets_anonymous_and_everybody_read(world: webtest.TestApp) -> None:
    grant(world, C, "read", "system.Everyone")
    assert listed(world, f"{C}/records", ANONYMOUS) == ALL_RECORDS
    assert listed(world, f"{C}/records", BOB) == ALL_RECORDS
    assert world.get(R, status=200).json["permissions"] == {}


def test_system_authenticated_lets_every_user_but_not_anonymous_read(
    world: webtest.TestApp,
) -> None:
    grant(world, C, "read", "system.Authenticated")
    assert listed(world, f"{C}/records", CAROL) == ALL_RECORDS
    assert world.get(R, status=401).json == UNAUTHORIZED_BODY


# §6.6 — ``<resource>_<perm>_principals`` settings grant on every object of the resource.


def test_bucket_write_principals_lets_a_user_read_any_bucket_without_its_permissions(
    make_app: Any,
) -> None:
    app = make_app(bucket_write_principals=userid("alice"))
    app.put_json("/v1/buckets/bobs", {}, headers=BOB, status=201)
    resp = app.get("/v1/buckets/bobs", headers=ALICE, status=200)
    assert resp.json["permissions"] == {}
    assert listed(app, "/v1/buckets", ALICE) == ["bobs"]
    app.patch_json("/v1/buckets/bobs", {"data": {"by": "alice"}}, headers=ALICE, status=200)
    app.get("/v1/buckets/bobs", headers=CAROL, status=403)


def test_bucket_principal_settings_do_not_reach_collections(make_app: Any) -> None:
    # kinto-api.md §6.6: the setting consulted is named after the resource being accessed,
    # so bucket_write_principals says nothing about collections (collection_* would).
    app = make_app(bucket_write_principals=userid("alice"))
    app.put_json("/v1/buckets/bobs", {}, headers=BOB, status=201)
    app.put_json("/v1/buckets/bobs/collections/c", {}, headers=BOB, status=201)
    app.get("/v1/buckets/bobs/collections/c", headers=ALICE, status=403)


def test_record_read_principals_lets_a_user_read_every_record(make_app: Any) -> None:
    app = make_app(record_read_principals=f"{userid('carol')} {userid('alice')}")
    app.put_json("/v1/buckets/bobs", {}, headers=BOB, status=201)
    app.put_json("/v1/buckets/bobs/collections/c", {}, headers=BOB, status=201)
    app.put_json("/v1/buckets/bobs/collections/c/records/r", {}, headers=BOB, status=201)
    resp = app.get("/v1/buckets/bobs/collections/c/records/r", headers=ALICE, status=200)
    assert resp.json["permissions"] == {}
    assert listed(app, "/v1/buckets/bobs/collections/c/records", ALICE) == ["r"]
    app.patch_json(
        "/v1/buckets/bobs/collections/c/records/r", {"data": {}}, headers=ALICE, status=403
    )


def test_collection_create_principals_lets_a_user_create_collections_anywhere(
    make_app: Any,
) -> None:
    app = make_app(collection_create_principals=userid("alice"))
    app.put_json("/v1/buckets/bobs", {}, headers=BOB, status=201)
    resp = app.put_json("/v1/buckets/bobs/collections/mine", {}, headers=ALICE, status=201)
    assert resp.json["permissions"] == {"write": [userid("alice")]}
    app.put_json("/v1/buckets/bobs/collections/carols", {}, headers=CAROL, status=403)


def test_any_authenticated_user_may_create_buckets_by_default(make_app: Any) -> None:
    # Without the test default, the server's own default (system.Authenticated) applies.
    app = make_app(bucket_create_principals=None)
    resp = app.post_json("/v1/buckets", {}, headers=BOB, status=201)
    assert resp.json["permissions"] == {"write": [userid("bob")]}
    assert app.post_json("/v1/buckets", {}, status=401).json == UNAUTHORIZED_BODY
    assert app.put_json("/v1/buckets/anon", {}, status=401).json == UNAUTHORIZED_BODY


def test_bucket_create_principals_restricts_who_creates_buckets(make_app: Any) -> None:
    app = make_app(bucket_create_principals=userid("alice"))
    app.post_json("/v1/buckets", {}, headers=ALICE, status=201)
    assert app.post_json("/v1/buckets", {}, headers=BOB, status=403).json == FORBIDDEN_BODY
    assert app.put_json("/v1/buckets/x", {}, headers=BOB, status=403).json == FORBIDDEN_BODY
    # Bob can neither create nor read any bucket, so he may not even list them.
    assert app.get("/v1/buckets", headers=BOB, status=403).json == FORBIDDEN_BODY


def test_bucket_create_principals_can_let_anonymous_create_buckets(make_app: Any) -> None:
    app = make_app(bucket_create_principals="system.Everyone")
    resp = app.put_json("/v1/buckets/public", {}, status=201)
    assert resp.json["permissions"] == {"write": ["system.Everyone"]}
    assert listed(app, "/v1/buckets", ANONYMOUS) == ["public"]
