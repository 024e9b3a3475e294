"""``/accounts`` and ``/accounts/{id}`` (§7.3, §1.2).

Reading, listing and deleting are the generic resource views (``views/resources.py``)
over ``AccountContext``. Writing has views of its own, because an account's writes differ
in two ways: the password is hashed before it is stored, and the owner ``account:<id>``
(not the caller, who may be an administrator or anonymous) is the writer added to the
ACL. Their responses always show the ACL: the caller just wrote it.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from kinto_clone.body import JSON, JSON_PATCH, MERGE_PATCH, check_content_type, json_body
from kinto_clone.errors import invalid, invalid_id
from kinto_clone.events import ResourceChange
from kinto_clone.permission import ACL
from kinto_clone.plugins.accounts.authentication import Passwords
from kinto_clone.plugins.accounts.context import AccountContext
from kinto_clone.plugins.accounts.resource import (
    ACCOUNT,
    ACCOUNT_PARENT,
    account_uri,
    owner,
    with_hashed_password,
)
from kinto_clone.preconditions import raise_412_if_object_modified
from kinto_clone.resources import merge, objects
from kinto_clone.schemas import envelope
from kinto_clone.views import steps
from kinto_clone.views.http import set_timestamp_headers
from kinto_clone.views.resources import register_resource


def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.registry.account_passwords
    return passwords


def _written(request: Request, obj: dict[str, Any], acl: ACL, status: int = 200) -> Any:
    request.response.status_int = status
    set_timestamp_headers(request.response, obj["last_modified"])
    return {"permissions": objects.acl_lists(acl), "data": obj}


def create_account(request: Request) -> Any:
    """POST /accounts: sign-up, or an administrator creating an account."""
    ctx: AccountContext = request.context
    check_content_type(request)
    data, permissions = envelope(json_body(request), ACCOUNT.permissions)
    data = data or {}
    account_id = data.get("id")
    if account_id is None:  # accounts are named by their users: no generated ids
        raise invalid("body", "data.id", "Required")
    if not isinstance(account_id, str) or not ACCOUNT.id_pattern.match(account_id):
        raise invalid_id()
    ctx.raise_400_if_foreign(account_id)
    existing = ctx.sibling
    raise_412_if_object_modified(request.headers, existing)
    if existing is not None:  # an existing id: the caller may read it, so here it is
        return steps.object_response(request, existing, ctx.acl(account_uri(account_id)))
    to_store = with_hashed_password(data, None, _passwords(request).hash)
    # The ignore: envelope() without allow_null gives permission lists, never None.
    obj, acl, created = objects.create_unless_raced(
        request.registry.backends,
        ACCOUNT,
        ACCOUNT_PARENT,
        account_id,
        to_store,
        permissions or {},  # type: ignore[arg-type]
        owner(account_id),
    )
    if not created:  # created by a concurrent request meanwhile
        return steps.object_response(request, obj, {})
    steps.changed(request, ctx, "create", None, obj, acl)
    return _written(request, obj, acl, status=201)


def put_account(request: Request) -> Any:
    """PUT /accounts/{id}: sign-up, or replace an account (a new password, ...)."""
    ctx: AccountContext = request.context
    check_content_type(request)
    data, permissions = envelope(json_body(request), ACCOUNT.permissions)
    account_id = ctx.object_id or ""
    if data is not None and "id" in data and data["id"] != account_id:
        raise invalid("body", "id", "Object id does not match existing object")
    ctx.raise_400_if_foreign(account_id)
    current = steps.latest_or_412(request, ctx, ctx.current)
    if data is not None:
        data = with_hashed_password(data, current, _passwords(request).hash)
    # The ignore: envelope() without allow_null gives permission lists, never None.
    obj, acl = objects.replace(
        request.registry.backends,
        ACCOUNT,
        ACCOUNT_PARENT,
        account_id,
        current,
        ctx.acl(),
        data,
        permissions,  # type: ignore[arg-type]
        owner(account_id),
    )
    steps.changed(request, ctx, "create" if current is None else "update", current, obj, acl)
    return _written(request, obj, acl, status=201 if current is None else 200)


def patch_account(request: Request) -> Any:
    """PATCH /accounts/{id}, in any of the three PATCH formats (§2.5)."""
    ctx: AccountContext = request.context
    media = check_content_type(request, (JSON, MERGE_PATCH, JSON_PATCH))
    behavior = merge.response_behavior(request.headers)
    current = steps.latest_or_412(request, ctx, steps.existing(ctx))
    sent, changes = merge.apply(media, json_body(request), current, ctx.acl(), ACCOUNT)
    to_store = with_hashed_password(sent, current, _passwords(request).hash)
    stored, acl = objects.patch(
        request.registry.backends,
        ACCOUNT,
        ACCOUNT_PARENT,
        current,
        ctx.acl(),
        to_store,
        changes,
        owner(current["id"]),
    )
    steps.changed(request, ctx, "update", current, stored, acl)
    if behavior != "full":
        set_timestamp_headers(request.response, stored["last_modified"])
        return {"data": merge.partial_response(behavior, current, stored, sent)}
    return _written(request, stored, acl)


def forget_changed_logins(request: Request, change: ResourceChange) -> None:
    """Change listener: a login cached for an account that changed is checked again."""
    if change.resource_name == ACCOUNT.name:
        _passwords(request).forget(change.new["id"])


def includeme(config: Configurator) -> None:
    register_resource(
        config,
        ACCOUNT,
        AccountContext,
        {
            "plural POST": create_account,
            "object PUT": put_account,
            "object PATCH": patch_account,
        },
    )
    config.registry.listeners.append(forget_changed_logins)
