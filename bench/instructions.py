"""Instructions per request of ours, counted by valgrind (callgrind): a figure that does not
move with what else the machine runs, for comparing two commits of the hot paths.

    .venv/bin/python bench/instructions.py [--tree PATH ...] [--workloads get,page,...]
                                           [--requests 300]

Each workload runs in a process of its own under ``valgrind --tool=callgrind
--instr-atstart=no``: the app is built in-process (WebTest, no HTTP server) on a fresh
PostgreSQL database, loaded, analyzed and warmed up, then the counting is switched on for
``--requests`` requests only (``callgrind_control -i on|off``). The count covers our
server's Python and C code and WebTest's, not PostgreSQL's (another process): server CPU,
not database time. With several ``--tree`` (checkouts of other commits, e.g. ``git
worktree``s, each with its ``.venv`` or a link to this one's), one column per tree.

Workloads: ``get`` (one record), ``page`` (first page of 100 of 300), ``walk`` (a
``_token`` page), ``since`` (a ``_since`` poll answering the 10 newest: bench W4),
``sorted`` (a page of 100 sorted on a data field: W3s), ``reader`` (the list as a user
who may read 1% of it: W6), ``patch`` (one record, no If-Match), ``ifmatch`` (one record, with the
ETag of the previous PATCH: bench W5d), ``stale`` (one record, with an old ETag: a 412,
most of bench W5s), ``create`` (POST a record).
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = (
    "get",
    "page",
    "walk",
    "since",
    "sorted",
    "reader",
    "patch",
    "ifmatch",
    "stale",
    "create",
)
RECORDS = "/v1/buckets/bench/collections/c/records"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:alice-secret").decode()}
READER = {"Authorization": "Basic " + base64.b64encode(b"bob:bob-secret").decode()}
READER_ID = "basicauth:" + hmac.new(b"bench", b"bob:bob-secret", hashlib.sha256).hexdigest()
SERVER = "postgresql://postgres@127.0.0.1:5432"


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{SERVER}/{db}", "-qc", sql], check=True, capture_output=True)


def child(tree: str, workload: str, requests: int) -> None:
    """Runs under valgrind, from ``tree`` (first on sys.path): set up, then count."""
    sys.path.insert(0, tree)
    import webtest
    from pyramid.paster import get_app

    import kinto_clone

    assert kinto_clone.__file__.startswith(tree), kinto_clone.__file__
    db = f"bench_instructions_{os.getpid()}"
    psql(f"DROP DATABASE IF EXISTS {db}")
    psql(f"CREATE DATABASE {db}")
    url = f"{SERVER}/{db}"
    ini = Path(tempfile.mkdtemp(prefix="bench-instructions-")) / "ours.ini"
    ini.write_text(
        "[app:main]\nuse = egg:kinto_clone\n"
        "kinto.includes = kinto_clone.plugins.default_bucket\n"
        f"kinto.storage_backend = kinto_clone.storage.sql\nkinto.storage_url = {url}\n"
        f"kinto.permission_backend = kinto_clone.permission.sql\nkinto.permission_url = {url}\n"
        "kinto.userid_hmac_secret = bench\nmultiauth.policies = basicauth\n"
        "kinto.bucket_create_principals = system.Authenticated\n"
    )
    python = sys.executable
    subprocess.run(
        [python, "-m", "kinto_clone", "migrate", "--ini", str(ini)],
        check=True,
        cwd=tree,
        capture_output=True,
    )
    try:
        app = webtest.TestApp(get_app(str(ini)))
        app.put_json("/v1/buckets/bench", {}, headers=AUTH)
        app.put_json("/v1/buckets/bench/collections/c", {}, headers=AUTH)
        for i in range(300):
            data = {"title": f"record {(i * 7919) % 300}", "n": i, "text": "lorem ipsum"}
            perms = {"read": [READER_ID]} if i % 100 == 0 else {}
            app.put_json(f"{RECORDS}/r{i:04d}", {"data": data, "permissions": perms}, headers=AUTH)
        psql("VACUUM ANALYZE", db)
        walk = app.get(f"{RECORDS}?_limit=100", headers=AUTH).headers["Next-Page"]
        walk = walk[walk.index("/v1/") :]
        etags = [app.get(f"{RECORDS}/r0003", headers=AUTH).headers["ETag"]]
        newest = app.get(f"{RECORDS}?_sort=-last_modified&_limit=11", headers=AUTH).json
        since = newest["data"][-1]["last_modified"]

        reads = {  # workload -> (URL, credentials)
            "get": (f"{RECORDS}/r0001", AUTH),
            "page": (f"{RECORDS}?_limit=100", AUTH),
            "walk": (walk, AUTH),
            "since": (f"{RECORDS}?_since={since}", AUTH),
            "sorted": (f"{RECORDS}?_limit=100&_sort=title", AUTH),
            "reader": (RECORDS, READER),
        }

        def one(i: int) -> None:
            if workload in reads:
                url, credentials = reads[workload]
                app.get(url, headers=credentials)
            elif workload == "patch":
                app.patch_json(f"{RECORDS}/r0002", {"data": {"counter": i}}, headers=AUTH)
            elif workload == "ifmatch":
                headers = {**AUTH, "If-Match": etags[-1]}
                reply = app.patch_json(f"{RECORDS}/r0003", {"data": {"n": i}}, headers=headers)
                etags.append(reply.headers["ETag"])
            elif workload == "stale":
                headers = {**AUTH, "If-Match": '"1"'}
                app.patch_json(f"{RECORDS}/r0002", {"data": {"n": i}}, headers=headers, status=412)
            else:
                app.post_json(RECORDS, {"data": {"title": "new", "n": i}}, headers=AUTH)

        gc.collect()  # as `kinto-clone start` does before serving (__main__.py)
        gc.freeze()
        for i in range(100):  # warm-up: caches, prepared statements, pools
            one(i)
        toggle = ["callgrind_control", "-i"]
        subprocess.run([*toggle, "on", str(os.getpid())], check=True, capture_output=True)
        for i in range(requests):
            one(i)
        subprocess.run([*toggle, "off", str(os.getpid())], check=True, capture_output=True)
    finally:
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def count(tree: Path, workload: str, requests: int) -> int:
    """Instructions per request of ``workload`` run from ``tree``."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                str(tree / ".venv" / "bin" / "python"),
                str(Path(__file__).resolve()),
                "--child",
                str(tree),
                workload,
                str(requests),
            ],
            check=True,
            cwd=tree,
            capture_output=True,
        )
        for line in out.read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1]) // requests
    raise RuntimeError(f"no totals in callgrind's output for {workload}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", action="append", help="checkout to measure (default: this one)")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        tree, workload, requests = args.child
        child(tree, workload, int(requests))
        return
    trees = [Path(t).resolve() for t in (args.tree or [str(ROOT)])]
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        p.error(f"unknown workloads: {sorted(unknown)} (known: {', '.join(WORKLOADS)})")
    print("| workload | " + " | ".join(str(t) for t in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for workload in workloads:
        counts = [count(tree, workload, args.requests) for tree in trees]
        cells = [f"{counts[0]:,}"] + [
            f"{c:,} ({100 * (c - counts[0]) / counts[0]:+.1f}%)" for c in counts[1:]
        ]
        print(f"| {workload} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
