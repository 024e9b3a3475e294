"""The OpenAPI description of the restore endpoints (``restore_views.py``), registered in
``/__api__`` through ``views.openapi.describe``."""

from __future__ import annotations

from typing import Any

from kinto_clone.views.openapi_components import (
    data_schema,
    json_content,
    object_schema,
    ref,
    response,
)

_PERMISSIONS = ref("schemas", "Permissions")
_DRY_RUN = {"type": "boolean", "default": False}
SCHEMAS: dict[str, Any] = {
    "RestoreRequest": data_schema(
        object_schema(
            {
                "at": {
                    "oneOf": [
                        {"type": "integer", "minimum": 0},
                        {"type": "string", "format": "date-time"},
                    ],
                    "description": "The point: epoch milliseconds or an ISO 8601 date "
                    "(UTC unless it says otherwise); not in the future.",
                },
                "dry_run": {**_DRY_RUN, "description": "Only answer what would change."},
            },
            required=("at",),
            closed=True,
        ),
        closed=True,
    ),
    "RevertRequest": object_schema(
        {"data": object_schema({"dry_run": _DRY_RUN}, closed=True)}, closed=True
    ),
    "RestoreChange": object_schema(
        {
            "action": {"type": "string", "enum": ["create", "update", "delete"]},
            "uri": "string",
            "resource_name": "string",
            "id": "string",
            "changed": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Dotted paths of the fields (and permissions.<perm>) that change.",
            },
            "target": object_schema(
                {"data": {"type": "object", "nullable": True}, "permissions": _PERMISSIONS}
            ),
        }
    ),
    "RestoreResponse": data_schema(
        object_schema(
            {
                "uri": "string",
                "at": "integer",
                "dry_run": "boolean",
                "reverted": "string",
                "create": "integer",
                "update": "integer",
                "delete": "integer",
                "changes": {"type": "array", "items": ref("schemas", "RestoreChange")},
            }
        )
    ),
}
_ERROR = ref("schemas", "Error")


def _operation(summary: str, body: str, required: bool) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [ref("parameters", "If-Match")] if body == "RestoreRequest" else [],
        "requestBody": {"required": required, "content": json_content(ref("schemas", body))},
        "responses": {
            "200": response(
                "What changed (or would, in a dry run)",
                ref("schemas", "RestoreResponse"),
                headers=("ETag", "Last-Modified"),
            ),
            "400": response(
                "Malformed body, or a point older than history holds for the objects named "
                "in details (nothing written)",
                _ERROR,
            ),
            "412": response(
                "Modified since the ETag of If-Match (restore) or since the entry (revert); "
                "details.conflicts lists why",
                _ERROR,
            ),
        },
    }


def restore_operation(resource_name: str) -> dict[str, Any]:
    what = {
        "bucket": "a bucket with its groups, collections and records",
        "collection": "a collection with its records",
    }.get(resource_name, f"a {resource_name}")
    return {
        "POST": _operation(
            f"Restore {what} to a past point, as ordinary writes", "RestoreRequest", True
        )
    }


REVERT = {"POST": _operation("Undo one history entry", "RevertRequest", False)}
