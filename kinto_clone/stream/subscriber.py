"""One open stream: where it is in each list, and the frames waiting to be sent.

A subscriber never blocks the hub: ``deliver`` appends to a bounded queue and calls
``wake``, which the gateway's streams implement by sending the queue to the socket
(``gateway.Stream``). A client that reads more
slowly than changes arrive fills its queue and is dropped with a final ``resume`` event
(``finish``); its queued frames are discarded, so that memory stays bounded, and the
client resumes from the last event it did receive.

Positions. A collection's stream has one cursor, the timestamp of the last change it
took into account (its event ids are those timestamps). A bucket-wide stream has one
cursor per collection, and its events are released in the order of ``(timestamp,
collection id)`` only once ``settle_ms`` have passed since their timestamp (see
``Subscriber.release``): its event id ``<collection id>:<timestamp>`` is then a position
in one order shared by every collection of the bucket, which a reconnection resumes from.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from typing import Any

from kinto_clone.stream import sse


class Subscriber:
    # Slots: ten thousand open streams hold one each; no per-instance dict for the
    # garbage collector to walk.
    __slots__ = (
        "userid",
        "limit_key",
        "bucket_id",
        "collection_id",
        "since",
        "since_collection",
        "cursors",
        "catching_up",
        "max_queued",
        "retry_ms",
        "settle_ms",
        "queue",
        "pending",
        "released",
        "final",
        "done",
        "counted",
    )

    def __init__(
        self,
        *,
        userid: str | None,
        limit_key: str,
        bucket_id: str,
        collection_id: str | None,
        since: int,
        since_collection: str | None,
        max_queued: int,
        retry_ms: int,
        settle_ms: int,
    ) -> None:
        self.userid = userid
        self.limit_key = limit_key
        self.bucket_id = bucket_id
        self.collection_id = collection_id  # None: every collection of the bucket
        self.since = since
        self.since_collection = since_collection  # bucket-wide: the tie-breaker of `since`
        self.cursors: dict[str, int] = {}
        # Bucket-wide: the lists joined whose changes since the start have not all been
        # read yet; nothing is released before they have (their older changes come first).
        self.catching_up: set[str] = set()
        self.max_queued = max_queued
        self.retry_ms = retry_ms
        self.settle_ms = settle_ms
        self.queue: deque[bytes] = deque()
        self.pending: list[tuple[int, str, bytes]] = []  # bucket-wide, not yet released
        self.released: tuple[int, str] = (since, since_collection or "")
        self.final: bytes | None = None
        self.done = False
        self.counted = False  # counted in the hub's streams per user

    @property
    def bucket_wide(self) -> bool:
        return self.collection_id is None

    def start_cursor(self, collection_id: str) -> int:
        """Where this subscriber starts in a collection: after ``since`` (bucket-wide:
        changes at exactly ``since`` in collections after ``since_collection`` come
        after the position, and are included)."""
        if self.since_collection is not None and collection_id > self.since_collection:
            return self.since - 1
        return self.since

    def deliver(self, list_uri: str, timestamp: int, collection_id: str, frame: bytes) -> None:
        if self.done:
            return
        if self.bucket_wide:
            heapq.heappush(self.pending, (timestamp, collection_id, frame))
            if len(self.pending) > self.max_queued:
                self.finish("slow reader")
            return
        self._queue(frame)

    def _queue(self, frame: bytes) -> None:
        if len(self.queue) >= self.max_queued:
            self.finish("slow reader")
            return
        self.queue.append(frame)
        self.wake()

    def release(self) -> None:
        """Bucket-wide: queue the pending events settled for ``settle_ms``, in order, once
        every list it joined has been read up to its present."""
        if self.catching_up:
            return
        horizon = time.time_ns() // 1_000_000 - self.settle_ms
        while self.pending and self.pending[0][0] <= horizon and not self.done:
            timestamp, collection_id, frame = heapq.heappop(self.pending)
            self.released = max(self.released, (timestamp, collection_id))
            self._queue(frame)

    def finish(self, reason: str, **info: Any) -> None:
        """End the stream after one final ``resume`` event (``reason`` and what to do)."""
        if self.done:
            return
        self.done = True
        self.queue.clear()
        self.pending.clear()
        self.final = sse.frame("resume", {"reason": reason, **info}, retry_ms=self.retry_ms)
        self.wake()

    def wake(self) -> None:
        """There is something to send: queued frames, or the end. A stream of the gateway
        sends it (``gateway.Stream``); a bare subscriber keeps it for ``take``."""

    def take(self) -> bytes:
        """Every queued frame, as one chunk to send."""
        chunk = b"".join(self.queue)
        self.queue.clear()
        return chunk
