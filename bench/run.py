"""Benchmark kinto_clone against the real Kinto 26.5.0: same backend, same server settings,
same data, same bounded workloads; one markdown table (also written to bench/out/latest.md).

    .venv/bin/python bench/run.py [--quick] [--servers kinto,ours] [--backend postgresql|memory]
                                  [--duration 8] [--runs 3] [--with-1m]

Servers run one at a time (the machine has 2 cores). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import DataSet, NotAvailable  # noqa: E402
from load import Sample  # noqa: E402
from report import Row, render  # noqa: E402
from servers import Meter, Server, ServerSpec, wait_quiet  # noqa: E402
from workloads import Workload, all_workloads  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 run x 3 s, small collections (~2-3 min per server)")
    p.add_argument("--servers", default="kinto,ours")
    p.add_argument("--backend", choices=["postgresql", "memory"], default="postgresql")
    p.add_argument("--duration", type=float, help="seconds per load window (default 8)")
    p.add_argument("--runs", type=int, help="windows per workload, median kept (default 3)")
    p.add_argument("--warmup", type=float, help="seconds of unmeasured load first (default 2)")
    p.add_argument("--with-1m", action="store_true", help="also W4 on 1M records (slow load)")
    p.add_argument("--only", help="comma-separated workload keys (e.g. W1c1,W5s)")
    p.add_argument("--quiet-wait", type=float,
                   help="before each window, wait up to this many seconds for the machine "
                        "to be idle (other CPU < 0.25 core); 0 disables (default 30, quick 5)")
    p.add_argument("--http-load-max", type=int, default=10_000,
                   help="collections up to this size are created through the HTTP API, "
                        "bigger ones with SQL (PostgreSQL); default 10000")
    p.add_argument("--no-setup", action="store_true", help="skip bench/setup.sh")
    a = p.parse_args(argv)
    a.duration = a.duration or (3 if a.quick else 8)
    a.runs = a.runs or (1 if a.quick else 3)
    a.quiet_wait = a.quiet_wait if a.quiet_wait is not None else (5 if a.quick else 30)
    a.quiet_budget = 60 if a.quick else 600  # seconds of quiet-waiting in the whole run
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 2)
    return a


def sizes_for(args: argparse.Namespace) -> dict[str, int]:
    if args.quick:
        return {"c1k": 200, "c10k": 1000, "c100k": 10_000 if args.backend == "memory"
                else 100_000}
    sizes = {"c1k": 1000, "c10k": 10_000, "c100k": 100_000}
    if args.with_1m:
        sizes["c1m"] = 1_000_000
    return sizes


def measure(server: Server, wl: Workload, ds: DataSet, duration: float) -> Sample:
    with Meter(server) as m:
        sample = wl.run(ds, duration)
    sample.extra.update(server_ms=m.server_ms, pg_ms=m.pg_ms, gen_ms=m.gen_ms,
                        other_ms=m.other_ms)
    return sample


def bench_server(name: str, args: argparse.Namespace, log) -> dict:
    sizes = sizes_for(args)
    server = Server(ServerSpec(name, args.backend))
    result: dict = {"name": name, "rows": {}, "notes": [], "rss_kb": None}
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other server goes on
        last = [ln for ln in str(exc).splitlines() if ln.strip()][-1:] or [""]
        result["error"] = f"did not start: {last[0][:200]}"
        log(f"[{name}] {result['error']}\n{exc}")
        return result
    try:
        ds = DataSet(server, sizes, log=log, http_max=args.http_load_max)
        log(f"[{name}] loading data {sizes} ...")
        try:
            ds.create()
        except Exception as exc:  # noqa: BLE001
            result["error"] = f"data setup failed: {str(exc).splitlines()[0][:200]}"
            log(f"[{name}] {result['error']}\n{traceback.format_exc()}")
            return result
        result["notes"] += ds.notes or []
        result["load_s"] = ds.load_seconds
        log(f"[{name}] data loaded in {ds.load_seconds:.0f}s")
        for wl in all_workloads(sizes):
            if args.only and wl.key not in args.only.split(","):
                continue
            result["rows"][wl.key] = run_workload(server, wl, ds, args, log)
        result["rss_kb"] = server.peak_rss_kb()
        if server.proc and server.proc.poll() is not None:
            result["notes"].append(f"server exited with {server.proc.returncode}")
    finally:
        errors = [ln for ln in server.log_tail(200_000).splitlines()
                  if "Traceback" in ln or " ERROR " in ln]
        if errors:
            result["notes"].append(f"{len(errors)} error lines in server log "
                                   f"({server.log_path}): {errors[0][:150]}")
        server.stop()
    return result


def run_workload(server: Server, wl: Workload, ds: DataSet, args, log) -> dict:
    row: dict = {"label": wl.label, "unit": wl.unit, "samples": [], "problems": []}
    if wl.needs and not ds.loaded(wl.needs):
        row["na"] = "not loaded on this backend"
        return row
    try:
        if wl.precheck:
            wl.precheck(ds)
        if args.warmup:
            wl.run(ds, args.warmup)
        for i in range(args.runs):
            busy = None
            if args.quiet_wait and args.quiet_budget > 0:  # bounded over the whole run too
                t_wait = time.monotonic()
                busy = wait_quiet(min(args.quiet_wait, args.quiet_budget))
                args.quiet_budget -= time.monotonic() - t_wait
            s = measure(server, wl, ds, args.duration)
            s.extra["busy_before"] = busy
            row["samples"].append(s)
            log(f"[{server.spec.name}] {wl.key} run {i + 1}: {s.units / s.duration_s:.1f} "
                f"{wl.unit} p50 {s.p50_ms or 0:.1f} ms p99 {s.p99_ms or 0:.1f} ms "
                f"statuses {dict(s.statuses)} {_short_extra(s)}")
        if wl.check:
            row["problems"] += wl.check(ds)
    except NotAvailable as exc:
        row["na"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken workload must not hide the rest
        row["problems"].append(f"ERROR {type(exc).__name__}: {str(exc)[:160]}")
        log(f"[{server.spec.name}] {wl.key} failed:\n{traceback.format_exc()}")
    row["problems"] += wl.problems
    return row


def _short_extra(s: Sample) -> str:
    keep = {k: (round(v) if isinstance(v, float) else v) for k, v in s.extra.items()
            if k in ("server_ms", "pg_ms", "gen_ms", "other_ms", "walk_ms")}
    if "sub" in s.extra:
        keep["sub"] = dict(s.extra["sub"])
    return json.dumps(keep)


def _exit_on_sigterm(signum, _frame) -> None:
    # turn SIGTERM (timeout, kill) into SystemExit so that `finally` stops the server
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    OUT.mkdir(exist_ok=True)
    log_file = open(OUT / "latest.log", "w")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, file=sys.stderr, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    if not args.no_setup:
        subprocess.run(["bash", str(Path(__file__).resolve().parent / "setup.sh")], check=True)
    results = {}
    t0 = time.monotonic()
    for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
        if name not in ("kinto", "ours"):
            raise SystemExit(f"unknown server {name!r}")
        log(f"== {name} ({args.backend}) ==")
        results[name] = bench_server(name, args, log)
    rows = [Row.from_results(key, results) for key in _keys(results)]
    table = render(rows, results, args, time.monotonic() - t0)
    (OUT / "latest.md").write_text(table)
    print(table)
    return 0


def _keys(results: dict) -> list[str]:
    keys: list[str] = []
    for res in results.values():
        keys += [k for k in res["rows"] if k not in keys]
    return keys


if __name__ == "__main__":
    sys.exit(main())
