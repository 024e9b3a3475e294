"""Drive the live server with the official Python client, ``kinto_http``.

The client is the judge of compatibility: it builds its own URLs and headers
(``If-None-Match: *`` on safe creates, ``If-Match`` from ``last_modified``, ``_since``
polling, batch bodies), reads the ``ETag`` of lists and raises ``KintoException`` on any
4xx/5xx. These tests use it as an application would and check the values it returns.

They share one server per backend (``shared_live_server``), so each test works in buckets
or collections of its own and never assumes the server is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from kinto_http import Client, KintoException
from kinto_http.exceptions import BucketNotFound, KintoBatchException

from tests.support import PRECONDITION_FAILED_BODY, default_bucket_id, userid

TIMEOUT = 10
USER, ALICE, BOB, MARY = "user", "alice", "bob", "mary"

Json = dict[str, Any]
MakeClient = Callable[..., Client]


def password_of(user: str) -> str:
    """The tutorial's passwords, as in ``tests.support.auth``."""
    return "password" if user == "user" else f"{user}password"


@pytest.fixture
def client_for(shared_live_server: str) -> MakeClient:
    """``client_for(user, **client_options)``: a client logged in as a tutorial user."""

    def make(user: str, **options: Any) -> Client:
        return Client(
            server_url=shared_live_server,
            auth=(user, password_of(user)),
            timeout=TIMEOUT,
            **options,
        )

    return make


def status_of(excinfo: pytest.ExceptionInfo[KintoException]) -> int:
    status: int = excinfo.value.response.status_code
    return status


def error_body(excinfo: pytest.ExceptionInfo[KintoException]) -> Json:
    body: Json = excinfo.value.response.json()
    return body


def set_up_shared_bucket(client_for: MakeClient, bucket: str) -> Client:
    """Like the tutorial's ``todo``: a bucket owned by ``user`` whose ``tasks`` collection
    lets every authenticated user create records."""
    owner = client_for(USER, bucket=bucket, collection="tasks")
    owner.create_bucket(id=bucket)
    owner.create_collection(
        id="tasks", bucket=bucket, permissions={"record:create": ["system.Authenticated"]}
    )
    return owner


def test_server_info_describes_a_kinto_server_and_the_authenticated_user(
    shared_live_server: str, client_for: MakeClient
) -> None:
    info = client_for(ALICE).server_info()

    assert info["project_name"] == "kinto"
    assert info["http_api_version"] == "1.23"
    assert isinstance(info["project_version"], str) and info["project_version"]
    assert info["url"] == f"{shared_live_server}/"
    assert info["settings"] == {
        "batch_max_requests": 25,
        "readonly": False,
        "explicit_permissions": True,
    }
    assert {"basicauth", "default_bucket"} <= set(info["capabilities"])
    user = info["user"]
    assert user["id"] == userid(ALICE)
    assert user["bucket"] == default_bucket_id(userid(ALICE))
    assert {userid(ALICE), "system.Everyone", "system.Authenticated"} <= set(user["principals"])

    # Anonymous callers get the same document without the ``user`` section.
    anonymous = Client(server_url=shared_live_server, timeout=TIMEOUT).server_info()
    assert "user" not in anonymous
    assert anonymous["url"] == info["url"]


def test_records_are_created_read_patched_replaced_and_deleted_in_the_personal_bucket(
    client_for: MakeClient,
) -> None:
    client = client_for(USER, bucket="default", collection="crud")

    # ``create_record`` picks a uuid4 id and PUTs it with ``If-None-Match: *``; the personal
    # bucket and its collection are created on the fly.
    created = client.create_record(data={"description": "Write a tutorial", "status": "todo"})
    record = created["data"]
    assert set(record) == {"id", "last_modified", "description", "status"}
    assert created["permissions"] == {"write": [userid(USER)]}
    assert client.get_record(id=record["id"]) == created
    assert client.get_bucket()["data"]["id"] == default_bucket_id(userid(USER))

    patched = client.patch_record(id=record["id"], data={"status": "doing"})["data"]
    assert patched == {**record, "status": "doing", "last_modified": patched["last_modified"]}
    assert patched["last_modified"] > record["last_modified"]

    # PUT replaces the whole object: ``status`` is gone.
    replaced = client.update_record(id=record["id"], data={"description": "Rewritten"})["data"]
    assert replaced == {
        "id": record["id"],
        "last_modified": replaced["last_modified"],
        "description": "Rewritten",
    }
    assert replaced["last_modified"] > patched["last_modified"]
    assert client.get_records() == [replaced]

    tombstone = client.delete_record(id=record["id"])
    assert tombstone == {
        "id": record["id"],
        "last_modified": tombstone["last_modified"],
        "deleted": True,
    }
    assert tombstone["last_modified"] > replaced["last_modified"]
    assert client.get_records() == []
    with pytest.raises(KintoException) as excinfo:
        client.get_record(id=record["id"])
    assert status_of(excinfo) == 404
    assert error_body(excinfo)["errno"] == 110


def test_polling_records_since_a_timestamp_returns_the_changes_and_the_tombstones(
    client_for: MakeClient,
) -> None:
    client = client_for(USER, bucket="default", collection="polling")
    kept = client.create_record(data={"title": "kept"})["data"]
    dropped = client.create_record(data={"title": "dropped"})["data"]
    untouched = client.create_record(data={"title": "untouched"})["data"]

    # A first full sync; the client keeps the list ETag, which is the latest timestamp.
    assert client.get_records() == [untouched, dropped, kept]
    synced_at = client.get_records_timestamp()
    assert synced_at == str(untouched["last_modified"])

    changed = client.patch_record(id=kept["id"], data={"title": "changed"})["data"]
    tombstone = client.delete_record(id=dropped["id"])

    # Only what changed since, newest first, deletions included.
    assert client.get_records(_since=synced_at) == [tombstone, changed]
    latest = client.get_records_timestamp()
    assert latest == str(tombstone["last_modified"])
    assert client.get_records(_since=latest) == []

    # With the latest ETag in If-None-Match the server answers 304, which the client's
    # session turns into an empty body; a 200 would carry ``{"data": []}``.
    endpoint = client.get_endpoint("records")
    body, headers = client.session.request(
        "get", endpoint, headers={"If-None-Match": f'"{latest}"'}, params={"_since": latest}
    )
    assert body is None
    assert headers["ETag"] == f'"{latest}"'
    assert client.get_records(if_none_match=latest) == []


def test_stale_versions_and_safe_creations_of_existing_records_raise_412(
    client_for: MakeClient,
) -> None:
    client = client_for(USER, bucket="default", collection="conflicts")
    original = client.create_record(data={"status": "todo"})["data"]
    record_id = original["id"]
    current = client.patch_record(id=record_id, data={"status": "doing"})["data"]

    attempts: list[Callable[[], Any]] = [
        # An explicit, outdated If-Match.
        lambda: client.patch_record(
            id=record_id, data={"status": "done"}, if_match=original["last_modified"]
        ),
        # The stale record itself: the client sends its last_modified as If-Match.
        lambda: client.update_record(data={**original, "status": "done"}),
        lambda: client.delete_record(id=record_id, if_match=original["last_modified"]),
        # A safe create (If-None-Match: *) of an id that exists.
        lambda: client.create_record(id=record_id, data={"status": "new"}),
    ]
    for attempt in attempts:
        with pytest.raises(KintoException) as excinfo:
            attempt()
        assert status_of(excinfo) == 412
        body = error_body(excinfo)
        assert (body["code"], body["errno"], body["error"]) == (412, 114, "Precondition Failed")
        assert excinfo.value.response.headers["ETag"] == f'"{current["last_modified"]}"'
    # A mismatched If-Match names the version that won (§3.3).
    with pytest.raises(KintoException) as excinfo:
        attempts[0]()
    assert error_body(excinfo) == {**PRECONDITION_FAILED_BODY, "details": {"existing": current}}

    # None of them changed anything.
    assert client.get_record(id=record_id)["data"] == current
    # ``if_not_exists`` turns the 412 into a read of what exists.
    assert client.create_record(id=record_id, data={}, if_not_exists=True)["data"] == current
    # The current version, or no precondition at all, is accepted.
    done = client.patch_record(
        id=record_id, data={"status": "done"}, if_match=current["last_modified"]
    )["data"]
    assert done["status"] == "done"
    forced = client.update_record(data={**original, "status": "forced"}, safe=False)["data"]
    assert forced["status"] == "forced"
    assert forced["last_modified"] > done["last_modified"]


def test_a_bucket_and_a_collection_are_created_with_their_author_as_writer(
    client_for: MakeClient,
) -> None:
    owner = client_for(USER)
    bucket = owner.create_bucket(id="todo")
    assert set(bucket["data"]) == {"id", "last_modified"}
    assert bucket["data"]["id"] == "todo"
    assert bucket["permissions"] == {"write": [userid(USER)]}

    collection = owner.create_collection(
        id="tasks", bucket="todo", permissions={"record:create": ["system.Authenticated"]}
    )
    assert set(collection["data"]) == {"id", "last_modified"}
    assert collection["data"]["id"] == "tasks"
    assert collection["permissions"] == {
        "record:create": ["system.Authenticated"],
        "write": [userid(USER)],
    }
    assert "todo" in [b["id"] for b in owner.get_buckets()]
    assert [c["id"] for c in owner.get_collections(bucket="todo")] == ["tasks"]

    # A safe create of an existing bucket is a conflict; ``if_not_exists`` reads it instead.
    with pytest.raises(KintoException) as excinfo:
        owner.create_bucket(id="todo")
    assert status_of(excinfo) == 412
    assert owner.create_bucket(id="todo", if_not_exists=True) == owner.get_bucket(id="todo")

    # Alice may create records, and so read the collection's attributes (§6.2), but may
    # neither create collections nor see who else may write.
    alice = client_for(ALICE, bucket="todo", collection="tasks")
    alice_task = alice.create_record(data={"description": "Alice task"})["data"]
    assert alice_task["description"] == "Alice task"
    assert alice.get_collection()["data"]["id"] == "tasks"
    assert alice.get_collection()["permissions"] == {}
    with pytest.raises(KintoException) as excinfo:
        alice.create_collection(id="other", bucket="todo")
    assert status_of(excinfo) == 403

    # Deleting the bucket takes its content along.
    assert owner.delete_bucket(id="todo")["deleted"] is True
    with pytest.raises(BucketNotFound):
        owner.get_bucket(id="todo")
    assert "todo" not in [b["id"] for b in owner.get_buckets()]


def test_a_record_shared_for_reading_is_visible_to_that_user_only(
    client_for: MakeClient,
) -> None:
    owner = set_up_shared_bucket(client_for, "sharing")
    alice = client_for(ALICE, bucket="sharing", collection="tasks")
    bob = client_for(BOB, bucket="sharing", collection="tasks")
    mary = client_for(MARY, bucket="sharing", collection="tasks")

    alice_task = alice.create_record(data={"description": "Alice task"})["data"]
    bob_task = bob.create_record(
        data={"description": "Bob new task"}, permissions={"read": [userid(BOB)]}
    )["data"]
    with pytest.raises(KintoException) as excinfo:
        bob.get_record(id=alice_task["id"])
    assert status_of(excinfo) == 403

    shared = alice.patch_record(id=alice_task["id"], permissions={"read": [userid(BOB)]})
    assert shared["permissions"] == {"read": [userid(BOB)], "write": [userid(ALICE)]}
    assert shared["data"]["last_modified"] > alice_task["last_modified"]

    # Bob reads it, without its permissions (he is no writer), and lists it with his own.
    assert bob.get_record(id=alice_task["id"]) == {"data": shared["data"], "permissions": {}}
    assert bob.get_records() == [shared["data"], bob_task]
    # Mary may create records, so listing is allowed, but she may read none of them.
    assert mary.get_records() == []
    # The owner of the bucket sees everything.
    assert {r["id"] for r in owner.get_records()} == {alice_task["id"], bob_task["id"]}
    # Reading is not writing.
    with pytest.raises(KintoException) as excinfo:
        bob.patch_record(id=alice_task["id"], data={"status": "done"})
    assert status_of(excinfo) == 403


def test_group_members_get_what_is_granted_to_the_group(client_for: MakeClient) -> None:
    owner = set_up_shared_bucket(client_for, "team")
    alice = client_for(ALICE, bucket="team", collection="tasks")
    bob = client_for(BOB, bucket="team", collection="tasks")
    mary = client_for(MARY, bucket="team", collection="tasks")
    alice_friends = "/buckets/team/groups/alice-friends"

    with pytest.raises(KintoException) as excinfo:
        alice.create_group(id="alice-friends", bucket="team", data={"members": [userid(BOB)]})
    assert status_of(excinfo) == 403
    owner.patch_bucket(id="team", permissions={"group:create": ["system.Authenticated"]})

    group = alice.create_group(id="alice-friends", bucket="team", data={"members": [userid(BOB)]})
    assert group["data"]["members"] == [userid(BOB)]
    assert group["permissions"] == {"write": [userid(ALICE)]}
    task = alice.create_record(
        data={"description": "Alice task"}, permissions={"read": [alice_friends]}
    )["data"]

    assert bob.get_record(id=task["id"])["data"] == task
    with pytest.raises(KintoException) as excinfo:
        mary.get_record(id=task["id"])
    assert status_of(excinfo) == 403

    # Adding Mary to the group (a PUT of the whole group) lets her read it.
    members = [userid(BOB), userid(MARY)]
    updated = alice.update_group(id="alice-friends", bucket="team", data={"members": members})
    assert updated["data"]["members"] == members
    assert updated["data"]["last_modified"] > group["data"]["last_modified"]
    assert mary.get_record(id=task["id"])["data"] == task
    assert mary.get_records() == [task]
    fresh_mary = client_for(MARY)
    assert alice_friends in fresh_mary.server_info()["user"]["principals"]
    assert [g["id"] for g in alice.get_groups(bucket="team")] == ["alice-friends"]
    assert alice.get_group(id="alice-friends", bucket="team")["data"]["members"] == members

    # A stale update of the group is refused.
    with pytest.raises(KintoException) as excinfo:
        alice.update_group(
            id="alice-friends",
            bucket="team",
            data={"members": []},
            if_match=group["data"]["last_modified"],
        )
    assert status_of(excinfo) == 412

    # Removing Mary, then deleting the group, takes the access away again.
    alice.patch_group(id="alice-friends", bucket="team", data={"members": [userid(BOB)]})
    with pytest.raises(KintoException) as excinfo:
        mary.get_record(id=task["id"])
    assert status_of(excinfo) == 403
    alice.delete_group(id="alice-friends", bucket="team")
    with pytest.raises(KintoException) as excinfo:
        bob.get_record(id=task["id"])
    assert status_of(excinfo) == 403


def test_a_batch_sends_many_writes_in_one_request_and_reports_each_result(
    client_for: MakeClient,
) -> None:
    client = client_for(USER)
    with client.batch() as batch:
        batch.create_bucket(id="shop")
        batch.create_collection(id="items", bucket="shop")
        batch.create_record(bucket="shop", collection="items", data={"name": "milk"})
        batch.create_record(bucket="shop", collection="items", data={"name": "eggs"})
    assert batch.results is not None
    results = batch.results()
    assert [r["data"]["id"] for r in results[:2]] == ["shop", "items"]
    assert [r["data"]["name"] for r in results[2:]] == ["milk", "eggs"]
    assert all(r["permissions"] == {"write": [userid(USER)]} for r in results)

    records = client.get_records(bucket="shop", collection="items")
    assert sorted(r["name"] for r in records) == ["eggs", "milk"]

    # A failing sub-request (a safe create of an existing bucket) is reported as such.
    with pytest.raises(KintoBatchException) as excinfo, client.batch() as batch:
        batch.create_bucket(id="shop")
    failures = [cast(KintoException, e) for e in excinfo.value.exceptions]
    assert [e.response.status_code for e in failures] == [412]


def test_records_created_concurrently_by_several_clients_all_land_with_distinct_timestamps(
    client_for: MakeClient,
) -> None:
    owner = set_up_shared_bucket(client_for, "busy")
    # ``retry`` is how clients absorb a 409 from writers racing for the same list timestamp
    # (§5.3, errno 122 with Retry-After); ``retry_after=0`` keeps the test fast.
    writers = [
        client_for(user, bucket="busy", collection="tasks", retry=5, retry_after=0)
        for user in (USER, ALICE, BOB, MARY)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [
            pool.submit(writers[n % len(writers)].create_record, data={"n": n}) for n in range(40)
        ]
        created = [future.result()["data"] for future in futures]

    records = owner.get_records()
    assert sorted(r["n"] for r in records) == list(range(40))
    assert {r["id"] for r in records} == {r["id"] for r in created}
    # Every write got its own timestamp, and the list ETag is the latest of them.
    timestamps = [r["last_modified"] for r in records]
    assert len(set(timestamps)) == 40
    assert owner.get_records_timestamp() == str(max(timestamps))
