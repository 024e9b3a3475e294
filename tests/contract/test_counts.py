"""The live count a list's timestamps row keeps (``count`` of a whole list, Total-Records).

It must never be wrong: a count that drifted once would stay wrong for the list's life.
Each test compares it with a count the database makes from the objects (a filter that
matches every object, which is never answered from the kept count).
"""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa

from kinto_clone.db import Database, transaction
from kinto_clone.storage import (
    BackendError,
    Filter,
    ListQuery,
    ObjectNotFoundError,
    Op,
    Storage,
    UnicityError,
)
from kinto_clone.storage.sql import SQLStorage
from kinto_clone.tables import timestamps

R, P = "record", "/buckets/b/collections/c"
EVERY_OBJECT = ListQuery(filters=(Filter("last_modified", 0, Op.GT),))


def kept_and_counted(storage: Storage) -> tuple[int, int]:
    with transaction():
        return storage.count(R, P, ListQuery()), storage.count(R, P, EVERY_OBJECT)


def test_the_kept_count_follows_creates_updates_deletes_and_bulk_deletes(
    storage: Storage,
) -> None:
    with transaction():
        for i in range(10):
            storage.create(R, P, {"id": f"o{i}"})
        storage.update(R, P, "o1", {"id": "o1", "n": 1})
        storage.update(R, P, "new", {"id": "new"})
        storage.delete(R, P, "o2")
        with pytest.raises(UnicityError):
            storage.create(R, P, {"id": "o3"})
        with pytest.raises(ObjectNotFoundError):
            storage.delete(R, P, "o2")
        storage.create(R, P, {"id": "o2"})  # the tombstone brought back
        storage.create(R, P, {"id": "past", "last_modified": 1})
        storage.update(R, P, "o4", {"id": "o4", "last_modified": 2**50})
        storage.delete(R, P, "o5", last_modified=2**50 + 10)
        storage.delete_all(R, P, ListQuery(limit=3))
    assert kept_and_counted(storage) == (8, 8)
    with transaction():
        storage.delete_tree("/buckets/b")
    assert kept_and_counted(storage) == (0, 0)


def test_a_list_without_a_kept_count_is_counted(
    backend: str, storage: Storage, database: Database
) -> None:
    """A list row without a count (NULL: lost track of) answers the counted number, and
    the next write of the list keeps it again."""
    if backend == "memory":
        pytest.skip("the memory backend has no second connection to change the row with")
    with transaction():
        for i in range(3):
            storage.create(R, P, {"id": f"o{i}"})
    with database.engine.begin() as conn:
        conn.execute(sa.update(timestamps).values(live_count=None))
    assert kept_and_counted(storage) == (3, 3)
    with transaction():
        storage.create(R, P, {"id": "o3"})
    with database.engine.connect() as conn:
        assert conn.execute(sa.select(timestamps.c.live_count)).scalar_one() == 4


def _race(url: str, ids: list[str], rounds: int, seed: int) -> None:
    db = Database(url, pool_size=2)
    storage = SQLStorage(db)
    rng = random.Random(seed)
    try:
        for _ in range(rounds):
            object_id = rng.choice(ids)
            action = rng.choice(("create", "update", "delete"))
            try:
                with transaction():
                    if action == "create":
                        storage.create(R, P, {"id": object_id})
                    elif action == "update":
                        storage.update(R, P, object_id, {"id": object_id, "n": 1})
                    else:
                        storage.delete(R, P, object_id)
                    time.sleep(0.002)  # holding the list's lock: the others queue behind
            except (UnicityError, ObjectNotFoundError):
                pass
            except BackendError as exc:
                # A create that met a live object which a concurrent delete then removed
                # (storage.sql: _unicity_error): a 503 the client retries, nothing written.
                assert "without a live object" in str(exc)
    finally:
        db.dispose()


def test_concurrent_writers_of_the_same_objects_never_leave_a_wrong_count(
    backend: str, storage: Storage, database_url: str
) -> None:
    """Writers racing on the same few ids (PostgreSQL: a writer may wait for the list's
    lock while another changes what its snapshot saw). The kept count may be dropped
    and counted again, never wrong."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing runs concurrently")
    ids = [f"o{i}" for i in range(4)]
    threads = [
        threading.Thread(target=_race, args=(database_url, ids, 60, seed)) for seed in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept, counted = kept_and_counted(storage)
    assert kept == counted
    with transaction():
        storage.create(R, P, {"id": "last"})
    assert kept_and_counted(storage) == (counted + 1, counted + 1)
