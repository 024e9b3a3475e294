"""Fixtures shared by every test.

- ``backend``: the name of each storage+permission backend pair the suite runs against:
  ``memory``, ``sqlite`` (a real file per test) and ``postgresql`` (a real server, schema
  migrated once per session, tables emptied before each test). ``KINTO_CLONE_TEST_BACKENDS``
  (comma list) narrows it. With ``CI=true`` a missing PostgreSQL fails, it never skips.
- ``backend_settings``: the settings that select that backend pair.
- ``make_app(**settings)``: a WebTest app on that backend with the test defaults below,
  overridden by ``settings`` (names without the ``kinto.`` prefix).
- ``app``: ``make_app()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest

from tests import postgres

ALL_BACKENDS = ("memory", "sqlite", "postgresql")

DEFAULT_SETTINGS: dict[str, Any] = {
    "userid_hmac_secret": "test-secret",
    "includes": "kinto_clone.plugins.default_bucket",
    "multiauth.policies": "basicauth",
    "bucket_create_principals": "system.Authenticated",
}


def selected_backends() -> list[str]:
    wanted = os.environ.get("KINTO_CLONE_TEST_BACKENDS")
    if not wanted or os.environ.get("CI") == "true":  # CI runs every backend, always
        return list(ALL_BACKENDS)
    return [b.strip() for b in wanted.split(",") if b.strip() in ALL_BACKENDS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", selected_backends(), scope="session")


@pytest.fixture(scope="session")
def postgresql_url(worker_id: str) -> Iterator[str]:
    server = postgres.server_url()
    if server is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is neither running nor installed; CI requires it")
        pytest.skip("PostgreSQL is neither running nor installed")
    # One database per test session and worker, so concurrent sessions never collide.
    name = f"kinto_clone_test_{os.getpid()}_{worker_id}"
    url = postgres.create_database(server, name)
    from kinto_clone import migration

    migration.upgrade(url)
    yield url
    migration.forget(url)
    postgres.drop_database(server, name)


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    # pytest-xdist provides its own ``worker_id``; without it we are the only worker.
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


@pytest.fixture
def backend_settings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> dict[str, Any]:
    if backend == "memory":
        return {
            "storage_backend": "kinto_clone.storage.memory",
            "permission_backend": "kinto_clone.permission.memory",
        }
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/kinto.sqlite"
        from kinto_clone import migration

        migration.upgrade(url)
    else:
        url = request.getfixturevalue("postgresql_url")
        from kinto_clone import migration

        migration.empty_tables(url)
    return {
        "storage_backend": "kinto_clone.storage.sql",
        "storage_url": url,
        "permission_backend": "kinto_clone.permission.sql",
        "permission_url": url,
    }


@pytest.fixture
def make_app(backend_settings: dict[str, Any]) -> Iterator[Callable[..., webtest.TestApp]]:
    from kinto_clone import main

    apps: list[Any] = []

    def factory(**settings: Any) -> webtest.TestApp:
        merged = {**DEFAULT_SETTINGS, **backend_settings, **settings}
        wsgi = main({}, **{k: v for k, v in merged.items() if v is not None})
        apps.append(wsgi)
        return webtest.TestApp(wsgi)

    yield factory
    for wsgi in apps:
        wsgi.registry.kinto_clone_close()


@pytest.fixture
def app(make_app: Callable[..., webtest.TestApp]) -> webtest.TestApp:
    return make_app()
