"""What a stream reads from the database: synchronous, run in the stream's thread pool.

A *round* of one list (the records of one collection) is what every subscriber of that
list needs after a change, read once for all of them: the changes since the list's
cursor (a ``_since`` query of the storage backend, tombstones included, oldest first),
the ACLs of the bucket, the collection and each changed record, and the groups of the
subscribed users at that moment. The permission decision is then made per subscriber in
memory (``filters.py``), with the inheritance table every request uses.

Two statements are the stream's own, because no backend method answers them: the groups
of *each* of several users (``Permission.get_user_principals`` merges them), and the
timestamps of the watched lists, which the SQLite poller reads (``broker.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from kinto_clone import db
from kinto_clone.authorization import AUTHENTICATED
from kinto_clone.permission import ACL
from kinto_clone.resources.revocations import tombstone
from kinto_clone.storage import Filter, ListQuery, Op, Sort
from kinto_clone.tables import timestamps, user_principals

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

RECORD = "record"
_OLDEST_FIRST = (Sort("last_modified"),)


def bucket_uri(bucket_id: str) -> str:
    return f"/buckets/{bucket_id}"


def collection_uri(bucket_id: str, collection_id: str) -> str:
    return f"/buckets/{bucket_id}/collections/{collection_id}"


def split_collection_uri(uri: str) -> tuple[str, str]:
    """``/buckets/b/collections/c`` -> ``("b", "c")``."""
    parts = uri.split("/")
    return parts[2], parts[4]


@dataclass
class Round:
    """One read of one list: ``changes`` oldest first (objects and tombstones)."""

    changes: list[dict[str, Any]]
    full: bool  # a whole page: more changes may follow
    exists: bool  # the bucket and the collection are still there
    acls: dict[str, ACL] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)  # user id -> group URIs
    # Access-revoked tombstones among ``changes`` (``"revoked": true``, or a deletion's own
    # tombstone): their timestamp -> the principals who lost the record then (README,
    # "Revocations").
    revoked: dict[int, set[str]] = field(default_factory=dict)


class StreamReader:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self.db = next(iter(backends.databases.values()))

    def read_round(
        self,
        bucket_id: str,
        collection_id: str,
        since: int,
        page_size: int,
        user_ids: Iterable[str],
    ) -> Round:
        parent = collection_uri(bucket_id, collection_id)
        bucket = bucket_uri(bucket_id)
        query = ListQuery(
            filters=(Filter("last_modified", since, Op.GT),),
            sorting=_OLDEST_FIRST,
            limit=page_size,
            include_deleted=True,
        )
        with db.transaction(write=False):
            changes, _ = self.backends.storage.list_objects(RECORD, parent, query)
            full = len(changes) >= page_size
            revoked = self._revoked(parent, since, changes[-1]["last_modified"] if full else None)
            if revoked:
                # A deletion's revocations share its tombstone's timestamp: that tombstone
                # is their event (README, "Revocations").
                known = {c["last_modified"] for c in changes}
                added = [t for t in revoked[0] if t["last_modified"] not in known]
                changes = sorted([*changes, *added], key=lambda c: c["last_modified"])
            uris = [bucket, parent, *(f"{parent}/records/{c['id']}" for c in changes)]
            keys = [("bucket", "", bucket_id), ("collection", bucket, collection_id)]
            loaded = self.backends.loader.load(keys, uris, [])
            groups = self._groups(user_ids)
        exists = len(loaded.objects) == 2
        return Round(changes, full, exists, loaded.acls, groups, revoked[1] if revoked else {})

    def _revoked(
        self, parent: str, since: int, upto: int | None
    ) -> tuple[list[dict[str, Any]], dict[int, set[str]]] | None:
        """The list's revocations in ``(since, upto]``: a tombstone per record and time,
        and who lost it then. Up to the page's last change only, when the page is full,
        so that the next round's cursor passes none."""
        if not self.backends.revocations:
            return None
        found = self.backends.storage.revoked_between(RECORD, parent, since, upto)
        if not found:
            return None
        tombstones: dict[int, dict[str, Any]] = {}
        who: dict[int, set[str]] = {}
        for record_id, timestamp, principal in found:
            tombstones[timestamp] = tombstone(record_id, timestamp)
            who.setdefault(timestamp, set()).add(principal)
        return list(tombstones.values()), who

    def list_timestamp(self, bucket_id: str, collection_id: str) -> int:
        with db.transaction(write=False):
            return self.backends.storage.resource_timestamp(
                RECORD, collection_uri(bucket_id, collection_id)
            )

    def collections(self, bucket_id: str) -> list[str]:
        """The ids of a bucket's collections (a bucket-wide stream's lists)."""
        with db.transaction(write=False):
            found, _ = self.backends.storage.list_objects(
                "collection", bucket_uri(bucket_id), ListQuery(sorting=(Sort("id"),))
            )
        return [c["id"] for c in found]

    @db.db_errors
    def _groups(self, user_ids: Iterable[str]) -> dict[str, set[str]]:
        users = sorted({*user_ids, AUTHENTICATED})
        groups: dict[str, set[str]] = {user: set() for user in users}
        stmt = sa.select(user_principals.c.user_id, user_principals.c.principal).where(
            db.in_values(user_principals.c.user_id, users)
        )
        for user, principal in self.db.execute(stmt):
            groups[user].add(principal)
        return groups

    @db.db_errors
    def record_list_timestamps(self, bucket_ids: Iterable[str]) -> dict[str, int]:
        """``{collection URI: list timestamp}`` of the records of every collection of the
        given buckets: one range scan of the primary key per bucket."""
        found: dict[str, int] = {}
        buckets = sorted(set(bucket_ids))
        with db.transaction(write=False):
            if len(buckets) > 20:  # one scan of the (small: a row per list) table instead
                stmt = sa.select(timestamps.c.parent_id, timestamps.c.last_modified).where(
                    timestamps.c.resource_name == RECORD
                )
                return {
                    parent: int(ts)
                    for parent, ts in self.db.execute(stmt)
                    if parent.startswith("/buckets/") and "/collections/" in parent
                }
            for bucket_id in buckets:
                prefix = f"{bucket_uri(bucket_id)}/collections/"
                stmt = sa.select(timestamps.c.parent_id, timestamps.c.last_modified).where(
                    timestamps.c.parent_id >= prefix,
                    timestamps.c.parent_id < prefix[:-1] + "0",  # "0" follows "/"
                    timestamps.c.resource_name == RECORD,
                )
                found.update({parent: int(ts) for parent, ts in self.db.execute(stmt)})
        return found
