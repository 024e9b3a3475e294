"""One history entry per change of a bucket, group, collection or record (§10.1).

The listener runs inside the request's transaction (``events.py``): an entry commits or
rolls back with the change it records. Per recorded change: the insert of the entry, one
insert of its read ACEs and, when trimming is on, one count; once in a while the trim
itself (one bulk delete, then one ACE removal per trimmed entry). The ACLs of the bucket
and collection come from the route context, which already loaded them to check the
request's permission; only writes made outside a resource route (the default bucket's
implicit creations) fetch them.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pyramid.request import Request

from kinto_clone.context import RouteContext
from kinto_clone.events import ResourceChange
from kinto_clone.permission import ACL
from kinto_clone.plugins.history.options import HistoryOptions
from kinto_clone.resources.types import ResourceType, object_uri
from kinto_clone.storage import Filter, ListQuery, Op, Sort

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

# History entries: objects of a bucket that only the server writes (``server_written``:
# no routes of the generic kind, no ``history:create``); ``__init__.py`` registers it.
ENTRY = ResourceType("history", "history", "bucket", permissions=("read",), server_written=True)
HISTORY = ENTRY.name
RESTORE_ENVIRON = "kinto_clone.restore"  # set by apply.py during a restore's writes
TRACKED = frozenset({"bucket", "group", "collection", "record"})
OLDEST_FIRST = (Sort("last_modified"),)


def bucket_uri(bucket_id: str) -> str:
    return f"/buckets/{bucket_id}"


def entry_uri(bucket: str, entry_id: str) -> str:
    """The URI of an entry's ACEs: what storage's ``readable_by`` looks up (§6.1)."""
    return object_uri(ENTRY, bucket, entry_id)


def now_iso() -> str:
    """``2024-05-01T10:00:00.123456+00:00``: UTC, always with microseconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


def build_entry(change: ResourceChange, date: str) -> dict[str, Any]:
    """The stored entry: the change, its object's ids (``bucket_id`` only on bucket
    entries: the others live in that bucket) and the object with its ACL."""
    ids = {
        k: v for k, v in change.ids.items() if k != "bucket_id" or change.resource_name == "bucket"
    }
    return {
        "id": str(uuid.uuid4()),
        "uri": change.uri,
        "date": date,
        "action": change.action,
        "resource_name": change.resource_name,
        "user_id": change.user_id,
        **ids,
        "target": {"data": change.new, "permissions": change.permissions},
    }


def _chain(change: ResourceChange) -> list[str]:
    """The URIs of the bucket, the collection (for a record) and the object itself."""
    uris = [bucket_uri(change.ids["bucket_id"])]
    if change.resource_name == "record":
        uris.append(f"{uris[0]}/collections/{change.ids['collection_id']}")
    if change.uri not in uris:
        uris.append(change.uri)
    return uris


class HistoryListener:
    """Subscribed to every change (``registry.listeners``)."""

    def __init__(self, options: HistoryOptions) -> None:
        self.options = options

    def __call__(self, request: Request, change: ResourceChange) -> None:
        if change.resource_name not in TRACKED or "bucket_id" not in change.ids:
            return
        if change.resource_name == "bucket" and change.action == "delete":
            return  # the bucket's history went with it (delete_tree)
        backends: Backends = request.registry.backends
        bucket = bucket_uri(change.ids["bucket_id"])
        chain = _chain(change)
        if self.options.excludes(chain, change.user_id):
            if change.resource_name == "bucket" and change.action == "create":
                # Store the list timestamp now, in this write transaction, so that the
                # first read of an empty history never has to write.
                backends.storage.start_list(HISTORY, bucket)
            return
        built = build_entry(change, now_iso())
        origin = request.environ.get(RESTORE_ENVIRON)
        if origin is not None:  # a write of a restore (apply.py): say what was restored
            built["restore"] = origin
        entry = backends.storage.create(HISTORY, bucket, built)
        readers = self._readers(request, change, chain)
        if readers:
            backends.permission.add_object_permissions(
                entry_uri(bucket, entry["id"]), {"read": readers}
            )
        if self.options.trims:
            self._trim(backends, bucket, change)

    def _readers(self, request: Request, change: ResourceChange, chain: list[str]) -> set[str]:
        """Who may read the entry: the readers and writers of the bucket, of the
        collection (for collection and record entries) and, with explicit permissions,
        of a group or record itself, as they are after the change."""
        acls = _acls(request, chain[:-1])
        acls[change.uri] = {
            perm: set(principals) for perm, principals in change.permissions.items()
        }
        counted = chain
        if not self.options.explicit_permissions and change.resource_name in ("group", "record"):
            counted = chain[:-1]
        readers: set[str] = set()
        for uri in counted:
            acl = acls.get(uri, {})
            readers |= acl.get("read", set()) | acl.get("write", set())
        return readers

    def _trim(self, backends: Backends, bucket: str, change: ResourceChange) -> None:
        """Keep the newest ``trim_max_count`` entries of this resource type in the bucket
        (only those of ``trim_user_ids`` when given), once there are more than
        ``trim_max_count + trim_threshold``. The trimmed entries leave tombstones, like
        any deletion (a synchronising client learns they are gone)."""
        options = self.options
        filters = [Filter("resource_name", change.resource_name)]
        if options.trim_user_ids:
            if change.user_id not in options.trim_user_ids:
                return  # their count did not change
            filters.append(Filter("user_id", list(options.trim_user_ids), Op.IN))
        query = ListQuery(filters=tuple(filters))
        excess = backends.storage.count(HISTORY, bucket, query) - options.trim_max_count
        if excess <= options.trim_threshold:
            return
        trimmed = backends.storage.delete_all(
            HISTORY, bucket, dataclasses.replace(query, sorting=OLDEST_FIRST, limit=excess)
        )
        forget_entries(backends, bucket, (t["id"] for t in trimmed))


def forget_entries(backends: Backends, bucket: str, entry_ids: Iterable[str]) -> None:
    """Remove the ACEs of deleted entries, so that their tombstones are only seen by the
    bucket's readers, like the tombstones of any object whose ACL is gone (§2.4)."""
    for entry_id in entry_ids:
        backends.permission.delete_object_permissions(entry_uri(bucket, entry_id))


def _acls(request: Request, uris: list[str]) -> dict[str, ACL]:
    """The current ACLs of the bucket and collection of a change: those the route context
    loaded for the permission check (no change of this request touched them), else
    fetched in one query."""
    context = getattr(request, "context", None)
    known = context.acls if isinstance(context, RouteContext) else {}
    found = {uri: known[uri] for uri in uris if uri in known}
    missing = [uri for uri in uris if uri not in found]
    if missing:
        found.update(request.registry.backends.permission.get_objects_permissions(missing))
    return found
