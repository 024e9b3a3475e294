"""JSON-schema validation seen by the official client, ``kinto_http`` (kinto-api.md §10.6).

The server runs with ``experimental_collection_schema_validation = true`` in its ini, one
per backend for the module; each test works in a bucket of its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from kinto_http import Client, KintoException

# The module's shared_live_server (tests/e2e/conftest.py) validates records.
LIVE_SERVER_SETTINGS = {"kinto.experimental_collection_schema_validation": "true"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}},
    "required": ["title"],
}


def client_in(url: str, bucket: str) -> Client:
    client = Client(
        server_url=url,
        auth=("alice", "alicepassword"),
        bucket=bucket,
        collection="tasks",
        timeout=10,
    )
    client.create_bucket(id=bucket)
    client.create_collection(id="tasks", data={"schema": SCHEMA})
    return client


def test_the_server_advertises_schema_validation(shared_live_server: str) -> None:
    info = Client(server_url=shared_live_server, timeout=10).server_info()

    assert "schema" in info["capabilities"]


def test_a_valid_record_is_stored_with_its_schema_version(shared_live_server: str) -> None:
    client = client_in(shared_live_server, "valid")

    created = client.create_record(data={"title": "Write the tests", "done": False})
    collection = client.get_collection()

    assert created["data"]["title"] == "Write the tests"
    assert created["data"]["schema"] == collection["data"]["last_modified"]
    assert [r["title"] for r in client.get_records()] == ["Write the tests"]


def test_an_invalid_record_raises_a_400_naming_the_field(shared_live_server: str) -> None:
    client = client_in(shared_live_server, "invalid")

    with pytest.raises(KintoException) as excinfo:
        client.create_record(data={"title": 42})

    assert excinfo.value.response.status_code == 400
    body = excinfo.value.response.json()
    assert body["errno"] == 107
    assert body["details"] == [
        {"location": "body", "name": "title", "description": "42 is not of type 'string'"}
    ]
    assert client.get_records() == []


def test_an_update_that_breaks_the_schema_is_refused(shared_live_server: str) -> None:
    client = client_in(shared_live_server, "update")
    record = client.create_record(id="t1", data={"title": "Ship"})["data"]

    with pytest.raises(KintoException) as excinfo:
        client.patch_record(id="t1", data={"done": "yes"})

    assert excinfo.value.response.status_code == 400
    assert excinfo.value.response.json()["details"][0]["name"] == "done"
    assert client.get_record(id="t1")["data"] == record
