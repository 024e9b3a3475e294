"""How ``/v1/__api__`` describes the attachment endpoints (views/openapi.py reads a
service's ``openapi`` attribute: its operations, by method)."""

from __future__ import annotations

from typing import Any

_METADATA = {
    "type": "object",
    "properties": {
        "filename": {"type": "string"},
        "location": {"type": "string"},
        "hash": {"type": "string", "description": "sha256, hex"},
        "mimetype": {"type": "string"},
        "size": {"type": "integer"},
        "original": {"type": "object", "description": "the file as sent, when gzipped"},
    },
}
_UPLOAD = {
    "type": "object",
    "required": ["attachment"],
    "properties": {
        "attachment": {"type": "string", "format": "binary"},
        "data": {"type": "string", "description": "JSON object: record fields"},
        "permissions": {"type": "string", "description": "JSON object: record permissions"},
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ATTACHMENT: dict[str, dict[str, Any]] = {
    "POST": {
        "summary": "Attach a file to a record (created if missing)",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _UPLOAD}}},
        "responses": {
            "200": _json("The record was updated", _METADATA),
            "201": _json("The record was created", _METADATA),
        },
    },
    "DELETE": {
        "summary": "Remove the file of a record",
        "responses": {"204": {"description": "Removed; the record's attachment is null"}},
    },
}

_FILE = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
FILE: dict[str, dict[str, Any]] = {
    "GET": {
        "summary": "Download a stored file",
        "responses": {
            "200": {"description": "The file", "content": _FILE},
            "206": {"description": "The requested byte range", "content": _FILE},
            "304": {"description": "Not modified (If-None-Match)"},
            "416": {"description": "Range not satisfiable"},
        },
    },
    "HEAD": {
        "summary": "Size and type of a stored file",
        "responses": {"200": {"description": "The file's headers"}},
    },
}
