"""A collection's records as they were at a past timestamp, rebuilt from history (§10.1).

Records untouched since the timestamp are read as they are now. Each record written
after it (updated, deleted or created) takes the version of its latest history entry at
or before the timestamp; none means it did not exist then, nor does a deletion. Two
queries: the collection's records with their tombstones, then the history entries of
the records written since.
"""

from __future__ import annotations

from typing import Any

from kinto_clone.storage import Filter, ListQuery, Op, Storage

NEWEST_FIRST = ListQuery().sorting


def _is_tombstone(obj: dict[str, Any]) -> bool:
    return obj.get("deleted") is True and set(obj) <= {"id", "last_modified", "deleted"}


def _by_newest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: r["last_modified"], reverse=True)


def collection_at(
    storage: Storage, bucket_id: str, collection_id: str, timestamp: int
) -> list[dict[str, Any]]:
    """The records of ``/buckets/<bucket_id>/collections/<collection_id>`` at
    ``timestamp``, newest first."""
    bucket = f"/buckets/{bucket_id}"
    current, _ = storage.list_objects(
        "record",
        f"{bucket}/collections/{collection_id}",
        ListQuery(include_deleted=True, limit=None),
    )
    unchanged = [r for r in current if r["last_modified"] <= timestamp and not _is_tombstone(r)]
    changed = [r["id"] for r in current if r["last_modified"] > timestamp]
    if not changed:
        return _by_newest(unchanged)
    entries, _ = storage.list_objects(
        "history",
        bucket,
        ListQuery(
            filters=(
                Filter("resource_name", "record"),
                Filter("collection_id", collection_id),
                Filter("record_id", changed, Op.IN),
                Filter("target.data.last_modified", timestamp, Op.MAX),
            ),
            sorting=NEWEST_FIRST,
            limit=None,
        ),
    )
    restored: dict[str, dict[str, Any]] = {}
    for entry in entries:
        restored.setdefault(entry["record_id"], entry["target"]["data"])
    versions = [data for data in restored.values() if not _is_tombstone(data)]
    return _by_newest(unchanged + versions)
