"""The history endpoints (§10.1, §1.2).

- ``GET/HEAD /buckets/{bid}/history``: a plural endpoint with a strict schema. Readers
  and writers of the bucket see every entry; others see the entries whose own ACL lets
  them read. ``HEAD`` answers the ``GET`` headers, without ``Total-Objects`` (as Kinto).
- ``DELETE /buckets/{bid}/history``: deletes the matching entries (bucket writers only).
- ``GET /buckets/{bid}/snapshot/collections/{cid}@{timestamp}``: the collection's records
  as they were then, for the readers of the bucket or the collection.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request

from kinto_clone import authorization as authz
from kinto_clone.errors import Forbidden, NotFound, Unauthorized, invalid
from kinto_clone.permission import ACL
from kinto_clone.plugins.history.listener import ENTRY, HISTORY, bucket_uri, forget_entries
from kinto_clone.plugins.history.snapshot import collection_at
from kinto_clone.preconditions import raise_304_if_not_modified, raise_412_if_modified
from kinto_clone.resources import querying
from kinto_clone.storage import Filter, ListQuery, ReadableBy
from kinto_clone.views.http import (
    cache_expires,
    expose,
    next_page_url,
    now_ms,
    set_cache_headers,
    set_timestamp_headers,
)
from kinto_clone.views.steps import TO_DEPRECATED_ALERT

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

FIELDS = frozenset(
    {
        "uri",
        "date",
        "action",
        "resource_name",
        "user_id",
        "target",
        "bucket_id",
        "collection_id",
        "group_id",
        "record_id",
        "restore",
    }
)
# Ids are strings: ``?record_id=12`` means the record "12" (a JSON number otherwise).
STRING_FIELDS = frozenset({"bucket_id", "collection_id", "record_id"})
_TIMESTAMP = re.compile(r"[0-9]+")


# -- route contexts --------------------------------------------------------------------------


class _BucketContext:
    """The bucket of the URL and the ACLs of the URL's containers, loaded with the
    caller's groups in one statement on the permission check."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.backends: Backends = request.registry.backends
        self.bucket_id: str = request.matchdict["bucket_id"]
        self.uris = {"bucket": bucket_uri(self.bucket_id)}
        self.bucket: dict[str, Any] | None = None
        self.acls: dict[str, ACL] = {}

    def load(self) -> set[str]:
        """Load, and return the caller's principals."""
        userid = self.request.authenticated_userid
        users = [userid, authz.AUTHENTICATED] if userid is not None else []
        key = ("bucket", "", self.bucket_id)
        loaded = self.backends.loader.load([key], list(self.uris.values()), users)
        self.bucket = loaded.objects.get(key)
        self.acls = loaded.acls
        principals = {authz.EVERYONE}
        if userid is not None:
            principals |= {userid, authz.AUTHENTICATED, *loaded.groups}
        # As the resource routes do: request.principals reuses what came with the load.
        self.request.known_principals = frozenset(principals)
        return set(self.request.principals)

    def holds(self, resource_name: str, permission: str, principals: set[str]) -> bool:
        bound = authz.bound_permissions(resource_name, permission, self.uris)
        return authz.holds(self.acls, bound, principals)

    def refusal(self) -> Exception:
        return Unauthorized() if self.request.authenticated_userid is None else Forbidden()


class HistoryContext(_BucketContext):
    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.readable_by: ReadableBy | None = None

    def permits(self, permission: str) -> bool:
        """``read``: the bucket's readers see all, anyone else the entries they may read
        (decided by the view once it knows whether there are any). ``write``: the
        bucket's writers; entries carry no ``write`` ACE (§10.1)."""
        principals = self.load()
        settings = self.request.registry.settings
        if authz.settings_grant(settings, HISTORY, permission, principals) or self.holds(
            "bucket", permission, principals
        ):
            return True
        if permission != "read":
            return False
        self.readable_by = ReadableBy(
            frozenset(principals), ("read",), ENTRY.list_uri(self.parent_id)
        )
        return True

    def require_bucket(self) -> None:
        if self.bucket is None:
            if self.readable_by is not None:
                raise self.refusal()
            raise NotFound("bucket", self.bucket_id, parent=True)

    @property
    def parent_id(self) -> str:
        return self.uris["bucket"]


class SnapshotContext(_BucketContext):
    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.collection_id: str = request.matchdict["collection_id"]
        self.uris["collection"] = f"{self.uris['bucket']}/collections/{self.collection_id}"

    def permits(self, permission: str) -> bool:
        """Reading the collection's records: its readers and the bucket's (§6.2)."""
        principals = self.load()
        settings = self.request.registry.settings
        return authz.settings_grant(settings, "record", "read", principals) or self.holds(
            "collection", "read", principals
        )


# -- history ---------------------------------------------------------------------------------


def _list_params(request: Request) -> querying.ParsedList:
    settings = request.registry.settings
    parsed = querying.parse_list_params(
        list(request.GET.items()),
        now_ms=now_ms(),
        paginate_by=settings["paginate_by"],
        max_fetch_size=settings["storage_max_fetch_size"],
        known_fields=FIELDS,
    )
    if parsed.deprecated_to:
        request.response.headers["Alert"] = TO_DEPRECATED_ALERT
    filters = tuple(_ids_as_strings(f) for f in parsed.query.filters)
    return dataclasses.replace(parsed, query=dataclasses.replace(parsed.query, filters=filters))


def _ids_as_strings(filter_: Filter) -> Filter:
    def text(value: Any) -> Any:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return str(value) if is_number else value

    if filter_.field not in STRING_FIELDS:
        return filter_
    if isinstance(filter_.value, list):
        return dataclasses.replace(filter_, value=[text(v) for v in filter_.value])
    return dataclasses.replace(filter_, value=text(filter_.value))


def _refuse_if_nothing_readable(ctx: HistoryContext) -> None:
    """Let in only to see the entries they may read (§6.5), a caller who may read none
    at all gets a 401/403, not an empty list."""
    if ctx.readable_by is None:
        return
    storage = ctx.backends.storage
    if not storage.count(HISTORY, ctx.parent_id, ListQuery(readable_by=ctx.readable_by)):
        raise ctx.refusal()


def list_history(request: Request) -> Any:
    ctx: HistoryContext = request.context
    ctx.require_bucket()
    parsed = _list_params(request)
    query = dataclasses.replace(parsed.query, readable_by=ctx.readable_by, limit=parsed.limit + 1)
    page, timestamp = ctx.backends.storage.list_objects(HISTORY, ctx.parent_id, query)
    if not page:
        _refuse_if_nothing_readable(ctx)
    expose(request, "Next-Page", "Last-Modified", "ETag", "Cache-Control", "Expires", "Pragma")
    set_cache_headers(request, cache_expires(request.registry.settings, HISTORY, ctx.uris, None))
    set_timestamp_headers(request.response, timestamp)
    raise_412_if_modified(request.headers, None, timestamp, plural=True)
    raise_304_if_not_modified(request.headers, timestamp)
    if len(page) > parsed.limit:
        page = page[: parsed.limit]
        token = querying.encode_token(page[-1], query.sorting, len(page))
        request.response.headers["Next-Page"] = next_page_url(request, parsed.limit, token)
    if request.method == "HEAD":
        return request.response
    if parsed.fields is not None:
        page = [querying.project_fields(entry, parsed.fields) for entry in page]
    return {"data": page}


def delete_history(request: Request) -> Any:
    ctx: HistoryContext = request.context
    ctx.require_bucket()
    parsed = _list_params(request)
    storage = ctx.backends.storage
    timestamp = storage.resource_timestamp(HISTORY, ctx.parent_id)
    raise_412_if_modified(request.headers, None, timestamp, plural=True)
    query = dataclasses.replace(parsed.query, limit=parsed.limit)
    deleted = storage.delete_all(HISTORY, ctx.parent_id, query)
    forget_entries(ctx.backends, ctx.parent_id, (t["id"] for t in deleted))
    if len(deleted) == parsed.limit and storage.count(
        HISTORY, ctx.parent_id, dataclasses.replace(query, limit=None)
    ):
        # What matched and was not deleted yet is the next page.
        token = querying.encode_token(deleted[-1], query.sorting, len(deleted))
        request.response.headers["Next-Page"] = next_page_url(request, parsed.limit, token)
    expose(request, "Next-Page", "Last-Modified", "ETag")
    set_timestamp_headers(
        request.response, max((t["last_modified"] for t in deleted), default=timestamp)
    )
    return {"data": deleted}


# -- snapshot --------------------------------------------------------------------------------


def get_snapshot(request: Request) -> Any:
    ctx: SnapshotContext = request.context
    raw = request.matchdict["timestamp"]
    if not _TIMESTAMP.fullmatch(raw):
        raise invalid("path", "timestamp", f"Invalid timestamp {raw!r}")
    records = collection_at(ctx.backends.storage, ctx.bucket_id, ctx.collection_id, int(raw))
    return {"data": records}


# -- registration ----------------------------------------------------------------------------


def includeme(config: Configurator) -> None:
    history = Service(
        name="history",
        path="/buckets/{bucket_id}/history",
        factory=HistoryContext,
        description="Changes in a bucket",
    )
    history.add_view("GET", list_history, permission="read", renderer="kinto_json")
    if not config.registry.settings["readonly"]:
        history.add_view("DELETE", delete_history, permission="write", renderer="kinto_json")
    snapshot = Service(
        name="history_snapshot",
        path="/buckets/{bucket_id}/snapshot/collections/{collection_id}@{timestamp}",
        factory=SnapshotContext,
        description="A collection's records at a past timestamp",
    )
    snapshot.add_view("GET", get_snapshot, permission="read", renderer="kinto_json")
    config.add_cornice_service(history)
    config.add_cornice_service(snapshot)
