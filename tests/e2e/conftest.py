"""Fixtures running the real server in its own process, on each backend.

Unlike the WebTest ``app`` fixture, the application is started by its CLI from an ini file
and reached over TCP, exactly as clients reach a deployed Kinto. The ``backend``
parametrisation of tests/conftest.py (and ``KINTO_CLONE_TEST_BACKENDS``) applies.

- ``live_server``: a fresh server and fresh data for each test: the memory backends start
  empty, SQLite gets a new file, PostgreSQL a new database (dropped afterwards).
- ``shared_live_server``: one such server for a whole module, for tests that name their
  objects apart and so need no fresh state; starting a server takes seconds. A module may
  set ``LIVE_SERVER_SETTINGS`` (full ini names) to configure it (plugins, policies...).

Both give the base URL, ``http://127.0.0.1:<port>/v1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


@contextmanager
def _server_on(
    backend: str,
    request: pytest.FixtureRequest,
    workdir: Path,
    extra: Mapping[str, str] | None = None,
) -> Iterator[str]:
    extra = dict(extra or {})
    if backend == "memory":
        with server.serve(workdir, {**server.settings_for("memory"), **extra}) as url:
            yield url
    elif backend == "sqlite":
        settings = server.settings_for("sqlite", f"sqlite:///{workdir}/kinto.sqlite")
        with server.serve(workdir, {**settings, **extra}) as url:
            yield url
    else:
        # The session database of tests/conftest.py says where PostgreSQL is (and skips, or
        # fails on CI, without one). The live server gets a database of its own, created from
        # the maintenance database: another test session on the same server may drop and
        # recreate the session database at any time. The name carries our process id for the
        # same reason, and the fixture scope because a module's shared server may outlive
        # other tests' ones.
        session_url = request.getfixturevalue("postgresql_url")
        maintenance_url = session_url.rsplit("/", 1)[0] + "/postgres"
        name = f"kinto_clone_e2e_{os.getpid()}_{request.scope}"
        db_url = postgres.create_database(maintenance_url, name)
        try:
            settings = server.settings_for("postgresql", db_url)
            with server.serve(workdir, {**settings, **extra}) as url:
                yield url
        finally:
            _drop_database(maintenance_url, name)


@pytest.fixture
def live_server(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Base URL of a server started for this test alone."""
    with _server_on(backend, request, tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def shared_live_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a server shared by the tests of one module (on one backend)."""
    extra = getattr(request.module, "LIVE_SERVER_SETTINGS", None)
    with _server_on(backend, request, tmp_path_factory.mktemp("live-server"), extra) as url:
        yield url
