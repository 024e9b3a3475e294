"""Acknowledged writes survive the server: a clean stop (SIGTERM) and a crash (SIGKILL).

The real server (``tests/server.py``) runs on a SQLite file or a PostgreSQL database; the
test writes through HTTP, stops the process, starts a new one on the same database and
reads everything back. A write is *acknowledged* when its response arrived: from then on
it must be there after any stop, with the very timestamps the client was given (a client
that syncs with ``_since`` relies on them). Writes still in flight when the process dies
may or may not be there, but never in part: a batch is all or nothing.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import requests

from tests import server
from tests.support import ALICE

BUCKET = "/buckets/durable"
COLLECTION = f"{BUCKET}/collections/notes"
RECORDS = f"{COLLECTION}/records"
# Enough acknowledged writes before the crash that several are in flight when it comes.
WRITES_BEFORE_CRASH = 40
BATCH_SIZE = 5
REQUEST_TIMEOUT_SECONDS = 10


def session() -> requests.Session:
    return server.session_as(ALICE)


def everything(base_url: str) -> tuple[dict[str, dict[str, Any]], str]:
    """Every change of the collection (tombstones included) by id, and the list ETag."""
    resp = session().get(f"{base_url}{RECORDS}?_since=0", timeout=REQUEST_TIMEOUT_SECONDS)
    assert resp.status_code == 200, resp.text
    return {r["id"]: r for r in resp.json()["data"]}, resp.headers["ETag"]


def assert_new_writes_come_after(base_url: str, records: dict[str, dict[str, Any]]) -> None:
    """The restarted server carries on the timestamps: a _since poll misses nothing."""
    resp = session().post(
        base_url + RECORDS, json={"data": {"after": "restart"}}, timeout=REQUEST_TIMEOUT_SECONDS
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["data"]["last_modified"] > max(r["last_modified"] for r in records.values())


def test_acknowledged_writes_survive_a_sigterm_and_a_restart(
    durable_ini: Path, tmp_path: Path
) -> None:
    with server.running(durable_ini, tmp_path / "first") as (process, base_url):
        server.create(session(), base_url, BUCKET, COLLECTION)
        http = session()
        for n in range(20):
            resp = http.put(
                f"{base_url}{RECORDS}/r{n:02d}",
                json={"data": {"n": n}},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
            assert resp.status_code == 201, resp.text
        for n in range(0, 20, 4):
            resp = http.patch(
                f"{base_url}{RECORDS}/r{n:02d}",
                json={"data": {"patched": True}},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
            assert resp.status_code == 200, resp.text
        for n in range(1, 20, 5):
            resp = http.delete(f"{base_url}{RECORDS}/r{n:02d}", timeout=REQUEST_TIMEOUT_SECONDS)
            assert resp.status_code == 200, resp.text
        before, etag = everything(base_url)
        collection = http.get(base_url + COLLECTION, timeout=REQUEST_TIMEOUT_SECONDS).json()

        process.send_signal(signal.SIGTERM)
        # SIGTERM alone stops the server (stop() would otherwise fall back to SIGKILL).
        assert process.wait(timeout=server.STOP_TIMEOUT_SECONDS) is not None

    with server.running(durable_ini, tmp_path / "second") as (_, base_url):
        after, etag_after = everything(base_url)
        assert after == before
        assert etag_after == etag
        assert len([r for r in after.values() if r.get("deleted")]) == 4
        resp = session().get(base_url + COLLECTION, timeout=REQUEST_TIMEOUT_SECONDS)
        assert resp.json() == collection
        assert_new_writes_come_after(base_url, after)


class Writer(threading.Thread):
    """Writes new records until the server goes away; keeps what was acknowledged.

    ``batches`` makes it send batches of ``BATCH_SIZE`` creates instead of single POSTs.
    """

    def __init__(self, base_url: str, name: str, *, batches: bool = False) -> None:
        super().__init__(name=name, daemon=True)
        self.base_url = base_url
        self.batches = batches
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.sent: list[list[str]] = []  # the ids of each request sent, acknowledged or not
        self.unexpected: list[str] = []

    def run(self) -> None:
        http = session()
        for n in range(10_000):
            ids = [f"{self.name}-{n:04d}-{i}" for i in range(BATCH_SIZE if self.batches else 1)]
            self.sent.append(ids)
            try:
                if self.batches:
                    requests_ = [
                        {
                            "method": "PUT",
                            "path": f"{RECORDS}/{record_id}",
                            "body": {"data": {"n": n}},
                        }
                        for record_id in ids
                    ]
                    resp = http.post(
                        self.base_url + "/batch",
                        json={"requests": requests_},
                        timeout=REQUEST_TIMEOUT_SECONDS,
                    )
                else:
                    resp = http.put(
                        f"{self.base_url}{RECORDS}/{ids[0]}",
                        json={"data": {"n": n}},
                        timeout=REQUEST_TIMEOUT_SECONDS,
                    )
            except requests.RequestException:
                return  # the server is gone
            if resp.status_code not in (200, 201):
                self.unexpected.append(f"{resp.status_code} {resp.text}")
                return
            results = (
                resp.json()["responses"]
                if self.batches
                else [{"status": resp.status_code, "body": resp.json()}]
            )
            for record_id, result in zip(ids, results, strict=True):
                if result["status"] != 201:
                    self.unexpected.append(f"{record_id}: {result}")
                    return
                self.acknowledged[record_id] = result["body"]["data"]


def test_every_acknowledged_write_survives_a_sigkill(durable_ini: Path, tmp_path: Path) -> None:
    with server.running(durable_ini, tmp_path / "first") as (process, base_url):
        server.create(session(), base_url, BUCKET, COLLECTION)
        writers = [Writer(base_url, "single"), Writer(base_url, "batch", batches=True)]
        server.sigkill_while_writing(
            process, writers, WRITES_BEFORE_CRASH, 60, join_seconds=REQUEST_TIMEOUT_SECONDS * 2
        )

    with server.running(durable_ini, tmp_path / "second") as (_, base_url):
        stored, _ = everything(base_url)

        for writer in writers:
            missing = {i: r for i, r in writer.acknowledged.items() if stored.get(i) != r}
            assert not missing, f"acknowledged but lost or changed: {sorted(missing)}"
            for ids in writer.sent:
                present = [record_id in stored for record_id in ids]
                assert all(present) or not any(present), f"half a batch was stored: {ids}"
        timestamps = [r["last_modified"] for r in stored.values()]
        assert len(set(timestamps)) == len(timestamps)
        assert_new_writes_come_after(base_url, stored)
