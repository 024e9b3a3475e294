"""Does a sync poll or a list page cost the same on 1k and on 1M records? (issue 3)

For each backend (SQLite file, PostgreSQL) and collection size, this loads the records
straight into our tables (the HTTP API would take hours for 1M), then times requests
through the whole application stack in-process (WebTest: no socket, no waitress, so the
figure is the server's own cost):

- poll: ``GET .../records?_since=<ts>`` returning the 5 most recent changes;
- page: ``GET .../records?_limit=100`` (first page, newest first);
- sorted: ``GET .../records?_limit=100&_sort=n`` (sorted on a data field; not indexed, so
  not expected to be flat);
- old poll: ``GET .../records?_since=<ts>&_limit=100`` where 10% of the list changed
  since ``ts`` (its ``Total-Records`` counts them in the database).

The poll, the page and the old poll are timed with ``Total-Records`` on GET (the default)
and without (``total_records_on_get = false``), alternately, on the same database.
``--no-analyze``: measure right after the load, before PostgreSQL has statistics of the
new collection (as after an import or a restore); by default the load is ANALYZEd.

Usage: ``.venv/bin/python bench/scaling.py [--sizes 1000,100000,1000000] [--backends
sqlite,postgresql] [--requests 200] [--no-analyze]``. Prints a markdown table, also written
to ``bench/out/scaling.md``.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import psycopg2
import sqlalchemy as sa
import webtest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kinto_clone import main, migration  # noqa: E402  (after the sys.path line above)
from kinto_clone.db import Database  # noqa: E402  (after the sys.path line above)
from kinto_clone.tables import objects, timestamps  # noqa: E402  (after the sys.path line above)

AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
PARENT = "/buckets/bench/collections/c"
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_database(name: str) -> str:
    conn = psycopg2.connect(PG_SERVER)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return PG_SERVER.rsplit("/", 1)[0] + "/" + name


def _load(url: str, size: int, start_ms: int, analyze: bool) -> None:
    """``size`` records r0..r(size-1) with increasing timestamps, in bulk."""
    db = Database(url)
    rows_per_chunk = 20000
    with db.engine.begin() as conn:
        for first in range(0, size, rows_per_chunk):
            chunk = [
                {
                    "parent_id": PARENT,
                    "resource_name": "record",
                    "id": f"r{i:07d}",
                    "last_modified": start_ms + i,
                    "deleted": False,
                    "data": {"title": f"record {i}", "n": (i * 7919) % 1000003},
                }
                for i in range(first, min(size, first + rows_per_chunk))
            ]
            conn.execute(sa.insert(objects), chunk)
        # The list's timestamp row, as the API's writes keep it (created if missing).
        conn.execute(
            sa.delete(timestamps).where(
                timestamps.c.parent_id == PARENT, timestamps.c.resource_name == "record"
            )
        )
        conn.execute(
            sa.insert(timestamps).values(
                parent_id=PARENT,
                resource_name="record",
                last_modified=start_ms + size,
                live_count=size,
            )
        )
        if db.dialect == "postgresql" and analyze:
            conn.exec_driver_sql("ANALYZE")
    db.dispose()


def _app(url: str, total: bool = True) -> webtest.TestApp:
    return webtest.TestApp(
        main(
            {},
            **{
                "storage_backend": "kinto_clone.storage.sql",
                "storage_url": url,
                "permission_backend": "kinto_clone.permission.sql",
                "permission_url": url,
                "userid_hmac_secret": "bench",
                "multiauth.policies": "basicauth",
                "total_records_on_get": "true" if total else "false",
            },
        )
    )


def _median_ms(app: webtest.TestApp, path: str, count: int) -> float:
    for _ in range(10):
        app.get(path, headers=AUTH)
    samples = []
    for _ in range(count):
        t = time.perf_counter()
        app.get(path, headers=AUTH)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def _medians_ms(apps: list[webtest.TestApp], path: str, count: int) -> list[float]:
    """Median of each app on ``path``, the apps taking turns (so that a neighbour's load
    on the shared machine falls on both)."""
    for app in apps:
        for _ in range(10):
            app.get(path, headers=AUTH)
    samples: list[list[float]] = [[] for _ in apps]
    for _ in range(count):
        for app, mine in zip(apps, samples, strict=True):
            t = time.perf_counter()
            app.get(path, headers=AUTH)
            mine.append((time.perf_counter() - t) * 1000)
    return [statistics.median(mine) for mine in samples]


def measure(backend: str, size: int, count: int, workdir: str, analyze: bool) -> dict[str, Any]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/scaling-{size}.sqlite"
    else:
        url = _pg_database(f"bench_scaling_{size}")
    migration.upgrade(url)
    app = _app(url)
    app.put_json("/v1/buckets/bench", {}, headers=AUTH)
    app.put_json("/v1/buckets/bench/collections/c", {}, headers=AUTH)
    started = time.perf_counter()
    start_ms = 1_600_000_000_000
    _load(url, size, start_ms, analyze)
    load_s = time.perf_counter() - started
    without = _app(url, total=False)
    since = app.get(f"/v1{PARENT}/records?_limit=1", headers=AUTH).json["data"][0]
    for i in range(5):  # the changes a poll will see
        app.post_json(f"/v1{PARENT}/records", {"data": {"new": i}}, headers=AUTH)
    poll = f"/v1{PARENT}/records?_since={since['last_modified']}"
    old_poll = f"/v1{PARENT}/records?_since={start_ms + size - size // 10}&_limit=100"
    result: dict[str, Any] = {
        "backend": backend,
        "size": size,
        "load_s": load_s,
        "analyzed": analyze,
    }
    for name, path in (
        ("poll", poll),
        ("page", f"/v1{PARENT}/records?_limit=100"),
        ("old_poll", old_poll),
    ):
        result[name], result[name + "_off"] = _medians_ms([app, without], path, count)
    result["sorted"] = _median_ms(
        app, f"/v1{PARENT}/records?_limit=100&_sort=n", max(5, count // 20)
    )
    checked = app.get(poll, headers=AUTH)
    assert len(checked.json["data"]) == 5 and checked.headers["Total-Records"] == "5"
    assert app.get(old_poll, headers=AUTH).headers["Total-Records"] == str(size // 10 - 1 + 5)
    assert "Total-Records" not in without.get(poll, headers=AUTH).headers
    for each in (app, without):
        each.app.registry.kinto_clone_close()
    return result


def main_cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--no-analyze", action="store_true", help="no ANALYZE after the load (PostgreSQL)"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in args.backends.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                results.append(
                    measure(backend, size, args.requests, workdir, analyze=not args.no_analyze)
                )
                print(results[-1], file=sys.stderr)
    lines = [
        "| backend | records | analyzed | `_since` poll (5 changes), ms: with"
        " Total-Records / without | first page of 100, ms: with / without |"
        " `_since` poll (10% changed), page of 100, ms: with / without |"
        " page sorted on a data field, ms | load time, s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['size']:,} | {'yes' if r['analyzed'] else 'no'} |"
            f" {r['poll']:.2f} / {r['poll_off']:.2f} |"
            f" {r['page']:.2f} / {r['page_off']:.2f} |"
            f" {r['old_poll']:.2f} / {r['old_poll_off']:.2f} |"
            f" {r['sorted']:.1f} | {r['load_s']:.0f} |"
        )
    table = "\n".join(lines)
    print(table)
    os.makedirs(os.path.join(os.path.dirname(__file__), "out"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "out", "scaling.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main_cli()
