"""The resource tree derived from the ``ResourceType`` records (``resources/types.py``)."""

from __future__ import annotations

from kinto_clone.authorization import INHERITANCE
from kinto_clone.resources.types import CORE, RECORD, ResourceType, Topology

# Kinto's permission inheritance (kinto-api.md §6.2), as Kinto writes it: the table the
# types derive must be this one, order included (explanations list it in order).
KINTO_TABLE = {
    ("bucket", "write"): (("bucket", "write"),),
    ("bucket", "read"): (("bucket", "write"), ("bucket", "read")),
    ("bucket", "read:attributes"): (
        ("bucket", "write"),
        ("bucket", "read"),
        ("bucket", "collection:create"),
        ("bucket", "group:create"),
    ),
    ("bucket", "collection:create"): (("bucket", "write"), ("bucket", "collection:create")),
    ("bucket", "group:create"): (("bucket", "write"), ("bucket", "group:create")),
    ("group", "write"): (("bucket", "write"), ("group", "write")),
    ("group", "read"): (
        ("bucket", "write"),
        ("bucket", "read"),
        ("group", "write"),
        ("group", "read"),
    ),
    ("collection", "write"): (("bucket", "write"), ("collection", "write")),
    ("collection", "read"): (
        ("bucket", "write"),
        ("bucket", "read"),
        ("collection", "write"),
        ("collection", "read"),
    ),
    ("collection", "read:attributes"): (
        ("bucket", "write"),
        ("bucket", "read"),
        ("collection", "write"),
        ("collection", "read"),
        ("collection", "record:create"),
    ),
    ("collection", "record:create"): (
        ("bucket", "write"),
        ("collection", "write"),
        ("collection", "record:create"),
    ),
    ("record", "write"): (("bucket", "write"), ("collection", "write"), ("record", "write")),
    ("record", "read"): (
        ("bucket", "write"),
        ("bucket", "read"),
        ("collection", "write"),
        ("collection", "read"),
        ("record", "write"),
        ("record", "read"),
    ),
}


def test_the_inheritance_derived_from_the_four_types_is_kintos() -> None:
    assert dict(CORE.inheritance) == KINTO_TABLE
    assert list(CORE.inheritance) == list(KINTO_TABLE)
    assert all(list(CORE.inheritance[key]) == list(KINTO_TABLE[key]) for key in KINTO_TABLE)
    assert INHERITANCE is CORE.inheritance


def test_each_level_gets_the_create_permissions_of_its_children() -> None:
    assert CORE["bucket"].permissions == ("read", "write", "collection:create", "group:create")
    assert CORE["collection"].permissions == ("read", "write", "record:create")
    assert CORE["group"].permissions == CORE["record"].permissions == ("read", "write")
    assert RECORD.permissions == ("read", "write")  # the declaration is left as it is
    assert [c.name for c in CORE["bucket"].children] == ["collection", "group"]
    assert CORE["bucket"].read_permission == "read:attributes"
    assert CORE["record"].read_permission == "read"


def test_paths_uris_and_ids_come_from_the_chain_of_parents() -> None:
    assert CORE.path("bucket") == "/buckets"
    assert CORE.path("group") == "/buckets/{bucket_id}/groups"
    assert CORE.path("record") == "/buckets/{bucket_id}/collections/{collection_id}/records"
    assert [t.name for t in CORE.ancestors("record")] == ["bucket", "collection"]
    record, parent, object_id = CORE.parse_uri("/buckets/b/collections/c/records/r") or ()
    assert (record.name, parent, object_id) == ("record", "/buckets/b/collections/c", "r")
    assert CORE.ids_of("/buckets/b/collections/c/records/r") == {
        "bucket_id": "b",
        "collection_id": "c",
        "record_id": "r",
    }
    assert CORE.chain_uris("/buckets/b/groups/g") == {
        "bucket": "/buckets/b",
        "group": "/buckets/b/groups/g",
    }
    for unknown in ("/", "/buckets", "/buckets/b/records/r", "/accounts/a", "buckets/b"):
        assert CORE.parse_uri(unknown) is None, unknown
        assert CORE.ids_of(unknown) == {}


def test_server_written_types_grant_no_create_and_start_no_list() -> None:
    history = ResourceType("history", "history", "bucket", server_written=True)
    types = Topology(*CORE.declared(), history)
    assert types["bucket"].permissions == CORE["bucket"].permissions
    assert types.parse_uri("/buckets/b/history/h") is not None
    assert ("bucket", "history:create") not in types.inheritance
