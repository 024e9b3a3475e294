"""The reusable parts of the OpenAPI document (``views/openapi.py``): schemas of the
envelopes (object, list, error, batch, root), querystring and header parameters, response
headers and the security scheme, all under ``components`` and referred to by ``$ref``.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def response(
    description: str, schema: dict[str, Any] | None = None, headers: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One response of an operation: its JSON body's schema and the headers it sends."""
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = json_content(schema)
    if headers:
        answer["headers"] = {name: ref("headers", name) for name in headers}
    return answer


def object_schema(
    properties: dict[str, str | dict[str, Any]],
    *,
    required: tuple[str, ...] = (),
    closed: bool = False,
) -> dict[str, Any]:
    """An object's schema; a property given by a type name ("string") is of that type;
    ``closed``: no other property is allowed."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            name: {"type": prop} if isinstance(prop, str) else prop
            for name, prop in properties.items()
        },
    }
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def data_schema(data: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    """The ``{"data": ...}`` envelope of a body, ``data`` required."""
    return object_schema({"data": data}, required=("data",), closed=closed)


# -- components ----------------------------------------------------------------------------

_PRINCIPALS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
_SCHEMAS: dict[str, Any] = {
    "Object": {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "id": {"type": "string"},
            "last_modified": {"type": "integer"},
            "deleted": {"type": "boolean"},
        },
    },
    "Permissions": {
        "type": "object",
        "additionalProperties": _PRINCIPALS,
        "description": "Principals granted each permission (read, write, record:create...).",
    },
    "ObjectRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data": {"type": "object", "additionalProperties": True},
            "permissions": ref("schemas", "Permissions"),
        },
    },
    "ObjectResponse": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": ref("schemas", "Object"),
            "permissions": ref("schemas", "Permissions"),
        },
    },
    "ListResponse": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": ref("schemas", "Object")}},
    },
    "JSONPatch": {
        "type": "array",
        "description": "RFC 6902 operations on /data/... and /permissions/...",
        "items": {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {
                    "type": "string",
                    "enum": ["add", "remove", "replace", "move", "copy", "test"],
                },
                "path": {"type": "string"},
                "from": {"type": "string"},
                "value": {},
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["code", "errno", "error"],
        "properties": {
            "code": {"type": "integer"},
            "errno": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
            "info": {"type": "string"},
            "details": {
                "oneOf": [
                    {"type": "object"},
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "location": {"type": "string"},
                                "name": {"type": "string", "nullable": True},
                                "description": {"type": "string"},
                            },
                        },
                    },
                ]
            },
        },
    },
    "Root": {
        "type": "object",
        "required": [
            "project_name",
            "project_version",
            "http_api_version",
            "url",
            "settings",
            "capabilities",
        ],
        "properties": {
            "project_name": {"type": "string"},
            "project_version": {"type": "string"},
            "http_api_version": {"type": "string"},
            "project_docs": {"type": "string"},
            "url": {"type": "string"},
            "eos": {"type": "string"},
            "config": {"type": "object", "nullable": True},
            "settings": {"type": "object"},
            "capabilities": {"type": "object"},
            "user": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "principals": _PRINCIPALS,
                    "bucket": {"type": "string"},
                },
            },
        },
    },
    "Heartbeat": {"type": "object", "additionalProperties": {"type": "boolean", "nullable": True}},
    "BatchRequest": {
        "type": "object",
        "required": ["requests"],
        "properties": {
            "defaults": ref("schemas", "Subrequest"),
            "requests": {"type": "array", "items": ref("schemas", "Subrequest")},
        },
    },
    "Subrequest": {
        "type": "object",
        "properties": {
            "method": {
                "type": "string",
                "enum": ["GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH"],
            },
            "path": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"type": "object"},
        },
    },
    "BatchResponse": {
        "type": "object",
        "required": ["responses"],
        "properties": {
            "responses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "path": {"type": "string"},
                        "status": {"type": "integer"},
                        "headers": {"type": "object"},
                        "body": {},
                    },
                },
            }
        },
    },
}


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def _header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_FIELD_LIST = {"type": "array", "items": {"type": "string"}}
_PARAMETERS: dict[str, Any] = {
    "_limit": _query(
        "_limit",
        "Page size (0: no limit; capped by paginate_by).",
        {"type": "integer", "minimum": 0},
    ),
    "_token": _query(
        "_token", "Opaque token of the next page (from Next-Page).", {"type": "string"}
    ),
    "_since": _query(
        "_since",
        "Only objects (and tombstones) modified after this timestamp (ms).",
        {"type": "string"},
    ),
    "_before": _query(
        "_before", "Only objects modified before this timestamp (ms).", {"type": "string"}
    ),
    "_sort": _query(
        "_sort",
        "Comma separated fields, '-' for descending.",
        _FIELD_LIST,
        style="form",
        explode=False,
    ),
    "_fields": _query(
        "_fields", "Comma separated fields to return.", _FIELD_LIST, style="form", explode=False
    ),
    "filters": _query(
        "filters",
        "Filters on fields: field=value, min_, max_, lt_, gt_, "
        "not_, in_, exclude_, like_, has_, contains_, contains_any_.",
        {"type": "object", "additionalProperties": {"type": "string"}},
        style="form",
        explode=True,
    ),
    "If-Match": _header("If-Match", 'Only if the current ETag is this one ("<ms>" or *).'),
    "If-None-Match": _header("If-None-Match", 'Only if the current ETag differs ("<ms>" or *).'),
    "Response-Behavior": _header(
        "Response-Behavior", "What a PATCH answers.", enum=["full", "light", "diff"]
    ),
    "last_modified": _query(
        "last_modified", "Timestamp given to the tombstone.", {"type": "integer"}
    ),
}

_HEADERS: dict[str, Any] = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("ETag", 'The timestamp of the object or list, quoted: "<ms>".'),
        ("Last-Modified", "The same timestamp as an HTTP date."),
        ("Next-Page", "URL of the next page, when there is one."),
        ("Total-Objects", "Number of objects matching the filters."),
        ("Total-Records", "Same as Total-Objects (older clients)."),
    )
}


def components() -> dict[str, Any]:
    error = {"description": "Error", "content": json_content(ref("schemas", "Error"))}
    return {
        "schemas": _SCHEMAS,
        "parameters": _PARAMETERS,
        "headers": _HEADERS,
        "responses": {"Error": error, "NotModified": {"description": "Not modified"}},
        "securitySchemes": {
            "basicAuth": {
                "type": "http",
                "scheme": "basic",
                "description": "Any credentials: the user id is derived from them (or an "
                "account when the accounts plugin is on).",
            }
        },
    }
