"""JSON-schema validation seen by the official client, ``kinto_http`` (kinto-api.md §10.6).

The server runs with ``experimental_collection_schema_validation = true`` in its ini, one
per backend for the module; each test works in a bucket of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kinto_http import Client, KintoException

from tests import postgres, server

SCHEMA_SETTINGS = {"kinto.experimental_collection_schema_validation": "true"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "done": {"type": "boolean"}},
    "required": ["title"],
}


@contextmanager
def _backend_settings(
    backend: str, request: pytest.FixtureRequest, workdir: Path
) -> Iterator[dict[str, str]]:
    """The ini settings of ``backend``, with a database of its own for PostgreSQL (as in
    tests/e2e/conftest.py, whose fixtures take no extra settings)."""
    if backend == "memory":
        yield server.settings_for("memory")
    elif backend == "sqlite":
        yield server.settings_for("sqlite", f"sqlite:///{workdir}/kinto.sqlite")
    else:
        session_url: str = request.getfixturevalue("postgresql_url")
        maintenance_url = session_url.rsplit("/", 1)[0] + "/postgres"
        name = f"kinto_clone_e2e_schema_{os.getpid()}"
        db_url = postgres.create_database(maintenance_url, name)
        try:
            yield server.settings_for("postgresql", db_url)
        finally:
            postgres.drop_database(maintenance_url, name)


@pytest.fixture(scope="module")
def schema_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("schema-server")
    with (
        _backend_settings(backend, request, workdir) as settings,
        server.serve(workdir, {**settings, **SCHEMA_SETTINGS}) as url,
    ):
        yield url


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


def test_the_server_advertises_schema_validation(schema_server: str) -> None:
    info = Client(server_url=schema_server, timeout=10).server_info()

    assert "schema" in info["capabilities"]


def test_a_valid_record_is_stored_with_its_schema_version(schema_server: str) -> None:
    client = client_in(schema_server, "valid")

    created = client.create_record(data={"title": "Write the tests", "done": False})
    collection = client.get_collection()

    assert created["data"]["title"] == "Write the tests"
    assert created["data"]["schema"] == collection["data"]["last_modified"]
    assert [r["title"] for r in client.get_records()] == ["Write the tests"]


def test_an_invalid_record_raises_a_400_naming_the_field(schema_server: str) -> None:
    client = client_in(schema_server, "invalid")

    with pytest.raises(KintoException) as excinfo:
        client.create_record(data={"title": 42})

    assert excinfo.value.response.status_code == 400
    body = excinfo.value.response.json()
    assert body["errno"] == 107
    assert body["details"] == [
        {"location": "body", "name": "title", "description": "42 is not of type 'string'"}
    ]
    assert client.get_records() == []


def test_an_update_that_breaks_the_schema_is_refused(schema_server: str) -> None:
    client = client_in(schema_server, "update")
    record = client.create_record(id="t1", data={"title": "Ship"})["data"]

    with pytest.raises(KintoException) as excinfo:
        client.patch_record(id="t1", data={"done": "yes"})

    assert excinfo.value.response.status_code == 400
    assert excinfo.value.response.json()["details"][0]["name"] == "done"
    assert client.get_record(id="t1")["data"] == record
