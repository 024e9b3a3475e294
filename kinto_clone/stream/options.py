"""The ``stream_*`` settings, read and checked once at start-up.

Every name takes the ``kinto.`` prefix and a ``KINTO_*`` environment override like any
other setting (settings.py). The defaults live here, next to the code that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kinto_clone.settings import ConfigurationError

DEFAULTS: dict[str, Any] = {
    # Comment lines sent on an idle stream, so that proxies keep it open (nginx's
    # proxy_read_timeout must be longer).
    "stream_heartbeat_seconds": 15,
    # Open streams per user (per client address for anonymous callers) on one web head.
    "stream_max_per_user": 20,
    # Events queued for one subscriber that has not read them yet; past that it is dropped
    # with a final "resume" event (its client then resumes from its last event id).
    "stream_max_queued_events": 2000,
    # Changes read per statement when replaying from the database.
    "stream_page_size": 500,
    # SQLite and memory: how often the list timestamps are polled for changes.
    "stream_poll_interval_ms": 100,
    # Threads running the (synchronous) database reads of the streams; the WSGI pool is
    # separate, so a burst of replays never takes threads from ordinary requests.
    "stream_threads": 4,
    # Threads serving ordinary API requests behind the ASGI server (like waitress').
    "stream_wsgi_threads": 4,
    # Bucket-wide streams release a change once it is this old, in one order over all
    # collections (see subscriber.py): the longest a write may take to commit after its
    # timestamp was taken, for a reconnection to resume exactly.
    "stream_settle_ms": 1000,
    # The reconnection delay suggested to clients (SSE ``retry:``) after a final event.
    "stream_retry_ms": 2000,
}


@dataclass(frozen=True)
class StreamOptions:
    heartbeat_seconds: float
    max_per_user: int
    max_queued_events: int
    page_size: int
    poll_interval_ms: int
    threads: int
    wsgi_threads: int
    settle_ms: int
    retry_ms: int

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> StreamOptions:
        values: dict[str, Any] = {}
        for name, default in DEFAULTS.items():
            value = settings.get(name, default)
            if isinstance(value, str):
                value = value.strip()
            try:
                number = float(value) if name == "stream_heartbeat_seconds" else int(value)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"Setting '{name}' must be a number") from exc
            if number <= 0:
                raise ConfigurationError(f"Setting '{name}' must be positive")
            values[name.removeprefix("stream_")] = number
        return cls(**values)
