"""Thousands of Server-Sent-Events subscribers, cheaply, for bench/stream.py.

Each of a few worker processes runs one event loop (uvloop) holding its share of the
streams as bare ``asyncio.Protocol`` objects on raw sockets: no reader task, no stream
buffer objects, a few hundred bytes of state per stream, the chunked body and the SSE
frames parsed in ``data_received``. The parent drives the workers over a pipe
(``Clients``): open these paths, hand over what was received, close everything.

What a worker notes, per event of a record (create/update/delete): the stream, the record id, its
``last_modified`` (stamped by the server in the writer's transaction, before the commit,
on the same machine's clock) and the wall-clock time the bytes were read. Per stream: a
``resume`` event (the server ended it, with its reason) and the connection's end.

Bounds: opening a stream is given ``OPEN_TIMEOUT_SECONDS``; a worker exits when its pipe
closes (the parent went away) and after ``WORKER_MAX_SECONDS`` in any case.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

OPEN_TIMEOUT_SECONDS = 120
WORKER_MAX_SECONDS = 3600
RECORD_EVENTS = (b"create", b"update", b"delete")


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Stream(asyncio.Protocol):
    """One subscriber: the response head, then the chunked SSE body."""

    __slots__ = ("worker", "key", "request", "transport", "opened", "head", "raw", "sse", "need")

    def __init__(self, worker: Worker, key: int, request: bytes) -> None:
        self.worker = worker
        self.key = key  # unique over the workers
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head = True
        self.raw = b""  # bytes of the HTTP framing not parsed yet
        self.sse = b""  # SSE text not parsed yet (a frame split over chunks)
        self.need = -1  # bytes of the current chunk still to read (-1: a size line)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the answer: {exc}"))
        elif not self.worker.closing and self.opened.exception() is None:
            self.worker.ended += 1

    def data_received(self, data: bytes) -> None:
        now = time.time()
        raw = self.raw + data
        if self.head:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            status = raw[: raw.find(b"\r\n")]
            if b" 200 " not in status:
                self.opened.set_exception(RuntimeError(f"refused: {raw[:300]!r}"))
                assert self.transport is not None
                self.transport.close()
                return
            self.head = False
            self.opened.set_result(None)
            raw = raw[end + 4 :]
        text = []
        while raw:
            if self.need < 0:
                line_end = raw.find(b"\r\n")
                if line_end < 0:
                    break
                self.need = int(raw[:line_end].split(b";")[0], 16)
                raw = raw[line_end + 2 :]
                if self.need == 0:
                    raw = b""
                    break
            if len(raw) < self.need + 2:
                break
            text.append(raw[: self.need])
            raw = raw[self.need + 2 :]
            self.need = -1
        self.raw = raw
        if text:
            self._frames(self.sse + b"".join(text), now)

    def _frames(self, sse: bytes, now: float) -> None:
        frames = sse.split(b"\n\n")
        self.sse = frames.pop()  # an unfinished frame, or b""
        for frame in frames:
            if frame.startswith(b":"):
                self.worker.heartbeats += 1
                continue
            event, data = b"message", b""
            for line in frame.split(b"\n"):
                name, _, value = line.partition(b": ")
                if name == b"event":
                    event = value
                elif name == b"data":
                    data = value
            if event in RECORD_EVENTS:
                record = json.loads(data)["data"]
                self.worker.events.append((self.key, record["id"], record["last_modified"], now))
            elif event == b"resume":
                self.worker.resumes[json.loads(data).get("reason", "?")] += 1


@dataclass
class Worker:
    number: int
    host: str
    port: int
    headers: str
    streams: list[Stream] = field(default_factory=list)
    events: list[tuple[int, str, int, float]] = field(default_factory=list)
    resumes: Counter[str] = field(default_factory=Counter)
    heartbeats: int = 0
    ended: int = 0
    closing: bool = False
    made: int = 0

    async def open(self, paths: list[str], concurrency: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        self.closing = False

        async def one(path: str) -> None:
            request = (
                f"GET /v1{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.headers}"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
            async with gate:
                self.made += 1
                stream = Stream(self, self.number * 10_000_000 + self.made, request)
                try:
                    await loop.create_connection(lambda: stream, self.host, self.port)
                    await asyncio.wait_for(asyncio.shield(stream.opened), OPEN_TIMEOUT_SECONDS)
                except (OSError, RuntimeError, TimeoutError) as exc:
                    errors[str(exc)[:200]] += 1
                    if stream.transport is not None:
                        stream.transport.close()
                    return
                self.streams.append(stream)

        started = time.monotonic()
        await asyncio.gather(*(one(p) for p in paths))
        return {
            "opened": len(paths) - sum(errors.values()),
            "seconds": time.monotonic() - started,
            "errors": dict(errors.most_common(5)),
        }

    def collect(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out = {
            "events": self.events,
            "resumes": dict(self.resumes),
            "heartbeats": self.heartbeats,
            "ended": self.ended,
            "open": sum(1 for s in self.streams if not s.transport or not s.transport.is_closing()),
            "cpu_s": usage.ru_utime + usage.ru_stime,
        }
        self.events, self.resumes, self.heartbeats, self.ended = [], Counter(), 0, 0
        return out

    async def close(self) -> int:
        self.closing = True
        count = len(self.streams)
        for stream in self.streams:
            if stream.transport is not None:
                stream.transport.close()
        self.streams = []
        await asyncio.sleep(0.2)  # let the transports finish closing
        return count


def _worker_main(conn: Connection, number: int, host: str, port: int, headers: str) -> None:
    import uvloop

    raise_nofile()
    uvloop.install()

    async def serve() -> None:
        worker = Worker(number, host, port, headers)
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + WORKER_MAX_SECONDS
        # The pipe is read on a thread (a reader callback on the loop would make it
        # non-blocking, and a large reply would then fail half sent).
        while time.monotonic() < deadline:
            try:
                command, *args = await loop.run_in_executor(None, conn.recv)
            except EOFError:
                break
            if command == "open":
                conn.send(await worker.open(*args))
            elif command == "collect":
                conn.send(worker.collect())
            elif command == "count":
                conn.send(len(worker.events))
            elif command == "close":
                conn.send(await worker.close())
            else:
                break
        await worker.close()

    asyncio.run(serve())


class Clients:
    """``processes`` workers holding streams to ``127.0.0.1:port``."""

    def __init__(self, port: int, authorization: str, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes = []
        for number in range(processes):
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker_main,
                args=(child, number, "127.0.0.1", port, f"Authorization: {authorization}\r\n"),
                daemon=True,
            )
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)

    def _all(self, *messages: tuple[Any, ...]) -> list[Any]:
        for conn, message in zip(self.conns, messages, strict=True):
            conn.send(message)
        return [conn.recv() for conn in self.conns]

    def open(self, paths: list[str], concurrency: int = 64) -> dict[str, Any]:
        """Open a stream on each path (spread over the workers); waits for every answer."""
        n = len(self.conns)
        replies = self._all(*(("open", paths[i::n], concurrency) for i in range(n)))
        errors: Counter[str] = Counter()
        for reply in replies:
            errors.update(reply["errors"])
        return {
            "opened": sum(r["opened"] for r in replies),
            "seconds": max(r["seconds"] for r in replies),
            "errors": dict(errors),
        }

    def collect(self) -> dict[str, Any]:
        """What the workers received since the last call."""
        replies = self._all(*(("collect",) for _ in self.conns))
        resumes: Counter[str] = Counter()
        for reply in replies:
            resumes.update(reply["resumes"])
        return {
            "events": [e for r in replies for e in r["events"]],
            "resumes": dict(resumes),
            "heartbeats": sum(r["heartbeats"] for r in replies),
            "ended": sum(r["ended"] for r in replies),
            "open": sum(r["open"] for r in replies),
            "cpu_s": sum(r["cpu_s"] for r in replies),
        }

    def count(self) -> int:
        """Record events received since the last ``collect``."""
        return sum(self._all(*(("count",) for _ in self.conns)))

    def close(self) -> int:
        return sum(self._all(*(("close",) for _ in self.conns)))

    def stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("quit",))
            except OSError:
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
