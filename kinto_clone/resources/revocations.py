"""Access-revoked tombstones in a ``_since`` poll (README, "Revocations").

A caller who may read only some objects of a list (``readable_by``) and who lost read
access to some of them since ``_since`` gets, besides the page, a tombstone for each of
those: ``{"id", "last_modified", "deleted": true, "revoked": true}``, so that a client
drops its copy as for a delete. A caller who may read the whole list lost nothing in it.

Which polls: the first page (no ``_token``) of a list asked with ``_since`` (and maybe
``_before``) and no other filter (a data filter never matches a tombstone). The storage
backend finds them (``Storage.revoked_since``); this module decides when to ask and puts
them in the page's order.
"""

from __future__ import annotations

from typing import Any

from kinto_clone import json
from kinto_clone.authorization import lasting_principals
from kinto_clone.resources.querying import (
    DELETED_FIELD,
    ID_FIELD,
    MODIFIED_FIELD,
    REVOKED_FIELD,
)
from kinto_clone.storage import ListQuery, Op, ReadableBy, Sort, Storage


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def poll_bounds(query: ListQuery) -> tuple[int, int | None] | None:
    """``(since, before)`` of a first-page ``_since`` poll without other filters."""
    if query.after is not None or not query.include_deleted:
        return None
    since: int | None = None
    before: int | None = None
    for found in query.filters:
        if found.field != "last_modified" or not _is_int(found.value):
            return None
        if found.op is Op.GT and since is None:
            since = found.value
        elif found.op is Op.LT and before is None:
            before = found.value
        else:
            return None
    return None if since is None else (since, before)


def tombstone(object_id: str, timestamp: int) -> dict[str, Any]:
    """An access-revoked tombstone, as polls and streams show it."""
    return {
        ID_FIELD: object_id,
        MODIFIED_FIELD: timestamp,
        DELETED_FIELD: True,
        REVOKED_FIELD: True,
    }


def revoked(
    storage: Storage,
    resource_name: str,
    parent_id: str,
    query: ListQuery,
    readable_by: ReadableBy | None,
    userid: str | None,
) -> list[dict[str, Any]]:
    """The caller's revocation tombstones for this poll, oldest first (none when the
    poll is not one they belong to, or the caller reads the whole list)."""
    bounds = poll_bounds(query) if readable_by is not None else None
    if bounds is None or readable_by is None:
        return []
    since, before = bounds
    found = storage.revoked_since(
        resource_name, parent_id, since, before, lasting_principals(userid), readable_by
    )
    return [tombstone(object_id, timestamp) for object_id, timestamp in found]


def merged(
    page: list[Any], encoded: bool, tombstones: list[dict[str, Any]], sorting: tuple[Sort, ...]
) -> list[Any]:
    """The page with the tombstones in the query's order (by ``last_modified``; any other
    sort: after the page), as objects (an encoded page is decoded: a rare path)."""
    objects = [json.loads(text) for text in page] if encoded else list(page)
    objects.extend(tombstones)
    if sorting and sorting[0].field == "last_modified":
        objects.sort(key=lambda obj: obj["last_modified"], reverse=sorting[0].descending)
    return objects
