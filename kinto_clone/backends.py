"""Build the storage, permission and cache backends from settings, once, at start-up.

A backend is the module named by its dotted setting (Kinto's names are aliases, see
settings.py): its ``load_from_config(settings, db)`` builds it, and the result is checked
against its interface (``Storage``, ``Permission``) before the server starts. A module that
brings its own database (memory) says so with ``DATABASE_URL``; the others take
``<kind>_url``. Backends with the same URL share one ``Database``, so a
request's storage and permission writes are in the same transaction. The cache backend
is optional (no ``cache_backend``: none) and takes no database: ``load_from_config(settings)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from kinto_clone.cache import Cache
from kinto_clone.db import Database, open_databases
from kinto_clone.errors import ConfigurationError
from kinto_clone.permission import Permission
from kinto_clone.permission.sql import SQLPermission
from kinto_clone.storage import Storage
from kinto_clone.storage.loader import Loader, PlainLoader
from kinto_clone.storage.sql import SQLStorage
from kinto_clone.storage.sql_loader import SQLLoader


@dataclass
class Backends:
    storage: Storage
    permission: Permission
    loader: Loader  # a URL's chain, its ACLs and the caller's groups, in one call
    databases: dict[str, Database]
    cache: Cache | None = None  # only when ``cache_backend`` names one
    # Record access-revoked tombstones (setting revocation_tombstones; README "Revocations").
    revocations: bool = True

    def close(self) -> None:
        for db in self.databases.values():
            db.dispose()


def _module(settings: dict[str, Any], kind: str) -> ModuleType:
    """The module named by ``<kind>_backend``, which must offer ``load_from_config``."""
    dotted = str(settings[f"{kind}_backend"])
    try:
        module = importlib.import_module(dotted)
    except ImportError as exc:
        raise ConfigurationError(f"Unknown {kind} backend {dotted!r} ({exc})") from exc
    if not callable(getattr(module, "load_from_config", None)):
        raise ConfigurationError(f"{dotted!r} is not a {kind} backend (no load_from_config)")
    return module


def _url(settings: dict[str, Any], kind: str, module: ModuleType) -> str:
    own: str | None = getattr(module, "DATABASE_URL", None)  # a backend with its own database
    if own is not None:
        return own
    url = settings.get(f"{kind}_url") or ""
    if not url:
        raise ConfigurationError(f"Setting '{kind}_url' is required by {module.__name__}")
    return str(url)


def load(settings: dict[str, Any]) -> Backends:
    modules = {kind: _module(settings, kind) for kind in ("storage", "permission")}
    storage_url = _url(settings, "storage", modules["storage"])
    permission_url = _url(settings, "permission", modules["permission"])
    if storage_url != permission_url:
        # Listing "only what the caller may read" is one query joining both backends'
        # tables, and a request's writes must commit atomically across both.
        raise ConfigurationError(
            "storage_url and permission_url must name the same database "
            f"({storage_url!r} != {permission_url!r})"
        )
    databases = open_databases(
        [storage_url],
        pool_size=int(settings["storage_pool_size"]),
        max_overflow=int(settings["storage_max_overflow"]),
        pool_timeout=float(settings["storage_pool_timeout"]),
        statement_timeout_ms=int(settings["storage_statement_timeout_ms"]),
    )
    db = databases[storage_url]
    storage = modules["storage"].load_from_config(settings, db)
    permission = modules["permission"].load_from_config(settings, db)
    cache = load_cache(settings)
    # Checked against the interfaces at start-up, not at the first request that needs them.
    for kind, backend, interface in (
        ("storage", storage, Storage),
        ("permission", permission, Permission),
    ):
        if not isinstance(backend, interface):
            raise ConfigurationError(
                f"{settings[f'{kind}_backend']!r} gave a {type(backend).__name__}, "
                f"not a {interface.__name__}"
            )
    # The one-statement loader reads the SQL backends' tables; any other pair of backends
    # is loaded through their plain calls.
    loader: Loader = (
        SQLLoader(db)
        if isinstance(storage, SQLStorage) and isinstance(permission, SQLPermission)
        else PlainLoader(storage, permission)
    )
    return Backends(
        storage=storage,
        permission=permission,
        loader=loader,
        databases=databases,
        cache=cache,
        revocations=bool(settings.get("revocation_tombstones", True)),
    )


def load_cache(settings: dict[str, Any]) -> Cache | None:
    """The cache backend ``cache_backend`` names, or None without the setting."""
    if not settings["cache_backend"]:
        return None
    cache = _module(settings, "cache").load_from_config(settings)
    if not isinstance(cache, Cache):
        raise ConfigurationError(
            f"{settings['cache_backend']!r} gave a {type(cache).__name__}, not a Cache"
        )
    return cache
