"""Restore and revert, as the endpoints (``restore_views.py``) and the command line ask.

- ``restore``: the target (record; collection and its records; group; bucket and all it
  holds) to its state at a point, optionally only planned (dry run) or refused unless the
  target is still at the ETag the caller names (``If-Match``).
- ``revert``: undo one history entry: its object goes back to the version before the
  entry (a collection deleted by it comes back with its records), refused with a 412
  when the object changed since.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any

from pyramid.request import Request

from kinto_clone.errors import NotFound, PreconditionFailed, invalid
from kinto_clone.plugins.history import apply
from kinto_clone.plugins.history.listener import HISTORY, bucket_uri
from kinto_clone.plugins.history.options import HistoryOptions
from kinto_clone.plugins.history.restore import OBJECT_TS, OLDEST_FIRST, Planner, Target, parse_uri
from kinto_clone.storage import Filter, ListQuery, Op

if TYPE_CHECKING:
    from kinto_clone.backends import Backends
    from kinto_clone.storage import Storage

MAX_TIMESTAMP = 2**53  # beyond, JSON clients lose precision
_DIGITS = re.compile(r"[0-9]{1,20}")


def parse_at(value: Any, now_ms: int, location: str = "body", name: str = "data.at") -> int:
    """Epoch milliseconds, from an integer, a string of digits or an ISO 8601 date (UTC
    unless it says otherwise); not in the future."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            raise invalid(
                location,
                name,
                f"{value!r} is neither a timestamp (epoch milliseconds) nor an ISO 8601 date",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        try:
            value = int(parsed.timestamp() * 1000)
        except (OverflowError, ValueError):  # a date at the ends of datetime's range
            raise invalid(location, name, f"{value!r} is out of range") from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < MAX_TIMESTAMP:
        raise invalid(location, name, f"{value!r} is not a timestamp (epoch milliseconds)")
    if value > now_ms:
        raise invalid(location, name, f"{value} is in the future")
    return value


def _latest(storage: Storage, uri: str) -> dict[str, Any] | None:
    """The object at ``uri`` now, or its tombstone; None if neither is stored."""
    name, parent_id, object_id = parse_uri(uri)
    found, _ = storage.list_objects(
        name,
        parent_id,
        ListQuery(filters=(Filter("id", object_id),), include_deleted=True, limit=1),
    )
    return found[0] if found else None


def lock(storage: Storage, target: Target) -> None:
    """Serialise with the writers of the lists the restore reads and writes, so that the
    ETag checked below is still the target's when the writes happen."""
    name, parent_id, _ = parse_uri(target.uri)
    storage.lock_list(name, parent_id)
    if target.children and name == "collection":
        storage.lock_list("record", target.uri)
    elif target.children and name == "bucket":
        storage.lock_list("group", target.uri)
        storage.lock_list("collection", target.uri)


def target_timestamp(storage: Storage, target: Target) -> int | None:
    """The target's ETag: its own timestamp (tombstones too) and, with its children, the
    greatest timestamp of the lists it holds."""
    current = _latest(storage, target.uri)
    stamps = [current["last_modified"]] if current else []
    name = target.resource_name
    if target.children and name == "collection":
        stamps.append(storage.resource_timestamp("record", target.uri))
    elif target.children and name == "bucket":
        stamps += [
            storage.resource_timestamp(child, target.uri) for child in ("group", "collection")
        ]
        collections, _ = storage.list_objects("collection", target.uri, ListQuery(limit=None))
        stamps += [
            storage.resource_timestamp("record", f"{target.uri}/collections/{c['id']}")
            for c in collections
        ]
    return max(stamps) if stamps else None


def require_target(backends: Backends, target: Target) -> None:
    """404 errno 111 for a missing parent; 404 errno 110 for an object that neither
    exists nor ever had a history entry."""
    parts = target.uri.strip("/").split("/")
    chain = ["/" + "/".join(parts[: i + 2]) for i in range(0, len(parts), 2)]
    found = backends.storage.get_many([parse_uri(uri) for uri in chain])
    for uri in chain[:-1]:
        if parse_uri(uri) not in found:
            name, _, object_id = parse_uri(uri)
            raise NotFound(name, object_id, parent=True)
    if parse_uri(target.uri) in found:
        return
    entries, _ = backends.storage.list_objects(
        HISTORY,
        bucket_uri(target.bucket_id),
        ListQuery(filters=(Filter("uri", target.uri),), limit=1),
    )
    if not entries:
        name, _, object_id = parse_uri(target.uri)
        raise NotFound(name, object_id)


def _answer(
    target: Target, at: int, dry_run: bool, changes: list[dict[str, Any]]
) -> dict[str, Any]:
    counts = {
        action: sum(1 for c in changes if c["action"] == action)
        for action in ("create", "update", "delete")
    }
    return {"uri": target.uri, "at": at, "dry_run": dry_run, **counts, "changes": changes}


def restore(
    request: Request,
    options: HistoryOptions,
    target: Target,
    at: int,
    *,
    dry_run: bool,
    if_match: int | str | None = None,
    author: dict[str, Any] | None = None,
    before_entry: int | None = None,
) -> tuple[dict[str, Any], int | None]:
    """Plan, and unless ``dry_run`` perform, the restore. Returns the answer and the
    target's ETag afterwards. ``before_entry``: a revert's (``Planner``)."""
    backends: Backends = request.registry.backends
    require_target(backends, target)
    lock(backends.storage, target)
    before = target_timestamp(backends.storage, target)
    if if_match is not None and if_match != "*" and if_match != before:
        raise PreconditionFailed(_latest_live(backends, target.uri), before)
    changes = Planner(backends, options, target, at, before_entry).plan()
    if dry_run:
        apply.check(request, changes)
        return _answer(target, at, True, [c.describe() for c in changes]), before
    origin = {"uri": target.uri, "at": at, **(author or {})}
    done = apply.perform(request, changes, origin)
    return _answer(target, at, False, done), target_timestamp(backends.storage, target)


def _latest_live(backends: Backends, uri: str) -> dict[str, Any] | None:
    current = _latest(backends.storage, uri)
    return None if current is None or current.get("deleted") else current


def revert(
    request: Request, options: HistoryOptions, entry: dict[str, Any], *, dry_run: bool
) -> tuple[dict[str, Any], int | None]:
    """Undo ``entry``: 412 unless it is still the latest change of its object."""
    backends: Backends = request.registry.backends
    uri = entry["uri"]
    name = parse_uri(uri)[0]
    written = entry["target"]["data"]["last_modified"]
    target = Target(name, uri, children=name == "collection" and entry["action"] == "delete")
    lock(backends.storage, target)
    later, _ = backends.storage.list_objects(
        HISTORY,
        bucket_uri(uri.split("/")[2]),
        ListQuery(
            filters=(Filter("uri", uri), Filter(OBJECT_TS, written, Op.GT)),
            sorting=OLDEST_FIRST,
            limit=None,
        ),
    )
    current = _latest(backends.storage, uri)
    unchanged = current["last_modified"] == written if current else entry["action"] == "delete"
    if later or not unchanged:
        error = PreconditionFailed(
            _latest_live(backends, uri), current["last_modified"] if current else None
        )
        error.details = {
            **(error.details or {}),
            "conflicts": [
                {k: e.get(k) for k in ("id", "last_modified", "date", "action", "user_id")}
                for e in later
            ],
        }
        raise error
    answer, etag = restore(
        request,
        options,
        target,
        written - 1,
        dry_run=dry_run,
        author={"reverted": entry["id"], **author(request)},
        before_entry=entry["last_modified"],
    )
    answer["reverted"] = entry["id"]
    return answer, etag


def author(request: Request) -> dict[str, Any]:
    """Who restores, for the history entries of the writes."""
    return {"user_id": request.authenticated_userid}
