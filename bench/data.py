"""The data set, created identically on both servers.

Collections up to `http_max` (10k) records go through the HTTP API (`/batch` of PUTs when
the server has it, single PUTs otherwise). Collections of 100k and 1M records would take
minutes per server that way, so for those one record is created through the API (it makes
the server create whatever rows a collection and a record need) and the rest is inserted
directly into that server's own PostgreSQL tables with `INSERT ... SELECT generate_series`:
the same parent id and resource name as that API-created row, strictly increasing
timestamps older than it, and copies of its access control entries. On the memory backend
such collections are skipped.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from load import Client, Response, basic_auth
from servers import Server, psql

BUCKET = "bench"
ALICE = basic_auth("alice", "alice-secret")
BOB = basic_auth("bob", "bob-secret")
PREFIX = "/v1"
ACL_COLLECTION, ACL_EVERY = "c10k", 100  # bob may read every 100th record of c10k (W6)


class NotAvailable(Exception):
    """The server under test does not offer what a workload needs (404/405/501)."""


def rid(i: int) -> str:
    return f"r{i:07d}"


def record_data(i: int) -> dict:
    # mirrored by SQL_DATA below: the two loading paths must produce the same objects
    return {
        "title": f"record {i}",
        "n": i,
        "rnd": (i * 7919) % 1000003,
        "tags": ["bench", f"t{i % 10}"],
        "text": "lorem ipsum dolor sit amet " * 3,
    }


SQL_DATA = (
    "jsonb_build_object('title', 'record ' || i, 'n', i, 'rnd', (i::bigint * 7919) "
    "% 1000003, 'tags', jsonb_build_array('bench', 't' || (i % 10)), 'text', "
    "repeat('lorem ipsum dolor sit amet ', 3))"
)


def coll_path(coll: str) -> str:
    return f"{PREFIX}/buckets/{BUCKET}/collections/{coll}"


def expect(resp: Response, *ok: int, what: str = "") -> Response:
    if resp.status in (404, 405, 501):
        raise NotAvailable(f"{what or 'request'} answered {resp.status}")
    if resp.status not in ok:
        raise RuntimeError(f"{what}: HTTP {resp.status} {str(resp.body)[:300]}")
    return resp


@dataclass
class DataSet:
    server: Server
    sizes: dict[str, int]  # collection name -> number of records
    bob_principal: str = ""
    batch_max: int = 0  # 0: no /batch
    load_seconds: float = 0.0
    notes: list[str] | None = None
    log: Callable[[str], None] = print
    http_max: int = 10_000  # bigger collections are inserted with SQL (PostgreSQL only)
    analyze: bool = True  # False (--no-analyze): measured as loaded, without statistics
    w1_records: int = 0  # records in W1's collection before W1 creates (--w1-records)

    def client(self, auth: str = ALICE) -> Client:
        return Client(self.server.base_url, auth)

    def create(self) -> None:
        t0 = time.monotonic()
        self.notes = []
        alice = self.client()
        root = expect(alice.request("GET", f"{PREFIX}/"), 200, what="GET /v1/").body
        self.batch_max = int((root.get("settings") or {}).get("batch_max_requests") or 0)
        probe = alice.request("POST", f"{PREFIX}/batch", {"requests": []})
        if probe.status != 200:
            self.batch_max = 0
            self.notes.append(f"/batch answered {probe.status}: data loaded with single PUTs")
        bob = self.client(BOB).request("GET", f"{PREFIX}/").body or {}
        self.bob_principal = (bob.get("user") or {}).get("id", "")
        if not self.bob_principal:
            raise RuntimeError("GET /v1/ as bob shows no user id: is basicauth enabled?")
        expect(
            alice.request("PUT", f"{PREFIX}/buckets/{BUCKET}", {"data": {}}),
            200,
            201,
            what="PUT bucket",
        )
        for coll in ["w1", "w2", "w5", "w7", *self.sizes]:
            expect(
                alice.request("PUT", coll_path(coll), {"data": {}}),
                200,
                201,
                what=f"PUT collection {coll}",
            )
        expect(
            alice.request("PUT", coll_path("w2") + "/records/r1", {"data": record_data(1)}),
            200,
            201,
            what="PUT w2 record",
        )
        loads = dict(self.sizes)
        if self.w1_records:
            loads["w1"] = self.w1_records
        for coll, n in loads.items():
            t_coll = time.monotonic()
            if n <= self.http_max or (n <= 10_000 and not self.server.spec.uses_pg):
                self.load_http(coll, n)
                how = "/batch" if self.batch_max else "PUT"
            elif self.server.spec.uses_pg:
                self.load_sql(coll, n)
                how = "SQL"
            else:
                self.notes.append(f"{coll}: not loaded on the memory backend")
                continue
            self.log(
                f"[{self.server.spec.name}] {coll}: {n} records via {how} in "
                f"{time.monotonic() - t_coll:.1f}s"
            )
        if self.server.spec.uses_pg and self.analyze:
            psql("VACUUM ANALYZE", db=self.server.spec.db)
        self.load_seconds = time.monotonic() - t0

    def loaded(self, coll: str) -> bool:
        return coll in self.sizes and (self.sizes[coll] <= 10_000 or self.server.spec.uses_pg)

    def body(self, coll: str, i: int) -> dict:
        b: dict = {"data": record_data(i)}
        if coll == ACL_COLLECTION and i % ACL_EVERY == 0:
            b["permissions"] = {"read": [self.bob_principal]}
        return b

    # --- through the API --------------------------------------------------------------

    def load_http(self, coll: str, n: int) -> None:
        body = functools.partial(self.body, coll)

        chunk = self.batch_max or 1
        chunks = [list(range(s, min(n, s + chunk))) for s in range(0, n, chunk)]
        lock, failures = threading.Lock(), []
        # One batch client: concurrent batches into one collection race on Kinto's unique
        # timestamp index, and a 409 rolls a whole batch back (4 clients were ~5x slower).
        nthreads = 1 if self.batch_max else 4

        def worker(t: int) -> None:
            client = self.client()
            deadline = time.monotonic() + 1800
            for idx in range(t, len(chunks), nthreads):
                if time.monotonic() > deadline or failures:
                    return
                ids = chunks[idx]
                for _attempt in range(10):  # 409/503 are retried: PUTs are idempotent
                    if self.batch_max:
                        resp = client.request(
                            "POST",
                            f"{PREFIX}/batch",
                            {
                                "requests": [
                                    {
                                        "method": "PUT",
                                        "path": f"{coll_path(coll)}/records/{rid(i)}",
                                        "body": body(i),
                                    }
                                    for i in ids
                                ]
                            },
                        )
                        statuses = (
                            [r["status"] for r in resp.body["responses"]]
                            if resp.status == 200
                            else [resp.status]
                        )
                    else:
                        resp = client.request(
                            "PUT", f"{coll_path(coll)}/records/{rid(ids[0])}", body(ids[0])
                        )
                        statuses = [resp.status]
                    if all(s in (200, 201) for s in statuses):
                        break
                    if not any(s in (409, 503) for s in statuses):
                        with lock:
                            failures.append(f"{coll}: statuses {sorted(set(statuses))}")
                        return
                    time.sleep(0.05)
                else:
                    with lock:
                        failures.append(f"{coll}: still failing after 10 attempts")
                    return

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise RuntimeError(f"loading {coll} failed: {failures[0]}")

    # --- directly in the server's tables -----------------------------------------------

    def load_sql(self, coll: str, n: int) -> None:
        alice, db = self.client(), self.server.spec.db
        first = expect(
            alice.request("PUT", f"{coll_path(coll)}/records/{rid(0)}", self.body(coll, 0)),
            201,
            what=f"PUT {coll} probe",
        )
        probe_ts = int(first.body["data"]["last_modified"])
        row = psql(
            f"SELECT parent_id || '|' || resource_name FROM objects WHERE id = "
            f"'{rid(0)}' AND parent_id LIKE '%/{coll}'",
            db=db,
        )
        if not row or "\n" in row:
            raise RuntimeError(f"cannot find the row of {coll}/{rid(0)} in {db}.objects")
        parent, resource = row.split("|")
        coltype = psql(
            "SELECT data_type FROM information_schema.columns WHERE table_name = "
            "'objects' AND column_name = 'last_modified'",
            db=db,
        )
        # strictly increasing, distinct, all older than the API-created record
        ts = f"({probe_ts} - {n} + i)"
        if coltype.startswith("timestamp"):  # Kinto: TIMESTAMP, its own from_epoch()
            ts = f"from_epoch({ts})"
        elif coltype != "bigint":
            raise NotAvailable(f"unknown objects.last_modified type {coltype!r}")
        # triggers off for this session: Kinto's bump_timestamp would look up the list's
        # latest timestamp for each of the n rows; the values given here are already valid
        psql(
            "SET session_replication_role = replica; "
            "INSERT INTO objects (id, parent_id, resource_name, last_modified, deleted, data) "
            f"SELECT 'r' || lpad(i::text, 7, '0'), '{parent}', '{resource}', {ts}, false, "
            f"{SQL_DATA} FROM generate_series(1, {n - 1}) AS i",
            db=db,
        )
        self.copy_aces_sql(coll, n)
        counted = psql(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = "
            "'timestamps' AND column_name = 'live_count'",
            db=db,
        )
        if counted == "1":  # ours (since 950bb74) keeps each list's count in that row
            psql(
                f"UPDATE timestamps SET live_count = (SELECT count(*) FROM objects WHERE "
                f"parent_id = '{parent}' AND resource_name = '{resource}' AND NOT deleted) "
                f"WHERE parent_id = '{parent}' AND resource_name = '{resource}'",
                db=db,
            )
        got = self.count(coll)
        if got != n:
            raise RuntimeError(f"{coll}: {got} records visible through the API, expected {n}")

    def copy_aces_sql(self, coll: str, n: int) -> None:
        """Give records 1..n-1 the ACEs the server gave the API-created record 0 (e.g. the
        creator's `write`); bob's `read` only to every ACL_EVERY-th record of c10k."""
        db = self.server.spec.db
        rows = psql(
            "SELECT object_id || '|' || permission || '|' || principal FROM "
            f"access_control_entries WHERE object_id LIKE '%/{coll}/records/{rid(0)}'",
            db=db,
        )
        for row in filter(None, rows.splitlines()):
            obj, perm, principal = row.split("|")
            prefix = obj[: -len(rid(0))]
            where = (
                f"WHERE i % {ACL_EVERY} = 0"
                if principal == self.bob_principal and perm == "read"
                else ""
            )
            psql(
                "INSERT INTO access_control_entries (object_id, permission, principal) "
                f"SELECT '{prefix}' || 'r' || lpad(i::text, 7, '0'), '{perm}', '{principal}' "
                f"FROM generate_series(1, {n - 1}) AS i {where}",
                db=db,
            )

    # --- reading back -------------------------------------------------------------------

    def count(self, coll: str, auth: str = ALICE) -> int:
        client = self.client(auth)
        resp = client.request("HEAD", f"{coll_path(coll)}/records")
        total = resp.headers.get("total-objects") or resp.headers.get("total-records")
        if resp.status == 200 and total is not None:
            return int(total)
        return len(self.walk_ids(coll, auth=auth))

    def walk_ids(
        self, coll: str, limit: int = 1000, auth: str = ALICE, max_pages: int = 100_000
    ) -> list[str]:
        client, ids = self.client(auth), []
        url = f"{coll_path(coll)}/records?_limit={limit}"
        for _ in range(max_pages):
            resp = expect(client.request("GET", url), 200, what=f"walk {coll}")
            ids.extend(r["id"] for r in resp.body["data"])
            nxt = resp.headers.get("next-page")
            if not nxt:
                return ids
            url = nxt[nxt.index("/v1/") :]
        raise RuntimeError(f"walk of {coll} did not end after {max_pages} pages")
