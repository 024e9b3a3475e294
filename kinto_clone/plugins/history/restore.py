"""What a restore to a past timestamp would change, planned from history (issue 13).

The state of an object at ``at`` is the version written at or before ``at``: its latest
history entry whose ``target.data.last_modified`` is ``<= at``, or, for an object no
entry says was written since, the object as it is now. Planning never writes; ``apply.py``
performs the plan as ordinary writes.

A point the history cannot answer is refused as a whole (``Unrestorable``, a 400), never
restored in part:
- a resource excluded from history (``history.exclude_resources``) inside the target;
- an object written after ``at`` with no history entry for that write (an excluded user,
  or the plugin switched on later);
- an object written after ``at`` whose first retained entry after ``at`` is not its
  creation and which has no entry at or before ``at`` (trimmed or deleted entries);
- the records of a collection deleted after ``at`` (hard-deleted without entries) when
  entries of the bucket's history were removed since: they can no longer be enumerated.

A revert cuts history just before its entry instead (``before_entry``): by the entries'
own timestamps, strictly ordered in the bucket's one history list, since an object of
another list (a record and its collection's deletion) may share a millisecond with it.
For the same reason "was this record written before its collection's deletion" compares
the two entries, not the objects' timestamps.

Queries: one for the entries written after ``at``, one (per 500 objects) for the versions
at ``at`` of what they touched, one per list for what changed there since, and the
current objects and ACLs of what changed; a collection whose records were hard-deleted
adds one for its records' versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kinto_clone.errors import ERRNO, HTTPError
from kinto_clone.plugins.history.diff import changed_paths
from kinto_clone.plugins.history.listener import HISTORY, bucket_uri
from kinto_clone.plugins.history.options import HistoryOptions
from kinto_clone.resources.types import CORE, object_uri
from kinto_clone.storage import Filter, ListQuery, Op, Sort

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

OBJECT_TS = "target.data.last_modified"
OLDEST_FIRST = (Sort("last_modified"),)
NEWEST_FIRST = (Sort("last_modified", descending=True),)
IN_CHUNK = 500  # IN lists of at most this many values (SQLite's bound parameters)

Acl = dict[str, list[str]]


class Unrestorable(HTTPError):
    """400 errno 107: the point is older than what history holds for these objects."""

    def __init__(self, reasons: list[tuple[str, str]]) -> None:
        details = [
            {"location": "body", "name": "at", "uri": uri, "description": why}
            for uri, why in sorted(reasons)
        ]
        super().__init__(
            400,
            ERRNO.INVALID_PARAMETERS,
            error="Invalid parameters",
            message=f"History cannot restore {len(details)} object(s) to that point: "
            f"{details[0]['uri']}: {details[0]['description']}",
            details=details,
        )


@dataclass(frozen=True)
class Target:
    """What is restored: one object, and with ``children`` what it contains."""

    resource_name: str  # bucket | group | collection | record
    uri: str
    children: bool = True

    @property
    def bucket_id(self) -> str:
        return self.uri.split("/")[2]

    def contains(self, uri: str) -> bool:
        return uri == self.uri or (self.children and uri.startswith(self.uri + "/"))


def parse_uri(uri: str) -> tuple[str, str, str]:
    """``/buckets/b/collections/c`` -> ``("collection", "/buckets/b", "c")``: its storage key."""
    parsed = CORE.parse_uri(uri)
    if parsed is None:
        raise KeyError(uri)  # history records Kinto's four types only
    resource, parent, object_id = parsed
    return resource.name, parent, object_id


def _depth(change: Change) -> int:
    """Writes are applied parents first; deletions children first."""
    return len(CORE.ancestors(change.resource_name))


@dataclass
class Change:
    """One write of a restore: the object now (None: absent) and what it becomes."""

    action: str  # create | update | delete
    uri: str
    current: dict[str, Any] | None
    current_acl: dict[str, set[str]]
    data: dict[str, Any] | None  # the data at the point, without id and last_modified
    acl: Acl
    changed: list[str] = field(default_factory=list)

    @property
    def resource_name(self) -> str:
        return parse_uri(self.uri)[0]

    def describe(self) -> dict[str, Any]:
        """The change as the answer shows it (a dry run: data without its timestamp)."""
        name, _, object_id = parse_uri(self.uri)
        return {
            "action": self.action,
            "uri": self.uri,
            "resource_name": name,
            "id": object_id,
            "changed": self.changed,
            "target": {"data": self.data, "permissions": self.acl},
        }


def _is_absent(data: dict[str, Any] | None) -> bool:
    return (
        data is None
        or data.get("deleted") is True
        and set(data) <= {"id", "last_modified", "deleted"}
    )


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("id", "last_modified")}


def _scope_filters(target: Target) -> tuple[Filter, ...]:
    """History entries about the target (and its children)."""
    name, parent, object_id = parse_uri(target.uri)
    if name == "bucket":
        return () if target.children else (Filter("resource_name", "bucket"),)
    if name == "collection" and target.children:
        return (Filter("collection_id", object_id),)
    return (Filter("uri", target.uri),)


class Planner:
    def __init__(
        self,
        backends: Backends,
        options: HistoryOptions,
        target: Target,
        at: int,
        before_entry: int | None = None,
    ) -> None:
        """``at``: the point in time; ``before_entry``: the history timestamp of the
        entry a revert undoes, which then cuts history (``at`` is just before it)."""
        self.storage = backends.storage
        self.permission = backends.permission
        self.options = options
        self.target = target
        self.at = at
        # Entries with ``cut_key <= cut`` are at or before the point.
        self.cut_key, self.cut = (
            (OBJECT_TS, at) if before_entry is None else ("last_modified", before_entry - 1)
        )
        self.bucket = bucket_uri(target.bucket_id)
        self.reasons: list[tuple[str, str]] = []
        self._deletions: dict[str, list[int]] | None = None  # collection URI -> stamps

    def _entries(
        self, filters: tuple[Filter, ...], sorting: tuple[Sort, ...]
    ) -> list[dict[str, Any]]:
        found, _ = self.storage.list_objects(
            HISTORY, self.bucket, ListQuery(filters=filters, sorting=sorting, limit=None)
        )
        return found

    def plan(self) -> list[Change]:
        self._refuse_excluded()
        after: dict[str, list[dict[str, Any]]] = {}
        for entry in self._entries(
            (*_scope_filters(self.target), Filter(self.cut_key, self.cut, Op.GT)), OLDEST_FIRST
        ):
            if self.target.contains(entry["uri"]):
                after.setdefault(entry["uri"], []).append(entry)
        then = self._versions_at(list(after))
        states: dict[str, dict[str, Any] | None] = {}  # the target at the point
        acls: dict[str, Acl] = {}
        for uri, entries in after.items():
            version = then.get(uri)
            if version is not None:
                data = version["target"]["data"]
                gone = _is_absent(data) or self._collection_deleted_since(uri, version)
                states[uri] = None if gone else _plain(data)
                acls[uri] = version["target"]["permissions"] if states[uri] is not None else {}
            elif entries[0]["action"] == "create":
                states[uri] = None  # created after the point
            else:
                self.reasons.append(
                    (
                        uri,
                        "history holds no version of it at that point (trimmed or deleted entries)",
                    )
                )
        self._refuse_unrecorded(after)
        self._hard_deleted_records(after, states, acls)
        if self.reasons:
            raise Unrestorable(self.reasons)
        return self._changes(states, acls)

    def _refuse_excluded(self) -> None:
        for uri in self.options.excluded_resources:
            if self.target.contains(uri) or self.target.uri.startswith(uri + "/"):
                self.reasons.append((uri, "excluded from history"))
        if self.reasons:
            raise Unrestorable(self.reasons)

    def _versions_at(self, uris: list[str]) -> dict[str, dict[str, Any]]:
        """The latest entry at or before the point of each of ``uris``."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(uris), IN_CHUNK):
            chunk = uris[start : start + IN_CHUNK]
            for entry in self._entries(
                (Filter("uri", chunk, Op.IN), Filter(self.cut_key, self.cut, Op.MAX)), NEWEST_FIRST
            ):
                found.setdefault(entry["uri"], entry)
        return found

    def _lists(self) -> list[tuple[str, str, str | None]]:
        """``(resource, parent_id, id or None for the whole list)`` now in the target."""
        name, parent, object_id = parse_uri(self.target.uri)
        if not self.target.children or name in ("record", "group"):
            return [(name, parent, object_id)]
        if name == "collection":
            return [(name, parent, object_id), ("record", self.target.uri, None)]
        lists: list[tuple[str, str, str | None]] = [
            ("bucket", "", object_id),
            ("group", self.bucket, None),
            ("collection", self.bucket, None),
        ]
        collections, _ = self.storage.list_objects("collection", self.bucket, ListQuery(limit=None))
        lists += [("record", f"{self.bucket}/collections/{c['id']}", None) for c in collections]
        return lists

    def _refuse_unrecorded(self, after: dict[str, list[dict[str, Any]]]) -> None:
        """Objects (or tombstones) written after the point without an entry for it."""
        for name, parent, object_id in self._lists():
            filters = [Filter("last_modified", self.at, Op.GT)]
            if object_id is not None:
                filters.append(Filter("id", object_id))
            written, _ = self.storage.list_objects(
                name, parent, ListQuery(filters=tuple(filters), include_deleted=True, limit=None)
            )
            for obj in written:
                uri = object_uri(CORE[name], parent, obj["id"])
                stamps = {e["target"]["data"].get("last_modified") for e in after.get(uri, ())}
                if obj["last_modified"] not in stamps:
                    self.reasons.append((uri, "written since that point without history"))

    def _hard_deleted_records(
        self,
        after: dict[str, list[dict[str, Any]]],
        states: dict[str, dict[str, Any] | None],
        acls: dict[str, Acl],
    ) -> None:
        """Deleting a collection hard-deletes its records without entries: those alive
        at the point are found from their own entries, which must all be retained."""
        if not self.target.children or self.target.resource_name not in ("bucket", "collection"):
            return
        for uri, entries in after.items():
            if (
                parse_uri(uri)[0] != "collection"
                or states.get(uri) is None
                or not any(e["action"] == "delete" for e in entries)
            ):
                continue
            if self._history_was_trimmed():
                self.reasons.append(
                    (
                        uri,
                        "its records then cannot be listed: entries of "
                        "this bucket's history were removed",
                    )
                )
                continue
            collection_id = parse_uri(uri)[2]
            versions: dict[str, dict[str, Any]] = {}
            for entry in self._entries(
                (
                    Filter("resource_name", "record"),
                    Filter("collection_id", collection_id),
                    Filter(self.cut_key, self.cut, Op.MAX),
                ),
                NEWEST_FIRST,
            ):
                versions.setdefault(entry["uri"], entry)
            for record_uri, entry in versions.items():
                if record_uri in states or record_uri in after:
                    continue
                data = entry["target"]["data"]
                if not _is_absent(data) and not self._collection_deleted_since(record_uri, entry):
                    states[record_uri] = _plain(data)
                    acls[record_uri] = entry["target"]["permissions"]

    def _collection_deleted_since(self, uri: str, version: dict[str, Any]) -> bool:
        """Was the collection of the record at ``uri`` deleted after ``version`` (the
        record's entry) and before the point? Then the record went with it (hard-deleted).
        Entries, not objects, are compared: the deletion may share the record's millisecond."""
        if parse_uri(uri)[0] != "record":
            return False
        if self._deletions is None:
            self._deletions = {}
            filters = [
                Filter("resource_name", "collection"),
                Filter("action", "delete"),
                Filter(self.cut_key, self.cut, Op.MAX),
            ]
            if self.target.resource_name != "bucket":
                filters.append(Filter("collection_id", self.target.uri.split("/")[4]))
            for entry in self._entries(tuple(filters), OLDEST_FIRST):
                self._deletions.setdefault(entry["uri"], []).append(entry["last_modified"])
        collection = uri.rsplit("/", 2)[0]
        return any(
            version["last_modified"] < stamp for stamp in self._deletions.get(collection, ())
        )

    def _history_was_trimmed(self) -> bool:
        """Entries leave tombstones when trimmed or deleted (until purged)."""
        gone, _ = self.storage.list_objects(
            HISTORY,
            self.bucket,
            ListQuery(filters=(Filter("uri", False, Op.HAS),), include_deleted=True, limit=1),
        )
        return bool(gone)

    def _changes(
        self, states: dict[str, dict[str, Any] | None], acls: dict[str, Acl]
    ) -> list[Change]:
        keys = [parse_uri(uri) for uri in states]
        current = self.storage.get_many(keys)
        current_acls = self.permission.get_objects_permissions(list(states))
        changes: list[Change] = []
        for uri, data in states.items():
            now = current.get(parse_uri(uri))
            now_acl = current_acls.get(uri, {})
            acl = {p: sorted(s) for p, s in sorted(acls.get(uri, {}).items()) if s}
            if data is None and now is None:
                continue
            if data is None:
                changes.append(Change("delete", uri, now, now_acl, None, {}))
                continue
            shown_now = {p: sorted(s) for p, s in sorted(now_acl.items()) if s}
            if now is None:
                changes.append(
                    Change("create", uri, None, now_acl, data, acl, changed_paths({}, data))
                )
                continue
            paths = changed_paths(_plain(now), data)
            paths += [
                f"permissions.{p}"
                for p in sorted(set(acl) | set(shown_now))
                if acl.get(p) != shown_now.get(p)
            ]
            if paths:
                changes.append(Change("update", uri, now, now_acl, data, acl, paths))
        return _in_write_order(changes)


def _in_write_order(changes: list[Change]) -> list[Change]:
    """Creations and updates parents first; then deletions children first, skipping
    the children of a deleted collection (its deletion removes them)."""
    deleted = {c.uri for c in changes if c.action == "delete"}
    writes = sorted((c for c in changes if c.action != "delete"), key=lambda c: (_depth(c), c.uri))
    removals = sorted(
        (
            c
            for c in changes
            if c.action == "delete" and not any(c.uri.startswith(d + "/") for d in deleted)
        ),
        key=lambda c: (-_depth(c), c.uri),
    )
    return writes + removals
