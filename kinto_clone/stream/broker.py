"""How the web heads learn that a list changed: the fan-out behind one small interface.

A ``Broker`` has two sides. ``publish`` runs in the writer's request, inside its
transaction (it is a change listener, ``events.py``). ``run`` runs in the streaming
server's event loop and tells the hub which lists changed (``Hub.announce``), that the
channel was lost (``Hub.channel_lost``: the hub can no longer promise live delivery and
ends its streams with a resume hint) or is back.

An announcement says only *which list* changed (and, when known, the record's id, its
timestamp and the action); the hub then reads the changes from the database itself, once
per list. So a lost or duplicated announcement costs at most one read, never a change.

- PostgreSQL (``NotifyBroker``): a trigger on the list's ``timestamps`` row (migration
  0005) sends ``pg_notify`` in the writer's transaction, so PostgreSQL delivers it only if
  and when that transaction commits, at no extra round trip; every head LISTENs on one
  connection of its own (asyncpg). Here ``publish`` only remembers the action.
- SQLite and memory (``PollingBroker``): one machine, so the heads poll the ``timestamps``
  rows of the watched lists, which every write bumps, every ``stream_poll_interval_ms``.

A Redis or NATS deployment would implement the same two methods: ``publish`` would then
have to send after the commit (a pub/sub broker is not transactional), which the hub
tolerates, since an announcement is only a hint to read.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyramid.request import Request

from kinto_clone import json
from kinto_clone.events import ResourceChange
from kinto_clone.storage import BackendError

if TYPE_CHECKING:
    from kinto_clone.stream.hub import Hub

logger = logging.getLogger(__name__)

CHANNEL = "kinto_clone_changes"
ANNOUNCED = frozenset({"record", "collection", "bucket"})
# The LISTEN connection is probed with a trivial query every PROBE_EVERY_SECONDS. A probe
# is given PROBE_TIMEOUT_SECONDS: on a CPU-starved machine a 5 s timeout declared the
# connection lost and ended every stream (bench/RESULTS.md, the 10,000-stream run).
PROBE_EVERY_SECONDS = 10
PROBE_TIMEOUT_SECONDS = 30


def announcement(change: ResourceChange) -> list[Any]:
    """``[resource_name, parent_id, id, last_modified, action]`` of a change."""
    new = change.new
    return [
        change.resource_name,
        change.parent_id,
        new.get("id"),
        new.get("last_modified"),
        change.action,
    ]


class Broker(abc.ABC):
    def __init__(self, remember: Callable[[list[Any]], None]) -> None:
        # The actions of the changes this process wrote or heard of (hub.Actions.add).
        self.remember = remember

    def publish(self, request: Request, change: ResourceChange) -> None:
        """A change listener: called in the writer's transaction."""
        if change.resource_name in ANNOUNCED:
            message = announcement(change)
            self.remember(message)
            self.send(request, message)

    def send(self, request: Request, message: list[Any]) -> None:  # noqa: B027 (optional)
        """Announce ``message`` to the other heads: nothing to do when they poll, or when
        the database does (the NOTIFY trigger); a Redis or NATS broker would send here."""

    @abc.abstractmethod
    async def run(self, hub: Hub) -> None:
        """Tell ``hub`` about changes until cancelled."""


class NotifyBroker(Broker):
    def __init__(
        self, remember: Callable[[list[Any]], None], url: str, retry_seconds: float
    ) -> None:
        super().__init__(remember)
        self.url = url
        self.retry_seconds = retry_seconds

    async def run(self, hub: Hub) -> None:
        import asyncpg

        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(_asyncpg_url(self.url), timeout=5)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                hub.channel_lost(f"cannot LISTEN: {exc}")
                await asyncio.sleep(self.retry_seconds)
                continue
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, lambda *args: hub.announce(json.loads(args[3])))
                # Changes committed while no one listened are read now (the hub re-reads
                # every list it watches).
                hub.channel_restored()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), timeout=PROBE_EVERY_SECONDS)
                    except TimeoutError:
                        # A server that hung (or a network that dropped the connection
                        # silently) never terminates it: ask.
                        await asyncio.wait_for(
                            conn.fetchval("SELECT 1"), timeout=PROBE_TIMEOUT_SECONDS
                        )
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("stream LISTEN connection lost: %s", exc)
            finally:
                conn.terminate()
            hub.channel_lost("the LISTEN connection was lost")
            await asyncio.sleep(self.retry_seconds)


class PollingBroker(Broker):
    def __init__(self, remember: Callable[[list[Any]], None], interval_ms: int) -> None:
        super().__init__(remember)
        self.interval = interval_ms / 1000

    async def run(self, hub: Hub) -> None:
        known: dict[str, int] = {}
        healthy = False
        while True:
            buckets = hub.watched_buckets()
            try:
                current = await hub.in_thread(hub.reader.record_list_timestamps, buckets)
            except BackendError as exc:
                if healthy or not known:
                    hub.channel_lost(f"polling failed: {exc}")
                healthy = False
                known.clear()
                await asyncio.sleep(max(self.interval, 1.0))
                continue
            if not healthy:
                healthy = True
                hub.channel_restored()
            for uri, timestamp in current.items():
                # Also a list seen for the first time: it may have changed after the
                # round that a new subscriber ran when it joined (a spare read at worst).
                if known.get(uri) != timestamp:
                    known[uri] = timestamp
                    hub.announce(["record", uri, None, timestamp, None])
            await asyncio.sleep(self.interval)


def _asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url
