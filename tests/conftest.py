"""Fixtures shared by every test.

- ``backend``: the name of each storage+permission backend pair the suite runs against:
  ``memory``, ``sqlite`` (a real file) and ``postgresql`` (a real server). The SQL ones
  have one database per session and worker, migrated once, its tables emptied before each
  test. ``KINTO_CLONE_TEST_BACKENDS`` (comma list) narrows it. With ``CI=true`` a missing
  PostgreSQL fails, it never skips.
- ``backend_settings``: the settings that select that backend pair.
- ``make_app(**settings)``: a WebTest app on that backend with the test defaults below,
  overridden by ``settings`` (names without the ``kinto.`` prefix). The application is
  built once per session for those settings and reset for each test (``AppCache``).
- ``app``: ``make_app()``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest
from pyramid.router import Router

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
    server = postgres.required_server_url()
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


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite file per session (and worker), migrated once; emptied before each test."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/kinto.sqlite"
    from kinto_clone import migration

    migration.upgrade(url)
    return url


@pytest.fixture
def backend_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "memory":
        return {
            "storage_backend": "kinto_clone.storage.memory",
            "permission_backend": "kinto_clone.permission.memory",
        }
    from kinto_clone import migration

    name = "sqlite_url" if backend == "sqlite" else "postgresql_url"
    url: str = request.getfixturevalue(name)
    migration.empty_tables(url)
    return {
        "storage_backend": "kinto_clone.storage.sql",
        "storage_url": url,
        "permission_backend": "kinto_clone.permission.sql",
        "permission_url": url,
    }


class AppCache:
    """The applications of a session, by backend, settings and environment.

    Building an application costs more than most tests (its routes, plugins, backends and
    their engines), so one is built per set of settings and reused; what a test may have
    left in it is reset before it is handed out again: its database emptied (the SQL
    backends' database is emptied by ``backend_settings`` before every test) and the
    logins the accounts plugin remembers forgotten. ``KINTO_*`` environment variables are
    read when an application is built, so changed ones (``monkeypatch.setenv``) are part
    of the key. At most ``SIZE`` are kept (each holds pooled connections); the least
    recently used is closed.
    """

    SIZE = 4

    def __init__(self) -> None:
        self.apps: OrderedDict[tuple[str, ...], Router] = OrderedDict()
        self.environ = dict(os.environ)

    def key(self, settings: dict[str, Any]) -> tuple[str, ...]:
        # PYTEST_CURRENT_TEST changes with every test; pytest's variables set no setting.
        changed = {
            k: v
            for k, v in os.environ.items()
            if self.environ.get(k) != v and not k.startswith("PYTEST_")
        }
        gone = sorted(k for k in self.environ if k not in os.environ)
        return (
            repr(sorted(settings.items())),
            repr(sorted(changed.items())),
            repr(gone),
            os.getcwd(),
        )

    def get(self, settings: dict[str, Any]) -> Router:
        key = self.key(settings)
        wsgi = self.apps.pop(key, None)
        if wsgi is None:
            wsgi = build_app(settings)
            while len(self.apps) >= self.SIZE:
                self.apps.popitem(last=False)[1].registry.kinto_clone_close()
        else:
            reset_app(wsgi)
        self.apps[key] = wsgi
        return wsgi

    def close(self) -> None:
        for wsgi in self.apps.values():
            wsgi.registry.kinto_clone_close()
        self.apps.clear()


def build_app(settings: dict[str, Any]) -> Router:
    from kinto_clone import main

    return main({}, **{k: v for k, v in settings.items() if v is not None})


def reset_app(wsgi: Router) -> None:
    """What a test may have left in an application that its next test must not see."""
    from kinto_clone import migration
    from kinto_clone.db import MEMORY_URL

    for url, db in wsgi.registry.backends.databases.items():
        if url == MEMORY_URL:  # one per application; the SQL ones are emptied per test
            migration.empty_database(db)
    passwords = getattr(wsgi.registry, "account_passwords", None)
    if passwords is not None:
        passwords.forget_all()


@pytest.fixture(scope="session")
def app_cache() -> Iterator[AppCache]:
    cache = AppCache()
    yield cache
    cache.close()


@pytest.fixture
def make_app(
    backend_settings: dict[str, Any], app_cache: AppCache, request: pytest.FixtureRequest
) -> Iterator[Callable[..., webtest.TestApp]]:
    """A WebTest app on the test's backend: ``DEFAULT_SETTINGS`` < backend < ``settings``.

    Applications come from the session's ``AppCache``, reset for this test. Asked twice
    for the same settings in one test, it builds a second application, as the tests
    expect (on memory, each application has its own database). A module or test marked
    ``fresh_app`` gets applications built for it (tests of per-process state: metrics).
    """
    fresh = request.node.get_closest_marker("fresh_app") is not None
    handed: set[int] = set()
    built: list[Router] = []

    def factory(**settings: Any) -> webtest.TestApp:
        merged = {**DEFAULT_SETTINGS, **backend_settings, **settings}
        wsgi = None if fresh else app_cache.get(merged)
        if wsgi is None or id(wsgi) in handed:
            wsgi = build_app(merged)
            built.append(wsgi)
        handed.add(id(wsgi))
        return webtest.TestApp(wsgi)

    yield factory
    for wsgi in built:
        wsgi.registry.kinto_clone_close()


@pytest.fixture
def app(make_app: Callable[..., webtest.TestApp]) -> webtest.TestApp:
    return make_app()
