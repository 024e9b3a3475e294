"""Query plans of the hot requests, on a database the planner knows nothing about (issue 15).

10,000 records (each with its creator's ``write`` ACE, as the API writes them) and a reader
holding ``read`` on 1% of them are loaded straight into the tables, as an import or a
restore would, with autovacuum off for those tables: PostgreSQL has no statistics of them.
Then the hot requests go through the application and every statement they send is
explained on a second connection, before it runs:

- no scan of a whole table of objects or ACEs;
- a primary-key lookup is read through the primary key (``id`` is an index condition,
  never a filter applied while walking a list);
- a nested loop only probes objects by primary key;
- reads (EXPLAIN ANALYZE) read a bounded number of rows: the page, not the collection.

The same after ANALYZE, and the same on SQLite (EXPLAIN QUERY PLAN, no ``sqlite_stat1``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa
import webtest

from kinto_clone import json, main, migration
from kinto_clone.db import PLAN_OPTIONS, Database
from kinto_clone.raw_cursor import Prepared
from kinto_clone.tables import access_control_entries, objects, timestamps
from tests import postgres
from tests.conftest import DEFAULT_SETTINGS
from tests.support import ALICE, BOB, userid

RECORDS_COUNT, READABLE_EVERY = 10_000, 100  # the reader holds read on 1%
BUCKET = "/buckets/b"
COLLECTION = f"{BUCKET}/collections/c"
RECORDS = f"/v1{COLLECTION}/records"
START = 1_700_000_000_000
ROWS_READ_BOUND = 300  # a page of 10, the reader's 100 records and their ACEs, slack
TABLES = ("objects", "access_control_entries", "timestamps", "user_principals")


def _load(url: str, numbers: Sequence[int] = range(RECORDS_COUNT), *, first: bool = True) -> None:
    """What the API would have written for alice's bucket, collection and the records
    ``numbers``; ``first``: the bucket and collection too, else records added to them."""
    alice = userid("alice")
    rows = [
        {
            "parent_id": COLLECTION,
            "resource_name": "record",
            "id": f"r{i:05d}",
            "last_modified": START + 1 + i,
            "deleted": False,
            "data": {"title": f"record {i}", "n": i},
        }
        for i in numbers
    ]
    aces = [
        {"object_id": f"{COLLECTION}/records/r{i:05d}", "permission": "write", "principal": alice}
        for i in numbers
    ]
    aces += [
        {
            "object_id": f"{COLLECTION}/records/r{i:05d}",
            "permission": "read",
            "principal": userid("bob"),
        }
        for i in numbers
        if i % READABLE_EVERY == 0
    ]
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.insert(objects), rows)
            conn.execute(sa.insert(access_control_entries), aces)
            if not first:
                list_row = sa.and_(
                    timestamps.c.parent_id == COLLECTION, timestamps.c.resource_name == "record"
                )
                moved = timestamps.c.live_count + len(numbers)
                conn.execute(sa.update(timestamps).where(list_row).values(live_count=moved))
            else:
                _load_containers(conn, len(numbers))
    finally:
        db.dispose()


def _load_containers(conn: sa.Connection, records: int) -> None:
    alice = userid("alice")
    containers = [("", "bucket", "b"), (BUCKET, "collection", "c")]
    conn.execute(
        sa.insert(objects),
        [
            {
                "parent_id": parent,
                "resource_name": name,
                "id": id_,
                "last_modified": START,
                "deleted": False,
                "data": {},
            }
            for parent, name, id_ in containers
        ],
    )
    conn.execute(
        sa.insert(access_control_entries),
        [
            {"object_id": uri, "permission": "write", "principal": alice}
            for uri in (BUCKET, COLLECTION)
        ],
    )
    lists = [("", "bucket", 1), (BUCKET, "collection", 1), (COLLECTION, "record", records)]
    conn.execute(
        sa.insert(timestamps),
        [
            {
                "parent_id": parent,
                "resource_name": name,
                "last_modified": START + RECORDS_COUNT,
                "live_count": count,
            }
            for parent, name, count in lists
        ],
    )


def _app(url: str) -> webtest.TestApp:
    settings = {
        **DEFAULT_SETTINGS,
        "storage_backend": "kinto_clone.storage.sql",
        "storage_url": url,
        "permission_backend": "kinto_clone.permission.sql",
        "permission_url": url,
        "experimental_permissions_endpoint": "true",
        "includes": "kinto_clone.plugins.default_bucket kinto_clone.plugins.history",
    }
    return webtest.TestApp(main({}, **settings))


def hot_requests(app: webtest.TestApp, first: int) -> Iterator[tuple[str, Callable[[], Any]]]:
    """The requests of issue 15's list, each a name and a call (run in this order); the
    writes change records ``first`` to ``first + 2``, untouched so far."""
    record = f"{RECORDS}/r{first:05d}"
    since = START + RECORDS_COUNT - 5
    yield "object GET", lambda: app.get(record, headers=ALICE, status=200)
    yield "create", lambda: app.post_json(RECORDS, {"data": {"n": -1}}, headers=ALICE, status=201)
    yield (
        "PUT create",
        lambda: app.put_json(f"{RECORDS}/new{first}", {"data": {}}, headers=ALICE, status=201),
    )
    yield "PATCH", lambda: app.patch_json(record, {"data": {"n": 0}}, headers=ALICE, status=200)
    yield (
        "PATCH If-Match",
        lambda: app.patch_json(
            f"{RECORDS}/r{first + 1:05d}",
            {"data": {"n": 1}},
            headers={**ALICE, "If-Match": f'"{START + first + 2}"'},
            status=200,
        ),
    )
    yield "DELETE", lambda: app.delete(f"{RECORDS}/r{first + 2:05d}", headers=ALICE, status=200)
    yield "list page", lambda: app.get(f"{RECORDS}?_limit=10", headers=ALICE, status=200)
    yield (
        "_since poll",
        lambda: app.get(f"{RECORDS}?_since={since}&_limit=10", headers=ALICE, status=200),
    )
    yield (
        "next page",
        lambda: app.get(
            app.get(f"{RECORDS}?_limit=10", headers=ALICE).headers["Next-Page"],
            headers=ALICE,
            status=200,
        ),
    )
    yield "readable-by list", lambda: app.get(f"{RECORDS}?_limit=10", headers=BOB, status=200)
    yield (
        "readable-by next page",
        lambda: app.get(
            app.get(f"{RECORDS}?_limit=10", headers=BOB).headers["Next-Page"],
            headers=BOB,
            status=200,
        ),
    )
    yield (
        "readable-by _since poll",
        lambda: app.get(f"{RECORDS}?_since={START}&_limit=10", headers=BOB, status=200),
    )
    yield "count", lambda: app.head(RECORDS, headers=ALICE, status=200)
    yield "readable-by count", lambda: app.head(RECORDS, headers=BOB, status=200)
    yield (
        "batch",
        lambda: app.post_json(
            "/v1/batch",
            {
                "requests": [
                    {"method": "POST", "path": RECORDS[3:], "body": {"data": {"n": n}}}
                    for n in range(3)
                ]
            },
            headers=ALICE,
            status=200,
        ),
    )
    yield (
        "history list",
        lambda: app.get(f"/v1{BUCKET}/history?_limit=10", headers=ALICE, status=200),
    )
    yield "/permissions", lambda: app.get("/v1/permissions", headers=BOB, status=200)


def explained(
    app: webtest.TestApp, explain: Callable[[str, Any], None], first: int = 5000
) -> list[str]:
    """Run the hot requests with ``explain`` called on each statement before it is sent;
    returns the names of the requests run."""
    db = app.app.registry.backends.storage.db
    names = []
    db.sent_hooks.append(explain)
    try:
        for name, call in hot_requests(app, first):
            names.append(name)
            explain.__dict__["request"] = name  # type: ignore[attr-defined]
            call()
    finally:
        db.sent_hooks.remove(explain)
    return names


# -- PostgreSQL ----------------------------------------------------------------------------


def _is_whole_list_count(node: dict[str, Any]) -> bool:
    """The fallback count of a whole list (``COALESCE(kept count, count(*))``, or a new
    list's first count): an InitPlan that runs only when the kept count is unknown. Counting
    a whole list may well read it all."""
    if node["Node Type"] != "Aggregate" or node.get("Parent Relationship") != "InitPlan":
        return False
    scans = [n for n in _nodes(node) if "Relation Name" in n]
    return all(
        n["Relation Name"] == "objects"
        and not any(
            word in n.get("Filter", "") + n.get("Index Cond", "") + n.get("Recheck Cond", "")
            for word in ("last_modified", "(id = ", "ANY")
        )
        for n in scans
    )


def _nodes(
    plan: dict[str, Any],
    skip: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    if skip is not None and skip(plan):
        return
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child, skip)


def _is_probe(node: dict[str, Any]) -> bool:
    """A scan of objects by primary key with ``id`` among the index conditions."""
    return (
        node.get("Relation Name") == "objects"
        and node.get("Index Name") == "objects_pkey"
        and "id = " in node.get("Index Cond", "")
    )


def plan_problems(plan: dict[str, Any], analyzed: bool) -> list[str]:
    problems = []
    for node in _nodes(plan):
        if _is_whole_list_count(node) and node.get("Actual Loops", 0):
            problems.append("a whole list counted (its kept count unknown)")
    for node in _nodes(plan, skip=_is_whole_list_count):
        relation, kind = node.get("Relation Name"), node["Node Type"]
        if relation in ("objects", "access_control_entries") and kind == "Seq Scan":
            problems.append(f"sequential scan of {relation}")
        if relation == "objects" and "id = " in node.get("Filter", ""):
            problems.append(f"id filtered while scanning {node.get('Index Name')}")
        if kind == "Nested Loop":
            inner = node["Plans"][1]
            if any(n.get("Relation Name") == "objects" and not _is_probe(n) for n in _nodes(inner)):
                problems.append("nested loop over objects not probed by primary key")
        if analyzed and relation in ("objects", "access_control_entries"):
            read = (
                node.get("Actual Rows", 0)
                + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0)
            )
            read *= node.get("Actual Loops", 1)
            if read > ROWS_READ_BOUND:
                problems.append(f"{read} rows read from {relation} ({node.get('Index Name')})")
    return problems


def _is_read(sql: str) -> bool:
    words = sql.upper().split()
    return words[0] in ("SELECT", "WITH") and not {"INSERT", "UPDATE", "DELETE"} & set(words)


def _plans_database(worker_id: str, name: str, numbers: Sequence[int]) -> Iterator[str]:
    """A database of the records ``numbers``, autovacuum off for its tables."""
    server = postgres.server_url()
    if server is None:
        pytest.fail("PostgreSQL is neither running nor installed")  # never skip: CI
    name = f"kinto_clone_test_plans_{name}_{worker_id}"
    url = postgres.create_database(server, name)
    migration.upgrade(url)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    _load(url, numbers)
    conn.close()
    yield url
    migration.forget(url)
    postgres.drop_database(server, name)


def _analyzed(url: str) -> int:
    """How many statistics PostgreSQL has of the tables."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stats WHERE tablename = ANY(%s)", (list(TABLES),))
        return int(cur.fetchone()[0])


def _vacuum_analyze(url: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()


@pytest.fixture(scope="module")
def unanalyzed_postgresql(worker_id: str) -> Iterator[str]:
    yield from _plans_database(worker_id, "unanalyzed", range(RECORDS_COUNT))


# A small collection: the records the first pass writes, and 21 the reader may read.
SMALL = [*range(10), *range(READABLE_EVERY, 21 * READABLE_EVERY + 1, READABLE_EVERY)]


@pytest.fixture
def small_postgresql(worker_id: str) -> Iterator[str]:
    yield from _plans_database(worker_id, "small", SMALL)


class PlanChecker:
    """The app, and a second connection with the app's planner settings (``db.py``) that
    explains each statement the app is about to send: a prepared statement as this
    connection's own prepared copy, so the plan checked is the one kept for it (made at
    its first run here, as on each of the app's connections)."""

    def __init__(self, url: str) -> None:
        self.app = _app(url)
        self.explainer = psycopg2.connect(url, options=PLAN_OPTIONS)
        self.explainer.autocommit = True
        self.prepared: set[str] = set()
        self.problems: dict[str, list[str]] = {}
        self.count = 0
        self.prepared_only = False

    def close(self) -> None:
        self.explainer.close()
        self.app.app.registry.kinto_clone_close()

    def check(self, first: int, *, prepared_only: bool = False) -> None:
        """Run the hot requests and check the plans of their statements (``prepared_only``:
        of the prepared ones only, whose plans are kept)."""
        self.problems, self.count, self.prepared_only = {}, 0, prepared_only
        names = explained(self.app, self.explain, first)
        assert len(names) == 17 and self.count >= (20 if prepared_only else 30)
        assert not self.problems, "\n\n".join(f"{k}: {v}" for k, v in self.problems.items())

    def explain(self, sql: str, params: Any, prepared: Prepared | None) -> None:
        if sql.startswith("SAVEPOINT "):  # a batch's savepoint rides with the statement
            sql = sql.split("; ", 1)[1]
        if not sql.upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
            return
        if prepared is None and self.prepared_only:
            return
        analyzed = _is_read(sql)
        with self.explainer.cursor() as cur:
            if prepared is not None and prepared.name not in self.prepared:
                cur.execute(prepared.prepare)
                self.prepared.add(prepared.name)
            options = "ANALYZE, FORMAT JSON" if analyzed else "FORMAT JSON"
            run = prepared.execute if prepared is not None else sql
            cur.execute(f"EXPLAIN ({options}) {run}", params)
            plan = cur.fetchone()[0][0]["Plan"]
        self.count += 1
        found = plan_problems(plan, analyzed)
        if found:
            self.problems.setdefault(self.explain.request, []).append(  # type: ignore[attr-defined]
                f"{found}: {' '.join(sql.split())[:300]}\n{json.dumps(plan)[:3000]}"
            )


def check_postgresql_plans(url: str, first: int) -> None:
    checker = PlanChecker(url)
    try:
        checker.check(first)
    finally:
        checker.close()


def test_hot_statements_of_a_never_analyzed_postgresql_have_bounded_plans(
    unanalyzed_postgresql: str,
) -> None:
    assert _analyzed(unanalyzed_postgresql) == 0
    check_postgresql_plans(unanalyzed_postgresql, first=5000)


def test_hot_statements_of_an_analyzed_postgresql_have_bounded_plans(
    unanalyzed_postgresql: str,
) -> None:
    _vacuum_analyze(unanalyzed_postgresql)
    assert _analyzed(unanalyzed_postgresql) > 0
    check_postgresql_plans(unanalyzed_postgresql, first=6000)


def test_plans_made_on_a_small_collection_stay_bounded_once_it_has_grown(
    small_postgresql: str,
) -> None:
    """Prepared statements are planned once per connection: the plans made while the
    collection had 31 records (vacuumed and analyzed) are the ones its 10,000 records are
    read with, as long as nothing analyzes the tables again. (The statements sent as text
    are planned on each run, for the table as it is then: checked after it has grown.)"""
    url = small_postgresql
    _vacuum_analyze(url)
    checker = PlanChecker(url)
    try:
        checker.check(first=0, prepared_only=True)
        _load(url, sorted(set(range(RECORDS_COUNT)) - set(SMALL)), first=False)
        checker.check(first=5000)
    finally:
        checker.close()


def test_the_plan_checks_catch_a_scan_of_the_collection_and_a_nested_loop() -> None:
    """The checks above can fail: plans PostgreSQL chose before issue 15."""
    nested = {
        "Node Type": "Nested Loop",
        "Plans": [
            {
                "Node Type": "Index Scan",
                "Relation Name": "objects",
                "Index Name": "idx_objects_list_last_modified",
                "Actual Rows": 10000,
            },
            {
                "Node Type": "Index Scan",
                "Relation Name": "access_control_entries",
                "Index Name": "access_control_entries_pkey",
                "Actual Rows": 0,
                "Actual Loops": 10000,
            },
        ],
    }
    misread = {
        "Node Type": "Index Scan",
        "Relation Name": "objects",
        "Index Name": "idx_objects_list_last_modified",
        "Filter": "(id = 'r1')",
        "Actual Rows": 1,
        "Rows Removed by Filter": 16999,
    }
    semi = {
        "Node Type": "Nested Loop",
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "access_control_entries"},
            {
                "Node Type": "Index Scan",
                "Relation Name": "objects",
                "Index Name": "idx_objects_list",
            },
        ],
    }

    assert plan_problems(nested, analyzed=True) == [
        "10000 rows read from objects (idx_objects_list_last_modified)"
    ]
    assert "id filtered while scanning idx_objects_list_last_modified" in plan_problems(
        misread, analyzed=False
    )
    assert plan_problems(misread, analyzed=True)[-1].startswith("17000 rows read")
    assert plan_problems(semi, analyzed=False) == [
        "nested loop over objects not probed by primary key",
        "sequential scan of access_control_entries",
    ]


# -- SQLite --------------------------------------------------------------------------------


def sqlite_plan_problems(details: list[str]) -> list[str]:
    problems = []
    for detail in details:
        words = detail.split()
        if words[:1] == ["SCAN"] and words[1] in ("objects", "access_control_entries"):
            problems.append(f"full scan: {detail}")
        if "objects USING INDEX idx_objects_list" in detail and "id=" in detail:
            problems.append(f"primary-key lookup through the list index: {detail}")
    return problems


def test_hot_statements_of_sqlite_without_statistics_use_their_indexes(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/plans.sqlite"
    migration.upgrade(url)
    _load(url)
    explainer = sqlite3.connect(tmp_path / "plans.sqlite")
    assert not explainer.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
    ).fetchall()
    app = _app(url)
    problems: dict[str, list[str]] = {}
    count = [0]

    def explain(sql: str, params: Any, _prepared: Any) -> None:
        if not sql.upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
            return
        details = [row[3] for row in explainer.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        count[0] += 1
        found = sqlite_plan_problems(details)
        if found:
            problems.setdefault(explain.request, []).append(  # type: ignore[attr-defined]
                f"{found}: {' '.join(sql.split())[:300]}"
            )

    try:
        names = explained(app, explain)
    finally:
        app.app.registry.kinto_clone_close()
        explainer.close()
    assert len(names) == 17 and count[0] >= 30
    assert not problems, "\n\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_sqlite_plan_checks_catch_full_scans() -> None:
    assert sqlite_plan_problems(["SCAN objects", "SEARCH timestamps USING INDEX x (a=?)"]) == [
        "full scan: SCAN objects"
    ]
    assert (
        sqlite_plan_problems(["SEARCH objects USING INDEX idx_objects_list (<expr>=? AND id=?)"])
        != []
    )
