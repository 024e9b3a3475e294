"""Soak: bounded mixed traffic against one real server for a while.

Several users create, read (also conditionally), list, patch (with If-Match, some on
purpose with a stale ETag), delete, poll ``_since`` and send batches, for
``KINTO_CLONE_SOAK_SECONDS`` (default 20; ``make soak`` runs minutes). Pass when:

- no answer other than the expected ones (2xx, 304 for If-None-Match on an unchanged
  record, 412 for a stale If-Match), no request without an answer;
- the server's resident memory (VmRSS from /proc/<pid>/status, sampled all along) stays
  flat: the mean of the last third of the run within 20 % of the mean of the second
  third (the first third is warm-up: caches, pools, first statements).

It prints operations, statuses, p50/p99 latency per operation and the RSS figures; with
``KINTO_CLONE_SOAK_REPORT=path.json`` it also writes them there.

Backend: PostgreSQL (a database of its own) when one is found, else locally a SQLite file;
``KINTO_CLONE_SOAK_BACKEND=sqlite|postgresql`` chooses.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import postgres, server
from tests.reliability.conftest import Session, postgres_server, rss_kib
from tests.support import auth

SECONDS = float(os.environ.get("KINTO_CLONE_SOAK_SECONDS", "20"))
CLIENTS = int(os.environ.get("KINTO_CLONE_SOAK_CLIENTS", "4"))
RSS_GROWTH_ALLOWED = 0.20
LIVE_RECORDS_PER_CLIENT = 40
SAMPLE_EVERY_SECONDS = 0.25
# Operation mix (weights).
MIX = {
    "create": 20,
    "read": 20,
    "read_304": 5,
    "list": 15,
    "patch": 15,
    "patch_412": 3,
    "delete": 10,
    "since": 10,
    "batch": 5,
}
EXPECTED = {
    "create": {201},
    "read": {200},
    "read_304": {304},
    "list": {200},
    "patch": {200},
    "patch_412": {412},
    "delete": {200},
    "since": {200},
    "batch": {200},
}


@pytest.fixture(scope="module")
def soak_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str, str]]:
    """(pid, base URL, backend name) of a server started for the soak."""
    workdir = tmp_path_factory.mktemp("soak")
    wanted = os.environ.get("KINTO_CLONE_SOAK_BACKEND", "")
    maintenance = None
    if wanted != "sqlite":
        if wanted == "postgresql" or os.environ.get("CI") == "true":
            maintenance = postgres_server()
        else:
            maintenance = postgres.server_url()
    name = f"kinto_clone_soak_{os.getpid()}"
    if maintenance is not None:
        settings = server.settings_for("postgresql", postgres.create_database(maintenance, name))
    else:
        settings = server.settings_for("sqlite", f"sqlite:///{workdir}/kinto.sqlite")
    try:
        ini = server.migrated_ini(workdir, settings)
        with server.running(ini, workdir, "soak") as (process, url):
            yield process.pid, url, "postgresql" if maintenance else "sqlite"
    finally:
        if maintenance is not None:
            postgres.drop_database(maintenance, name)


class Client:
    """One user's traffic: its own records in a shared collection."""

    def __init__(self, index: int, base: str, deadline: float) -> None:
        self.rng = random.Random(index)
        self.base = base
        self.records = f"{base}/buckets/soak/collections/items/records"
        self.deadline = deadline
        self.live: dict[str, str] = {}  # id -> ETag
        self.since_value: str | None = None
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.errors: list[str] = []
        self.session = Session()
        self.session.headers.update(auth(f"soak{index}"))

    def run(self) -> None:
        ops, weights = zip(*MIX.items(), strict=True)
        with self.session:
            while time.monotonic() < self.deadline and len(self.errors) < 10:
                op = self.rng.choices(ops, weights)[0]
                if op not in ("create", "list", "since", "batch") and not self.live:
                    op = "create"
                if op == "create" and len(self.live) >= LIVE_RECORDS_PER_CLIENT:
                    op = "delete"
                try:
                    getattr(self, op)(op)
                except requests.RequestException as exc:
                    self.errors.append(f"{op}: no answer: {exc!r}")

    def _send(self, op: str, method: str, url: str, **kwargs: Any) -> requests.Response:
        start = time.perf_counter()
        r = self.session.request(method, url, **kwargs)
        self.latencies[op].append(time.perf_counter() - start)
        self.statuses[(op, r.status_code)] += 1
        if r.status_code not in EXPECTED[op]:
            self.errors.append(f"{op} {method} {url}: {r.status_code} {r.text[:300]}")
        return r

    def _some_record(self) -> str:
        return self.rng.choice(list(self.live))

    def create(self, op: str) -> None:
        r = self._send(
            op,
            "POST",
            self.records,
            json={"data": {"title": "x" * self.rng.randint(10, 500), "n": 0}},
        )
        if r.status_code == 201:
            self.live[r.json()["data"]["id"]] = r.headers["ETag"]

    def read(self, op: str) -> None:
        rid = self._some_record()
        r = self._send(op, "GET", f"{self.records}/{rid}")
        if r.status_code == 200:
            self.live[rid] = r.headers["ETag"]

    def read_304(self, op: str) -> None:
        rid = self._some_record()
        self._send(op, "GET", f"{self.records}/{rid}", headers={"If-None-Match": self.live[rid]})

    def list(self, op: str) -> None:
        r = self._send(op, "GET", self.records, params={"_limit": "20", "_sort": "-n"})
        if r.status_code == 200 and r.headers.get("Next-Page") and self.rng.random() < 0.5:
            self._send(op, "GET", r.headers["Next-Page"])

    def patch(self, op: str) -> None:
        rid = self._some_record()
        r = self._send(
            op,
            "PATCH",
            f"{self.records}/{rid}",
            json={"data": {"n": self.rng.randint(0, 1000)}},
            headers={"If-Match": self.live[rid]},
        )
        if r.status_code == 200:
            self.live[rid] = r.headers["ETag"]

    def patch_412(self, op: str) -> None:
        rid = self._some_record()
        stale = f'"{int(self.live[rid].strip(chr(34))) - 1}"'
        self._send(
            op,
            "PATCH",
            f"{self.records}/{rid}",
            json={"data": {"n": -1}},
            headers={"If-Match": stale},
        )

    def delete(self, op: str) -> None:
        rid = self._some_record()
        r = self._send(op, "DELETE", f"{self.records}/{rid}")
        if r.status_code == 200:
            del self.live[rid]

    def since(self, op: str) -> None:
        params = {"_limit": "50"}
        if self.since_value is not None:
            params["_since"] = self.since_value
        r = self._send(op, "GET", self.records, params=params)
        if r.status_code == 200:
            self.since_value = r.headers["ETag"].strip('"')

    def batch(self, op: str) -> None:
        path = "/buckets/soak/collections/items/records"
        requests_ = [{"method": "POST", "path": path, "body": {"data": {"n": i}}} for i in range(3)]
        r = self._send(op, "POST", f"{self.base}/batch", json={"requests": requests_})
        if r.status_code != 200:
            return
        for sub in r.json()["responses"]:
            if sub["status"] != 201:
                self.errors.append(f"batch subrequest {sub['status']} {sub['body']}")
            elif len(self.live) < LIVE_RECORDS_PER_CLIENT:
                self.live[sub["body"]["data"]["id"]] = f'"{sub["body"]["data"]["last_modified"]}"'


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_soak_mixed_traffic_no_errors_flat_memory(
    soak_server: tuple[int, str, str],
) -> None:
    pid, base, backend = soak_server
    with Session() as s:
        s.headers.update(auth("soak0"))
        assert s.put(
            f"{base}/buckets/soak", json={"permissions": {"write": ["system.Authenticated"]}}
        ).ok
        assert s.put(f"{base}/buckets/soak/collections/items").ok

    start = time.monotonic()
    deadline = start + SECONDS
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample_rss() -> None:
        while not done.is_set():
            samples.append((time.monotonic() - start, rss_kib(pid)))
            done.wait(SAMPLE_EVERY_SECONDS)

    clients = [Client(i, base, deadline) for i in range(CLIENTS)]
    sampler = threading.Thread(target=sample_rss, name="rss")
    threads = [threading.Thread(target=c.run, name=f"client-{i}") for i, c in enumerate(clients)]
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 60)
    done.set()
    sampler.join(5)
    elapsed = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "a client hung"

    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[tuple[str, int]] = Counter()
    errors: list[str] = []
    for c in clients:
        for op, values in c.latencies.items():
            latencies[op].extend(values)
        statuses.update(c.statuses)
        errors.extend(c.errors)
    everything = [v for values in latencies.values() for v in values]
    thirds = [
        [rss for t, rss in samples if k * SECONDS / 3 <= t < (k + 1) * SECONDS / 3]
        for k in range(3)
    ]
    second, last = statistics.mean(thirds[1]), statistics.mean(thirds[2])
    report = {
        "backend": backend,
        "seconds": round(elapsed, 1),
        "clients": CLIENTS,
        "requests": len(everything),
        "requests_per_second": round(len(everything) / elapsed),
        "p50_ms": round(percentile(everything, 0.50) * 1000, 2),
        "p99_ms": round(percentile(everything, 0.99) * 1000, 2),
        "per_operation": {
            op: {
                "count": len(v),
                "p50_ms": round(percentile(v, 0.5) * 1000, 2),
                "p99_ms": round(percentile(v, 0.99) * 1000, 2),
            }
            for op, v in sorted(latencies.items())
        },
        "statuses": {f"{op} {status}": n for (op, status), n in sorted(statuses.items())},
        "rss_kib": {
            "first": samples[0][1],
            "max": max(r for _, r in samples),
            "last": samples[-1][1],
            "second_third_mean": round(second),
            "last_third_mean": round(last),
            "samples": len(samples),
        },
        "errors": errors[:10],
    }
    print("\nsoak:", json.dumps(report, indent=1))
    if os.environ.get("KINTO_CLONE_SOAK_REPORT"):
        Path(os.environ["KINTO_CLONE_SOAK_REPORT"]).write_text(json.dumps(report, indent=1))
    assert not errors, errors[:10]
    assert last <= second * (1 + RSS_GROWTH_ALLOWED), (
        f"RSS grew: second third {second:.0f} KiB, last third {last:.0f} KiB"
    )
    assert all(statuses[(op, s)] for op in MIX for s in EXPECTED[op]), (
        "an operation of the mix never ran"
    )
