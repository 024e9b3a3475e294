"""The Storage contract (``kinto_clone/storage/__init__.py``), on every backend.

Each test runs its backend calls inside ``transaction()``, as a request does.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from kinto_clone import json, tables
from kinto_clone.db import Database, transaction
from kinto_clone.permission import Permission
from kinto_clone.storage import (
    BackendError,
    Filter,
    ListQuery,
    ObjectNotFoundError,
    Op,
    ReadableBy,
    Sort,
    Storage,
    UnicityError,
    sql_lists,
)
from kinto_clone.storage import sql as sql_storage
from kinto_clone.storage.sql import SQLStorage
from kinto_clone.tables import objects
from tests.querycount import database_statements

R, P = "record", "/buckets/b/collections/c"  # the list most tests use
RECORDS = f"{P}/records"  # its URI: readable_by looks ACEs up under it
BY_ID = (Sort("id"),)


def ids(page: list[dict[str, Any]]) -> list[str]:
    return [obj["id"] for obj in page]


def listing(storage: Storage, **query: Any) -> list[str]:
    page, _ = storage.list_objects(R, P, ListQuery(**{"sorting": BY_ID, **query}))
    return ids(page)


# ---------------------------------------------------------------------------------------
# Objects


def test_create_returns_the_object_with_its_id_and_a_timestamp(storage: Storage) -> None:
    with transaction():
        created = storage.create(R, P, {"id": "a", "title": "x"})
        assert created == {"id": "a", "title": "x", "last_modified": created["last_modified"]}
        assert storage.get(R, P, "a") == created


def test_managed_fields_are_not_stored_in_the_data(storage: Storage, database: Database) -> None:
    with transaction():
        storage.create(R, P, {"id": "a", "last_modified": 1234, "n": 1})
        storage.update(R, P, "b", {"id": "b", "last_modified": 5678, "n": 2})
        data = database.execute(sa.select(objects.c.data)).scalars()
    assert sorted(data, key=lambda d: d["n"]) == [{"n": 1}, {"n": 2}]


def test_json_values_round_trip(storage: Storage) -> None:
    value = {
        "text": 'é\u2603 "quoted" \\',
        "int": 2**62,
        "neg": -3,
        "float": 1.5,
        "t": True,
        "f": False,
        "null": None,
        "list": [1, "a", [None, {}]],
        "obj": {"nested": {"x": []}},
    }
    with transaction():
        storage.create(R, P, {"id": "a", **value})
    with transaction():
        got = storage.get(R, P, "a")
    assert {k: v for k, v in got.items() if k not in ("id", "last_modified")} == value


def test_get_of_a_missing_or_deleted_object_raises_object_not_found(storage: Storage) -> None:
    with transaction():
        storage.create(R, P, {"id": "a"})
        storage.delete(R, P, "a")
        for object_id in ("a", "nope"):
            with pytest.raises(ObjectNotFoundError):
                storage.get(R, P, object_id)


def test_objects_with_the_same_id_in_other_lists_are_distinct(storage: Storage) -> None:
    with transaction():
        storage.create(R, P, {"id": "a", "n": 1})
        storage.create(R, "/buckets/b/collections/d", {"id": "a", "n": 2})
        storage.create("group", P, {"id": "a", "n": 3})
        assert storage.get(R, P, "a")["n"] == 1
        assert storage.get(R, "/buckets/b/collections/d", "a")["n"] == 2
        assert storage.get("group", P, "a")["n"] == 3


def test_create_of_an_existing_id_raises_unicity_error_and_writes_nothing(
    storage: Storage,
) -> None:
    with transaction():
        first = storage.create(R, P, {"id": "a", "title": "first"})
        before = storage.resource_timestamp(R, P)
        with pytest.raises(UnicityError) as raised:
            storage.create(R, P, {"id": "a", "title": "second"})
        assert raised.value.existing == first
        with pytest.raises(UnicityError):
            storage.create(R, P, {"id": "a", "last_modified": 42})
        assert storage.get(R, P, "a") == first
        assert storage.resource_timestamp(R, P) == before


def test_create_over_a_tombstone_resurrects_the_object(storage: Storage) -> None:
    with transaction():
        storage.create(R, P, {"id": "a", "old": True})
        tombstone = storage.delete(R, P, "a")
        created = storage.create(R, P, {"id": "a", "new": True})
        assert created["last_modified"] > tombstone["last_modified"]
        assert storage.get(R, P, "a") == created
        assert listing(storage, include_deleted=True) == ["a"]


def test_update_replaces_the_data_and_creates_a_missing_object(storage: Storage) -> None:
    with transaction():
        storage.create(R, P, {"id": "a", "old": 1})
        updated = storage.update(R, P, "a", {"new": 2})
        assert updated == {"id": "a", "new": 2, "last_modified": updated["last_modified"]}
        assert storage.get(R, P, "a") == updated
        created = storage.update(R, P, "b", {"n": 1})
        assert storage.get(R, P, "b") == created


def test_update_of_a_tombstone_resurrects_the_object(storage: Storage) -> None:
    with transaction():
        storage.create(R, P, {"id": "a"})
        storage.delete(R, P, "a")
        updated = storage.update(R, P, "a", {"back": True})
        assert storage.get(R, P, "a") == updated


def test_delete_leaves_a_tombstone_and_returns_it(storage: Storage) -> None:
    with transaction():
        created = storage.create(R, P, {"id": "a", "title": "x"})
        tombstone = storage.delete(R, P, "a")
        stamp = tombstone["last_modified"]
        assert tombstone == {"id": "a", "deleted": True, "last_modified": stamp}
        assert tombstone["last_modified"] > created["last_modified"]
        page, _ = storage.list_objects(R, P, ListQuery(include_deleted=True))
        assert page == [tombstone]
        assert storage.list_objects(R, P, ListQuery())[0] == []


def test_delete_of_a_missing_or_deleted_object_raises_and_moves_nothing(
    storage: Storage,
) -> None:
    with transaction():
        storage.create(R, P, {"id": "a"})
        storage.delete(R, P, "a")
        before = storage.resource_timestamp(R, P)
        for object_id in ("a", "nope"):
            with pytest.raises(ObjectNotFoundError):
                storage.delete(R, P, object_id)
            with pytest.raises(ObjectNotFoundError):
                storage.delete(R, P, object_id, last_modified=before + 1000)
        assert storage.resource_timestamp(R, P) == before


def test_get_many_returns_live_objects_by_key_in_one_call(storage: Storage) -> None:
    with transaction():
        bucket = storage.create("bucket", "", {"id": "b"})
        collection = storage.create("collection", "/buckets/b", {"id": "c"})
        storage.create(R, P, {"id": "gone"})
        storage.delete(R, P, "gone")
        keys = [
            ("bucket", "", "b"),
            ("collection", "/buckets/b", "c"),
            (R, P, "gone"),
            (R, P, "missing"),
            ("bucket", "", "b"),
        ]
        assert storage.get_many(keys) == {
            ("bucket", "", "b"): bucket,
            ("collection", "/buckets/b", "c"): collection,
        }
        assert storage.get_many([]) == {}


# ---------------------------------------------------------------------------------------
# Timestamps


def test_every_write_gets_a_timestamp_greater_than_every_earlier_one(
    storage: Storage, frozen_clock: list[int]
) -> None:
    # With the clock stopped, only "previous + 1" keeps timestamps apart.
    with transaction():
        stamps = [
            storage.create(R, P, {"id": "a"})["last_modified"],
            storage.create(R, P, {"id": "b"})["last_modified"],
            storage.update(R, P, "a", {"x": 1})["last_modified"],
            storage.delete(R, P, "b")["last_modified"],
            storage.create(R, P, {"id": "b"})["last_modified"],
        ]
        stamps += [t["last_modified"] for t in storage.delete_all(R, P, ListQuery())]
        assert stamps == list(range(frozen_clock[0], frozen_clock[0] + 7))
        assert storage.resource_timestamp(R, P) == stamps[-1]


def test_timestamps_follow_the_clock_when_it_moves_forward(
    storage: Storage, frozen_clock: list[int]
) -> None:
    with transaction():
        storage.create(R, P, {"id": "a"})
        frozen_clock[0] += 5000
        assert storage.create(R, P, {"id": "b"})["last_modified"] == frozen_clock[0]


def test_timestamps_never_go_back_when_the_clock_does(
    storage: Storage, frozen_clock: list[int]
) -> None:
    with transaction():
        first = storage.create(R, P, {"id": "a"})["last_modified"]
        frozen_clock[0] -= 60_000
        assert storage.create(R, P, {"id": "b"})["last_modified"] == first + 1
        assert storage.resource_timestamp(R, P) == first + 1


def test_the_list_timestamp_is_the_latest_write_of_that_list_only(storage: Storage) -> None:
    with transaction():
        storage.create(R, P, {"id": "a"})
        latest = storage.update(R, P, "a", {"n": 1})["last_modified"]
        other = storage.create(R, "/buckets/b/collections/other", {"id": "a"})
        assert storage.resource_timestamp(R, P) == latest
        assert storage.list_objects(R, P, ListQuery())[1] == latest
        assert (
            storage.resource_timestamp(R, "/buckets/b/collections/other")
            == (other["last_modified"])
        )


def test_a_started_list_keeps_its_start_timestamp_until_written(storage: Storage) -> None:
    with transaction():
        first = storage.start_list(R, P)
    time.sleep(0.005)
    with transaction():
        assert storage.start_list(R, P) == first  # started once
        assert storage.resource_timestamp(R, P) == first
        assert storage.list_objects(R, P, ListQuery()) == ([], first)
        assert storage.create(R, P, {"id": "a"})["last_modified"] > first


def test_reading_a_list_never_written_nor_started_writes_nothing(storage: Storage) -> None:
    with transaction(write=False):
        assert storage.resource_timestamp(R, "/elsewhere") == 0
        assert storage.list_objects(R, "/elsewhere", ListQuery()) == ([], 0)
    with transaction():
        assert storage.resource_timestamp(R, "/elsewhere") == 0
        assert storage.create(R, "/elsewhere", {"id": "a"})["last_modified"] > 0


def test_objects_written_without_a_list_row_are_listed_with_the_newest_timestamp_unwritten(
    storage: Storage, database: Database, statements: list[str]
) -> None:
    # Rows bulk-loaded straight into the table (not through the API) have no list row.
    rows = [("old", 1000, False), ("gone", 3000, True), ("bulk", 2000, False)]
    with transaction():
        for object_id, last_modified, deleted in rows:
            database.execute(
                sa.insert(tables.objects).values(
                    parent_id=P,
                    resource_name=R,
                    id=object_id,
                    last_modified=last_modified,
                    deleted=deleted,
                    data={"x": 1},
                )
            )
    statements.clear()
    oldest_first = ListQuery(sorting=(Sort("last_modified"),), limit=1)
    with transaction(write=False):
        page, timestamp = storage.list_objects(R, P, ListQuery())
        assert [obj["id"] for obj in page] == ["bulk", "old"]
        assert timestamp == 3000  # the newest row's, a tombstone's here
        found = storage.list_page(R, P, oldest_first, total=True)
        assert ([obj["id"] for obj in found.objects], found.timestamp) == (["old"], 3000)
        assert found.total == 2
    # A read writes nothing: no statement but SELECTs, and still no list row.
    assert statements and all(
        s.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK", "SELECT"))
        for s in statements
    ), statements
    with transaction(write=False):
        rows_of_lists = database.execute(sa.select(sa.func.count()).select_from(tables.timestamps))
        assert rows_of_lists.scalar() == 0
    with transaction():
        assert storage.create(R, P, {"id": "new"})["last_modified"] > 3000


def test_create_keeps_a_past_client_timestamp_without_moving_the_list(
    storage: Storage,
) -> None:
    with transaction():
        latest = storage.create(R, P, {"id": "a"})["last_modified"]
        old = storage.create(R, P, {"id": "b", "last_modified": 1000})
        assert old["last_modified"] == 1000
        assert storage.get(R, P, "b")["last_modified"] == 1000
        assert storage.resource_timestamp(R, P) == latest
        assert storage.create(R, P, {"id": "c"})["last_modified"] > latest


def test_create_with_a_future_client_timestamp_moves_the_list_and_later_writes_follow(
    storage: Storage,
) -> None:
    future = sql_storage.now_ms() + 10**9
    with transaction():
        assert storage.create(R, P, {"id": "a", "last_modified": future})["last_modified"] == (
            future
        )
        assert storage.resource_timestamp(R, P) == future
        assert storage.create(R, P, {"id": "b"})["last_modified"] == future + 1
        assert storage.delete(R, P, "a")["last_modified"] == future + 2


def test_create_with_the_list_timestamp_gets_the_next_one(storage: Storage) -> None:
    with transaction():
        current = storage.create(R, P, {"id": "a"})["last_modified"]
        same = storage.create(R, P, {"id": "b", "last_modified": current})
        assert same["last_modified"] == current + 1
        assert storage.resource_timestamp(R, P) == current + 1


@pytest.mark.parametrize("bad", [True, "1000", 1000.5, None, [1000]])
def test_a_client_timestamp_that_is_not_an_integer_is_ignored(storage: Storage, bad: Any) -> None:
    with transaction():
        latest = storage.create(R, P, {"id": "a"})["last_modified"]
        created = storage.create(R, P, {"id": "b", "last_modified": bad})
        assert created["last_modified"] > latest
        assert storage.resource_timestamp(R, P) == created["last_modified"]


def test_update_keeps_a_client_timestamp_only_when_newer_than_the_object(
    storage: Storage, frozen_clock: list[int]
) -> None:
    with transaction():
        a = storage.create(R, P, {"id": "a"})["last_modified"]
        frozen_clock[0] += 10
        b = storage.create(R, P, {"id": "b"})["last_modified"]
        frozen_clock[0] += 100
        # Not newer than the object: a fresh timestamp instead.
        fresh = storage.update(R, P, "a", {"last_modified": a})["last_modified"]
        assert fresh == frozen_clock[0]
        # Newer than the object but older than the list: kept, list unchanged.
        kept = storage.update(R, P, "b", {"last_modified": b + 1})["last_modified"]
        assert kept == b + 1
        assert storage.resource_timestamp(R, P) == fresh
        # Newer than the list: kept and it becomes the list timestamp.
        future = fresh + 10**6
        assert storage.update(R, P, "a", {"last_modified": future})["last_modified"] == future
        assert storage.resource_timestamp(R, P) == future
        # Equal to the list timestamp: the next one.
        assert storage.update(R, P, "b", {"last_modified": future})["last_modified"] == (future + 1)
        # Creating through update: kept as on create.
        assert storage.update(R, P, "c", {"last_modified": 77})["last_modified"] == 77


def test_delete_forces_a_client_timestamp_only_when_newer_than_the_object(
    storage: Storage,
) -> None:
    with transaction():
        a = storage.create(R, P, {"id": "a"})["last_modified"]
        storage.create(R, P, {"id": "b"})
        latest = storage.create(R, P, {"id": "c"})["last_modified"]
        assert storage.delete(R, P, "a", last_modified=a)["last_modified"] > latest
        future = latest + 10**9
        assert storage.delete(R, P, "b", last_modified=future)["last_modified"] == future
        assert storage.resource_timestamp(R, P) == future
        assert storage.delete(R, P, "c")["last_modified"] == future + 1


# ---------------------------------------------------------------------------------------
# Listing and filters

DATASET: dict[str, dict[str, Any]] = {
    "a": {"n": 1},
    "b": {"n": 2.5},
    "c": {"n": "3"},
    "d": {"n": "Abc"},
    "e": {"n": True},
    "f": {"n": False},
    "g": {"n": None},
    "h": {},
    "i": {"n": [1, 2], "tags": ["x", "y"]},
    "j": {"n": {"x": 1}},
    "k": {"n": 0},
    "m": {"n": "5%_off", "tags": ["y"]},
    "o": {"n": {"y": 2}, "tags": "x"},
}
ALL = sorted(DATASET)


def _without(*excluded: str) -> list[str]:
    return [i for i in ALL if i not in excluded]


@pytest.fixture
def dataset(storage: Storage) -> Storage:
    with transaction():
        for object_id, data in DATASET.items():
            storage.create(R, P, {"id": object_id, **data})
    return storage


FILTER_CASES: list[tuple[Op, Any, list[str]]] = [
    # Equality is JSON equality: type included, true is not 1, false is not 0.
    (Op.EQ, 1, ["a"]),
    (Op.EQ, 1.0, ["a"]),
    (Op.EQ, 0, ["k"]),
    (Op.EQ, True, ["e"]),
    (Op.EQ, False, ["f"]),
    (Op.EQ, None, ["g"]),
    (Op.EQ, "3", ["c"]),
    (Op.EQ, 3, []),
    (Op.EQ, "abc", []),
    (Op.EQ, [1, 2], ["i"]),
    (Op.EQ, {"x": 1}, ["j"]),
    # Objects missing the field match "not" and "exclude".
    (Op.NOT, 1, _without("a")),
    (Op.NOT, None, _without("g")),
    (Op.NOT, True, _without("e")),
    # null < string < number < boolean < array < object < missing.
    (Op.LT, 1, ["c", "d", "g", "k", "m"]),
    (Op.LT, "5", ["c", "g"]),
    (Op.LT, None, []),
    (Op.LT, True, ["a", "b", "c", "d", "f", "g", "k", "m"]),
    (Op.MAX, "3", ["c", "g"]),
    (Op.MAX, None, ["g"]),
    (Op.MAX, False, ["a", "b", "c", "d", "f", "g", "k", "m"]),
    (Op.GT, 2.5, ["e", "f", "h", "i", "j", "o"]),
    (Op.GT, False, ["e", "h", "i", "j", "o"]),
    (Op.GT, None, _without("g")),
    (Op.MIN, 2.5, ["b", "e", "f", "h", "i", "j", "o"]),
    (Op.MIN, None, ALL),
    (Op.MIN, True, ["e", "h", "i", "j", "o"]),
    (Op.IN, [1, "Abc", None], ["a", "d", "g"]),
    (Op.IN, [True], ["e"]),
    (Op.IN, [0, 2.5], ["b", "k"]),
    (Op.IN, [], []),
    (Op.EXCLUDE, [1, True], _without("a", "e")),
    (Op.EXCLUDE, [], ALL),
    # like: strings only, case-insensitive, "*" the only wildcard, no "*" means contains.
    (Op.LIKE, "b", ["d"]),
    (Op.LIKE, "ABC", ["d"]),
    (Op.LIKE, "a*", ["d"]),
    (Op.LIKE, "*c", ["d"]),
    (Op.LIKE, "b*", []),
    (Op.LIKE, "*", ["c", "d", "m"]),
    (Op.LIKE, "%", ["m"]),
    (Op.LIKE, "_", ["m"]),
    (Op.LIKE, "1", []),
    (Op.LIKE, "true", []),
    # has: truthy means present (even null), falsy means absent.
    (Op.HAS, True, _without("h")),
    (Op.HAS, 1, _without("h")),
    (Op.HAS, False, ["h"]),
    (Op.HAS, 0, ["h"]),
    # contains / contains_any: arrays only.
    (Op.CONTAINS, [1], ["i"]),
    (Op.CONTAINS, [2, 1], ["i"]),
    (Op.CONTAINS, [1, 3], []),
    (Op.CONTAINS, [True], []),
    (Op.CONTAINS, 2, ["i"]),
    (Op.CONTAINS, [], ["i"]),
    (Op.CONTAINS_ANY, [3, 2], ["i"]),
    (Op.CONTAINS_ANY, [3], []),
    (Op.CONTAINS_ANY, [], []),
    (Op.CONTAINS_ANY, ["x"], []),
]


@pytest.mark.parametrize(("op", "value", "expected"), FILTER_CASES)
def test_filters_on_a_data_field_follow_kinto_semantics(
    dataset: Storage, op: Op, value: Any, expected: list[str]
) -> None:
    with transaction():
        assert listing(dataset, filters=(Filter("n", value, op),)) == expected
        assert dataset.count(R, P, ListQuery(filters=(Filter("n", value, op),))) == len(expected)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (Op.CONTAINS, "x", ["i"]),
        (Op.CONTAINS, ["y"], ["i", "m"]),
        (Op.CONTAINS, ["x", "y"], ["i"]),
        (Op.CONTAINS_ANY, ["x", "z"], ["i"]),
        (Op.CONTAINS_ANY, ["y"], ["i", "m"]),
        (Op.EQ, "x", ["o"]),
    ],
)
def test_contains_filters_match_arrays_of_strings_only(
    dataset: Storage, op: Op, value: Any, expected: list[str]
) -> None:
    with transaction():
        assert listing(dataset, filters=(Filter("tags", value, op),)) == expected


def test_filters_on_nested_fields_follow_dotted_paths(dataset: Storage) -> None:
    with transaction():
        dataset.create(R, P, {"id": "p", "author": {"name": "Ann", "age": 30}})
        dataset.create(R, P, {"id": "q", "author": {"name": "Bob"}})
        dataset.create(R, P, {"id": "r", "author": "Ann"})
        assert listing(dataset, filters=(Filter("author.name", "Ann"),)) == ["p"]
        # Missing sorts after everything: "gt" matches objects without the field.
        assert listing(dataset, filters=(Filter("author.age", 18, Op.GT),)) == [*ALL, "p", "q", "r"]
        assert listing(dataset, filters=(Filter("author.age", 18, Op.LT),)) == []
        assert listing(dataset, filters=(Filter("author.name", True, Op.HAS),)) == ["p", "q"]
        # A numeric-looking key is an object key, not an array index.
        assert listing(dataset, filters=(Filter("n.0", True, Op.HAS),)) == []
        assert listing(dataset, filters=(Filter("n.x", 1),)) == ["j"]


def test_filters_combine_with_and(dataset: Storage) -> None:
    with transaction():
        filters = (Filter("n", 1, Op.MIN), Filter("n", [1, 2], Op.NOT))
        assert listing(dataset, filters=filters) == ["a", "b", "e", "f", "h", "j", "o"]


def test_filters_on_id_and_last_modified(dataset: Storage) -> None:
    with transaction():
        page, _ = dataset.list_objects(R, P, ListQuery(sorting=(Sort("last_modified"),)))
        stamps = {obj["id"]: obj["last_modified"] for obj in page}
        assert listing(dataset, filters=(Filter("id", "c"),)) == ["c"]
        assert listing(dataset, filters=(Filter("id", ["a", "k", "zz"], Op.IN),)) == ["a", "k"]
        assert listing(dataset, filters=(Filter("id", ["a", "k"], Op.EXCLUDE),)) == _without(
            "a", "k"
        )
        assert listing(dataset, filters=(Filter("id", "j", Op.GT),)) == ["k", "m", "o"]
        assert listing(dataset, filters=(Filter("id", "b", Op.MAX),)) == ["a", "b"]
        assert listing(dataset, filters=(Filter("id", "B", Op.LIKE),)) == ["b"]
        assert listing(dataset, filters=(Filter("id", "a", Op.NOT),)) == _without("a")
        since = stamps["k"]
        assert listing(dataset, filters=(Filter("last_modified", since, Op.GT),)) == ["m", "o"]
        assert listing(dataset, filters=(Filter("last_modified", since, Op.MIN),)) == [
            "k",
            "m",
            "o",
        ]
        assert listing(dataset, filters=(Filter("last_modified", stamps["b"], Op.LT),)) == ["a"]
        assert listing(dataset, filters=(Filter("last_modified", stamps["b"]),)) == ["b"]
        # `_since=null` arrives as "IN ()": nothing.
        assert listing(dataset, filters=(Filter("last_modified", [], Op.IN),)) == []


def test_tombstones_appear_only_with_include_deleted_and_match_only_managed_fields(
    dataset: Storage,
) -> None:
    with transaction():
        tombstone = dataset.delete(R, P, "a")
        assert "a" not in listing(dataset)
        assert listing(dataset, include_deleted=True) == ALL
        since = (Filter("last_modified", tombstone["last_modified"] - 1, Op.GT),)
        page, _ = dataset.list_objects(R, P, ListQuery(filters=since, include_deleted=True))
        assert page == [tombstone]
        assert listing(dataset, filters=(Filter("id", "a"),), include_deleted=True) == ["a"]
        for data_filter in (
            Filter("n", 1, Op.NOT),
            Filter("n", True, Op.HAS),
            Filter("n", False, Op.HAS),
            Filter("deleted", True),
        ):
            assert "a" not in listing(dataset, filters=(data_filter,), include_deleted=True)
        assert dataset.count(R, P, ListQuery(include_deleted=True)) == len(ALL) - 1


def test_list_limit_returns_the_first_objects_in_order(dataset: Storage) -> None:
    with transaction():
        assert listing(dataset, limit=3) == ["a", "b", "c"]
        assert listing(dataset, limit=0) == []
        assert listing(dataset, limit=None) == ALL


# ---------------------------------------------------------------------------------------
# Sorting and pagination

JSON_ORDER = ["g", "c", "m", "d", "k", "a", "b", "f", "e", "i", "j", "o", "h"]


def test_sorting_follows_the_json_type_order_with_missing_fields_last(
    dataset: Storage,
) -> None:
    with transaction():
        assert listing(dataset, sorting=(Sort("n"), Sort("id"))) == JSON_ORDER
        # Descending: the exact reverse, missing fields first.
        assert listing(dataset, sorting=(Sort("n", descending=True), Sort("id"))) == list(
            reversed(JSON_ORDER)
        )


def test_sorting_on_several_and_nested_fields(storage: Storage) -> None:
    with transaction():
        rows = [
            ("a", {"x": {"y": 2}, "z": 1}),
            ("b", {"x": {"y": 1}, "z": 1}),
            ("c", {"x": {"y": 2}, "z": 0}),
            ("d", {"z": 1}),
            ("e", {"x": {"y": 1}, "z": 0}),
        ]
        for object_id, data in rows:
            storage.create(R, P, {"id": object_id, **data})
        assert listing(storage, sorting=(Sort("z"), Sort("x.y", True))) == ["c", "e", "d", "a", "b"]
        assert listing(storage, sorting=(Sort("x.y"), Sort("id", True))) == [
            "e",
            "b",
            "c",
            "a",
            "d",
        ]
        assert listing(storage, sorting=(Sort("last_modified", True),)) == ["e", "d", "c", "b", "a"]


_MISSING = object()


def _walk(
    storage: Storage, sorting: tuple[Sort, ...], page_size: int, filters: tuple[Filter, ...] = ()
) -> list[str]:
    """Every page of a list, each one after the keyset of the previous page's last
    object, as the views build it from the ``_token`` (absent fields left out)."""
    seen: list[str] = []
    after: dict[str, Any] | None = None
    for _ in range(100):
        query = ListQuery(filters=filters, sorting=sorting, limit=page_size, after=after)
        page, _ = storage.list_objects(R, P, query)
        seen += ids(page)
        if len(page) < page_size:
            return seen
        last = page[-1]
        after = {}
        for sort in sorting:
            value: Any = last
            for key in sort.field.split("."):
                value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
            if value is not _MISSING:
                after[sort.field] = value
    raise AssertionError("pagination does not end")


@pytest.mark.parametrize(
    "sorting",
    [
        (Sort("g"), Sort("last_modified", True)),
        (Sort("g", True), Sort("last_modified", True)),
        (Sort("g"), Sort("h.i", True), Sort("id")),
        (Sort("g", True), Sort("h.i"), Sort("id", True)),
        (Sort("last_modified", True),),
        (Sort("id"),),
    ],
)
@pytest.mark.parametrize("page_size", [1, 4, 7])
def test_keyset_pagination_walks_a_whole_list_with_ties_and_missing_fields(
    storage: Storage, sorting: tuple[Sort, ...], page_size: int
) -> None:
    values: list[Any] = [1, 2, None, "x", True, 2.0, "missing"]
    with transaction():
        for i in range(30):
            data: dict[str, Any] = {}
            if values[i % 7] != "missing":
                data["g"] = values[i % 7]
            if i % 3:
                data["h"] = {"i": i % 4}
            storage.create(R, P, {"id": f"r{i:02}", **data})
        everything = listing(storage, sorting=sorting)
        assert len(everything) == 30
        assert _walk(storage, sorting, page_size) == everything
        # With a filter too, and without duplicates.
        gt = (Filter("g", 1, Op.GT),)
        walked = _walk(storage, sorting, page_size, gt)
        assert walked == listing(storage, sorting=sorting, filters=gt)
        assert len(set(walked)) == len(walked)


def test_pagination_ignores_count(dataset: Storage) -> None:
    with transaction():
        query = ListQuery(limit=1, after={"id": "c"}, sorting=BY_ID)
        assert dataset.count(R, P, query) == len(ALL)
        assert ids(dataset.list_objects(R, P, query)[0]) == ["d"]


# ---------------------------------------------------------------------------------------
# readable_by


def test_readable_by_keeps_objects_with_a_matching_ace_on_their_own_uri(
    dataset: Storage, permission: Permission
) -> None:
    uri = f"{P}/records"
    with transaction():
        permission.replace_object_permissions(f"{uri}/a", {"read": ["alice"]})
        permission.replace_object_permissions(f"{uri}/b", {"write": ["alice"]})
        permission.replace_object_permissions(f"{uri}/c", {"read": ["bob"]})
        permission.replace_object_permissions(f"{uri}/d", {"read": ["system.Everyone"]})
        permission.replace_object_permissions(f"{uri}/e/x", {"read": ["alice"]})
        permission.replace_object_permissions(f"{P}/groups/f", {"read": ["alice"]})
        permission.replace_object_permissions(f"{uri}/zz", {"read": ["alice"]})
        readable = ReadableBy(frozenset({"alice", "system.Everyone"}), ("read", "write"), RECORDS)
        assert listing(dataset, readable_by=readable) == ["a", "b", "d"]
        only_read = ReadableBy(frozenset({"alice"}), ("read",), RECORDS)
        assert listing(dataset, readable_by=only_read) == ["a"]
        assert dataset.count(R, P, ListQuery(readable_by=readable)) == 3
        nobody = ReadableBy(frozenset(), ("read",), RECORDS)
        assert listing(dataset, readable_by=nobody) == []
        both = ListQuery(readable_by=readable, filters=(Filter("n", "3", Op.NOT),), limit=2)
        assert ids(dataset.list_objects(R, P, both)[0]) == ["d", "b"]


def test_readable_by_looks_aces_up_under_the_list_uri_it_is_given(
    storage: Storage, permission: Permission
) -> None:
    """Storage knows no resource names: the list URI comes with the query."""
    cases = [
        ("bucket", "", "/buckets"),
        ("collection", "/buckets/b", "/buckets/b/collections"),
        ("group", "/buckets/b", "/buckets/b/groups"),
        ("account", "", "/accounts"),
        ("history", "/buckets/b", "/buckets/b/history"),
        ("thing", "/x", "/x/stuff"),
    ]
    with transaction():
        for resource_name, parent_id, list_uri in cases:
            storage.create(resource_name, parent_id, {"id": "b"})
            storage.create(resource_name, parent_id, {"id": "other"})
            permission.replace_object_permissions(f"{list_uri}/b", {"read": ["alice"]})
        for resource_name, parent_id, list_uri in cases:
            readable = ReadableBy(frozenset({"alice"}), ("read",), list_uri)
            page, _ = storage.list_objects(
                resource_name, parent_id, ListQuery(readable_by=readable)
            )
            assert ids(page) == ["b"], resource_name
            elsewhere = ReadableBy(frozenset({"alice"}), ("read",), f"{list_uri}x")
            page, _ = storage.list_objects(
                resource_name, parent_id, ListQuery(readable_by=elsewhere)
            )
            assert ids(page) == [], resource_name


# ---------------------------------------------------------------------------------------
# Bulk deletions and maintenance


def test_delete_all_tombstones_matching_objects_with_increasing_timestamps(
    dataset: Storage, frozen_clock: list[int]
) -> None:
    with transaction():
        before = dataset.resource_timestamp(R, P)
        query = ListQuery(filters=(Filter("n", 2, Op.LT),), sorting=(Sort("n", True),))
        tombstones = dataset.delete_all(R, P, query)
        assert ids(tombstones) == ["a", "k", "d", "m", "c", "g"]
        stamps = [t["last_modified"] for t in tombstones]
        assert stamps == list(range(before + 1, before + 7))
        assert all(t["deleted"] is True and len(t) == 3 for t in tombstones)
        assert dataset.resource_timestamp(R, P) == stamps[-1]
        assert listing(dataset) == ["b", "e", "f", "h", "i", "j", "o"]
        assert dataset.delete_all(R, P, query) == []
        assert dataset.resource_timestamp(R, P) == stamps[-1]


def test_delete_all_honours_limit_after_and_readable_by(
    dataset: Storage, permission: Permission
) -> None:
    with transaction():
        first = dataset.delete_all(R, P, ListQuery(sorting=BY_ID, limit=2))
        assert ids(first) == ["a", "b"]
        after = ListQuery(sorting=BY_ID, limit=2, after={"id": "i"})
        assert ids(dataset.delete_all(R, P, after)) == ["j", "k"]
        permission.replace_object_permissions(f"{P}/records/o", {"write": ["alice"]})
        readable = ListQuery(readable_by=ReadableBy(frozenset({"alice"}), ("write",), RECORDS))
        assert ids(dataset.delete_all(R, P, readable)) == ["o"]
        assert listing(dataset) == ["c", "d", "e", "f", "g", "h", "i", "m"]


def test_delete_tree_removes_everything_under_a_uri_and_nothing_else(
    storage: Storage,
) -> None:
    inside = ["/buckets/b", "/buckets/b/collections/c", "/buckets/b/groups/g"]
    outside = [
        "/buckets/b2",
        "/buckets/b_c",
        "/buckets/b-c",
        "/buckets/bb",
        "/buckets",
        "/buckets/a/collections/b",
    ]
    with transaction():
        for parent_id in inside + outside:
            storage.create(R, parent_id, {"id": "x"})
            storage.create(R, parent_id, {"id": "y"})
            storage.delete(R, parent_id, "y")
            storage.resource_timestamp("collection", parent_id)
        stamps = {p: storage.resource_timestamp(R, p) for p in outside}
        storage.delete_tree("/buckets/b")
    with transaction():
        for parent_id in inside:
            assert storage.list_objects(R, parent_id, ListQuery(include_deleted=True))[0] == []
        for parent_id in outside:
            page, stamp = storage.list_objects(R, parent_id, ListQuery(include_deleted=True))
            assert sorted(ids(page)) == ["x", "y"]
            assert stamp == stamps[parent_id]


def test_delete_tree_forgets_list_timestamps(storage: Storage, frozen_clock: list[int]) -> None:
    with transaction():
        storage.create(R, P, {"id": "x", "last_modified": frozen_clock[0] + 10**6})
        storage.delete_tree("/buckets/b")
        assert storage.resource_timestamp(R, P) == 0  # as if never written
        assert storage.start_list(R, P) == frozen_clock[0]


def test_purge_deleted_removes_tombstones_before_a_timestamp(storage: Storage) -> None:
    with transaction():
        for i in range(4):
            storage.create(R, P, {"id": f"r{i}"})
        tombstones = [storage.delete(R, P, f"r{i}") for i in range(3)]
        storage.create("group", "/buckets/b", {"id": "g"})
        storage.delete("group", "/buckets/b", "g")
        removed = storage.purge_deleted(R, before=tombstones[2]["last_modified"])
        assert removed == 2
        assert listing(storage, include_deleted=True) == ["r2", "r3"]
        assert storage.purge_deleted() == 2  # r2 and the group
        assert listing(storage, include_deleted=True) == ["r3"]
        assert storage.list_objects("group", "/buckets/b", ListQuery(include_deleted=True))[0] == []


def test_purge_deleted_keeps_the_newest_tombstones_of_each_list(storage: Storage) -> None:
    other = "/buckets/b/collections/other"
    with transaction():
        for parent_id in (P, other):
            for i in range(5):
                storage.create(R, parent_id, {"id": f"r{i}"})
                storage.delete(R, parent_id, f"r{i}")
        storage.create(R, P, {"id": "live"})
        stamp = storage.resource_timestamp(R, P)
        assert storage.purge_deleted(R, max_retained=2) == 6
        assert listing(storage, include_deleted=True) == ["live", "r3", "r4"]
        page, _ = storage.list_objects(R, other, ListQuery(include_deleted=True, sorting=BY_ID))
        assert ids(page) == ["r3", "r4"]
        assert storage.resource_timestamp(R, P) == stamp
        # With both: older than `before` *and* beyond the newest one.
        r4 = storage.list_objects(
            R, P, ListQuery(filters=(Filter("id", "r4"),), include_deleted=True)
        )[0][0]
        # The other list's r3 is beyond its newest tombstone but not older than `before`.
        assert storage.purge_deleted(R, before=r4["last_modified"], max_retained=1) == 1
        assert listing(storage, include_deleted=True) == ["live", "r4"]
        page, _ = storage.list_objects(R, other, ListQuery(include_deleted=True, sorting=BY_ID))
        assert ids(page) == ["r3", "r4"]
        assert storage.purge_deleted("collection", max_retained=0) == 0


def test_flush_deletes_everything(storage: Storage, frozen_clock: list[int]) -> None:
    with transaction():
        storage.create(R, P, {"id": "a", "last_modified": frozen_clock[0] + 10**6})
        storage.create("bucket", "", {"id": "b"})
        storage.flush()
        assert storage.get_many([(R, P, "a"), ("bucket", "", "b")]) == {}
        assert storage.resource_timestamp(R, P) == 0  # as if never written


def test_heartbeat_answers_inside_and_outside_a_transaction(storage: Storage) -> None:
    assert storage.heartbeat() is True
    with transaction():
        assert storage.heartbeat() is True


# ---------------------------------------------------------------------------------------
# Transactions, errors, statement budget


def test_writes_of_a_failed_transaction_are_rolled_back(storage: Storage) -> None:
    with transaction():
        before = storage.resource_timestamp(R, P)
    with pytest.raises(RuntimeError), transaction():
        storage.create(R, P, {"id": "a"})
        raise RuntimeError("boom")
    with transaction():
        assert storage.list_objects(R, P, ListQuery()) == ([], before)


def test_a_dead_postgresql_raises_backend_error() -> None:
    db = Database("postgresql+psycopg2://postgres@127.0.0.1:1/nothing")
    storage = SQLStorage(db)
    try:
        with pytest.raises(BackendError), transaction():
            storage.get(R, P, "a")
        assert storage.heartbeat() is False
    finally:
        db.dispose()


def test_a_value_the_database_refuses_raises_backend_error(backend: str, storage: Storage) -> None:
    if backend != "postgresql":
        pytest.skip("only PostgreSQL's jsonb refuses NUL characters")
    with pytest.raises(BackendError), transaction():
        storage.create(R, P, {"id": "a", "text": "nul \u0000 inside"})


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements sent from the moment the fixture is used."""
    with database_statements([database]) as sent:
        yield sent


def test_each_operation_stays_within_its_statement_budget(
    backend: str, storage: Storage, statements: list[str]
) -> None:
    # PostgreSQL folds the list timestamp bump into the write (a CTE); SQLite cannot.
    write = 1 if backend == "postgresql" else 2

    def cost(call: Any) -> int:
        statements.clear()
        call()
        return len([s for s in statements if not s.startswith(("BEGIN", "SAVEPOINT"))])

    readable = ReadableBy(frozenset({"alice"}), ("read",), RECORDS)
    with transaction():
        # Connection checked out, engine initialised; the list started, as its collection's
        # creation does (the first write of a list never started costs one more).
        storage.start_list(R, P)
        assert cost(lambda: storage.create(R, P, {"id": "a", "n": 1})) == write
        assert cost(lambda: storage.get(R, P, "a")) == 1
        assert cost(lambda: storage.get_many([(R, P, "a"), ("bucket", "", "b")])) == 1
        assert cost(lambda: storage.update(R, P, "a", {"n": 2})) == write
        query = ListQuery(
            filters=(Filter("n", 1, Op.GT),),
            readable_by=readable,
            limit=5,
            after={"last_modified": 1},
        )
        storage.create(R, P, {"id": "b"})
        assert cost(lambda: storage.list_objects(R, P, ListQuery())) == 1
        assert cost(lambda: storage.list_objects(R, P, query)) == 2  # empty page: + timestamp
        assert cost(lambda: storage.count(R, P, query)) == 1
        assert cost(lambda: storage.resource_timestamp(R, P)) == 1
        assert cost(lambda: storage.delete(R, P, "a")) == write
        assert cost(lambda: storage.delete_all(R, P, ListQuery())) == 3
        # Objects, timestamps, and the revocations of the lists deleted (not a hot path).
        assert cost(lambda: storage.delete_tree("/buckets/b")) == 3


# ---------------------------------------------------------------------------------------
# Concurrency (PostgreSQL): many writers on one list, one poller.

WRITER_PROCESSES, WRITER_THREADS, WRITES_PER_THREAD = 2, 8, 12


def _write_records(url: str, prefix: str) -> None:
    """One writer process: threads creating records in one list, each in its own
    transaction. Module level so that a spawned process can import it."""
    db = Database(url, pool_size=WRITER_THREADS)
    storage = SQLStorage(db)
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for i in range(WRITES_PER_THREAD):
                with transaction():
                    storage.create(R, P, {"id": f"{prefix}-{thread}-{i}"})
        except BaseException as exc:  # reported to the parent through the exit code
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(WRITER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    if errors:
        raise errors[0]


def test_concurrent_writers_get_unique_timestamps_in_commit_order(
    backend: str, storage: Storage, database_url: str
) -> None:
    """Writers in several processes and threads create records in one list while a
    poller reads ``_since`` its last seen timestamp, as a sync client does. If a write
    could commit with a timestamp below one the poller already saw, the poller would
    never see it: so seeing every record proves commit order = timestamp order."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing runs concurrently")
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write_records, args=(database_url, f"p{n}"))
        for n in range(WRITER_PROCESSES)
    ]
    for process in processes:
        process.start()
    seen: dict[str, int] = {}
    since = 0
    deadline = time.monotonic() + 60

    def poll() -> None:
        nonlocal since
        with transaction(write=False):
            query = ListQuery(
                filters=(Filter("last_modified", since, Op.GT),),
                sorting=(Sort("last_modified"),),
                include_deleted=True,
            )
            page, _ = storage.list_objects(R, P, query)
        for obj in page:
            assert obj["id"] not in seen
            seen[obj["id"]] = obj["last_modified"]
            since = max(since, obj["last_modified"])

    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        poll()
        time.sleep(0.002)
    for process in processes:
        process.join(timeout=max(1.0, deadline - time.monotonic()))
        assert process.exitcode == 0
    poll()
    expected = WRITER_PROCESSES * WRITER_THREADS * WRITES_PER_THREAD
    assert len(seen) == expected
    assert len(set(seen.values())) == expected
    with transaction():
        assert storage.resource_timestamp(R, P) == max(seen.values())


def test_sync_queries_answer_what_the_general_builder_answers(
    storage: Storage, permission: Permission, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queries on ``last_modified`` alone run statements built once per shape
    (``sync_statements``); for the same query they return what ``where`` builds, page,
    timestamp and total alike."""
    with transaction():
        for i in range(12):
            storage.create(R, P, {"id": f"o{i:02}", "n": i})
        for i in (3, 7):
            storage.delete(R, P, f"o{i:02}")
        permission.replace_object_permissions(f"{P}/records/o05", {"read": ["bob"]})
        permission.replace_object_permissions(f"{P}/records/o09", {"write": ["bob", "carol"]})
        page, _ = storage.list_objects(R, P, ListQuery(include_deleted=True))
    stamps = sorted(obj["last_modified"] for obj in page)
    mid, late = stamps[4], stamps[9]
    readable = ReadableBy(frozenset({"bob", "carol"}), ("read", "write"), RECORDS)
    since = Filter("last_modified", mid, Op.GT)
    queries = [
        ListQuery(),
        ListQuery(limit=5),
        ListQuery(include_deleted=True),
        ListQuery(sorting=(Sort("last_modified"),), limit=3, after={"last_modified": mid}),
        ListQuery(filters=(since,), include_deleted=True),
        ListQuery(
            filters=(Filter("last_modified", mid, Op.MIN), Filter("last_modified", late, Op.LT)),
            include_deleted=True,
            limit=4,
        ),
        ListQuery(filters=(Filter("last_modified", late, Op.MAX),), after={"last_modified": late}),
        ListQuery(readable_by=readable),
        ListQuery(readable_by=readable, limit=1, after={"last_modified": late + 1}),
        ListQuery(filters=(Filter("last_modified", late * 10, Op.GT),)),  # an empty page
    ]
    assert all(sql_lists.sync_shape(query) is not None for query in queries)
    with transaction():
        prebuilt = [storage.list_page(R, P, query, total=True) for query in queries]
    monkeypatch.setattr(sql_lists, "sync_shape", lambda query: None)
    with transaction():
        general = [storage.list_page(R, P, query, total=True) for query in queries]
    assert prebuilt == general
    assert [len(page.objects) for page in prebuilt] == [10, 5, 12, 3, 7, 4, 9, 2, 1, 0]
    assert [page.total for page in prebuilt] == [10, 10, 10, 10, 5, 5, 10, 2, 2, 0]


def test_encoded_pages_are_the_json_of_the_objects_of_list_objects(storage: Storage) -> None:
    """``list_encoded`` (the database writes each object's JSON) answers the same objects
    as ``list_objects``: tombstones, nested values, non-ASCII and long integers included.
    It declines what the list index does not answer in order."""
    values = [
        {"n": 1, "f": 1.5, "big": 2**70, "s": 'é \u2028 "q" \\ \n', "deep": {"a": [1, None]}},
        {"n": 2, "t": True, "e": [], "o": {}},
        {},
    ]
    with transaction():
        for i, data in enumerate(values):
            storage.create(R, P, {"id": f"o{i}", **data})
        storage.delete(R, P, "o1")
    queries = [
        ListQuery(include_deleted=True),
        ListQuery(limit=1),
        ListQuery(sorting=(Sort("last_modified"),), include_deleted=True),
    ]
    with transaction():
        for query in queries:
            encoded = storage.list_encoded(R, P, query)
            assert encoded is not None
            texts, timestamp = encoded
            expected, expected_timestamp = storage.list_objects(R, P, query)
            assert [json.loads(text) for text in texts] == expected
            assert timestamp == expected_timestamp
        assert storage.list_encoded(R, P, ListQuery(sorting=(Sort("n", True),))) is None
    assert ids(expected) == ["o0", "o2", "o1"]  # oldest first, the tombstone included
