"""The hub's rounds in-process, with a reader of our own that can hold a round open: a
stream that joins during a round, from further back, still gets every change once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from kinto_clone.stream.hub import Actions, Hub
from kinto_clone.stream.options import StreamOptions
from kinto_clone.stream.reader import Round
from kinto_clone.stream.subscriber import Subscriber

OWNER = "basicauth:alice"
ACLS = {"/buckets/b": {"read": {OWNER}}}


class HeldReader:
    """Changes ``{id, last_modified}`` 1..n of one list; ``gate`` holds the next read."""

    def __init__(self, timestamps: list[int]) -> None:
        self.changes = [{"id": f"r{ts}", "last_modified": ts} for ts in timestamps]
        self.gate = threading.Event()
        self.gate.set()
        self.reads: list[int] = []

    def read_round(self, bucket: str, collection: str, since: int, page: int, users: Any) -> Round:
        self.reads.append(since)
        self.gate.wait(5)
        newer = [c for c in self.changes if c["last_modified"] > since][:page]
        return Round(newer, len(newer) >= page, True, ACLS, {OWNER: set()})


class NoBroker:
    async def run(self, hub: Hub) -> None:
        await asyncio.sleep(3600)


def subscriber(since: int) -> Subscriber:
    return Subscriber(
        userid=OWNER,
        limit_key=OWNER,
        bucket_id="b",
        collection_id="c",
        since=since,
        since_collection=None,
        max_queued=100,
        retry_ms=1000,
        settle_ms=0,
    )


def ids(sub: Subscriber) -> list[str]:
    return [
        line.split(": ", 1)[1]
        for line in sub.take().decode().splitlines()
        if line.startswith("id: ")
    ]


def test_a_stream_joining_during_a_round_from_further_back_misses_nothing() -> None:
    async def scenario() -> tuple[list[str], list[str], list[int]]:
        reader = HeldReader([3, 6, 11, 12])
        options = StreamOptions.from_settings({"stream_page_size": 2})
        hub = Hub({}, reader, options, Actions(), NoBroker())  # type: ignore[arg-type]
        await hub.start()
        live = subscriber(10)
        reader.gate.clear()
        await hub.subscribe(live)  # its round reads > 10 and is held
        await asyncio.sleep(0.05)
        late = subscriber(2)
        await hub.subscribe(late)  # joins while that round is open
        reader.gate.set()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if not any(s.task and not s.task.done() for s in hub.lists.values()):
                break
        found = ids(live), ids(late), reader.reads
        await hub.stop()
        return found

    live, late, reads = asyncio.run(scenario())
    assert live == ["11", "12"]
    assert late == ["3", "6", "11", "12"]
    assert reads[0] == 10 and 2 in reads  # the late one's changes were read again


def test_streams_joining_a_watched_list_at_its_position_cost_no_read_and_miss_nothing() -> None:
    async def settled(hub: Hub) -> None:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if not any(s.task and not s.task.done() for s in hub.lists.values()):
                return

    async def scenario() -> tuple[list[list[str]], list[str], list[int]]:
        reader = HeldReader([3, 6])
        options = StreamOptions.from_settings({"stream_max_per_user": 1000})
        hub = Hub({}, reader, options, Actions(), NoBroker())  # type: ignore[arg-type]
        await hub.start()
        first = subscriber(6)
        await hub.subscribe(first)  # a new list: one read, from 6
        await settled(hub)
        joined = [subscriber(6 + i % 2) for i in range(100)]  # at the cursor, or after it
        for sub in joined:
            await hub.subscribe(sub)
        await settled(hub)
        reads_before_change = list(reader.reads)
        # A change announced while a round is held open: one joining then, at the
        # round's position, takes its changes from that round.
        reader.changes.append({"id": "r8", "last_modified": 8})
        reader.gate.clear()
        hub.announce(["record", "/buckets/b/collections/c", "r8", 8, "create"])
        await asyncio.sleep(0.05)
        during = subscriber(6)
        await hub.subscribe(during)
        reader.gate.set()
        await settled(hub)
        found = [ids(s) for s in [first, *joined]], ids(during), reads_before_change
        await hub.stop()
        return found

    streams, during, reads = asyncio.run(scenario())
    assert reads == [6]
    assert all(found == ["8"] for found in streams)
    assert during == ["8"]


def test_a_subscriber_that_is_not_read_is_finished_with_a_bounded_queue() -> None:
    async def scenario() -> Subscriber:
        sub = subscriber(0)
        sub.max_queued = 3
        for ts in range(1, 10):
            sub.deliver("/buckets/b/collections/c", ts, "c", b"id: %d\n\n" % ts)
        return sub

    sub = asyncio.run(scenario())
    assert sub.done and len(sub.queue) == 0
    assert sub.final is not None and b'"reason":"slow reader"' in sub.final


def test_actions_remembers_recent_changes_and_falls_back_to_update_or_delete() -> None:
    actions = Actions(size=2)
    actions.keep()
    parent = "/buckets/b/collections/c"
    for i, action in enumerate(["create", "update", "create"]):
        actions.add(["record", parent, f"r{i}", i, action])
    assert actions.of(parent, {"id": "r2", "last_modified": 2}) == "create"
    assert actions.of(parent, {"id": "r0", "last_modified": 0}) == "update"  # forgotten
    assert actions.of(parent, {"id": "r9", "last_modified": 9, "deleted": True}) == "delete"


def test_actions_are_kept_only_once_a_hub_reads_them() -> None:
    """A head behind waitress serves no stream: its writes' actions are read by no one."""
    actions = Actions()
    parent = "/buckets/b/collections/c"
    actions.add(["record", parent, "r1", 1, "create"])
    options = StreamOptions.from_settings({})
    Hub({}, None, options, actions, NoBroker())  # type: ignore[arg-type]
    actions.add(["record", parent, "r2", 2, "create"])
    assert actions.of(parent, {"id": "r1", "last_modified": 1}) == "update"  # not kept
    assert actions.of(parent, {"id": "r2", "last_modified": 2}) == "create"


class TwoCollections:
    """Collections x and y of bucket b, their changes interleaved in time; ``x_read``
    holds the reads of x."""

    def __init__(self) -> None:
        self.changes = {
            "x": [{"id": "x2", "last_modified": 2}, {"id": "x4", "last_modified": 4}],
            "y": [{"id": "y3", "last_modified": 3}, {"id": "y5", "last_modified": 5}],
        }
        self.x_read = threading.Event()

    def collections(self, bucket: str) -> list[str]:
        return ["x", "y"]

    def read_round(self, bucket: str, collection: str, since: int, page: int, users: Any) -> Round:
        if collection == "x":
            self.x_read.wait(5)
        newer = [c for c in self.changes[collection] if c["last_modified"] > since][:page]
        return Round(newer, len(newer) >= page, True, ACLS, {OWNER: set()})


def test_a_bucket_stream_releases_nothing_before_each_collection_was_read() -> None:
    """A bucket-wide stream starting in the past: the changes of a collection read first
    wait for those of a collection whose read is slow, and all come in time order."""

    async def scenario() -> tuple[list[str], list[str]]:
        reader = TwoCollections()
        hub = Hub({}, reader, StreamOptions.from_settings({}), Actions(), NoBroker())  # type: ignore[arg-type]
        await hub.start()
        stream = Subscriber(
            userid=OWNER,
            limit_key=OWNER,
            bucket_id="b",
            collection_id=None,
            since=0,
            since_collection=None,
            max_queued=100,
            retry_ms=1000,
            settle_ms=0,
        )
        await hub.subscribe(stream)  # y is read at once, x is held
        await asyncio.sleep(0.3)  # six release ticks
        while_x_is_read = ids(stream)
        reader.x_read.set()
        await asyncio.sleep(0.3)
        found = while_x_is_read, ids(stream)
        await hub.stop()
        return found

    while_x_is_read, after = asyncio.run(scenario())
    assert while_x_is_read == []
    assert after == ["x:2", "y:3", "x:4", "y:5"]
