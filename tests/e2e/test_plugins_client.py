"""History and the permissions endpoint on a live server, driven with ``kinto_http``.

Kinto Admin and kinto-http read them with ``get_history`` and ``get_permissions`` (§6.7,
§10.1); these tests call exactly those methods.
"""

from __future__ import annotations

import pytest
from kinto_http import Client, KintoException

from tests.support import userid

LIVE_SERVER_SETTINGS = {
    "kinto.includes": "kinto_clone.plugins.default_bucket kinto_clone.plugins.history",
    "kinto.experimental_permissions_endpoint": "true",
}


def client(url: str, user: str, bucket: str | None = None) -> Client:
    return Client(server_url=url, auth=(user, f"{user}password"), bucket=bucket, timeout=10)


def test_history_lists_every_change_of_a_bucket_newest_first(shared_live_server: str) -> None:
    alice = client(shared_live_server, "alice", bucket="hist")
    alice.create_bucket(id="hist")
    alice.create_collection(id="notes")
    record = alice.create_record(data={"title": "one"}, collection="notes")["data"]
    alice.update_record(data={"title": "two"}, id=record["id"], collection="notes")
    alice.delete_record(id=record["id"], collection="notes")

    history = alice.get_history()

    assert [(e["action"], e["resource_name"]) for e in history] == [
        ("delete", "record"),
        ("update", "record"),
        ("create", "record"),
        ("create", "collection"),
        ("create", "bucket"),
    ]
    assert {e["user_id"] for e in history} == {userid("alice")}
    assert history[1]["target"]["data"]["title"] == "two"
    assert history[0]["record_id"] == record["id"]


def test_history_can_be_filtered_and_is_private_to_the_bucket_readers(
    shared_live_server: str,
) -> None:
    alice = client(shared_live_server, "alice", bucket="hist2")
    alice.create_bucket(id="hist2")
    alice.create_collection(id="notes")
    alice.create_record(data={"title": "x"}, collection="notes")

    created = alice.get_history(action="create", resource_name="record")

    assert [e["target"]["data"]["title"] for e in created] == ["x"]
    with pytest.raises(KintoException) as refused:
        client(shared_live_server, "bob", bucket="hist2").get_history()
    assert refused.value.response.status_code == 403


def test_the_permissions_endpoint_lists_what_a_user_was_granted(
    shared_live_server: str,
) -> None:
    alice = client(shared_live_server, "alice", bucket="perms")
    alice.create_bucket(id="perms")
    alice.create_collection(id="shared", permissions={"read": [userid("bob")]})
    alice.create_collection(id="private")

    entries = client(shared_live_server, "bob").get_permissions()
    by_uri = {e["uri"]: e for e in entries}

    assert "/buckets/perms/collections/shared" in by_uri
    assert "read" in by_uri["/buckets/perms/collections/shared"]["permissions"]
    assert "/buckets/perms/collections/private" not in by_uri
    mine = {e["uri"] for e in alice.get_permissions(exclude_resource_names=["root"])}
    assert {
        "/buckets/perms",
        "/buckets/perms/collections/shared",
        "/buckets/perms/collections/private",
    } <= mine
