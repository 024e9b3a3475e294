"""Benchmark kinto_clone against the real Kinto 26.5.0: same backend, same server settings,
same data, same bounded workloads; one markdown table (also written to bench/out/latest.md).

    .venv/bin/python bench/run.py [--quick] [--servers kinto,ours] [--backend postgresql|memory]
                                  [--duration 8] [--runs 3] [--with-1m] [--w1-records N]

Servers run one at a time (the machine has 2 cores). See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Row, render  # noqa: E402  (after the sys.path line above)
from session import Contender, run_interleaved, run_sequential  # noqa: E402  (after the sys.path line above)

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 run x 3 s, small collections (~2-3 min per server)",
    )
    p.add_argument("--servers", default="kinto,ours")
    p.add_argument("--backend", choices=["postgresql", "memory"], default="postgresql")
    p.add_argument("--duration", type=float, help="seconds per load window (default 8)")
    p.add_argument("--runs", type=int, help="windows per workload, median kept (default 3)")
    p.add_argument("--warmup", type=float, help="seconds of unmeasured load first (default 2)")
    p.add_argument("--with-1m", action="store_true", help="also W4 on 1M records (slow load)")
    p.add_argument("--only", help="comma-separated workload keys (e.g. W1c1,W5s)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        help="before each window, wait up to this many seconds for the machine "
        "to be idle (other CPU < 0.25 core); 0 disables (default 30, quick 5)",
    )
    p.add_argument(
        "--http-load-max",
        type=int,
        default=10_000,
        help="collections up to this size are created through the HTTP API, "
        "bigger ones with SQL (PostgreSQL); default 10000",
    )
    p.add_argument(
        "--no-interleave",
        dest="interleave",
        action="store_false",
        help="run all of one server, then all of the other (default on "
        "PostgreSQL: alternate the servers run by run, restarting them)",
    )
    p.add_argument(
        "--w1-records",
        type=int,
        default=0,
        help="W1 creates into a collection already holding this many records "
        "(loaded like the others: HTTP up to --http-load-max, SQL above); default 0 "
        "(W1 starts from an empty collection)",
    )
    p.add_argument("--no-setup", action="store_true", help="skip bench/setup.sh")
    p.add_argument(
        "--no-analyze",
        action="store_true",
        help="no ANALYZE: measure as loaded, before PostgreSQL has statistics "
        "of the data (as after an import or a restore; issue 15)",
    )
    a = p.parse_args(argv)
    a.duration = a.duration or (3 if a.quick else 8)
    a.runs = a.runs or (1 if a.quick else 3)
    a.quiet_wait = a.quiet_wait if a.quiet_wait is not None else (5 if a.quick else 30)
    a.quiet_budget = 30 if a.quick else 600  # seconds of quiet-waiting in the whole run
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 2)
    return a


def sizes_for(args: argparse.Namespace) -> dict[str, int]:
    if args.quick:
        return {"c1k": 200, "c10k": 1000, "c100k": 10_000 if args.backend == "memory" else 100_000}
    sizes = {"c1k": 1000, "c10k": 10_000, "c100k": 100_000}
    if args.with_1m:
        sizes["c1m"] = 1_000_000
    if args.only:  # load only what the chosen workloads read (c10k: W2, W3, W6)
        only = args.only.split(",")
        sizes = {k: n for k, n in sizes.items() if k == "c10k" or f"W4-{k}" in only}
    return sizes


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
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    for name in names:
        if name not in ("kinto", "ours", "base"):
            raise SystemExit(f"unknown server {name!r}")
        if name == "base" and "BENCH_BASE_TREE" not in os.environ:
            raise SystemExit("--servers base: set BENCH_BASE_TREE to the checkout to compare")
    t0 = time.monotonic()
    contenders = [Contender(name, args, sizes_for(args), log) for name in names]
    # alternating pays for its restarts only when there are several runs to alternate
    args.interleave = (
        args.interleave and args.backend == "postgresql" and len(names) > 1 and args.runs > 1
    )
    if args.interleave:
        run_interleaved(contenders, args.runs)
    else:
        run_sequential(contenders, args.runs)
    results = {c.name: c.result for c in contenders}
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
