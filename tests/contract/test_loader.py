"""The Loader contract (``kinto_clone/storage/loader.py``), on every backend.

Both loaders, the one-statement ``SQLLoader`` and the general ``PlainLoader``, must answer
what the plain calls answer: ``Storage.get`` of each key (absent when it raises
ObjectNotFoundError), ``Permission.get_objects_permissions`` of the URIs and
``Permission.get_user_principals`` of the user ids, for chains that exist, are partly
missing or deleted, ACLs present or not, callers with and without groups.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kinto_clone.db import Database, transaction
from kinto_clone.permission import Permission
from kinto_clone.storage import ObjectNotFoundError, Storage
from kinto_clone.storage.loader import Key, Loaded, Loader, PlainLoader
from kinto_clone.storage.sql_loader import SQLLoader
from tests.querycount import database_statements

B = "/buckets/b"
C = f"{B}/collections/c"
R1, R2 = f"{C}/records/r1", f"{C}/records/r-2_x"
AUTHENTICATED = "system.Authenticated"


def bucket(bucket_id: str = "b") -> Key:
    return ("bucket", "", bucket_id)


def collection(collection_id: str = "c", bucket_id: str = "b") -> Key:
    return ("collection", f"/buckets/{bucket_id}", collection_id)


def record(record_id: str, parent: str = C) -> Key:
    return ("record", parent, record_id)


@pytest.fixture
def seeded(storage: Storage, permission: Permission) -> None:
    with transaction():
        storage.create("bucket", "", {"id": "b", "title": "B"})
        storage.create("collection", B, {"id": "c", "nested": {"a": [1, 2**70]}})
        storage.create("collection", B, {"id": "empty"})
        storage.create("record", C, {"id": "r1", "title": "ü"})
        storage.create("record", C, {"id": "r-2_x"})
        storage.create("record", C, {"id": "gone"})
        storage.delete("record", C, "gone")
        storage.create("record", C, {"id": "c"})  # a record named like the collection
        permission.add_object_permissions(B, {"write": ["alice"], "read": [AUTHENTICATED]})
        permission.add_object_permissions(C, {"record:create": ["bob", "/buckets/b/groups/g"]})
        permission.add_object_permissions(R1, {"read": ["carol"], "write": ["bob"]})
        permission.add_object_permissions(f"{C}/records/gone", {"read": ["bob"]})
        permission.add_user_principal("bob", "/buckets/b/groups/g")
        permission.add_user_principal("bob", "/buckets/other/groups/h")
        permission.add_user_principal(AUTHENTICATED, "/buckets/b/groups/everyone")


Request = tuple[list[Key], list[str], list[str]]
CHAIN = [bucket(), collection()]
URIS = [B, C]

CASES: dict[str, Request] = {
    "a whole chain, a caller with groups": (
        [*CHAIN, record("r1")],
        [*URIS, R1],
        ["bob", AUTHENTICATED],
    ),
    "a record that does not exist": ([*CHAIN, record("nope")], [*URIS, f"{C}/records/nope"], []),
    "a deleted record (its ACEs stay)": (
        [*CHAIN, record("gone")],
        [*URIS, f"{C}/records/gone"],
        ["carol", AUTHENTICATED],
    ),
    "a missing collection and its record": (
        [bucket(), collection("nope"), record("r1", f"{B}/collections/nope")],
        [B, f"{B}/collections/nope", f"{B}/collections/nope/records/r1"],
        ["alice"],
    ),
    "a missing bucket": (
        [bucket("nope"), collection("c", "nope")],
        ["/buckets/nope", "/buckets/nope/collections/c"],
        ["bob"],
    ),
    "an object without ACEs": ([*CHAIN, record("r-2_x")], [*URIS, R2], ["dave"]),
    "ids that exist in another list only": (
        [record("c", B), collection("r1"), record("c")],
        [],
        [],
    ),
    "an anonymous caller": ([*CHAIN], URIS, []),
    "groups only": ([], [], ["bob", "nobody", AUTHENTICATED]),
    "ACLs only, several records": ([], [R1, R2, f"{C}/records/gone"], []),
    "nothing at all": ([], [], []),
    "the same items twice": ([*CHAIN, *CHAIN], [*URIS, *URIS], ["bob", "bob"]),
    "a sibling next to the object": (
        [*CHAIN, record("r1"), record("r-2_x")],
        [*URIS, R1, R2],
        ["bob", AUTHENTICATED],
    ),
}


def plain_calls(storage: Storage, permission: Permission, request: Request) -> Loaded:
    """The answer the loaders must give, from the plainest calls of each backend."""
    keys, uris, user_ids = request
    found: dict[Key, dict[str, Any]] = {}
    for key in keys:
        try:
            found[key] = storage.get(*key)
        except ObjectNotFoundError:
            pass
    return Loaded(
        objects=found,
        acls=permission.get_objects_permissions(uris),
        groups=permission.get_user_principals(user_ids),
    )


LOADERS: dict[str, Callable[[Storage, Permission, Database], Loader]] = {
    "one statement": lambda storage, permission, database: SQLLoader(database),
    "plain calls": lambda storage, permission, database: PlainLoader(storage, permission),
}


@pytest.mark.parametrize("loader_name", list(LOADERS))
@pytest.mark.parametrize("case", list(CASES))
def test_a_loader_answers_what_the_plain_calls_answer(
    storage: Storage,
    permission: Permission,
    database: Database,
    seeded: None,
    loader_name: str,
    case: str,
) -> None:
    loader = LOADERS[loader_name](storage, permission, database)
    keys, uris, user_ids = CASES[case]
    with transaction(write=False):
        expected = plain_calls(storage, permission, CASES[case])
        # Generators, as a caller may pass them: each is read once.
        loaded = loader.load(iter(keys), iter(uris), iter(user_ids))
    assert loaded == expected


def test_the_case_table_covers_what_it_says(
    storage: Storage, permission: Permission, seeded: None
) -> None:
    # A table of answers that are all empty would pin nothing.
    with transaction(write=False):
        answers = {name: plain_calls(storage, permission, case) for name, case in CASES.items()}
    whole = answers["a whole chain, a caller with groups"]
    assert len(whole.objects) == 3 and whole.acls[R1] and len(whole.groups) == 3
    assert len(answers["a record that does not exist"].objects) == 2
    assert len(answers["a deleted record (its ACEs stay)"].objects) == 2
    assert answers["a deleted record (its ACEs stay)"].acls[f"{C}/records/gone"]
    assert list(answers["a missing collection and its record"].objects) == [bucket()]
    assert answers["a missing bucket"].objects == {}
    assert answers["an object without ACEs"].acls[R2] == {}
    assert list(answers["ids that exist in another list only"].objects) == [record("c")]


def test_the_sql_loader_is_one_statement(
    database: Database, seeded: None, storage: Storage
) -> None:
    keys, uris, user_ids = CASES["a whole chain, a caller with groups"]
    with transaction(write=False), database_statements([database]) as sent:
        SQLLoader(database).load(keys, uris, user_ids)
    assert len(sent) == 1
