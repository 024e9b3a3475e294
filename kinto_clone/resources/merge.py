"""PATCH bodies in their three formats, and the Response-Behavior header (§2.5).

- ``application/json``: shallow merge of ``data``; each named permission is replaced,
  ``null`` ignored.
- ``application/merge-patch+json`` (RFC 7396): recursive merge, ``null`` removes a key at
  any depth; a ``null`` permission clears it.
- ``application/json-patch+json`` (RFC 6902): operations on ``/data/...`` and
  ``/permissions/<perm>/<principal>``, applied with the ``jsonpatch`` library to the
  document ``{"data": ..., "permissions": {perm: {principal: principal}}}``.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from kinto_clone.errors import invalid
from kinto_clone.permission import ACL
from kinto_clone.resources.types import ResourceType
from kinto_clone.schemas import check_json_patch, envelope, validate_permissions

BEHAVIORS = ("full", "light", "diff")


def response_behavior(headers: Any) -> str:
    # Case-sensitive, like Kinto's colander.OneOf ("LIGHT" is a 400 there too).
    value = headers.get("Response-Behavior", "full").strip()
    if value not in BEHAVIORS:
        raise invalid(
            "header", "Response-Behavior", f'"{value}" is not one of {", ".join(BEHAVIORS)}'
        )
    return value


def _managed_free(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("id", "last_modified")}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply(
    media: str, body: Any, current: dict[str, Any], acl: ACL, resource: ResourceType
) -> tuple[dict[str, Any], dict[str, list[str] | None]]:
    """The new data and the permission changes that a PATCH body asks for."""
    if media.endswith("json-patch+json"):
        return _json_patch(body, current, acl, resource)
    merge = media.endswith("merge-patch+json")
    data, permissions = envelope(body, resource.permissions, allow_null=True)
    if data is None and permissions is None:
        raise invalid("body", "data", "Provide at least one of data or permissions")
    base = _managed_free(current)
    if data is None:
        new_data = base
    elif merge:
        new_data = merge_patch(base, data)
    else:
        new_data = {**base, **data}
    if data is not None and "id" in data and data["id"] != current["id"]:
        raise invalid("body", "id", "Object id does not match existing object")
    changes: dict[str, list[str] | None] = {}
    for perm, principals in (permissions or {}).items():
        if principals is None:
            if merge:
                changes[perm] = []
        else:
            changes[perm] = principals
    return new_data, changes


def _json_patch(
    body: Any, current: dict[str, Any], acl: ACL, resource: ResourceType
) -> tuple[dict[str, Any], dict[str, list[str] | None]]:
    check_json_patch(body)
    for op in body:
        # read/write may name the principal in the path alone.
        parts = op["path"].split("/")
        if (
            len(parts) == 4
            and parts[1] == "permissions"
            and parts[2] in ("read", "write")
            and op["op"] in ("add", "replace")
            and "value" not in op
        ):
            op["value"] = parts[3]
    document = {
        # The whole object, as in Kinto: operations may test (or try to change) its id.
        "data": dict(current),
        "permissions": {perm: {p: p for p in principals} for perm, principals in acl.items()},
    }
    for perm in resource.permissions:
        document["permissions"].setdefault(perm, {})
    try:
        patched = jsonpatch.apply_patch(document, body)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise invalid("body", None, f"JSON Patch operation failed: {exc}") from exc
    data = patched.get("data")
    if not isinstance(data, dict):
        raise invalid("body", "data", "JSON Patch must leave data an object")
    if data.pop("id", current["id"]) != current["id"]:
        raise invalid("body", "id", "Object id does not match existing object")
    if data.get("last_modified") == current["last_modified"]:
        del data["last_modified"]  # untouched: not a timestamp the client asks for
    perms = patched.get("permissions") or {}
    as_lists = {p: list(v) if isinstance(v, dict) else v for p, v in perms.items()}
    changes = validate_permissions(as_lists, resource.permissions)
    return data, changes


def partial_response(
    behavior: str, before: dict[str, Any], after: dict[str, Any], sent: dict[str, Any]
) -> dict[str, Any]:
    """``light``: the fields whose value changed; ``diff``: those the server set otherwise
    than the client sent."""
    changed = {
        k: v
        for k, v in after.items()
        if k not in ("id", "last_modified") and before.get(k, _MISSING) != v
    }
    if behavior == "light":
        return changed
    return {k: v for k, v in changed.items() if sent.get(k, _MISSING) != v}


_MISSING = object()
