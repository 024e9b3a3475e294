"""Resource change events: how plugins (history, ...) learn about writes.

Views call ``notify`` after each write, inside the request's transaction, so whatever a
listener writes commits or rolls back with the change itself. Cascaded deletions of
children (a bucket's collections...) produce no events, as in Kinto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.request import Request

from kinto_clone.permission import ACL
from kinto_clone.resources.objects import acl_lists
from kinto_clone.resources.types import ResourceType, object_uri


@dataclass(frozen=True)
class ResourceChange:
    action: str  # "create" | "update" | "delete"
    resource_name: str  # "bucket" | "group" | "collection" | "record" | plugin ones
    parent_id: str  # storage parent id: "/buckets/b/collections/c"
    uri: str  # object URI without /v1: "/buckets/b/collections/c/records/r"
    user_id: str | None  # prefixed, None when anonymous
    ids: dict[str, str]  # {"bucket_id": "b", "collection_id": "c", "record_id": "r"}
    old: dict[str, Any] | None  # the object before (None on create)
    new: dict[str, Any]  # the object after (a tombstone on delete)
    permissions: dict[str, list[str]]  # the object's ACL after the change


Listener = Callable[[Request, ResourceChange], None]
DataCheck = Callable[[Request, Any, dict[str, Any]], None]
"""``(request, route context, data)``: validate (raise a ValidationError) or complete
the data of a bucket, group, collection or record about to be written."""


def notify(request: Request, change: ResourceChange) -> None:
    for listener in request.registry.listeners:
        listener(request, change)


def notify_write(
    request: Request,
    action: str,
    resource: ResourceType,
    parent_id: str,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    acl: ACL | None = None,
) -> None:
    """The change event of one write (``new``: the object, or its tombstone)."""
    if not request.registry.listeners:
        return
    uri = object_uri(resource, parent_id, new["id"])
    notify(
        request,
        ResourceChange(
            action=action,
            resource_name=resource.name,
            parent_id=parent_id,
            uri=uri,
            user_id=request.authenticated_userid,
            ids=request.registry.resource_types.ids_of(uri),
            old=old,
            new=new,
            permissions=acl_lists(acl or {}),
        ),
    )


def check_data(request: Request, context: Any, data: dict[str, Any]) -> None:
    for check in request.registry.data_checks:
        check(request, context, data)
