"""Build the storage and permission backends from settings, once, at start-up (§11, §12).

A backend is picked by one dotted setting (Kinto's names are aliases, see settings.py) and
checked against its interface. Backends with the same URL share one ``Database``, so a
request's storage and permission writes are in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinto_clone.db import MEMORY_URL, Database, open_databases
from kinto_clone.errors import ConfigurationError
from kinto_clone.permission import Permission
from kinto_clone.storage import Storage
from kinto_clone.storage.loader import SQLLoader

STORAGE_BACKENDS = ("kinto_clone.storage.sql", "kinto_clone.storage.memory")
PERMISSION_BACKENDS = ("kinto_clone.permission.sql", "kinto_clone.permission.memory")


@dataclass
class Backends:
    storage: Storage
    permission: Permission
    loader: SQLLoader  # one-statement load of a URL's chain, ACLs and the caller's groups
    databases: dict[str, Database]

    def close(self) -> None:
        for db in self.databases.values():
            db.dispose()


def _url(settings: dict[str, Any], kind: str) -> str:
    backend = settings[f"{kind}_backend"]
    if backend.endswith(".memory"):
        return MEMORY_URL
    url = settings.get(f"{kind}_url") or ""
    if not url:
        raise ConfigurationError(f"Setting '{kind}_url' is required by {backend}")
    return str(url)


def load(settings: dict[str, Any]) -> Backends:
    from kinto_clone.permission.sql import SQLPermission
    from kinto_clone.storage.sql import SQLStorage

    if settings["storage_backend"] not in STORAGE_BACKENDS:
        raise ConfigurationError(f"Unknown storage backend {settings['storage_backend']!r}")
    if settings["permission_backend"] not in PERMISSION_BACKENDS:
        raise ConfigurationError(
            f"Unknown permission backend {settings['permission_backend']!r}")
    storage_url, permission_url = _url(settings, "storage"), _url(settings, "permission")
    if storage_url != permission_url:
        # Listing "only what the caller may read" is one query joining both backends'
        # tables, and a request's writes must commit atomically across both.
        raise ConfigurationError(
            "storage_url and permission_url must name the same database "
            f"({storage_url!r} != {permission_url!r})")
    databases = open_databases(
        [storage_url],
        pool_size=int(settings["storage_pool_size"]),
        max_overflow=int(settings["storage_max_overflow"]),
        pool_timeout=float(settings["storage_pool_timeout"]),
        statement_timeout_ms=int(settings["storage_statement_timeout_ms"]),
    )
    db = databases[storage_url]
    if storage_url == MEMORY_URL:
        from kinto_clone import migration

        migration.create_memory_schema(db)
    storage = SQLStorage(db)
    permission = SQLPermission(db)
    assert isinstance(storage, Storage) and isinstance(permission, Permission)
    return Backends(storage=storage, permission=permission, loader=SQLLoader(db),
                    databases=databases)
