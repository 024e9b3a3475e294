"""The cache in the memory of the server process (``cache_backend =
kinto_clone.cache.memory``; Kinto's ``kinto.core.cache.*`` names are its aliases).

Each process has its own: a web head forgets nothing another one cached, so what is
cached must be safe to keep for its time-to-live whatever other heads do (the accounts
plugin's verified logins: a login another head made stale ends within
``account_cache_ttl_seconds``). Entries expire on read; the number of entries is bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kinto_clone.cache import Cache


class MemoryCache(Cache):
    MAX_ENTRIES = 100_000  # beyond that, expired entries are dropped; if none, all of them

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expiry = entry
        if expiry <= self.clock():
            self.delete(key)
            return None
        return value

    def set(self, key: str, value: str, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries = {k: e for k, e in self._entries.items() if e[1] > now}
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries = {}
            self._entries[key] = (value, now + ttl_seconds)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def flush(self) -> None:
        with self._lock:
            self._entries = {}


def load_from_config(settings: dict[str, Any]) -> MemoryCache:
    return MemoryCache()
