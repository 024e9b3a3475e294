"""Reading and deleting a list: what a plural GET, HEAD or DELETE asks of storage.

Functions take the backends and plain values, never the request; the views check
permissions and preconditions around them (``views/resources.py``). A page is read with
one more object than asked: if it comes, there is a next page, whose token is built from
the last object shown (``querying.encode_token``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kinto_clone import json
from kinto_clone.permission import ACL
from kinto_clone.resources import objects, querying, revocations
from kinto_clone.resources.types import ResourceType
from kinto_clone.storage import ReadableBy

if TYPE_CHECKING:
    from kinto_clone.backends import Backends


@dataclass(frozen=True)
class ListPage:
    objects: list[Any]  # dicts (projected on _fields), or their JSON texts when encoded
    timestamp: int  # the list's
    total: int | None  # objects matching the filters the caller may read, when asked
    next_token: str | None
    encoded: bool = False
    found: int = 0  # live objects read (the page and one more), access-revoked ones aside
    revoked_timestamp: int | None = None  # the newest access-revoked tombstone's


def timestamp(backends: Backends, resource: ResourceType, parent_id: str) -> int:
    """The list's timestamp (its ETag)."""
    return backends.storage.resource_timestamp(resource.name, parent_id)


def count(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    parsed: querying.ParsedList,
    readable_by: ReadableBy | None,
) -> tuple[int, int]:
    """HEAD: the number of objects the query matches, and the list's timestamp."""
    query = dataclasses.replace(parsed.query, readable_by=readable_by)
    total = backends.storage.count(resource.name, parent_id, query)
    return total, timestamp(backends, resource, parent_id)


def read_page(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    parsed: querying.ParsedList,
    readable_by: ReadableBy | None,
    *,
    total: bool,
    lasting: Iterable[str] = (),
) -> ListPage:
    """GET: a page, each object as the database wrote its JSON when no ``_fields``
    applies (``encoded``), with the total when ``total``; in a ``_since`` poll, with the
    access-revoked tombstones of the ``lasting`` principals (when the backends record
    them: ``revocations.py``)."""
    query = dataclasses.replace(parsed.query, readable_by=readable_by, limit=parsed.limit + 1)
    found = backends.storage.list_page(
        resource.name, parent_id, query, encoded=parsed.fields is None, total=total
    )
    revoked = []
    if backends.revocations:
        revoked = revocations.revoked(
            backends.storage, resource.name, parent_id, query, readable_by, lasting
        )
    page, encoded, token = found.objects, found.encoded, None
    if len(page) > parsed.limit:
        page = page[: parsed.limit]
        last = json.loads(page[-1]) if encoded else page[-1]
        offset = parsed.token_offset + len(found.objects)  # Kinto's count: page + 1
        token = querying.encode_token(last, query.sorting, offset)
    if revoked:
        page, encoded = revocations.merged(page, encoded, revoked, query.sorting), False
    if not encoded and parsed.fields is not None:
        page = [querying.project_fields(obj, parsed.fields) for obj in page]
    return ListPage(
        page,
        found.timestamp,
        found.total,
        token,
        encoded,
        found=len(found.objects),
        revoked_timestamp=revoked[-1]["last_modified"] if revoked else None,
    )


def delete_page(
    backends: Backends,
    resource: ResourceType,
    parent_id: str,
    parsed: querying.ParsedList,
    readable_by: ReadableBy | None,
    ancestor_acls: Mapping[str, ACL] | None = None,
) -> ListPage:
    """DELETE: tombstone a page of what the query matches (with the cascade of each);
    its ``timestamp`` is the last tombstone's (None-free: the caller's when none).
    ``ancestor_acls``: ``objects.delete_list``'s."""
    query = dataclasses.replace(parsed.query, readable_by=readable_by, limit=parsed.limit)
    deleted = objects.delete_list(backends, resource, parent_id, query, ancestor_acls)
    token = None
    if len(deleted) == parsed.limit and backends.storage.count(
        resource.name, parent_id, dataclasses.replace(query, limit=None)
    ):
        # What matched and was not deleted yet is the next page.
        # Kinto 26.5.0 does not count a deleted page in the token's offset.
        token = querying.encode_token(deleted[-1], query.sorting, parsed.token_offset)
    last = max((t["last_modified"] for t in deleted), default=0)
    return ListPage(deleted, last, None, token)
