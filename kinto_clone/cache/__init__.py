"""The cache interface: short-lived values by key, for what can be recomputed (§11).

Picked by the ``cache_backend`` setting (Kinto's dotted names are aliases, settings.py)
and built by the module's ``load_from_config(settings)`` like the storage and permission
backends (backends.py); without the setting there is no cache backend, and
``/__heartbeat__`` has no ``cache`` key, as Kinto's.

Its user is the accounts plugin: the logins it verified recently (bcrypt is slow on
purpose), so that a client's every request does not pay for a bcrypt check. What a cache
holds is never the only copy of anything: losing it costs time, never data.
"""

from __future__ import annotations

import abc
import secrets


class Cache(abc.ABC):
    """Values (strings) by key, each for a time-to-live fixed when it is set."""

    @abc.abstractmethod
    def get(self, key: str) -> str | None:
        """The value, or None when it was never set, was deleted or has expired."""

    @abc.abstractmethod
    def set(self, key: str, value: str, ttl_seconds: float) -> None:
        """Store ``value`` for ``ttl_seconds`` from now (replacing any value of ``key``).
        Reading it does not extend that time. A ttl of 0 or less stores nothing."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens when it is not there)."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Forget every key."""

    def heartbeat(self) -> bool:
        """Whether a value can be set, read back and deleted: a throwaway key of its own."""
        key = f"heartbeat:{secrets.token_hex(8)}"
        self.set(key, "ok", 60)
        stored = self.get(key) == "ok"
        self.delete(key)
        return stored and self.get(key) is None
