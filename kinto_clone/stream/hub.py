"""The hub of one web head: which streams watch which list, and one read per change.

Rounds. When a list changes (``announce``), the hub reads it once for all its
subscribers (``reader.read_round``): the changes after the list's cursor, oldest first,
with the ACLs and groups of that moment; then hands each subscriber the changes after
its own cursor that it may read (``filters.py``). Rounds of one list never overlap: an
announcement during a round makes the round run again. Because the timestamps of a list
increase in commit order (README, "Timestamps without conflicts"), a change committed
after a round read the list has a greater timestamp than every change it read: reading
``last_modified > cursor`` misses nothing and repeats nothing.

A new stream joins its lists at its own position (``_since``, ``Last-Event-ID``, or the
list's timestamp when it gave neither); if that is before the list's cursor, the next
round reads from there (whoever has seen those changes skips them by its own cursor).
The replay from the database and the live changes are therefore one sequence.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kinto_clone.authorization import lasting_principals
from kinto_clone.resources.querying import DELETED_FIELD, REVOKED_FIELD
from kinto_clone.storage import BackendError
from kinto_clone.stream import sse
from kinto_clone.stream.filters import RoundPermissions, principals_of
from kinto_clone.stream.options import StreamOptions
from kinto_clone.stream.reader import Round, StreamReader, collection_uri, split_collection_uri
from kinto_clone.stream.subscriber import Subscriber

logger = logging.getLogger(__name__)
T = TypeVar("T")


class TooManyStreams(Exception):
    pass


class Actions:
    """The action (create, update, delete) of recent record changes, which the database
    does not keep: filled by this process's writes and by the other heads' notifications.
    A change the head never heard of (replayed from before it started, or written by
    another head on SQLite) is a ``delete`` when it is a tombstone and an ``update``
    (create or update) otherwise."""

    def __init__(self, size: int = 100_000) -> None:
        self._actions: dict[tuple[str, str, int], str] = {}
        self._order: deque[tuple[str, str, int]] = deque()
        self._size = size
        self._lock = threading.Lock()  # written from WSGI threads and the event loop
        # Only a head that serves streams reads them (its Hub calls ``keep``): behind
        # waitress, remembering every write's action cost CPU and the memory of
        # 100,000 entries for nothing.
        self._kept = False

    def keep(self) -> None:
        """A hub reads these actions: remember them from now on."""
        self._kept = True

    def add(self, message: list[Any]) -> None:
        if not self._kept:
            return
        resource, parent, object_id, timestamp, action = message
        if resource != "record" or object_id is None or action is None:
            return
        key = (parent, object_id, timestamp)
        with self._lock:
            if key not in self._actions:
                self._order.append(key)
                if len(self._order) > self._size:
                    self._actions.pop(self._order.popleft(), None)
            self._actions[key] = action

    def of(self, parent: str, change: dict[str, Any]) -> str:
        if change.get("deleted"):
            return "delete"
        return self._actions.get((parent, change["id"], change["last_modified"]), "update")


class ListState:
    def __init__(self, uri: str, cursor: int) -> None:
        self.uri = uri
        self.bucket_id, self.collection_id = split_collection_uri(uri)
        self.cursor = cursor
        self.floor: int | None = None  # a position to read from again, after this round
        self.subscribers: set[Subscriber] = set()
        self.task: asyncio.Task[None] | None = None
        self.again = False


class Hub:
    def __init__(
        self,
        settings: dict[str, Any],
        reader: StreamReader,
        options: StreamOptions,
        actions: Actions,
        broker: Any,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.options = options
        self.actions = actions
        actions.keep()
        self.broker = broker
        self.lists: dict[str, ListState] = {}
        self.bucket_subscribers: dict[str, set[Subscriber]] = {}
        self.per_user: Counter[str] = Counter()
        self.pool = ThreadPoolExecutor(options.threads, thread_name_prefix="stream")
        self.healthy = False
        self.problem = "starting"
        self.closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._spawn(self.broker.run(self))
        self._spawn(self._release_bucket_events())

    async def stop(self, reason: str = "server restart") -> None:
        self.closing = True
        for subscriber in self.subscribers():
            subscriber.finish(reason)
        for task in list(self._tasks):
            task.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def heartbeat(self) -> bool:
        """For /__heartbeat__: False while changes cannot be delivered live."""
        return self.healthy

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def in_thread(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)

    def subscribers(self) -> list[Subscriber]:
        found = {s for state in self.lists.values() for s in state.subscribers}
        found.update(s for subs in self.bucket_subscribers.values() for s in subs)
        return list(found)

    def watched_buckets(self) -> set[str]:
        return {state.bucket_id for state in self.lists.values()} | set(self.bucket_subscribers)

    # -- the broker's side ------------------------------------------------------------------

    def channel_lost(self, problem: str) -> None:
        was_healthy, self.healthy, self.problem = self.healthy, False, problem
        if was_healthy:
            logger.warning("streams ended: %s", problem)
        for subscriber in self.subscribers():
            subscriber.finish("backend unavailable", retry_after=self.options.retry_ms // 1000)

    def channel_restored(self) -> None:
        self.healthy, self.problem = True, ""
        for uri in list(self.lists):
            self._kick(uri)

    def announce(self, message: list[Any]) -> None:
        self.actions.add(message)
        resource, parent, object_id, _timestamp, action = message
        if resource == "record":
            self._kick(parent)
        elif resource == "collection" and object_id is not None:
            self._kick(f"{parent}/collections/{object_id}")
        elif resource == "collection":  # a collection of bucket `parent` changed or went
            for uri in [u for u in self.lists if u.startswith(f"{parent}/collections/")]:
                self._kick(uri)
        elif resource == "bucket" and action == "delete" and object_id is not None:
            prefix = f"/buckets/{object_id}/"
            for uri in [u for u in self.lists if u.startswith(prefix)]:
                self._kick(uri)
            for subscriber in self.bucket_subscribers.pop(object_id, set()):
                self._leave(subscriber)
                subscriber.finish("gone")

    # -- subscriptions ----------------------------------------------------------------------

    async def subscribe(self, subscriber: Subscriber) -> None:
        """Join ``subscriber`` to its list(s); raises TooManyStreams past the limit."""
        if self.per_user[subscriber.limit_key] >= self.options.max_per_user:
            raise TooManyStreams()
        self.per_user[subscriber.limit_key] += 1
        subscriber.counted = True
        try:
            if subscriber.collection_id is not None:
                self._join(
                    subscriber, collection_uri(subscriber.bucket_id, subscriber.collection_id)
                )
                return
            collections = await self.in_thread(self.reader.collections, subscriber.bucket_id)
        except BaseException:
            self._leave(subscriber)
            raise
        self.bucket_subscribers.setdefault(subscriber.bucket_id, set()).add(subscriber)
        for collection_id in collections:
            self._join(subscriber, collection_uri(subscriber.bucket_id, collection_id))

    def _join(self, subscriber: Subscriber, uri: str) -> None:
        _, collection_id = split_collection_uri(uri)
        position = subscriber.start_cursor(collection_id)
        subscriber.cursors[uri] = position
        state = self.lists.get(uri)
        if state is not None and position >= state.cursor:
            # The list's rounds already read from before this position: every change
            # after it that was announced is in a round done or under way (the cursor
            # stays at the read's start until it is over), every other one will be
            # announced. No read of its own: ten thousand streams joining a watched list
            # must not cost ten thousand rounds.
            state.subscribers.add(subscriber)
            return
        subscriber.catching_up.add(uri)  # until a round has read it to its last page
        if state is None:
            state = self.lists[uri] = ListState(uri, position)
        elif state.task is not None and not state.task.done():
            state.floor = position if state.floor is None else min(state.floor, position)
        else:
            state.cursor = min(state.cursor, position)
        state.subscribers.add(subscriber)
        self._kick(uri)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._leave(subscriber)

    def _leave(self, subscriber: Subscriber) -> None:
        for uri in list(subscriber.cursors):
            state = self.lists.get(uri)
            if state is not None:
                state.subscribers.discard(subscriber)
                if not state.subscribers and (state.task is None or state.task.done()):
                    del self.lists[uri]
        subscriber.cursors.clear()
        subscriber.catching_up.clear()
        bucket = self.bucket_subscribers.get(subscriber.bucket_id)
        if bucket is not None:
            bucket.discard(subscriber)
            if not bucket:
                del self.bucket_subscribers[subscriber.bucket_id]
        if subscriber.counted:
            subscriber.counted = False
            self.per_user[subscriber.limit_key] -= 1
            if self.per_user[subscriber.limit_key] <= 0:
                del self.per_user[subscriber.limit_key]

    # -- rounds -----------------------------------------------------------------------------

    def _kick(self, uri: str) -> None:
        if self.closing:
            return
        state = self.lists.get(uri)
        if state is None:
            bucket_id, _ = split_collection_uri(uri) if uri.count("/") == 4 else ("", "")
            watchers = self.bucket_subscribers.get(bucket_id)
            if not watchers:
                return
            for subscriber in list(watchers):  # a new collection of a watched bucket
                self._join(subscriber, uri)
            return
        if state.task is not None and not state.task.done():
            state.again = True
            return
        state.task = self._spawn(self._rounds(state))

    async def _rounds(self, state: ListState) -> None:
        while state.subscribers:
            state.again = False
            users = {s.userid for s in state.subscribers if s.userid is not None}
            since = state.cursor
            try:
                found = await self.in_thread(
                    self.reader.read_round,
                    state.bucket_id,
                    state.collection_id,
                    since,
                    self.options.page_size,
                    users,
                )
            except BackendError as exc:
                logger.warning("stream read of %s failed: %s", state.uri, exc)
                for subscriber in list(state.subscribers):
                    subscriber.finish(
                        "backend unavailable", retry_after=self.options.retry_ms // 1000
                    )
                    self._leave(subscriber)
                return
            if not found.exists:
                self._list_gone(state)
                return
            self._fan_out(state, found, since)
            if found.changes:
                state.cursor = max(state.cursor, found.changes[-1]["last_modified"])
            if state.floor is not None:
                state.cursor, state.floor = min(state.cursor, state.floor), None
                state.again = True
            if not (found.full or state.again):
                break
        if not state.subscribers and self.lists.get(state.uri) is state:
            del self.lists[state.uri]

    def _list_gone(self, state: ListState) -> None:
        """The collection (or its bucket) was deleted: its streams end, as a GET of the
        list would now answer 404; a bucket-wide stream only stops following it."""
        for subscriber in list(state.subscribers):
            if subscriber.bucket_wide:
                subscriber.cursors.pop(state.uri, None)
                subscriber.catching_up.discard(state.uri)
            else:
                subscriber.finish("gone")
                self._leave(subscriber)
        state.subscribers.clear()
        self.lists.pop(state.uri, None)

    def _fan_out(self, state: ListState, found: Round, since: int) -> None:
        permissions = RoundPermissions(self.settings, state.bucket_id, state.collection_id, found)
        frames: dict[tuple[int, bool], bytes] = {}
        for subscriber in list(state.subscribers):
            if subscriber.done:
                continue
            position = subscriber.cursors.get(state.uri, since)
            if position < since:
                # Joined during this round, from further back than it read: the next
                # round reads from its position (``floor``); taking this one would skip
                # the changes between the two.
                continue
            principals = principals_of(subscriber.userid, found.groups)
            for index, change in enumerate(found.changes):
                timestamp = change["last_modified"]
                if timestamp <= position:
                    continue
                position = timestamp
                readable = permissions.may_read(principals, change["id"])
                if change.get(REVOKED_FIELD):
                    # Theirs only if they lost it then and cannot read it now.
                    lost = found.revoked[timestamp] & lasting_principals(subscriber.userid)
                    if readable or not lost:
                        continue
                elif not readable:
                    # A deletion is also theirs if they read it through its own ACEs.
                    lost = found.revoked.get(timestamp, set())
                    if not change.get(DELETED_FIELD) or not lost & lasting_principals(
                        subscriber.userid
                    ):
                        continue
                key = (index, subscriber.bucket_wide)
                frame = frames.get(key)
                if frame is None:
                    frame = frames[key] = self._frame(state, change, subscriber.bucket_wide)
                subscriber.deliver(state.uri, timestamp, state.collection_id, frame)
            subscriber.cursors[state.uri] = position
            if not found.full:  # read up to the list's present
                subscriber.catching_up.discard(state.uri)

    def _frame(self, state: ListState, change: dict[str, Any], bucket_wide: bool) -> bytes:
        action = self.actions.of(state.uri, change)
        data: dict[str, Any] = {"action": action, "data": change}
        event_id = str(change["last_modified"])
        if bucket_wide:
            data["collection_id"] = state.collection_id
            event_id = f"{state.collection_id}:{event_id}"
        return sse.frame(action, data, event_id)

    async def _release_bucket_events(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            self._release()

    def _release(self) -> None:
        # A function of its own: loop variables of the coroutine would keep the last
        # subscriber alive while it sleeps, after its stream ended.
        for subscribers in list(self.bucket_subscribers.values()):
            for subscriber in list(subscribers):
                if subscriber.pending:
                    subscriber.release()
