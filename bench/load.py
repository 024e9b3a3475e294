"""Load generators: wrk for the simple request shapes, a threaded keep-alive Python client
for the workloads that need logic between requests (If-Match chains, batches, checks).

Every loop here is bounded twice: by a deadline and by a maximum count.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "request.lua"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Sample:
    """What one load window produced (before CPU figures are attached)."""

    requests: int = 0
    duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    p50_ms: float | None = None
    p99_ms: float | None = None
    statuses: Counter = field(default_factory=Counter)
    transport_errors: int = 0
    bounded_by_count: bool = False
    units: int = 0  # what throughput counts (records for a batch); defaults to requests
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self) -> Sample:
        if self.latencies_ms and self.p50_ms is None:
            lat = sorted(self.latencies_ms)
            self.p50_ms = lat[len(lat) // 2]
            self.p99_ms = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        self.units = self.units or self.requests
        return self


# --- wrk -------------------------------------------------------------------------------


def run_wrk(
    url: str,
    *,
    method: str = "GET",
    auth: str | None = None,
    body: str | None = None,
    connections: int = 16,
    threads: int = 1,
    duration: float = 8,
    max_requests: int = 200_000,
) -> Sample:
    """One wrk run; `body` may contain `{n}` (a per-connection-thread counter)."""
    env = dict(os.environ, BENCH_METHOD=method, BENCH_MAX=str(max(1, max_requests // threads)))
    env.pop("BENCH_BODY", None)
    env.pop("BENCH_AUTH", None)
    if auth:
        env["BENCH_AUTH"] = auth
    if body is not None:
        env["BENCH_BODY"] = body
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    env["BENCH_PATH"] = parts.path + (f"?{parts.query}" if parts.query else "")
    base = f"{parts.scheme}://{parts.netloc}"
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        base,
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if res.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({res.returncode}): {res.stderr[-2000:]}{res.stdout[-2000:]}"
        )
    data = json.loads(line[len("BENCH_JSON ") :])
    errs = data["errors"]
    sample = Sample(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses=Counter({int(k): v for k, v in data["statuses"].items()}),
        transport_errors=errs["connect"] + errs["read"] + errs["write"] + errs["timeout"],
        bounded_by_count=data["requests"] >= max_requests,
    )
    return sample.finish()


# --- Python client ---------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any
    ms: float


class Client:
    """A keep-alive HTTP/1.1 connection with Basic Auth and JSON; reconnects on errors."""

    def __init__(self, base_url: str, auth: str | None = None, timeout: float = 30) -> None:
        from urllib.parse import urlsplit

        p = urlsplit(base_url)
        self.host, self.port = p.hostname, p.port
        self.auth = auth
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        hdrs = {"Accept": "application/json"}
        if self.auth:
            hdrs["Authorization"] = self.auth
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            t0 = time.perf_counter()
            try:
                self.conn.request(method, path, body=payload, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                # retrying is only safe when nothing can have been applied twice
                if attempt == 2 or method not in ("GET", "HEAD"):
                    raise
                continue
            ms = (time.perf_counter() - t0) * 1000
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed, ms)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_threads(
    n: int,
    worker: Callable[[int, Callable[[], bool]], None],
    duration: float,
    hard_timeout: float | None = None,
) -> float:
    """Run `worker(i, keep_going)` in n threads; keep_going() turns False at the deadline.
    Workers must also bound their own count. Returns the wall time in seconds."""
    deadline = time.monotonic() + duration

    def keep_going() -> bool:
        return time.monotonic() < deadline

    errors: list[BaseException] = []

    def wrap(i: int) -> None:
        try:
            worker(i, keep_going)
        except BaseException as exc:  # reported by the caller, never lost
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, (hard_timeout or duration + 60) - (time.monotonic() - t0)))
    wall = time.monotonic() - t0
    if errors:
        raise errors[0]
    return wall


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
