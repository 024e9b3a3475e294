"""Aggregate load windows (median over runs) and render the one markdown table."""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field

from load import Sample, median

# Real Kinto on this machine, median of 3 x 8 s (issue 5); for eyeballing our Kinto runs.
REFERENCE = {
    "W1c1": "141",
    "W1c16": "157",
    "W2": "210",
    "W3p": "168",
    "W3s": "95",
    "W3w": "706 ms",
    "W4-c1k": "214",
    "W4-c10k": "196",
    "W4-c100k": "223",
    "W5d": "144",
    "W5s": "96",
    "W6": "104",
    "W7": "215",
    "rss": "118 MB",
}
MODES = {True: "servers alternated run by run", False: "one server after the other"}
EXPECTED_4XX = {"W5s": {412}, "W5d": {412}}


@dataclass
class Side:
    rate: float | None = None
    p50: float | None = None
    p99: float | None = None
    server: float | None = None  # CPU ms per unit
    pg: float | None = None
    gen: float | None = None
    other_per_s: float | None = None
    walk_ms: float | None = None
    statuses: Counter = field(default_factory=Counter)
    sub: Counter = field(default_factory=Counter)
    transport: int = 0
    verdict: str = ""
    na: str | None = None

    @classmethod
    def from_row(cls, key: str, row: dict | None, server_error: str | None) -> Side:
        if row is None:
            return cls(na=server_error or "not run")
        if row.get("na"):
            return cls(na=row["na"])
        if not row["samples"] and not row["problems"]:
            return cls(na=server_error or "no window ran")
        samples: list[Sample] = row["samples"]
        side = cls()
        for s in samples:
            side.statuses.update(s.statuses)
            side.sub.update(s.extra.get("sub", {}))
            side.transport += s.transport_errors

        def per_unit(k: str) -> float | None:
            return median([s.extra[k] / s.units for s in samples if s.units])

        if samples:
            side.rate = median([s.units / s.duration_s for s in samples if s.duration_s])
            side.p50 = median([s.p50_ms for s in samples])
            side.p99 = median([s.p99_ms for s in samples])
            side.server, side.pg, side.gen = (
                per_unit("server_ms"),
                per_unit("pg_ms"),
                per_unit("gen_ms"),
            )
            side.other_per_s = median([s.extra["other_ms"] / s.duration_s for s in samples])
            side.walk_ms = median([s.extra.get("walk_ms") for s in samples])
        side.verdict = _verdict(key, side, row["problems"], samples)
        return side


def _verdict(key: str, side: Side, problems: list[str], samples: list[Sample]) -> str:
    out = list(problems)
    all_statuses = side.statuses + side.sub
    n5xx = sum(v for k, v in all_statuses.items() if k >= 500)
    if n5xx:
        out.append(f"FAIL 5xx×{n5xx}")
    if side.transport:
        out.append(f"FAIL {side.transport} transport errors")
    odd = sum(
        v
        for k, v in all_statuses.items()
        if 400 <= k < 500 and k != 409 and k not in EXPECTED_4XX.get(key, set())
    )
    if odd:
        out.append(f"FAIL unexpected 4xx×{odd}")
    if all_statuses.get(409):
        out.append(f"409×{all_statuses[409]}")
    if any(s.bounded_by_count for s in samples):
        out.append("hit count bound")
    if samples and not side.rate:
        out.append("FAIL no successful request")
    return "; ".join(out) or "ok"


@dataclass
class Row:
    key: str
    label: str
    unit: str
    kinto: Side
    ours: Side

    @classmethod
    def from_results(cls, key: str, results: dict) -> Row:
        sides, label, unit = {}, key, ""
        for name in (left_name(results), "ours"):
            res = results.get(name)
            row = res["rows"].get(key) if res else None
            if row:
                label, unit = row["label"], row["unit"]
            sides[name] = Side.from_row(key, row, (res or {}).get("error"))
        return cls(key, label, unit, sides[left_name(results)], sides["ours"])


def left_name(results: dict) -> str:
    """Who ours is compared with: Kinto, or "base" (ours at another commit)."""
    return "base" if "base" in results else "kinto"


def _f(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


NOISY_MS_PER_S = 250  # other processes used more than a quarter of a core: numbers suspect


def _rate(s: Side) -> str:
    if s.na:
        return f"n/a ({s.na})"
    cell = _f(s.rate, 0)
    if s.other_per_s is not None and s.other_per_s > NOISY_MS_PER_S:
        cell += "†"
    return cell + (f" ({s.walk_ms:.0f} ms/walk)" if s.walk_ms else "")


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if not a or not b else f"**{b / a:.2f}**"


def _statuses(s: Side) -> str:
    if s.na:
        return "–"
    parts = [f"{k}×{v}" for k, v in sorted(s.statuses.items())]
    if s.sub:
        parts.append("sub " + " ".join(f"{k}×{v}" for k, v in sorted(s.sub.items())))
    return " ".join(parts) or "–"


def render(rows: list[Row], results: dict, args, elapsed: float) -> str:
    left = "Kinto" if left_name(results) == "kinto" else "base"
    head = (
        "| workload | unit | Kinto | ours | ours/Kinto | Kinto ref | p50/p99 ms Kinto | "
        "p50/p99 ms ours | server CPU ms/unit K / O | PG CPU ms/unit K / O | "
        "generator CPU ms/unit K / O | statuses Kinto | statuses ours | verdict Kinto | "
        "verdict ours |"
    ).replace("Kinto", left)
    lines = [
        f"# kinto_clone vs Kinto 26.5.0 — {args.backend}{' (quick)' if args.quick else ''}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {args.runs} run(s) x "
        f"{args.duration:g} s per workload (median), warm-up {args.warmup:g} s, "
        f"{MODES[bool(getattr(args, 'interleave', False))]}; "
        f"waitress 1 process x 4 threads; "
        f"{'never ANALYZEd (--no-analyze)' if args.no_analyze else 'ANALYZEd before each workload'}"
        f"{f', W1 into {args.w1_records}+ records' if args.w1_records else ''}; "
        f"total {elapsed / 60:.1f} min; load average at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in rows:
        k, o = r.kinto, r.ours
        lines.append(
            f"| {r.label} | {r.unit} | {_rate(k)} | {_rate(o)} | {_ratio(k.rate, o.rate)} | "
            f"{REFERENCE.get(r.key, '')} | {_f(k.p50)} / {_f(k.p99)} | {_f(o.p50)} / "
            f"{_f(o.p99)} | {_f(k.server, 2)} / {_f(o.server, 2)} | {_f(k.pg, 2)} / "
            f"{_f(o.pg, 2)} | {_f(k.gen, 2)} / {_f(o.gen, 2)} | {_statuses(k)} | "
            f"{_statuses(o)} | {k.na and 'n/a' or k.verdict} | {o.na and 'n/a' or o.verdict} |"
        )
    rss = {n: (results.get(n) or {}).get("rss_kb") for n in (left_name(results), "ours")}
    mb = {n: (v / 1024 if v else None) for n, v in rss.items()}
    lines.append(
        f"| peak RSS (VmHWM) | MB | {_f(mb[left_name(results)], 0)} | {_f(mb['ours'], 0)} | "
        f"{_ratio(mb[left_name(results)], mb['ours'])} | {REFERENCE['rss']} |" + " |" * 9
    )
    lines += [
        "",
        "Throughput ratio > 1: ours is faster. CPU per unit = CPU time over the load "
        "window / units served (units: requests, records for W7, pages for the walk). "
        f"† = other processes used > {NOISY_MS_PER_S} ms/s of CPU during that row's "
        "windows: its throughput and latencies are suspect, CPU per unit less so.",
        "",
    ]
    for name, res in results.items():
        noise = [r.ours.other_per_s if name == "ours" else r.kinto.other_per_s for r in rows]
        noise = [n for n in noise if n is not None]
        bits = []
        if res.get("error"):
            bits.append(f"**{res['error']}**")
        if res.get("load_s") is not None:
            bits.append(f"data loaded in {res['load_s']:.0f} s")
        if noise:
            bits.append(
                f"other processes' CPU during windows: median {median(noise):.0f} ms/s (noise)"
            )
        bits += res.get("notes", [])
        if res.get("log_note"):
            bits.append(res["log_note"])
        lines.append(f"- {name}: " + "; ".join(bits))
    return "\n".join(lines) + "\n"
