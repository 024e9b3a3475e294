"""Attachments survive a crash whole, and a crash leaves no file behind (issue 11).

Writers upload files concurrently (new records, and new files replacing the file of a
record, some of them the same bytes as another record's) to a real server on SQLite or
PostgreSQL, which gets SIGKILL while they write. After a restart every acknowledged upload
is downloadable with its hash, and the database holds exactly the files records point to:
each with as many references as records naming it, none without one, no chunk missing.
"""

from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path

import requests
import sqlalchemy as sa

from tests import server
from tests.support import ALICE

BUCKET = "/buckets/files"
COLLECTION = f"{BUCKET}/collections/certs"
RECORDS = f"{COLLECTION}/records"
LIVE_SERVER_SETTINGS = {"kinto.includes": "kinto_attachment"}
UPLOADS_BEFORE_CRASH = 30
TIMEOUT = 20
SHARED = b"shared by several records" * 1000


class Uploader(threading.Thread):
    """Uploads until the server goes away. ``sent[record]``: the hashes sent to it, in
    order; ``acknowledged[record]``: the last one whose upload was answered."""

    def __init__(self, base_url: str, name: str, seed: int) -> None:
        super().__init__(name=name, daemon=True)
        self.base_url = base_url
        self.random = random.Random(seed)
        self.sent: dict[str, list[str]] = {}
        self.acknowledged: dict[str, str] = {}
        self.unexpected: list[str] = []

    def content(self, n: int) -> bytes:
        if n == 0 or self.random.random() < 0.2:  # every uploader's first record shares it
            return SHARED
        return self.random.randbytes(self.random.randint(1, 600_000))

    def run(self) -> None:
        http = server.session_as(ALICE)
        for n in range(10_000):
            record = f"{self.name}-{n:04d}"
            replaceable = sorted(r for r in self.acknowledged if not r.endswith("-0000"))
            if replaceable and self.random.random() < 0.3:  # replace a record's file
                record = self.random.choice(replaceable)
            content = self.content(n)
            digest = hashlib.sha256(content).hexdigest()
            self.sent.setdefault(record, []).append(digest)
            try:
                resp = http.post(
                    f"{self.base_url}{RECORDS}/{record}/attachment",
                    files={"attachment": (f"{n}.txt", content, "text/plain")},
                    timeout=TIMEOUT,
                )
            except requests.RequestException:
                return  # the server is gone
            if resp.status_code not in (200, 201) or resp.json()["hash"] != digest:
                self.unexpected.append(f"{resp.status_code} {resp.text[:200]}")
                return
            self.acknowledged[record] = digest


def database_state(url: str) -> tuple[dict[str, str], dict[str, tuple[int, int, int]]]:
    """Links (record URI -> file) and files (hash -> refs, size, bytes in chunks)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            links = dict(
                conn.execute(sa.text("SELECT record_uri, location FROM attachment_links")).all()
            )
            files = {
                row[0]: (int(row[1]), int(row[2]), int(row[3]))
                for row in conn.execute(
                    sa.text(
                        "SELECT f.hash, f.refs, f.size, (SELECT COALESCE(SUM(LENGTH(content)),"
                        " 0) FROM attachment_chunks c WHERE c.hash = f.hash) "
                        "FROM attachment_files f"
                    )
                )
            }
            orphans = conn.execute(
                sa.text(
                    "SELECT COUNT(*) FROM attachment_chunks c WHERE NOT EXISTS "
                    "(SELECT 1 FROM attachment_files f WHERE f.hash = c.hash)"
                )
            ).scalar()
            assert orphans == 0, "chunks of no file"
    finally:
        engine.dispose()
    return links, files


def test_acknowledged_uploads_survive_a_sigkill_and_no_file_is_left_over(
    durable_ini: Path, durable_settings: dict[str, str], tmp_path: Path
) -> None:
    with server.running(durable_ini, tmp_path / "first") as (process, base_url):
        server.create(server.session_as(ALICE), base_url, BUCKET, COLLECTION, timeout=TIMEOUT)
        uploaders = [Uploader(base_url, f"u{i}", seed=i) for i in range(3)]
        server.sigkill_while_writing(
            process, uploaders, UPLOADS_BEFORE_CRASH, 90, join_seconds=TIMEOUT * 2
        )

    with server.running(durable_ini, tmp_path / "second") as (_, base_url):
        http = server.session_as(ALICE)
        records = {
            r["id"]: r for r in http.get(f"{base_url}{RECORDS}", timeout=TIMEOUT).json()["data"]
        }
        for uploader in uploaders:
            for record, acknowledged in uploader.acknowledged.items():
                sent = uploader.sent[record]
                # The acknowledged file, or one sent after it that was in flight.
                allowed = sent[len(sent) - 1 - sent[::-1].index(acknowledged) :]
                attachment = records[record]["attachment"]
                assert attachment["hash"] in allowed, record
                # The location names the first server's port; this one listens elsewhere.
                assert attachment["location"].endswith(f"/v1/attachments/{attachment['hash']}")
                body = requests.get(
                    f"{base_url}/attachments/{attachment['hash']}", timeout=TIMEOUT
                ).content
                assert hashlib.sha256(body).hexdigest() == attachment["hash"]

        links, files = database_state(durable_settings["kinto.storage_url"])
        expected_links = {
            f"{RECORDS}/{rid}": r["attachment"]["hash"]
            for rid, r in records.items()
            if r.get("attachment")
        }
        assert links == expected_links
        references = {h: list(links.values()).count(h) for h in set(links.values())}
        assert {h: refs for h, (refs, _, _) in files.items()} == references
        assert all(size == in_chunks for _, size, in_chunks in files.values())
        assert references[hashlib.sha256(SHARED).hexdigest()] >= len(uploaders)  # one copy
