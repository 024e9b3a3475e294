"""Fixtures running the real server in its own process, on each backend.

Unlike the WebTest ``app`` fixture, the application is started by its CLI from an ini file
and reached over TCP, exactly as clients reach a deployed Kinto. The ``backend``
parametrisation of tests/conftest.py (and ``KINTO_CLONE_TEST_BACKENDS``) applies.

- ``shared_live_server``: one server for a whole module, for tests that name their objects
  apart and so need no fresh state; starting a server takes seconds. Its data is fresh:
  the memory backends start empty, SQLite gets a new file, PostgreSQL a new database
  (dropped afterwards). A module may set ``LIVE_SERVER_SETTINGS`` (full ini names) to
  configure it (plugins, policies...).
- ``live_server``: a server that holds no data when the test starts: one per module
  (``flushable_live_server``: the module's settings plus the flush plugin), emptied by
  ``POST /__flush__`` before each test.
- ``durable_ini``: for tests that stop and restart servers (``server.running``) on the
  same data: a migrated ini on a fresh SQLite file or PostgreSQL database (one test per
  durable backend, memory keeps nothing: ``durable_settings``), with the module's
  ``LIVE_SERVER_SETTINGS``.

The first two give the base URL, ``http://127.0.0.1:<port>/v1``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests import server
from tests.conftest import selected_backends


@contextmanager
def _server_on(
    backend: str,
    request: pytest.FixtureRequest,
    workdir: Path,
    extra: Mapping[str, str] | None = None,
    name: str = "",
) -> Iterator[str]:
    # The database name carries the fixture scope: a module's shared server may outlive
    # other tests' ones.
    name = name or f"e2e_{request.scope}"
    with (
        server.database_settings(backend, request, workdir, name) as settings,
        server.serve(workdir, {**settings, **(extra or {})}) as url,
    ):
        yield url


@pytest.fixture(scope="module")
def shared_live_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a server shared by the tests of one module (on one backend)."""
    extra = getattr(request.module, "LIVE_SERVER_SETTINGS", None)
    with _server_on(backend, request, tmp_path_factory.mktemp("live-server"), extra) as url:
        yield url


@pytest.fixture(scope="module")
def flushable_live_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``shared_live_server``, with the flush plugin besides the module's plugins."""
    extra = dict(getattr(request.module, "LIVE_SERVER_SETTINGS", {}))
    includes = extra.get("kinto.includes", server.BASE_SETTINGS["kinto.includes"])
    extra["kinto.includes"] = f"{includes} kinto_clone.plugins.flush"
    workdir = tmp_path_factory.mktemp("flushable-server")
    with _server_on(backend, request, workdir, extra, name="e2e_flushable") as url:
        yield url


@pytest.fixture
def live_server(flushable_live_server: str) -> str:
    """Base URL of a server holding nothing when the test starts: the module's server,
    emptied by ``POST /__flush__`` (a server started per test cost seconds a test)."""
    resp = requests.post(f"{flushable_live_server}/__flush__", timeout=10)
    assert resp.status_code == 202, resp.text
    return flushable_live_server


@pytest.fixture(params=[b for b in selected_backends() if b != "memory"])
def durable_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The ini settings of a fresh database of each durable backend (SQLite, PostgreSQL)."""
    name = f"durable_{request.module.__name__.rsplit('.', 1)[-1]}"
    with server.database_settings(request.param, request, tmp_path, name) as settings:
        yield settings


@pytest.fixture
def durable_ini(
    durable_settings: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> Path:
    """A migrated ini on ``durable_settings``, with the module's ``LIVE_SERVER_SETTINGS``."""
    extra = getattr(request.module, "LIVE_SERVER_SETTINGS", {})
    return server.migrated_ini(tmp_path, {**durable_settings, **extra})
