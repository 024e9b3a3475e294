"""Live-sync streams under load (issue 12), one run, printed as a Markdown table.

    .venv/bin/python bench/stream.py [--idle 10000] [--one 1000] [--spread 10000]
                                     [--collections 1000] [--rate 10] [--seconds 10]

Our server (uvicorn in front of the WSGI app, ``egg:kinto_clone#stream``) on its own
PostgreSQL database (``bench_stream``), then:

1. W2 (GET one record, wrk, 16 connections) with no stream open;
2. ``--idle`` idle streams opened (server RSS before and after: RSS per stream), then W2
   again while they stay open;
3. ``--one`` subscribers on one collection while one writer creates ``--rate`` records
   per second for ``--seconds``;
4. ``--spread`` subscribers over ``--collections`` collections, the writer creating
   ``--rate`` x 5 records per second spread over the collections.

Latency is from the writer receiving its 201 (the commit is just before) to a subscriber
reading the event, over every (event, subscriber) pair; server CPU is the server
process' utime + stime over the window. The client is asyncio on raw sockets (HTTP/1.1,
chunked), in this process; ``ulimit -n`` is raised to the hard limit here and in the
server. W2 for waitress alone is measured first, for comparison of the front ends.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import run_wrk  # noqa: E402
from servers import Server, ServerSpec  # noqa: E402

DB = "bench_stream"
ALICE = "Basic " + base64.b64encode(b"alice:alicepassword").decode()
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the server -------------------------------------------------------------------------

STREAM_SETTINGS = {"kinto.stream_max_per_user": "100000", "kinto.stream_heartbeat_seconds": "15"}


def start_server(front: str, workdir: Path, fresh: bool) -> Server:
    """Ours on the bench database, behind ``front`` ("waitress" or "stream")."""
    spec = ServerSpec(
        "ours", "postgresql", db=DB, front=front, settings=STREAM_SETTINGS, workdir=workdir
    )
    server = Server(spec)
    server.start(fresh=fresh)
    return server


def url(server: Server) -> str:
    return server.base_url + "/v1"


# --- data -------------------------------------------------------------------------------


def setup(base: str, collections: int) -> None:
    import requests

    s = requests.Session()
    s.headers["Authorization"] = ALICE
    s.put(f"{base}/buckets/bench", json={}).raise_for_status()
    s.put(f"{base}/buckets/bench/collections/w2", json={}).raise_for_status()
    for i in range(collections):
        s.put(f"{base}/buckets/bench/collections/c{i}", json={}).raise_for_status()
    s.put(
        f"{base}/buckets/bench/collections/w2/records/r1", json={"data": {"title": "record 1"}}
    ).raise_for_status()


def w2(base: str, seconds: float) -> tuple[float, float]:
    run_wrk(
        base + "/buckets/bench/collections/w2/records/r1", auth=ALICE, connections=16, duration=2
    )  # warm-up, not counted
    sample = run_wrk(
        base + "/buckets/bench/collections/w2/records/r1",
        auth=ALICE,
        connections=16,
        duration=seconds,
    )
    return sample.requests / sample.duration_s, sample.p99_ms or 0.0


# --- subscribers ------------------------------------------------------------------------


@dataclass
class Receipts:
    times: dict[str, float] = field(default_factory=dict)  # record id -> 201 received
    latencies: list[float] = field(default_factory=list)
    pending: list[tuple[str, float]] = field(default_factory=list)
    events: int = 0


async def subscriber(port: int, path: str, receipts: Receipts | None, opened: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {ALICE}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    opened[0] += 1
    buffer = b""
    try:
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                return
            buffer += await reader.readexactly(size + 2)
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                if receipts is not None and b"\nevent: create" in frame:
                    now = time.monotonic()
                    data = frame.rsplit(b"data: ", 1)[1]
                    record_id = json.loads(data)["data"]["id"]
                    receipts.events += 1
                    receipts.pending.append((record_id, now))
    except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def open_streams(
    port: int, paths: list[str], receipts: Receipts | None
) -> tuple[list[asyncio.Task[None]], float]:
    opened = [0]
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for i in range(0, len(paths), 100):  # 100 pre-checks in flight at most
        batch = [
            asyncio.create_task(subscriber(port, p, receipts, opened)) for p in paths[i : i + 100]
        ]
        tasks += batch
        while opened[0] < min(len(paths), i + 100):
            await asyncio.sleep(0.01)
            failed = [t for t in batch if t.done() and t.exception()]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
    return tasks, time.monotonic() - started


def writer_thread(
    base: str, collections: list[str], rate: float, seconds: float, receipts: Receipts
) -> int:
    """Creates ``rate`` records per second round robin over ``collections``; notes when
    each 201 arrived."""
    import requests

    s = requests.Session()
    s.headers["Authorization"] = ALICE
    count = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        target = start + count / rate
        time.sleep(max(0.0, target - time.monotonic()))
        collection = collections[count % len(collections)]
        r = s.post(
            f"{base}/buckets/bench/collections/{collection}/records", json={"data": {"n": count}}
        )
        receipts.times[r.json()["data"]["id"]] = time.monotonic()
        count += 1
    return count


async def phase(
    server: Server, paths: list[str], collections: list[str], rate: float, seconds: float
) -> dict[str, float]:
    receipts = Receipts()
    tasks, open_s = await open_streams(server.spec.port, paths, receipts)
    await asyncio.sleep(1.0)
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    written = await asyncio.to_thread(
        writer_thread, url(server), collections, rate, seconds, receipts
    )
    await asyncio.sleep(2.0)  # the last events arrive
    cpu, wall = server.cpu_seconds() - cpu0, time.monotonic() - t0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(
        (at - receipts.times[rid]) * 1000 for rid, at in receipts.pending if rid in receipts.times
    )
    expected = written * len(paths) / len(collections)
    return {
        "streams": len(paths),
        "open_s": open_s,
        "written": written,
        "events": receipts.events,
        "expected": expected,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "events_per_s": receipts.events / wall,
        "cpu_per_s": cpu / wall,
    }


async def idle(server: Server, count: int, collections: int, seconds: float) -> dict[str, float]:
    rss0 = server.rss_kb()
    paths = [f"/buckets/bench/collections/c{i % collections}/records" for i in range(count)]
    tasks, open_s = await open_streams(server.spec.port, paths, None)
    await asyncio.sleep(2.0)
    rss1 = server.rss_kb()
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(5.0)
    idle_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    w2_rps, w2_p99 = await asyncio.to_thread(w2, url(server), seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "streams": count,
        "open_s": open_s,
        "rss0_mb": rss0 / 1024,
        "rss1_mb": rss1 / 1024,
        "kb_per_stream": (rss1 - rss0) / count,
        "idle_cpu": idle_cpu,
        "w2": w2_rps,
        "w2_p99": w2_p99,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--one", type=int, default=1_000)
    parser.add_argument("--spread", type=int, default=10_000)
    parser.add_argument("--collections", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    raise_nofile()
    workdir = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    out: dict[str, dict[str, float]] = {}
    # A fresh database, migrated, and waitress' W2 on it; then the stream front on it.
    ini_server = None
    try:
        ini_server = start_server("waitress", workdir, fresh=True)
        setup(url(ini_server), args.collections)
        out["waitress"] = dict(
            zip(("w2", "w2_p99"), w2(url(ini_server), args.seconds), strict=True)
        )
    finally:
        if ini_server is not None:
            ini_server.stop()
    server = start_server("stream", workdir, fresh=False)
    try:
        rps, p99 = w2(url(server), args.seconds)
        out["no streams"] = {"w2": rps, "w2_p99": p99, "rss_mb": server.rss_kb() / 1024}
        out["idle"] = asyncio.run(idle(server, args.idle, args.collections, args.seconds))
        out["one"] = asyncio.run(
            phase(
                server,
                ["/buckets/bench/collections/c0/records"] * args.one,
                ["c0"],
                args.rate,
                args.seconds,
            )
        )
        names = [f"c{i}" for i in range(args.collections)]
        paths = [
            f"/buckets/bench/collections/{names[i % len(names)]}/records"
            for i in range(args.spread)
        ]
        out["spread"] = asyncio.run(phase(server, paths, names, args.rate * 5, args.seconds))
    finally:
        server.stop()
    print(json.dumps(out, indent=1), file=sys.stderr)
    print(report(out, args))
    return 0


def report(out: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    base, idle_ = out["no streams"], out["idle"]
    lines = [
        "| measure | figure |",
        "|---|---|",
        f"| W2, waitress alone (4 threads) | {out['waitress']['w2']:.0f} req/s, "
        f"p99 {out['waitress']['w2_p99']:.1f} ms |",
        f"| W2, uvicorn front, no stream open | {base['w2']:.0f} req/s, p99 "
        f"{base['w2_p99']:.1f} ms |",
        f"| {idle_['streams']:.0f} idle streams: opened in | {idle_['open_s']:.1f} s |",
        f"| server RSS before / with them | {idle_['rss0_mb']:.0f} / {idle_['rss1_mb']:.0f} MB "
        f"({idle_['kb_per_stream']:.1f} KB per stream) |",
        f"| server CPU while they idle | {idle_['idle_cpu'] * 1000:.0f} ms/s |",
        f"| W2 with them open | {idle_['w2']:.0f} req/s ({idle_['w2'] / base['w2']:.0%} of "
        f"no streams), p99 {idle_['w2_p99']:.1f} ms |",
    ]
    for key, label in (
        ("one", "on one collection"),
        ("spread", f"over {args.collections} collections"),
    ):
        r = out[key]
        lines += [
            f"| {r['streams']:.0f} subscribers {label}: writes | {r['written']:.0f} creates "
            f"({r['written'] / args.seconds:.0f}/s) |",
            f"| events received / expected | {r['events']:.0f} / {r['expected']:.0f} |",
            f"| latency commit -> receipt p50 / p99 | {r['p50']:.0f} / {r['p99']:.0f} ms |",
            f"| events/s delivered, server CPU | {r['events_per_s']:.0f}/s, "
            f"{r['cpu_per_s'] * 1000:.0f} ms/s |",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
