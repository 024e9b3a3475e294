"""Live-sync streams under load (issue 12), in one run, printed as Markdown tables.

    .venv/bin/python bench/stream.py [--idle 10000] [--one 1000] [--spread 10000]
        [--collections 1000] [--rate 10] [--seconds 10] [--w2-seconds 8] [--rounds 5]
        [--idle-seconds 20] [--clients 2] [--concurrency 64] [--no-kinto]

One server at a time (the machine has 2 cores), each on its own PostgreSQL database:

1. Kinto 26.5.0 (bench/.venv-kinto, made by bench/setup.sh) and ours behind waitress, set
   up as in bench/run.py: W2 (GET one record, wrk, 16 connections), ``--rounds`` windows.
   Kinto has no streams: W2 is where it compares.
2. Ours behind uvicorn (``egg:kinto_clone#stream``), ``--rounds`` times in turn: W2 with no
   stream open (before the streams in one round, after them in the next, so that a drift
   of the machine over the run weighs on both sides); ``--idle`` streams opened over
   ``--collections`` collections (how long, server and PostgreSQL CPU per open, server RSS
   before and after: RSS per stream, CPU while they idle for ``--idle-seconds``, longer
   than the 15 s heartbeat period, so that W2 then runs among their heartbeats); W2 with
   them open; they are closed, but for the last round's.
3. ``--spread`` subscribers over the ``--collections`` collections (the last round's
   streams when ``--spread`` equals ``--idle``) while one writer creates ``--rate`` x 5
   records per second, round robin over the collections, for ``--seconds``;
4. ``--one`` subscribers on one collection while the writer creates ``--rate`` records
   per second.

An event's latency is from the commit of its write to a subscriber reading it, bracketed
over every (event, subscriber) pair: from the writer reading its 201 (after the commit: a
lower bound) and from the record's ``last_modified`` (stamped in the writer's transaction
before the commit, same clock: an upper bound). Exactly once is checked per (stream,
record). Server CPU is the server process' utime+stime over the window, PostgreSQL's that
of the bench database's backends and the cluster's own processes (servers.Meter).
Subscribers: bench/sse_clients.py (``--clients`` processes, asyncio on raw sockets).
``ulimit -n`` goes to the hard limit here, in the client processes and in the server.

Bounds: wrk stops at its deadline and at 3,000 requests per second of window; the writer
at rate x seconds requests and 5 s past its window; opening a stream is given 120 s,
draining the events 15 s; a quiet server is waited for 30 s at most after closing streams.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import run_wrk  # noqa: E402
from servers import BENCH, KINTO_VENV, ROOT, Meter, Server, ServerSpec  # noqa: E402
from sse_clients import Clients, raise_nofile  # noqa: E402

ALICE = "Basic " + base64.b64encode(b"alice:alicepassword").decode()
STREAM_SETTINGS = {"kinto.stream_max_per_user": "1000000"}
W2_PATH = "/v1/buckets/bench/collections/w2/records/r1"


def records_path(collection: str) -> str:
    return f"/buckets/bench/collections/{collection}/records"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# --- data and W2 ------------------------------------------------------------------------


def setup(base: str, collections: int) -> None:
    import requests

    s = requests.Session()
    s.headers["Authorization"] = ALICE
    s.put(f"{base}/v1/buckets/bench", json={}).raise_for_status()
    for name in ["w2", *(f"c{i}" for i in range(collections))]:
        s.put(f"{base}/v1/buckets/bench/collections/{name}", json={}).raise_for_status()
    s.put(base + W2_PATH, json={"data": {"title": "record 1"}}).raise_for_status()


def w2(server: Server, seconds: float) -> dict[str, float]:
    with Meter(server) as meter:
        sample = run_wrk(
            server.base_url + W2_PATH,
            auth=ALICE,
            connections=16,
            duration=seconds,
            max_requests=int(3000 * seconds),
        )
    bad = sample.transport_errors + sum(n for s, n in sample.statuses.items() if s != 200)
    return {
        "rps": sample.requests / sample.duration_s,
        "p50": sample.p50_ms or 0.0,
        "p99": sample.p99_ms or 0.0,
        "server_ms": meter.server_ms / max(1, sample.requests),
        "pg_ms": meter.pg_ms / max(1, sample.requests),
        "other_cores": meter.other_ms / 1000 / meter.wall_s,
        "bad": bad,
    }


def start(spec: ServerSpec, collections: int) -> Server:
    server = Server(spec)
    server.start(fresh=True)
    setup(server.base_url, collections)
    return server


def waitress_w2(name: str, args: argparse.Namespace, log: Any) -> list[dict[str, float]]:
    spec = ServerSpec(name, "postgresql", db=f"bench_stream_{name}")
    server = start(spec, 0)
    try:
        run_wrk(server.base_url + W2_PATH, auth=ALICE, connections=16, duration=2)  # warm-up
        windows = []
        for _ in range(args.rounds):
            windows.append(w2(server, args.w2_seconds))
            log(f"W2 {name} waitress: {windows[-1]}")
        return windows
    finally:
        server.stop()


# --- streams ----------------------------------------------------------------------------


def quiet(server: Server, max_seconds: float = 30) -> None:
    """Wait until the server uses under 5% of a core (closing streams costs a burst)."""
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        with Meter(server) as meter:
            time.sleep(1)
        if meter.server_ms < 50:
            return


def open_idle(server: Server, clients: Clients, paths: list[str], args: Any) -> dict[str, Any]:
    rss0 = server.rss_kb()
    with Meter(server) as meter:
        opened = clients.open(paths, args.concurrency)
    time.sleep(2)
    rss1 = server.rss_kb()
    clients.collect()  # the reset: what follows is the idle window's
    with Meter(server) as idle:
        time.sleep(args.idle_seconds)
    got = clients.collect()
    n = max(1, opened["opened"])
    return {
        "asked": len(paths),
        "opened": opened["opened"],
        "errors": opened["errors"],
        "open_s": opened["seconds"],
        "open_server_ms": meter.server_ms / n,
        "open_pg_ms": meter.pg_ms / n,
        "rss0_mb": rss0 / 1024,
        "rss1_mb": rss1 / 1024,
        "kb_per_stream": (rss1 - rss0) / n,
        "idle_server_ms_s": idle.server_ms / idle.wall_s,
        "idle_pg_ms_s": idle.pg_ms / idle.wall_s,
        "heartbeats_s": got["heartbeats"] / idle.wall_s,
        "ended": got["ended"],
        "resumes": got["resumes"],
    }


def writer(
    base: str, collections: list[str], rate: float, seconds: float
) -> tuple[dict[str, tuple[str, float]], int]:
    """Creates ``rate`` records per second round robin over ``collections``: ``{record id:
    (collection, time its 201 was read)}`` and the count of failed writes."""
    import requests

    s = requests.Session()
    s.headers["Authorization"] = ALICE
    written: dict[str, tuple[str, float]] = {}
    failed = 0
    start_at = time.monotonic()
    for count in range(int(rate * seconds)):
        time.sleep(max(0.0, start_at + count / rate - time.monotonic()))
        if time.monotonic() > start_at + seconds + 5:
            break
        collection = collections[count % len(collections)]
        r = s.post(f"{base}/v1{records_path(collection)}", json={"data": {"n": count}})
        if r.status_code != 201:
            failed += 1
            continue
        written[r.json()["data"]["id"]] = (collection, time.time())
    return written, failed


def deliver(
    server: Server, clients: Clients, subscribers: Counter[str], rate: float, args: Any
) -> dict[str, Any]:
    """The write load on the collections of ``subscribers`` (collection -> streams on it)
    and what the streams received."""
    cpu0 = clients.collect()["cpu_s"]  # also forgets what came before
    collections = sorted(subscribers, key=lambda c: int(c[1:]))
    with Meter(server) as meter:
        written, failed = writer(server.base_url, collections, rate, args.seconds)
        expected = sum(subscribers[c] for c, _ in written.values())
        deadline = stalled = time.monotonic()
        deadline += 15
        last = -1
        while time.monotonic() < deadline:
            seen = clients.count()
            if seen >= expected:
                break
            if seen != last:
                last, stalled = seen, time.monotonic()
            elif time.monotonic() - stalled > 3:
                break  # nothing new for 3 s: what is missing will not come
            time.sleep(0.25)
    got = clients.collect()
    events = got["events"]
    unique = {(key, rid) for key, rid, _, _ in events}
    lower = [(t - written[rid][1]) * 1000 for _, rid, _, t in events if rid in written]
    upper = [t * 1000 - lm for _, rid, lm, t in events if rid in written]
    return {
        "streams": sum(subscribers.values()),
        "collections": len(subscribers),
        "written": len(written),
        "failed_writes": failed,
        "rate": len(written) / args.seconds,
        "expected": expected,
        "received": len(unique),
        "duplicates": len(events) - len(unique),
        "p50": (percentile(lower, 0.5), percentile(upper, 0.5)),
        "p99": (percentile(lower, 0.99), percentile(upper, 0.99)),
        "max": (max(lower, default=float("nan")), max(upper, default=float("nan"))),
        "events_s": len(unique) / args.seconds,
        "server_ms_s": meter.server_ms / meter.wall_s,
        "pg_ms_s": meter.pg_ms / meter.wall_s,
        "client_ms_s": (got["cpu_s"] - cpu0) * 1000 / meter.wall_s,
        "ended": got["ended"],
        "resumes": got["resumes"],
    }


def spread_paths(count: int, collections: int) -> list[str]:
    return [records_path(f"c{i % collections}") for i in range(count)]


def streams_run(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    spec = ServerSpec(
        "ours", "postgresql", db="bench_stream", front="stream", settings=STREAM_SETTINGS
    )
    server = start(spec, args.collections)
    clients = Clients(spec.port, ALICE, args.clients)
    out: dict[str, Any] = {"without": [], "with": [], "idle": []}
    try:
        run_wrk(server.base_url + W2_PATH, auth=ALICE, connections=16, duration=2)  # warm-up
        paths = spread_paths(args.idle, args.collections)
        for round_ in range(args.rounds):
            # Alternately without then with, and with then without (the last round
            # without first, keeping its streams for the spread phase): a drift of the
            # machine over the run then weighs on both sides alike.
            with_first = (args.rounds - 1 - round_) % 2 == 1
            if not with_first:
                out["without"].append(w2(server, args.w2_seconds))
                log(f"round {round_}: W2 without streams {out['without'][-1]}")
            out["idle"].append(open_idle(server, clients, paths, args))
            log(f"round {round_}: idle streams {out['idle'][-1]}")
            out["with"].append(w2(server, args.w2_seconds))
            log(f"round {round_}: W2 with streams {out['with'][-1]}")
            if with_first or round_ < args.rounds - 1 or args.spread != args.idle:
                clients.close()
                quiet(server)
            if with_first:
                out["without"].append(w2(server, args.w2_seconds))
                log(f"round {round_}: W2 without streams {out['without'][-1]}")
        if args.spread != args.idle:
            opened = clients.open(spread_paths(args.spread, args.collections), args.concurrency)
            log(f"spread streams {opened}")
        subscribers = Counter(p.split("/")[4] for p in spread_paths(args.spread, args.collections))
        out["spread"] = deliver(server, clients, subscribers, args.rate * 5, args)
        log(f"spread: {_brief(out['spread'])}")
        clients.close()
        quiet(server)
        opened = clients.open([records_path("c0")] * args.one, args.concurrency)
        log(f"one-collection streams {opened}")
        out["one"] = deliver(server, clients, Counter({"c0": args.one}), args.rate, args)
        log(f"one: {_brief(out['one'])}")
        clients.close()
    finally:
        clients.stop()
        server.stop()
    return out


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "events"}


# --- the run ----------------------------------------------------------------------------


def kinto_ready() -> bool:
    if not (KINTO_VENV / "bin" / "kinto").exists():
        subprocess.run(["bash", str(BENCH / "setup.sh")], check=True, cwd=ROOT)
    return (KINTO_VENV / "bin" / "kinto").exists()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--one", type=int, default=1_000)
    parser.add_argument("--spread", type=int, default=10_000)
    parser.add_argument("--collections", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=10, help="writes/s (x 5 when spread)")
    parser.add_argument("--seconds", type=float, default=10, help="write window")
    parser.add_argument("--w2-seconds", type=float, default=8)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=2, help="subscriber processes")
    parser.add_argument("--concurrency", type=int, default=64, help="opens in flight, each")
    parser.add_argument("--no-kinto", action="store_true")
    args = parser.parse_args()
    raise_nofile()
    out_dir = BENCH / "out"
    out_dir.mkdir(exist_ok=True)
    log_file = open(out_dir / "stream-latest.log", "w")  # noqa: SIM115

    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} load {load_average()} {message}"
        print(line, file=sys.stderr, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    out: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    out["commit"], out["load_start"] = commit, load_average()
    log(f"start {vars(args)}")
    if not args.no_kinto and kinto_ready():
        out["kinto"] = waitress_w2("kinto", args, log)
    out["waitress"] = waitress_w2("ours", args, log)
    out.update(streams_run(args, log))
    out["load_end"] = load_average()
    table = report(out, args)
    (out_dir / "stream-latest.json").write_text(json.dumps(out, indent=1, default=str))
    (out_dir / "stream-latest.md").write_text(table + "\n")
    print(table)
    return 0


# --- the tables -------------------------------------------------------------------------


def _median(windows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(w[key] for w in windows)


def report(out: dict[str, Any], args: argparse.Namespace) -> str:
    base = _median(out["without"], "rps")
    lines = [
        f"Run {out['started']}, commit {out['commit']}, load average (1/5/15 min) "
        f"{out['load_start']} at the start, {out['load_end']} at the end; "
        f"{args.rounds} rounds, medians.",
        "",
        "| W2 (GET one record, 16 connections) | req/s | p50 / p99 ms | server CPU ms/req "
        "| PG CPU ms/req | other load (cores) | req/s by window |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [("Kinto 26.5.0, waitress", out.get("kinto")), ("ours, waitress", out["waitress"])]
    rows += [
        ("ours, uvicorn, no stream open", out["without"]),
        (f"ours, uvicorn, {args.idle} streams open", out["with"]),
    ]
    for label, windows in rows:
        if not windows:
            continue
        by_window = " / ".join(f"{w['rps']:.0f}" for w in windows)
        bad = sum(w["bad"] for w in windows)
        lines.append(
            f"| {label} | {_median(windows, 'rps'):.0f} | {_median(windows, 'p50'):.1f} / "
            f"{_median(windows, 'p99'):.1f} | {_median(windows, 'server_ms'):.2f} | "
            f"{_median(windows, 'pg_ms'):.2f} | {_median(windows, 'other_cores'):.2f} | "
            f"{by_window}{f' ({bad} not 200)' if bad else ''} |"
        )
    pairs = [w["rps"] / wo["rps"] for w, wo in zip(out["with"], out["without"], strict=True)]
    cpu = _median(out["with"], "server_ms") / _median(out["without"], "server_ms")
    lines += [
        "",
        f"W2 with the {args.idle} streams open / without, round by round (alternately "
        "without then with, and with then without, the last round without first): "
        f"{', '.join(f'{p:.0%}' for p in pairs)}; median "
        f"{statistics.median(pairs):.0%}; ratio of the medians "
        f"{_median(out['with'], 'rps') / base:.0%}. Server CPU per request with / without: "
        f"{cpu:.0%}.",
        "",
        "| idle streams (by round) | opened | in s | per s | server / PG CPU ms per open "
        "| RSS before / with MB | KB per stream | idle server / PG CPU ms/s "
        "| heartbeats/s | ended by the server |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(out["idle"]):
        lines.append(
            f"| round {i + 1} | {r['opened']} / {r['asked']} | {r['open_s']:.1f} | "
            f"{r['opened'] / r['open_s']:.0f} | {r['open_server_ms']:.2f} / "
            f"{r['open_pg_ms']:.2f} | {r['rss0_mb']:.0f} / {r['rss1_mb']:.0f} | "
            f"{r['kb_per_stream']:.1f} | {r['idle_server_ms_s']:.0f} / {r['idle_pg_ms_s']:.0f} "
            f"| {r['heartbeats_s']:.0f} | {r['ended']} |"
        )
    lines += [
        "",
        "| delivery | streams | writes (/s) | events received / expected (duplicates) "
        "| latency p50 ms | latency p99 ms | max ms | events/s | server / PG / client CPU ms/s "
        "| ended by the server |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in (
        ("spread", f"over {args.collections} collections"),
        ("one", "on one collection"),
    ):
        r = out[key]
        lines.append(
            f"| {label} | {r['streams']} | {r['written']} ({r['rate']:.0f}/s) | "
            f"{r['received']} / {r['expected']} ({r['duplicates']}) | "
            f"{r['p50'][0]:.0f} - {r['p50'][1]:.0f} | {r['p99'][0]:.0f} - {r['p99'][1]:.0f} | "
            f"{r['max'][0]:.0f} - {r['max'][1]:.0f} | {r['events_s']:.0f} | "
            f"{r['server_ms_s']:.0f} / {r['pg_ms_s']:.0f} / {r['client_ms_s']:.0f} | "
            f"{r['ended']} |"
        )
    lines += [
        "",
        "Latency: from the 201 read by the writer (after the commit) - from the record's "
        "last_modified (before the commit): the commit-to-receipt time lies between.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
