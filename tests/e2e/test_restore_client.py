"""A kinto-http client that synced before a restore converges with its ordinary sync.

The server runs in its own process (``shared_live_server``) with the history plugin. A
"device" keeps a local copy of a collection and syncs the way Kinto clients do: the
first time all records, then only ``_since`` the collection ETag it last saw, applying
updates and tombstones. The owner restores the collection with the same client library
(``POST .../restore`` through ``session.request``); the device's next sync, unchanged,
must leave it with exactly the server's records, which are the records at the point.
"""

from __future__ import annotations

from typing import Any

from kinto_http import Client, KintoException

TIMEOUT = 10
LIVE_SERVER_SETTINGS = {"kinto.includes": "kinto_clone.plugins.history"}


class Device:
    """A client's local copy of one collection, kept in sync with ``_since``."""

    def __init__(self, client: Client, bucket: str, collection: str) -> None:
        self.client = client
        self.where = {"bucket": bucket, "collection": collection}
        self.records: dict[str, dict[str, Any]] = {}
        self.etag: str | None = None

    def sync(self) -> int:
        """Pull the changes; returns how many were applied."""
        kwargs = {"_since": self.etag} if self.etag is not None else {}
        changes = self.client.get_records(**self.where, **kwargs)
        for record in changes:
            if record.get("deleted"):
                self.records.pop(record["id"], None)
            else:
                self.records[record["id"]] = record
        self.etag = self.client.get_records_timestamp(**self.where)
        return len(changes)


def client(server: str, user: str) -> Client:
    return Client(server_url=server, auth=(user, f"{user}password"), timeout=TIMEOUT)


def test_a_device_that_synced_before_a_restore_converges_to_the_restored_state(
    shared_live_server: str,
) -> None:
    owner = client(shared_live_server, "owner")
    owner.create_bucket(id="restored")
    owner.create_collection(id="notes", bucket="restored")
    where = {"bucket": "restored", "collection": "notes"}
    owner.create_record(id="a", data={"text": "first"}, **where)
    point = owner.create_record(id="b", data={"text": "second"}, **where)["data"]["last_modified"]
    device = Device(owner, "restored", "notes")
    device.sync()
    then = dict(device.records)

    owner.update_record(id="a", data={"text": "edited"}, **where)
    owner.delete_record(id="b", **where)
    owner.create_record(id="c", data={"text": "later"}, **where)
    assert device.sync() == 3
    assert sorted(device.records) == ["a", "c"]

    body, headers = owner.session.request(
        "post", "/buckets/restored/collections/notes/restore", data={"at": point}
    )
    assert (body["data"]["create"], body["data"]["update"], body["data"]["delete"]) == (1, 1, 1)
    assert device.sync() == 3  # a updated, b re-created, c deleted
    assert headers["ETag"] == f'"{device.etag}"'  # the restore answered the new ETag
    server = {r["id"]: r for r in owner.get_records(**where)}
    assert device.records == server
    assert {k: r["text"] for k, r in device.records.items()} == {
        k: r["text"] for k, r in then.items()
    }
    assert device.sync() == 0


def test_a_restore_the_client_library_sends_with_a_stale_etag_is_refused(
    shared_live_server: str,
) -> None:
    owner = client(shared_live_server, "owner")
    owner.create_bucket(id="guarded")
    owner.create_collection(id="notes", bucket="guarded")
    where = {"bucket": "guarded", "collection": "notes"}
    point = owner.create_record(id="a", data={"v": 1}, **where)["data"]["last_modified"]
    owner.update_record(id="a", data={"v": 2}, **where)
    path = "/buckets/guarded/collections/notes/restore"
    _, headers = owner.session.request("post", path, data={"at": point, "dry_run": True})
    owner.update_record(id="a", data={"v": 3}, **where)
    try:
        owner.session.request(
            "post", path, data={"at": point}, headers={"If-Match": headers["ETag"]}
        )
    except KintoException as exc:
        assert exc.response.status_code == 412
    else:
        raise AssertionError("the restore went through a stale If-Match")
    assert owner.get_record(id="a", **where)["data"]["v"] == 3
