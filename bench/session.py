"""One contender (a server, its data set, its workloads, its results) and the two ways of
running contenders: sequentially (all of Kinto, then all of ours) or interleaved by run.

Interleaved (the default on PostgreSQL): each server is started once to load its data and
pre-check every workload, then for each run it is restarted on its kept database, gets a
warm-up and one window per workload, and is stopped again; Kinto and ours alternate, so a
burst of load from other processes on the machine does not land on one side only. Only one
server runs at any time. The memory backend loses its data on restart: it runs sequentially.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable

from data import DataSet, NotAvailable
from load import Sample
from servers import Meter, Server, ServerSpec, psql, wait_quiet
from workloads import Workload, all_workloads

Log = Callable[[str], None]


class Contender:
    def __init__(self, name: str, args, sizes: dict[str, int], log: Log) -> None:
        self.name, self.args, self.log = name, args, log
        self.server = Server(ServerSpec(name, args.backend))
        self.ds = DataSet(
            self.server,
            sizes,
            log=log,
            http_max=args.http_load_max,
            analyze=not args.no_analyze,
            w1_records=args.w1_records,
        )
        only = set(args.only.split(",")) if args.only else None
        self.workloads = [
            w for w in all_workloads(sizes, args.w1_records) if only is None or w.key in only
        ]
        self.rows: dict[str, dict] = {
            w.key: {"label": w.label, "unit": w.unit, "samples": [], "problems": []}
            for w in self.workloads
        }
        self.result: dict = {"name": name, "rows": self.rows, "notes": [], "rss_kb": None}
        self.ok = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, fresh: bool) -> bool:
        try:
            self.server.start(fresh=fresh)
            return True
        except Exception as exc:  # noqa: BLE001 - reported in the table, the other goes on
            last = [ln for ln in str(exc).splitlines() if ln.strip()][-1:] or [""]
            self.result["error"] = f"did not start: {last[0][:200]}"
            self.log(f"[{self.name}] {self.result['error']}\n{exc}")
            self.ok = False
            return False

    def stop(self) -> None:
        rss = self.server.peak_rss_kb()
        self.result["rss_kb"] = max(self.result["rss_kb"] or 0, rss) or None
        if self.server.proc and self.server.proc.poll() not in (None, 0):
            self.result["notes"].append(f"server exited with {self.server.proc.returncode}")
        errors = [
            ln
            for ln in self.server.log_tail(200_000).splitlines()
            if "Traceback" in ln or " ERROR " in ln
        ]
        if errors:  # the log accumulates over restarts: the last count is the total
            self.result["log_note"] = (
                f"{len(errors)} error lines in server log "
                f"({self.server.log_path}): {errors[0][:150]}"
            )
        self.server.stop()

    # --- phases -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Fresh database, data set, pre-checks (a workload whose pre-check fails is out)."""
        if not self.start(fresh=True):
            return
        self.log(f"[{self.name}] loading data {self.ds.sizes} ...")
        try:
            self.ds.create()
        except Exception as exc:  # noqa: BLE001 - reported in the table, the others go on
            self.result["error"] = f"data setup failed: {str(exc).splitlines()[0][:200]}"
            self.log(f"[{self.name}] {self.result['error']}\n{traceback.format_exc()}")
            return
        self.result["notes"] += self.ds.notes or []
        self.result["load_s"] = self.ds.load_seconds
        self.log(f"[{self.name}] data loaded in {self.ds.load_seconds:.0f}s")
        for wl in self.workloads:
            row = self.rows[wl.key]
            if wl.needs and not self.ds.loaded(wl.needs):
                row["na"] = "not loaded on this backend"
            elif wl.precheck:
                self._guard(wl, wl.precheck, self.ds)
        self.ok = True

    def run_round(self, index: int) -> None:
        """A warm-up and `count` windows for each live workload (server must be running)."""
        for wl in self.workloads:
            row = self.rows[wl.key]
            if row.get("na") or row.get("dead"):
                continue
            self._guard(wl, self._windows, wl, index)

    def check(self) -> None:
        for wl in self.workloads:
            row = self.rows[wl.key]
            if not row.get("na") and wl.check and row["samples"]:
                self._guard(wl, self._check_one, wl)
            row["problems"] += wl.problems

    # --- helpers ------------------------------------------------------------------------

    def _check_one(self, wl: Workload) -> None:
        self.rows[wl.key]["problems"].extend(wl.check(self.ds))

    def _windows(self, wl: Workload, index: int) -> None:
        args, row = self.args, self.rows[wl.key]
        if self.server.spec.uses_pg and not args.no_analyze:
            # This machine's PostgreSQL runs with autovacuum off: without it, the planner
            # would keep the statistics of the data load while W1 and W7 grow their
            # collections. Analyzed as autovacuum would, for both servers alike.
            psql("ANALYZE", db=self.server.spec.db)
        if args.warmup:
            wl.run(self.ds, args.warmup)
        for i in range(index, index + self.windows_per_round):
            busy = None
            if args.quiet_wait and args.quiet_budget > 0:  # bounded over the whole run too
                t_wait = time.monotonic()
                busy = wait_quiet(min(args.quiet_wait, args.quiet_budget))
                args.quiet_budget -= time.monotonic() - t_wait
            with Meter(self.server) as m:
                s = wl.run(self.ds, args.duration)
            s.extra.update(
                server_ms=m.server_ms,
                pg_ms=m.pg_ms,
                gen_ms=m.gen_ms,
                other_ms=m.other_ms,
                busy_before=busy,
            )
            row["samples"].append(s)
            self.log(
                f"[{self.name}] {wl.key} run {i + 1}: {s.units / s.duration_s:.1f} "
                f"{wl.unit} p50 {s.p50_ms or 0:.1f} ms p99 {s.p99_ms or 0:.1f} ms "
                f"statuses {dict(s.statuses)} {_short_extra(s)} "
                f"load {os.getloadavg()[0]:.2f}"
            )

    windows_per_round = 1

    def _guard(self, wl: Workload, fn: Callable, *a) -> None:
        row = self.rows[wl.key]
        try:
            fn(*a)
        except NotAvailable as exc:
            row["na"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - one broken workload must not hide the rest
            row["problems"].append(f"ERROR {type(exc).__name__}: {str(exc)[:160]}")
            row["dead"] = True
            self.log(f"[{self.name}] {wl.key} failed:\n{traceback.format_exc()}")


def _short_extra(s: Sample) -> str:
    keep = {
        k: round(v)
        for k, v in s.extra.items()
        if k in ("server_ms", "pg_ms", "gen_ms", "other_ms", "walk_ms") and v is not None
    }
    if "sub" in s.extra:
        keep["sub"] = dict(s.extra["sub"])
    return str(keep)


def run_sequential(contenders: list[Contender], runs: int) -> None:
    for c in contenders:
        c.log(f"== {c.name} ({c.args.backend}) ==")
        try:
            c.prepare()
            if c.ok:
                c.windows_per_round = runs
                c.run_round(0)
                c.check()
        finally:
            c.stop()


def run_interleaved(contenders: list[Contender], runs: int) -> None:
    for c in contenders:
        c.log(f"== {c.name} ({c.args.backend}): data and pre-checks ==")
        try:
            c.prepare()
        finally:
            c.stop()
    live = [c for c in contenders if c.ok]
    for r in range(runs):
        order = live if r % 2 == 0 else live[::-1]  # alternate who goes first
        for c in order:
            c.log(f"== run {r + 1}/{runs}: {c.name} ==")
            if c.start(fresh=False):
                try:
                    c.run_round(r)
                finally:
                    c.stop()
    for c in live:
        if c.start(fresh=False):
            try:
                c.check()
            finally:
                c.stop()
