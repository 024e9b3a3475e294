"""The ``live_server`` fixture: a real server process per test, on each backend.

Unlike the WebTest ``app`` fixture, the application runs in its own process, started by the
CLI from an ini file and reached over TCP, exactly as clients reach a deployed Kinto. Each
test gets a fresh server and fresh data: the memory backends start empty, SQLite gets a new
file in ``tmp_path``, PostgreSQL a new database (dropped afterwards). The ``backend``
parametrisation of tests/conftest.py (and ``KINTO_CLONE_TEST_BACKENDS``) applies.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests import postgres, server


def _drop_database(server_url: str, name: str) -> None:
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def live_server(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of a freshly started server."""
    if backend == "memory":
        with server.serve(tmp_path, server.settings_for("memory")) as url:
            yield url
    elif backend == "sqlite":
        settings = server.settings_for("sqlite", f"sqlite:///{tmp_path}/kinto.sqlite")
        with server.serve(tmp_path, settings) as url:
            yield url
    else:
        # The session database of tests/conftest.py tells us where the server is (or skips
        # the test when there is none); the live server gets a database of its own.
        session_url = request.getfixturevalue("postgresql_url")
        worker_id = request.getfixturevalue("worker_id")
        name = f"kinto_clone_e2e_{worker_id}"
        db_url = postgres.create_database(session_url, name)
        try:
            with server.serve(tmp_path, server.settings_for("postgresql", db_url)) as url:
                yield url
        finally:
            _drop_database(session_url, name)
