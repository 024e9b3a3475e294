"""Backends are the modules their dotted settings name, checked when the server starts.

A module offers ``load_from_config(settings, db)``; what it returns must be a ``Storage``
(or a ``Permission``). Anything else stops the server at start-up with a
``ConfigurationError`` that names the setting's value, never at the first request. The
SQL backends get the one-statement loader; any other storage is loaded through its plain
calls (``storage/loader.py``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import webtest

from kinto_clone import main
from kinto_clone.cache.memory import MemoryCache
from kinto_clone.errors import ConfigurationError
from kinto_clone.permission.memory import MemoryPermission
from kinto_clone.storage import Storage
from kinto_clone.storage.loader import PlainLoader
from kinto_clone.storage.memory import MemoryStorage
from kinto_clone.storage.sql_loader import SQLLoader
from tests.conftest import DEFAULT_SETTINGS
from tests.support import auth

MEMORY = {
    "storage_backend": "kinto_clone.storage.memory",
    "permission_backend": "kinto_clone.permission.memory",
}


def start(**settings: Any) -> Any:
    return main({}, **{**DEFAULT_SETTINGS, **MEMORY, **settings})


def fake_backend(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> str:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return name


def test_the_memory_backends_are_the_memory_modules_own_classes() -> None:
    app = start()
    try:
        assert type(app.registry.backends.storage) is MemoryStorage
        assert type(app.registry.backends.permission) is MemoryPermission
    finally:
        app.registry.kinto_clone_close()


def test_kintos_dotted_names_select_the_same_backends() -> None:
    app = start(
        storage_backend="kinto.core.storage.memory",
        permission_backend="kinto.core.permission.memory",
    )
    try:
        assert type(app.registry.backends.storage) is MemoryStorage
    finally:
        app.registry.kinto_clone_close()


@pytest.mark.parametrize("kind", ["storage", "permission"])
def test_a_backend_module_that_does_not_exist_stops_the_start(kind: str) -> None:
    with pytest.raises(ConfigurationError, match=f"Unknown {kind} backend 'no.such.module'"):
        start(**{f"{kind}_backend": "no.such.module"})


def test_a_module_without_load_from_config_is_not_a_backend() -> None:
    with pytest.raises(ConfigurationError, match="'kinto_clone.tables' is not a storage backend"):
        start(storage_backend="kinto_clone.tables")


def test_a_backend_that_builds_the_wrong_thing_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = fake_backend(
        monkeypatch,
        "tests_fake_permission",
        DATABASE_URL="memory",
        load_from_config=lambda settings, db: MemoryStorage(db),
    )
    with pytest.raises(
        ConfigurationError, match="'tests_fake_permission' gave a MemoryStorage, not a Permission"
    ):
        start(permission_backend=name)


def test_a_backend_module_of_our_own_is_loaded_by_its_dotted_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[Any] = []

    def load_from_config(settings: Any, db: Any) -> MemoryStorage:
        built.append(settings["project_name"])
        return MemoryStorage(db)

    name = fake_backend(
        monkeypatch, "tests_own_storage", DATABASE_URL="memory", load_from_config=load_from_config
    )
    app = start(storage_backend=name)
    try:
        assert built == ["kinto"]
        assert type(app.registry.backends.storage) is MemoryStorage
    finally:
        app.registry.kinto_clone_close()


def test_a_sql_backend_without_its_url_stops_the_start() -> None:
    with pytest.raises(
        ConfigurationError, match="'storage_url' is required by kinto_clone.storage.sql"
    ):
        start(storage_backend="kinto_clone.storage.sql")


def delegating(interface: type, target: Any) -> Any:
    """A backend of ``interface`` that is none of ours: each abstract method calls
    ``target``'s, the others keep the interface's general versions."""

    def forward(name: str) -> Any:
        return lambda self, *args, **kwargs: getattr(target, name)(*args, **kwargs)

    methods = {name: forward(name) for name in interface.__abstractmethods__}
    return type(f"Plugged{interface.__name__}", (interface,), methods)()


def test_backends_that_are_not_the_sql_ones_are_loaded_through_their_plain_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = fake_backend(
        monkeypatch,
        "tests_plugged_storage",
        DATABASE_URL="memory",
        load_from_config=lambda settings, db: delegating(Storage, MemoryStorage(db)),
    )
    app = start(storage_backend=name)
    try:
        assert type(app.registry.backends.loader) is PlainLoader
        client = webtest.TestApp(app)
        client.put_json(
            "/v1/buckets/b", {"permissions": {"read": ["system.Everyone"]}}, headers=auth("alice")
        )
        client.put_json("/v1/buckets/b/collections/c", {}, headers=auth("alice"))
        client.put_json(
            "/v1/buckets/b/collections/c/records/r", {"data": {"n": 1}}, headers=auth("alice")
        )
        got = client.get("/v1/buckets/b/collections/c/records/r")
        assert got.status_int == 200 and got.json["data"]["n"] == 1
        client.put_json("/v1/buckets/b/collections/c/records/r", {}, status=401)
        missing = client.get("/v1/buckets/b/collections/nope/records/r", status=404)
        assert missing.json["details"] == {"id": "nope", "resource_name": "collection"}
    finally:
        app.registry.kinto_clone_close()


def test_the_sql_backends_are_loaded_with_one_statement() -> None:
    app = start()
    try:
        assert type(app.registry.backends.loader) is SQLLoader
    finally:
        app.registry.kinto_clone_close()


@pytest.mark.parametrize(
    "dotted",
    [
        "kinto_clone.cache.memory",
        "kinto.core.cache.memory",
        "kinto.core.cache.postgresql",
        "kinto.core.cache.redis",
    ],
)
def test_a_cache_backend_is_chosen_by_its_dotted_name_and_kintos(dotted: str) -> None:
    app = start(cache_backend=dotted)
    try:
        assert type(app.registry.backends.cache) is MemoryCache
    finally:
        app.registry.kinto_clone_close()


def test_without_cache_backend_there_is_no_cache_backend() -> None:
    app = start()
    try:
        assert app.registry.backends.cache is None
    finally:
        app.registry.kinto_clone_close()


def test_a_cache_backend_that_builds_the_wrong_thing_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = fake_backend(monkeypatch, "tests_fake_cache", load_from_config=lambda settings: {})
    with pytest.raises(ConfigurationError, match="'tests_fake_cache' gave a dict, not a Cache"):
        start(cache_backend=name)
    with pytest.raises(ConfigurationError, match="Unknown cache backend 'no.such.cache'"):
        start(cache_backend="no.such.cache")
