"""What a restore costs: a collection of 10,000 records restored after 1,000 changes (issue 13).

For each backend (SQLite file, PostgreSQL), in-process (WebTest: the server's own cost):

1. load: ``--records`` records written through the API with the history plugin on (batches
   of 500), so each has its history entry as in production;
2. the point: the records list ETag then;
3. ``--changes`` changes through the API: 80% updates, 10% deletions, 10% creations;
4. measured: ``POST .../restore`` with ``dry_run``, then the restore itself: wall-clock
   seconds, SQL statements sent, and the peak of Python memory allocated during the
   request (``tracemalloc``; the process RSS is printed too);
5. checked: the records then equal the records at the point.

Usage: ``.venv/bin/python bench/restore.py [--records 10000] [--changes 1000] [--backends
sqlite,postgresql]``. Prints a markdown table, also written to ``bench/out/restore.md``.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from typing import Any

import psycopg2
import webtest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kinto_clone import main, migration  # noqa: E402

AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
C = "/v1/buckets/bench/collections/c"
BATCH = 500
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_database(name: str, drop_only: bool = False) -> str:
    conn = psycopg2.connect(PG_SERVER)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return PG_SERVER.rsplit("/", 1)[0] + "/" + name


def _app(url: str) -> webtest.TestApp:
    migration.upgrade(url)
    settings = {
        "userid_hmac_secret": "bench",
        "multiauth.policies": "basicauth",
        "bucket_create_principals": "system.Authenticated",
        "includes": "kinto_clone.plugins.history",
        "batch_max_requests": str(BATCH),
        "storage_backend": "kinto_clone.storage.sql",
        "storage_url": url,
        "permission_backend": "kinto_clone.permission.sql",
        "permission_url": url,
    }
    return webtest.TestApp(main({}, **settings))


def _batch(app: webtest.TestApp, requests: list[dict[str, Any]]) -> None:
    for start in range(0, len(requests), BATCH):
        resp = app.post_json(
            "/v1/batch", {"requests": requests[start : start + BATCH]}, headers=AUTH
        )
        assert all(r["status"] < 400 for r in resp.json["responses"]), resp.json


def _records(app: webtest.TestApp) -> dict[str, Any]:
    page = app.get(f"{C}/records?_limit=100000", headers=AUTH).json["data"]
    return {r["id"]: {k: v for k, v in r.items() if k != "last_modified"} for r in page}


def _measure(app: webtest.TestApp, body: dict[str, Any]) -> tuple[Any, float, int, int]:
    statements: list[str] = []
    databases = list(app.app.registry.backends.databases.values())
    for db in databases:
        db.statement_hooks.append(statements.append)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        resp = app.post_json(f"{C}/restore", body, headers=AUTH)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        for db in databases:
            db.statement_hooks.remove(statements.append)
    return resp.json["data"], elapsed, len(statements), peak


def run(backend: str, url: str, records: int, changes: int) -> list[str]:
    app = _app(url)
    try:
        app.put_json("/v1/buckets/bench", {}, headers=AUTH)
        app.put_json(C, {}, headers=AUTH)
        started = time.perf_counter()
        _batch(
            app,
            [
                {
                    "method": "PUT",
                    "path": f"{C[3:]}/records/r{i:05d}",
                    "body": {"data": {"n": i, "text": f"record {i}"}},
                }
                for i in range(records)
            ],
        )
        load = time.perf_counter() - started
        point = int(app.get(f"{C}/records?_limit=1", headers=AUTH).headers["ETag"].strip('"'))
        then = _records(app)
        updates, deletions = changes * 8 // 10, changes // 10
        ops = [
            {
                "method": "PATCH",
                "path": f"{C[3:]}/records/r{i:05d}",
                "body": {"data": {"n": -i - 1}},
            }
            for i in range(updates)
        ]
        ops += [
            {"method": "DELETE", "path": f"{C[3:]}/records/r{records - 1 - i:05d}"}
            for i in range(deletions)
        ]
        ops += [
            {"method": "PUT", "path": f"{C[3:]}/records/new{i:05d}", "body": {"data": {"n": i}}}
            for i in range(changes - updates - deletions)
        ]
        _batch(app, ops)
        dry, dry_s, dry_statements, dry_peak = _measure(
            app, {"data": {"at": point, "dry_run": True}}
        )
        done, seconds, statements, peak = _measure(app, {"data": {"at": point}})
        assert len(done["changes"]) == changes, len(done["changes"])
        assert len(dry["changes"]) == changes
        assert _records(app) == then, "the restored records differ from those at the point"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return [
            f"| {backend} | dry run | {records} | {changes} | {dry_s:.2f} | {dry_statements} "
            f"| {dry_peak / 2**20:.1f} | |",
            f"| {backend} | restore | {records} | {changes} | {seconds:.2f} | {statements} "
            f"| {peak / 2**20:.1f} | {rss} |",
            f"<!-- {backend}: load of {records} records with history: {load:.1f} s -->",
        ]
    finally:
        app.app.registry.kinto_clone_close()


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    lines = [
        "| backend | request | records | changes | seconds | statements | peak Python "
        "memory (MiB) | max RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                lines += run(backend, f"sqlite:///{tmp}/bench.sqlite", args.records, args.changes)
        else:
            name = f"bench_restore_{os.getpid()}"
            try:
                lines += run(backend, _pg_database(name), args.records, args.changes)
            finally:
                _pg_database(name, drop_only=True)
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(os.path.dirname(__file__), "out"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "out", "restore.md"), "w") as out:
        out.write(text + "\n")


if __name__ == "__main__":
    main_()
