"""The folded writes answer what the two-step path answers (``storage/sql_statements.py``).

On PostgreSQL a create, update or delete without a client timestamp is one statement: the
bump of the list's timestamp runs as a CTE of the object's write. The general path is two
statements: bump, then write (``SQLStorage(db, fold_writes=False)``, and SQLite always).
Both storages get the same sequence of calls, each on its own list of one database, with
the storage clock frozen and moved alike; after every call the answers (objects or
errors), the lists (tombstones included), their timestamps and their counts must be equal.

Only PostgreSQL folds writes (SQLite has no INSERT/UPDATE inside WITH): on the other
backends both storages would run the same statements, and the test is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kinto_clone.db import Database, transaction
from kinto_clone.storage import Filter, ListQuery, Op, Sort, StorageError
from kinto_clone.storage.sql import SQLStorage
from tests.querycount import database_statements

R = "record"
FOLDED, TWO_STEP = "/buckets/folded/collections/c", "/buckets/stepped/collections/c"

Step = Callable[[SQLStorage, str], Any]


class Rollback(Exception):
    """Raised inside a transaction to undo it."""


@pytest.fixture
def storages(backend: str, database: Database) -> tuple[SQLStorage, SQLStorage]:
    if backend != "postgresql":
        pytest.skip("only PostgreSQL folds the bump into the write: no second path here")
    return SQLStorage(database), SQLStorage(database, fold_writes=False)


def answer(step: Step, storage: SQLStorage, parent: str) -> Any:
    """What a step answers: its value, or its storage error (with the existing object)."""
    try:
        with transaction():
            return step(storage, parent)
    except StorageError as exc:
        return type(exc).__name__, str(exc), getattr(exc, "existing", None)
    except Rollback:
        return "rolled back"


def state(storage: SQLStorage, parent: str) -> dict[str, Any]:
    everything = ListQuery(sorting=(Sort("id"),), include_deleted=True)
    titled = ListQuery(filters=(Filter("title", "a", Op.EQ),))
    with transaction():
        return {
            "objects": storage.list_objects(R, parent, everything),
            "timestamp": storage.resource_timestamp(R, parent),
            "count": storage.count(R, parent, ListQuery()),
            "count of title=a": storage.count(R, parent, titled),
        }


def create(object_id: str, **data: Any) -> Step:
    return lambda storage, parent: storage.create(R, parent, {"id": object_id, **data})


def update(object_id: str, **data: Any) -> Step:
    return lambda storage, parent: storage.update(R, parent, object_id, data)


def delete(object_id: str, last_modified: int | None = None) -> Step:
    return lambda storage, parent: storage.delete(R, parent, object_id, last_modified)


def in_one_transaction(*steps: Step, then_fail: bool = False) -> Step:
    """Several writes in one transaction (a batch); rolled back when ``then_fail``."""

    def run(storage: SQLStorage, parent: str) -> list[Any]:
        answers = [step(storage, parent) for step in steps]
        if then_fail:
            raise Rollback
        return answers

    return run


def delete_titled(storage: SQLStorage, parent: str) -> Any:
    query = ListQuery(filters=(Filter("title", "b", Op.EQ),), sorting=(Sort("id"),))
    return storage.delete_all(R, parent, query)


# (step, milliseconds the clock moves before it): still clocks, a clock that goes back
# and client timestamps in the past and future all exercise "max(now, previous + 1)".
SCRIPT: list[tuple[str, Step, int]] = [
    ("first write of a new list", create("a", title="a"), 0),
    ("create on the same millisecond", create("b", title="b"), 0),
    ("create over a live object", create("a", title="other"), 0),
    ("update of a live object", update("a", title="a", n=1), 7),
    ("update of a missing object creates it", update("c", title="a"), 0),
    ("delete", delete("b"), 3),
    ("delete of a tombstone", delete("b"), 0),
    ("delete of an object never written", delete("z"), 0),
    ("create over a tombstone", create("b", title="b"), 0),
    ("create while the clock went back", create("d", title="b"), -5000),
    ("update with a client timestamp in the past", update("d", last_modified=1_000), 0),
    ("create with a client timestamp in the future", create("e", last_modified=2 * 10**12), 0),
    ("update after the list moved to the future", update("a", title="b"), 10),
    ("delete with a client timestamp", delete("c", last_modified=3 * 10**12), 0),
    ("delete_all of a filter", delete_titled, 1),
    (
        "writes of one transaction",
        in_one_transaction(create("f"), update("f", title="a"), delete("f"), create("f")),
        0,
    ),
    (
        "a transaction that fails leaves nothing",
        in_one_transaction(create("g"), update("a", title="z"), delete("e"), then_fail=True),
        2,
    ),
    ("create after the failed transaction", create("g", title="a"), 0),
]


@pytest.fixture
def script_clock(frozen_clock: list[int]) -> Iterator[list[int]]:
    frozen_clock[0] = 1_700_000_000_000
    yield frozen_clock


def test_the_folded_path_answers_what_the_two_step_path_answers(
    storages: tuple[SQLStorage, SQLStorage], script_clock: list[int]
) -> None:
    folded, two_step = storages
    for name, step, moved in SCRIPT:
        script_clock[0] += moved
        start = script_clock[0]
        got = answer(step, folded, FOLDED)
        script_clock[0] = start  # the second path sees the same clock
        expected = answer(step, two_step, TWO_STEP)
        assert got == expected, name
        assert state(folded, FOLDED) == state(two_step, TWO_STEP), name


@pytest.mark.parametrize("write", ["create", "update", "delete"])
def test_the_folded_path_is_one_statement_where_the_two_step_path_is_two(
    storages: tuple[SQLStorage, SQLStorage], database: Database, write: str
) -> None:
    # Without this, a folded path quietly taking the two-step one would pass the test above.
    step = {"create": create("x"), "update": update("a"), "delete": delete("a")}[write]
    sent: dict[str, int] = {}
    for storage, parent in zip(storages, (FOLDED, TWO_STEP), strict=True):
        answer(create("a"), storage, parent)
        with database_statements([database]) as statements:
            answer(step, storage, parent)
        sent[parent] = len(statements)
    assert sent == {FOLDED: 1, TWO_STEP: 2}
