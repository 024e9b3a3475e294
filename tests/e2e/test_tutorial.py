"""Replay "First steps with Kinto" (the founding document) against a real server.

Every request of the tutorial is sent over HTTP with ``requests``, as the tutorial's users
(user, alice, bob, mary), and every status, header and body the tutorial shows is asserted.

The tutorial was written for Kinto 1.x; our reference is Kinto 26.5
(/work/shared/kinto-api.md). Where they differ the tests follow the reference and a comment
says so. The differences that recur everywhere:
- ``Content-Type`` is ``application/json`` (the tutorial shows ``; charset=UTF-8``), so only
  the media type is asserted;
- ``Access-Control-Expose-Headers`` also lists ``Content-Length`` and ``Content-Type``
  (§3.8), so the asserted names are a subset of what is sent;
- ``ETag``/``Last-Modified`` are sent on every object response, writes included (§3.1);
- ``Backoff: 10`` came from the tutorial's deployment settings, not from a default, and is
  not asserted.

Each test is one part of the tutorial on a fresh server; the steps before it are replayed by
the same helpers that assert them, so no test depends on another one having run.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support import (
    FORBIDDEN_BODY,
    PRECONDITION_FAILED_BODY,
    auth,
    default_bucket_id,
    not_found_body,
    userid,
)

TIMEOUT = 10
USER, ALICE, BOB, MARY = "user", "alice", "bob", "mary"

TASKS = "/buckets/default/collections/tasks/records"
TODO = "/buckets/todo"
TODO_TASKS = "/buckets/todo/collections/tasks/records"
ALICE_FRIENDS = "/buckets/todo/groups/alice-friends"
DESCRIPTION = "Write a tutorial explaining Kinto"

BASE_EXPOSED = {"Backoff", "Retry-After", "Alert", "Content-Length", "Content-Type"}
OBJECT_EXPOSED = BASE_EXPOSED | {"Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma"}
LIST_EXPOSED = OBJECT_EXPOSED | {"Next-Page"}
HEAD_EXPOSED = LIST_EXPOSED | {"Total-Objects", "Total-Records"}

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

Json = dict[str, Any]


class Api:
    """``api(method, path, user)``: one request to the live server as a tutorial user."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def __call__(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        password: str | None = None,
    ) -> requests.Response:
        all_headers = {**(auth(user, password) if user else {}), **(headers or {})}
        return self.session.request(
            method,
            self.base_url + path,
            headers=all_headers,
            params=params,
            json=body,
            timeout=TIMEOUT,
        )


@pytest.fixture
def api(live_server: str) -> Iterator[Api]:
    client = Api(live_server)
    yield client
    client.session.close()


# --- assertions ---------------------------------------------------------------------------


def assert_json(resp: requests.Response, status: int) -> Any:
    """Status and JSON media type; returns the decoded body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    media_type = resp.headers["Content-Type"].split(";")[0].strip()
    assert media_type == "application/json", resp.headers["Content-Type"]
    return resp.json()


def assert_exposes(resp: requests.Response, names: set[str]) -> None:
    """``Access-Control-Expose-Headers`` lists at least ``names`` (sent even without Origin)."""
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    missing = {n.lower() for n in names} - exposed
    assert not missing, f"not exposed: {sorted(missing)} in {sorted(exposed)}"


def assert_version_headers(resp: requests.Response, timestamp: int) -> None:
    """``ETag`` is the quoted ms timestamp; ``Last-Modified`` the same, to the second."""
    assert resp.headers["ETag"] == f'"{timestamp}"'
    assert resp.headers["Last-Modified"] == email.utils.formatdate(timestamp / 1000, usegmt=True)


def assert_recent_timestamp(value: Any) -> None:
    """A server-assigned ``last_modified``: integer epoch milliseconds, close to now."""
    assert isinstance(value, int) and not isinstance(value, bool), value
    now_ms = time.time() * 1000
    assert now_ms - 10 * 60_000 < value < now_ms + 60_000, value


def assert_permissions(actual: Json, expected: dict[str, list[str]]) -> None:
    """Same permissions; principal order is not part of the API."""
    assert {k: sorted(v) for k, v in actual.items()} == {k: sorted(v) for k, v in expected.items()}


def assert_error(resp: requests.Response, expected: Json) -> Json:
    body: Json = assert_json(resp, expected["code"])
    assert body == expected
    return body


def assert_not_found(resp: requests.Response, object_id: str) -> None:
    # Kinto 26.5 sends no ``message`` on a missing object, only its id and resource (§5.1).
    assert_error(
        resp,
        not_found_body("record", object_id),
    )


def assert_created_record(resp: requests.Response, data: Json) -> Json:
    """A 201 from a record POST: ``data`` plus a generated uuid4 id and a timestamp."""
    body = assert_json(resp, 201)
    record: Json = body["data"]
    assert UUID4.fullmatch(record["id"]), record["id"]
    assert_recent_timestamp(record["last_modified"])
    assert record == {**data, "id": record["id"], "last_modified": record["last_modified"]}
    assert_exposes(resp, BASE_EXPOSED)
    assert_version_headers(resp, record["last_modified"])
    return body


def assert_updated(resp: requests.Response, before: Json, changes: Json) -> Json:
    """A 200 from a PATCH: ``before`` with ``changes`` and a later timestamp."""
    body = assert_json(resp, 200)
    after: Json = body["data"]
    assert after == {**before, **changes, "last_modified": after["last_modified"]}
    assert after["last_modified"] > before["last_modified"]
    assert_exposes(resp, BASE_EXPOSED)
    assert_version_headers(resp, after["last_modified"])
    return body


def assert_listing(resp: requests.Response, records: list[Json], list_timestamp: int) -> None:
    """A 200 list in Kinto's default order (newest first) with the list's ``ETag``."""
    assert assert_json(resp, 200) == {"data": records}
    assert_version_headers(resp, list_timestamp)
    assert_exposes(resp, LIST_EXPOSED)
    # The tutorial shows Total-Records on this GET (Kinto 26.5 sends it on HEAD only, a
    # deliberate difference): the live objects matching, tombstones not counted.
    live = str(sum(1 for record in records if not record.get("deleted")))
    assert resp.headers["Total-Records"] == live
    assert resp.headers["Total-Objects"] == live


def assert_count(resp: requests.Response, count: int, list_timestamp: int) -> None:
    """A HEAD on a list: empty body, the number of (visible, live) objects, the list ETag."""
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["Total-Objects"] == str(count)
    assert resp.headers["Total-Records"] == str(count)
    assert_version_headers(resp, list_timestamp)
    assert_exposes(resp, HEAD_EXPOSED)


# --- "Sync user data between devices" -----------------------------------------------------


def post_first_task(api: Api) -> Json:
    """POST a task to ``tasks`` of the personal bucket, created implicitly."""
    data = {"description": DESCRIPTION, "status": "todo"}
    resp = api("POST", TASKS, USER, body={"data": data})
    body = assert_created_record(resp, data)
    assert body["permissions"] == {"write": [userid(USER)]}
    task: Json = body["data"]
    return task


def list_tasks(api: Api, task: Json) -> str:
    """GET the tasks; returns the ETag the tutorial asks us to keep a note of."""
    resp = api("GET", TASKS, USER)
    # The list timestamp is that of its latest change: here the only record.
    assert_listing(resp, [task], task["last_modified"])
    assert_count(api("HEAD", TASKS, USER), 1, task["last_modified"])
    etag: str = resp.headers["ETag"]
    return etag


def patch_without_if_match(api: Api, task: Json) -> Json:
    """PATCH ``status`` with no precondition: the change is applied unconditionally."""
    resp = api("PATCH", f"{TASKS}/{task['id']}", USER, body={"data": {"status": "doing"}})
    body = assert_updated(resp, task, {"status": "doing"})
    assert body["permissions"] == {"write": [userid(USER)]}
    doing: Json = body["data"]
    return doing


def patch_with_obsolete_etag(api: Api, current: Json, obsolete_etag: str) -> None:
    """PATCH with the noted, now outdated, ETag: 412 and the current version's ETag."""
    resp = api(
        "PATCH",
        f"{TASKS}/{current['id']}",
        USER,
        headers={"If-Match": obsolete_etag},
        body={"data": {"status": "done"}},
    )
    body = assert_json(resp, 412)
    # Kinto 26.5 adds ``details.existing``, the current object without permissions (§3.3).
    assert body == {**PRECONDITION_FAILED_BODY, "details": {"existing": current}}
    assert_version_headers(resp, current["last_modified"])
    assert_exposes(resp, BASE_EXPOSED)


def fetch_task(api: Api, current: Json) -> str:
    """GET the single task to merge locally; returns its ETag."""
    resp = api("GET", f"{TASKS}/{current['id']}", USER)
    assert assert_json(resp, 200) == {"data": current, "permissions": {"write": [userid(USER)]}}
    assert_version_headers(resp, current["last_modified"])
    assert_exposes(resp, OBJECT_EXPOSED)
    etag: str = resp.headers["ETag"]
    return etag


def patch_with_current_etag(api: Api, current: Json, etag: str) -> Json:
    """PATCH again with the ETag just fetched: accepted."""
    resp = api(
        "PATCH",
        f"{TASKS}/{current['id']}",
        USER,
        headers={"If-Match": etag},
        body={"data": {"status": "done"}},
    )
    body = assert_updated(resp, current, {"status": "done"})
    assert body["permissions"] == {"write": [userid(USER)]}
    done: Json = body["data"]
    return done


def delete_with_if_match(api: Api, current: Json) -> Json:
    """DELETE with ``If-Match``: the body is the tombstone left behind."""
    etag = f'"{current["last_modified"]}"'
    resp = api("DELETE", f"{TASKS}/{current['id']}", USER, headers={"If-Match": etag})
    body = assert_json(resp, 200)
    tombstone: Json = body["data"]
    # Only ``data``: a deleted object has no permissions any more (§2.1).
    assert body == {
        "data": {"deleted": True, "id": current["id"], "last_modified": tombstone["last_modified"]}
    }
    assert tombstone["last_modified"] > current["last_modified"]
    assert_version_headers(resp, tombstone["last_modified"])
    assert_exposes(resp, BASE_EXPOSED)
    return tombstone


def test_a_task_is_listed_patched_and_protected_from_lost_updates_with_its_etag(
    api: Api,
) -> None:
    task = post_first_task(api)
    noted_etag = list_tasks(api, task)
    # "here both" the ETag and last_modified: the same timestamp, the ETag quoted.
    assert noted_etag == f'"{task["last_modified"]}"'
    doing = patch_without_if_match(api, task)

    patch_with_obsolete_etag(api, doing, noted_etag)
    # The rejected change was not applied: the fetch shows the task still "doing".
    etag = fetch_task(api, doing)
    patch_with_current_etag(api, doing, etag)


def test_a_deleted_task_is_gone_but_polling_with_since_returns_its_tombstone(api: Api) -> None:
    task = post_first_task(api)
    noted_etag = list_tasks(api, task)
    doing = patch_without_if_match(api, task)
    done = patch_with_current_etag(api, doing, f'"{doing["last_modified"]}"')
    tombstone = delete_with_if_match(api, done)
    latest = tombstone["last_modified"]
    assert_not_found(api("GET", f"{TASKS}/{task['id']}", USER), task["id"])
    # The deletion is the latest change of the list.
    assert_listing(api("GET", TASKS, USER), [], latest)

    # ``_since`` takes the value of any ETag (or last_modified), bare as in the tutorial or
    # quoted like the ETag itself (§4.2). Filtering on time makes tombstones appear.
    for since in (noted_etag.strip('"'), noted_etag):
        resp = api("GET", TASKS, USER, params={"_since": since})
        assert_listing(resp, [tombstone], latest)
    # The tutorial shows ``Total-Records: 0`` here: tombstones are never counted.
    assert_count(api("HEAD", TASKS, USER, params={"_since": noted_etag}), 0, latest)

    # No change since the latest ETag: an empty list...
    resp = api("GET", TASKS, USER, params={"_since": str(latest)})
    assert_listing(resp, [], latest)
    # ... or, with If-None-Match, a 304 with no body.
    for params in ({"_since": str(latest)}, {}):
        resp = api("GET", TASKS, USER, params=params, headers={"If-None-Match": f'"{latest}"'})
        assert resp.status_code == 304
        assert resp.content == b""
        assert_version_headers(resp, latest)
        assert_exposes(resp, BASE_EXPOSED)
    # An outdated ETag in If-None-Match is not a match: the changes are sent.
    resp = api(
        "GET", TASKS, USER, params={"_since": noted_etag}, headers={"If-None-Match": noted_etag}
    )
    assert_listing(resp, [tombstone], latest)


# --- "Sync and share data between users" --------------------------------------------------


def create_todo_bucket(api: Api) -> Json:
    """PUT /buckets/todo with no body at all, like the tutorial's httpie call."""
    resp = api("PUT", TODO, USER)
    body = assert_json(resp, 201)
    bucket: Json = body["data"]
    assert_recent_timestamp(bucket["last_modified"])
    assert bucket == {"id": "todo", "last_modified": bucket["last_modified"]}
    # "By default the creator is granted sole administrator privileges".
    assert body["permissions"] == {"write": [userid(USER)]}
    assert_version_headers(resp, bucket["last_modified"])
    assert_exposes(resp, BASE_EXPOSED)
    return bucket


def create_tasks_collection(api: Api) -> None:
    """PUT the ``tasks`` collection where every authenticated user may create records."""
    resp = api(
        "PUT",
        f"{TODO}/collections/tasks",
        USER,
        body={"permissions": {"record:create": ["system.Authenticated"]}},
    )
    body = assert_json(resp, 201)
    collection = body["data"]
    assert_recent_timestamp(collection["last_modified"])
    assert collection == {"id": "tasks", "last_modified": collection["last_modified"]}
    # "you are automatically added to the write permission of any objects you are creating".
    assert_permissions(
        body["permissions"],
        {"record:create": ["system.Authenticated"], "write": [userid(USER)]},
    )
    assert_version_headers(resp, collection["last_modified"])
    assert_exposes(resp, BASE_EXPOSED)


def alice_creates_a_task(api: Api) -> Json:
    data = {"description": "Alice task", "status": "todo"}
    body = assert_created_record(api("POST", TODO_TASKS, ALICE, body={"data": data}), data)
    assert body["permissions"] == {"write": [userid(ALICE)]}
    task: Json = body["data"]
    return task


def bob_creates_a_task(api: Api) -> Json:
    # The principal in the tutorial's ``read`` list is Bob's own id: the very one Alice
    # shares her task with next and puts first in her group of friends.
    data = {"description": "Bob new task", "status": "todo"}
    permissions = {"read": [userid(BOB)]}
    resp = api("POST", TODO_TASKS, BOB, body={"data": data, "permissions": permissions})
    body = assert_created_record(resp, data)
    assert_permissions(body["permissions"], {"read": [userid(BOB)], "write": [userid(BOB)]})
    task: Json = body["data"]
    return task


def alice_shares_her_task_with_bob(api: Api, task: Json) -> Json:
    resp = api(
        "PATCH",
        f"{TODO_TASKS}/{task['id']}",
        ALICE,
        body={"permissions": {"read": [userid(BOB)]}},
    )
    # A permissions-only PATCH still bumps the timestamp (§2.3) and returns the whole
    # record (the tutorial's response elides description and status).
    body = assert_updated(resp, task, {})
    assert_permissions(body["permissions"], {"read": [userid(BOB)], "write": [userid(ALICE)]})
    shared: Json = body["data"]
    return shared


def test_tasks_of_the_todo_bucket_are_shared_by_read_permission_and_listed_for_bob(
    api: Api,
) -> None:
    create_todo_bucket(api)
    # The creator is the "sole administrator": nobody else may even read the bucket.
    assert_error(api("GET", TODO, ALICE), FORBIDDEN_BODY)
    create_tasks_collection(api)
    alice_task = alice_creates_a_task(api)
    bob_task = bob_creates_a_task(api)
    # record:create is all they were given: no other collection, for instance.
    assert_error(api("PUT", f"{TODO}/collections/other", ALICE), FORBIDDEN_BODY)
    # Nobody else reads Alice's task until she shares it.
    assert_error(api("GET", f"{TODO_TASKS}/{alice_task['id']}", BOB), FORBIDDEN_BODY)
    alice_task = alice_shares_her_task_with_bob(api, alice_task)

    # Not in the tutorial: a task Bob may not read, which his list must not show.
    mary_data = {"description": "Mary private task", "status": "todo"}
    mary_task = assert_created_record(
        api("POST", TODO_TASKS, MARY, body={"data": mary_data}), mary_data
    )["data"]
    list_timestamp = mary_task["last_modified"]

    # The list ETag is that of the whole list, whatever Bob may see of it (§3.1). Order is
    # newest first (§4.3); the tutorial's Kinto 1.x listed oldest first.
    assert_listing(api("GET", TODO_TASKS, BOB), [alice_task, bob_task], list_timestamp)
    # The tutorial shows ``Total-Records: 3``: Kinto 1.x counted records Bob could not read.
    # Kinto 26.5 counts only what the caller may read (§3.4).
    assert_count(api("HEAD", TODO_TASKS, BOB), 2, list_timestamp)

    # Bob reads Alice's task, without seeing its permissions since he may not change them
    # (§2.1), and he may not change it.
    resp = api("GET", f"{TODO_TASKS}/{alice_task['id']}", BOB)
    assert assert_json(resp, 200) == {"data": alice_task, "permissions": {}}
    assert_version_headers(resp, alice_task["last_modified"])
    resp = api("PATCH", f"{TODO_TASKS}/{alice_task['id']}", BOB, body={"data": {"x": 1}})
    assert_error(resp, FORBIDDEN_BODY)

    # The others see what they may read: Alice and Mary their own task, the bucket's
    # owner everything.
    assert_listing(api("GET", TODO_TASKS, ALICE), [alice_task], list_timestamp)
    assert_listing(api("GET", TODO_TASKS, MARY), [mary_task], list_timestamp)
    everything = [mary_task, alice_task, bob_task]
    assert_listing(api("GET", TODO_TASKS, USER), everything, list_timestamp)
    assert_count(api("HEAD", TODO_TASKS, USER), 3, list_timestamp)


# --- "Working with groups" ----------------------------------------------------------------


def allow_group_creation(api: Api, bucket: Json) -> None:
    resp = api(
        "PATCH", TODO, USER, body={"permissions": {"group:create": ["system.Authenticated"]}}
    )
    body = assert_updated(resp, bucket, {})
    assert_permissions(
        body["permissions"], {"group:create": ["system.Authenticated"], "write": [userid(USER)]}
    )


def alice_creates_her_friends_group(api: Api) -> None:
    members = [userid(BOB), userid(MARY)]
    resp = api("PUT", ALICE_FRIENDS, ALICE, body={"data": {"members": members}})
    body = assert_json(resp, 201)
    group = body["data"]
    assert_recent_timestamp(group["last_modified"])
    assert group == {
        "id": "alice-friends",
        "last_modified": group["last_modified"],
        "members": members,
    }
    assert body["permissions"] == {"write": [userid(ALICE)]}
    assert_version_headers(resp, group["last_modified"])
    assert_exposes(resp, BASE_EXPOSED)


def alice_shares_her_task_with_the_group(api: Api, task: Json) -> Json:
    resp = api(
        "PATCH",
        f"{TODO_TASKS}/{task['id']}",
        ALICE,
        body={"permissions": {"read": [ALICE_FRIENDS]}},
    )
    body = assert_updated(resp, task, {})
    # ``read`` is replaced: Bob is no longer named, he is in the group.
    assert_permissions(body["permissions"], {"read": [ALICE_FRIENDS], "write": [userid(ALICE)]})
    shared: Json = body["data"]
    return shared


def test_alice_shares_her_task_with_her_friends_group_and_mary_reads_it(api: Api) -> None:
    bucket = create_todo_bucket(api)
    create_tasks_collection(api)
    task = alice_shares_her_task_with_bob(api, alice_creates_a_task(api))

    # Creating groups needs group:create on the bucket, which the owner grants.
    resp = api("PUT", ALICE_FRIENDS, ALICE, body={"data": {"members": [userid(BOB)]}})
    assert_error(resp, FORBIDDEN_BODY)
    allow_group_creation(api, bucket)
    alice_creates_her_friends_group(api)

    # Membership alone gives Mary nothing: the task is not shared with the group yet.
    task_url = f"{TODO_TASKS}/{task['id']}"
    assert_error(api("GET", task_url, MARY), FORBIDDEN_BODY)
    shared = alice_shares_her_task_with_the_group(api, task)

    # "And now Mary can access the record".
    resp = api("GET", task_url, MARY)
    assert assert_json(resp, 200) == {"data": shared, "permissions": {}}
    assert_version_headers(resp, shared["last_modified"])
    assert_exposes(resp, OBJECT_EXPOSED)
    # So can Bob, through the group now; both see it in the list.
    assert assert_json(api("GET", task_url, BOB), 200)["data"] == shared
    for friend in (BOB, MARY):
        body = assert_json(api("GET", TODO_TASKS, friend), 200)
        assert body == {"data": [shared]}
    # The group is one of Mary's principals.
    user = assert_json(api("GET", "/", MARY), 200)["user"]
    assert user["id"] == userid(MARY)
    assert {userid(MARY), ALICE_FRIENDS, "system.Authenticated"} <= set(user["principals"])


# --- Sharing the personal bucket ----------------------------------------------------------


def test_a_personal_bucket_is_per_identity_and_its_records_are_shared_by_full_url(
    api: Api,
) -> None:
    owner_bucket = default_bucket_id(userid(USER))
    resp = api("GET", "/buckets/default", USER)
    body = assert_json(resp, 200)
    bucket = body["data"]
    assert bucket == {"id": owner_bucket, "last_modified": bucket["last_modified"]}
    assert body["permissions"] == {"write": [userid(USER)]}
    assert_version_headers(resp, bucket["last_modified"])
    assert_exposes(resp, OBJECT_EXPOSED)
    assert assert_json(api("GET", "/", USER), 200)["user"]["bucket"] == owner_bucket

    task = post_first_task(api)
    full_url = f"/buckets/{owner_bucket}/collections/tasks/records/{task['id']}"
    resp = api("PATCH", full_url, USER, body={"permissions": {"read": [userid(ALICE)]}})
    shared_body = assert_updated(resp, task, {})
    assert_permissions(
        shared_body["permissions"], {"read": [userid(ALICE)], "write": [userid(USER)]}
    )
    shared = shared_body["data"]

    resp = api("GET", full_url, ALICE)
    assert assert_json(resp, 200) == {"data": shared, "permissions": {}}
    assert_version_headers(resp, shared["last_modified"])
    tasks_url = f"/buckets/{owner_bucket}/collections/tasks/records"
    assert assert_json(api("GET", tasks_url, ALICE), 200) == {"data": [shared]}
    # ``default`` always means the caller's own bucket: Alice's has no such record.
    assert_not_found(api("GET", f"{TASKS}/{task['id']}", ALICE), task["id"])
    # Nobody else was given access.
    assert_error(api("GET", full_url, MARY), FORBIDDEN_BODY)

    # "This identifier is built using a combination of username and password": the same
    # username with another password is another user, with another personal bucket.
    assert_error(api("GET", full_url, USER, password="another"), FORBIDDEN_BODY)
    other = assert_json(api("GET", "/buckets/default", USER, password="another"), 200)
    assert other["data"]["id"] == default_bucket_id(userid(USER, "another")) != owner_bucket
