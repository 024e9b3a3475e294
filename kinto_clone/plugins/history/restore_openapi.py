"""The OpenAPI description of the restore endpoints (``restore_views.py``), registered in
``/__api__`` through ``views.openapi.describe``."""

from __future__ import annotations

from typing import Any

from kinto_clone.views.openapi_components import json_content, ref

_PERMISSIONS = ref("schemas", "Permissions")
SCHEMAS: dict[str, Any] = {
    "RestoreRequest": {
        "type": "object",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {
            "data": {
                "type": "object",
                "required": ["at"],
                "additionalProperties": False,
                "properties": {
                    "at": {
                        "oneOf": [
                            {"type": "integer", "minimum": 0},
                            {"type": "string", "format": "date-time"},
                        ],
                        "description": "The point: epoch milliseconds or an ISO 8601 date "
                        "(UTC unless it says otherwise); not in the future.",
                    },
                    "dry_run": {
                        "type": "boolean",
                        "default": False,
                        "description": "Only answer what would change.",
                    },
                },
            }
        },
    },
    "RevertRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"dry_run": {"type": "boolean", "default": False}},
            }
        },
    },
    "RestoreChange": {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": ["create", "update", "delete"]},
            "uri": {"type": "string"},
            "resource_name": {"type": "string"},
            "id": {"type": "string"},
            "changed": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Dotted paths of the fields (and permissions.<perm>) that change.",
            },
            "target": {
                "type": "object",
                "properties": {
                    "data": {"type": "object", "nullable": True},
                    "permissions": _PERMISSIONS,
                },
            },
        },
    },
    "RestoreResponse": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "properties": {
                    "uri": {"type": "string"},
                    "at": {"type": "integer"},
                    "dry_run": {"type": "boolean"},
                    "reverted": {"type": "string"},
                    "create": {"type": "integer"},
                    "update": {"type": "integer"},
                    "delete": {"type": "integer"},
                    "changes": {"type": "array", "items": ref("schemas", "RestoreChange")},
                },
            }
        },
    },
}


def _operation(summary: str, body: str, required: bool) -> dict[str, Any]:
    headers = {name: ref("headers", name) for name in ("ETag", "Last-Modified")}
    return {
        "summary": summary,
        "parameters": [ref("parameters", "If-Match")] if body == "RestoreRequest" else [],
        "requestBody": {"required": required, "content": json_content(ref("schemas", body))},
        "responses": {
            "200": {
                "description": "What changed (or would, in a dry run)",
                "headers": headers,
                "content": json_content(ref("schemas", "RestoreResponse")),
            },
            "400": {
                "description": "Malformed body, or a point older than history holds "
                "for the objects named in details (nothing written)",
                "content": json_content(ref("schemas", "Error")),
            },
            "412": {
                "description": "Modified since the ETag of If-Match (restore) or since "
                "the entry (revert); details.conflicts lists why",
                "content": json_content(ref("schemas", "Error")),
            },
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
