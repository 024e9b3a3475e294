"""Query budgets of the hot endpoints: how many SQL statements one request may send.

Every round trip to PostgreSQL costs latency under load, so an extra statement on a hot
path (an N+1, a forgotten cache) must fail a test rather than show up in production.
The budgets are today's counts. Lowering one is welcome (lower the number here in the same
change); raising one needs a reason, written next to the number.

Statements are counted by ``tests/querycount.py`` (BEGIN excluded, SAVEPOINT included).
The memory backend runs SQLite's SQL, so it has SQLite's budgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import webtest

from tests.querycount import recorded_statements
from tests.support import ALICE, BOB, BOB_ID, create_collection

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"
BATCH_SIZE = 25  # the default batch_max_requests

# Counts of commit b8919b0 (one-statement context load, autocommit reads on PostgreSQL).
# PostgreSQL folds the list timestamp bump into the write (a CTE), SQLite cannot: one
# statement less per write there. On SQLite a batch adds a SAVEPOINT and its RELEASE per
# subrequest; on PostgreSQL the SAVEPOINT rides with the subrequest's first statement and
# the commit releases it.
BUDGETS: dict[str, dict[str, int]] = {
    "sqlite": {
        "object GET": 1,
        "list GET": 2,
        "_since poll without changes": 3,  # empty page: the list timestamp is read apart
        "_since poll with changes": 2,
        "POST create": 4,
        "PATCH": 3,
        "DELETE": 4,
        "batch of 3 creates": 19,
    },
    "postgresql": {
        "object GET": 1,
        "list GET": 2,
        "_since poll without changes": 3,
        "_since poll with changes": 2,
        "POST create": 3,
        "PATCH": 2,
        "DELETE": 3,
        "batch of 3 creates": 10,
    },
}
# A reader who sees only some records (per-record ACLs) may cost this many statements more
# than the owner: the ACL filter rides along in the list query, the count of what they
# may see is one more.
PER_RECORD_ACL_EXTRA = 2


def dialect(backend: str) -> str:
    return "postgresql" if backend == "postgresql" else "sqlite"


def statements_of(app: webtest.TestApp, call: Callable[[], Any]) -> list[str]:
    with recorded_statements(app) as statements:
        call()
    return list(statements)


def shown(statements: list[str]) -> str:
    return "\n".join(" ".join(s.split())[:160] for s in statements)


def fill(app: webtest.TestApp, count: int, start: int = 0, **permissions: list[str]) -> None:
    """Create records ``r<start>``.. through batches, as a syncing client uploads them."""
    numbers = list(range(start, start + count))
    for first in range(0, len(numbers), BATCH_SIZE):
        requests = []
        for n in numbers[first : first + BATCH_SIZE]:
            body: dict[str, Any] = {"data": {"n": n, "title": f"record {n}"}}
            if permissions:
                body["permissions"] = permissions
            requests.append({"method": "PUT", "path": f"{RECORDS[3:]}/r{n:04d}", "body": body})
        resp = app.post_json("/v1/batch", {"requests": requests}, headers=ALICE)
        assert {r["status"] for r in resp.json["responses"]} == {201}


@pytest.fixture
def blog(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app)
    fill(app, 3)
    return app


def list_timestamp(app: webtest.TestApp) -> int:
    return int(app.get(RECORDS, headers=ALICE).headers["ETag"].strip('"'))


def request_of(endpoint: str, app: webtest.TestApp) -> Callable[[], Any]:
    """The request measured for ``endpoint`` (its setup happens here, unmeasured)."""
    record = f"{RECORDS}/r0001"
    if endpoint == "object GET":
        return lambda: app.get(record, headers=ALICE, status=200)
    if endpoint == "list GET":
        return lambda: app.get(RECORDS, headers=ALICE, status=200)
    if endpoint == "_since poll without changes":
        since = list_timestamp(app)
        return lambda: app.get(f"{RECORDS}?_since={since}", headers=ALICE, status=200)
    if endpoint == "_since poll with changes":
        since = list_timestamp(app)
        app.patch_json(record, {"data": {"title": "changed"}}, headers=ALICE, status=200)
        return lambda: app.get(f"{RECORDS}?_since={since}", headers=ALICE, status=200)
    if endpoint == "POST create":
        return lambda: app.post_json(RECORDS, {"data": {"title": "new"}}, headers=ALICE, status=201)
    if endpoint == "PATCH":
        return lambda: app.patch_json(
            record, {"data": {"title": "patched"}}, headers=ALICE, status=200
        )
    if endpoint == "DELETE":
        return lambda: app.delete(record, headers=ALICE, status=200)
    assert endpoint == "batch of 3 creates"
    requests = [
        {"method": "POST", "path": RECORDS[3:], "body": {"data": {"n": n}}} for n in range(3)
    ]
    return lambda: app.post_json("/v1/batch", {"requests": requests}, headers=ALICE, status=200)


@pytest.mark.parametrize("endpoint", list(BUDGETS["sqlite"]))
def test_a_hot_endpoint_stays_within_its_statement_budget(
    blog: webtest.TestApp, backend: str, endpoint: str
) -> None:
    budget = BUDGETS[dialect(backend)][endpoint]
    request = request_of(endpoint, blog)

    statements = statements_of(blog, request)

    assert len(statements) <= budget, (
        f"{endpoint} sent {len(statements)} statements (budget {budget}):\n{shown(statements)}"
    )


def test_every_endpoint_has_a_budget_on_every_dialect() -> None:
    assert BUDGETS["sqlite"].keys() == BUDGETS["postgresql"].keys()


POLLS = {
    "first page": f"{RECORDS}?_limit=10",
    "whole list": RECORDS,
    "_since poll": f"{RECORDS}?_since={{since}}",
    "sorted and filtered": f"{RECORDS}?_sort=-n&min_n=1",
    "count only": "HEAD",
}


def poll_cost(app: webtest.TestApp, poll: str, since: int, headers: dict[str, str]) -> int:
    if poll == "HEAD":
        return len(statements_of(app, lambda: app.head(RECORDS, headers=headers, status=200)))
    url = poll.format(since=since)
    return len(statements_of(app, lambda: app.get(url, headers=headers, status=200)))


def poll_costs(app: webtest.TestApp, since: int, headers: dict[str, str]) -> dict[str, int]:
    return {name: poll_cost(app, poll, since, headers) for name, poll in POLLS.items()}


def test_a_list_costs_the_same_statements_with_10_and_with_200_records(
    app: webtest.TestApp,
) -> None:
    create_collection(app)
    fill(app, 5)
    since = list_timestamp(app)  # the poll returns what came after the first 5
    fill(app, 5, start=5)
    with_10 = poll_costs(app, since, ALICE)

    fill(app, 190, start=10)
    with_200 = poll_costs(app, since, ALICE)

    assert with_200 == with_10
    assert len(app.get(f"{RECORDS}?_since={since}", headers=ALICE).json["data"]) == 195


def test_a_reader_of_1_percent_of_the_records_costs_at_most_2_more_than_the_owner(
    app: webtest.TestApp,
) -> None:
    create_collection(app)
    since = list_timestamp(app)
    fill(app, 99)
    fill(app, 1, start=99, read=[BOB_ID])
    fill(app, 99, start=100)
    fill(app, 1, start=199, read=[BOB_ID])

    owner = poll_costs(app, since, ALICE)
    reader = poll_costs(app, since, BOB)

    over = {
        name: (owner[name], reader[name])
        for name in POLLS
        if reader[name] > owner[name] + PER_RECORD_ACL_EXTRA
    }
    assert not over, f"(owner, reader) statements: {over}"
    # What was measured: Bob's list is the filtered one, not a 403 or the owner's list.
    for name, poll in POLLS.items():
        if poll != "HEAD":
            seen = app.get(poll.format(since=since), headers=BOB, status=200).json["data"]
            assert seen and {r["id"] for r in seen} <= {"r0099", "r0199"}, name
    assert app.head(RECORDS, headers=BOB).headers["Total-Objects"] == "2"
