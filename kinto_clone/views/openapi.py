"""``GET /v1/__api__``: an OpenAPI 3.0 description of every route the server serves (§1.3).

Kinto answers with Swagger 2.0; we describe the same API in OpenAPI 3.0, which today's
tools (validators, code generators, Swagger UI) expect. The document is built from the
routes registered in Pyramid at the first request, so that whatever a plugin adds
(accounts, history, flush, metrics...) is described too, and a method switched off by
``readonly`` or a ``*_enabled`` setting is not.

How a route is described, from the most to the least specific:

- a resource endpoint (a cornice service named ``<resource>:plural`` or
  ``<resource>:object``, or one served by the generic views of ``views/resources.py``):
  querystring, preconditions, ``{data, permissions}`` bodies, list and object envelopes;
- a utility endpoint we know by route name (root, heartbeat, batch...): its own schema;
- anything else: its path parameters and methods, with a JSON body of any shape.

The schemas, parameters and headers the operations refer to are in openapi_components.py.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from kinto_clone.views import resources as resource_views
from kinto_clone.views.http import application_url
from kinto_clone.views.openapi_components import components, json_content, ref, response

api = Service(name="openapi", path="/__api__", description="OpenAPI description")

PREFIX = "/v1"
ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


# -- operations ----------------------------------------------------------------------------


def _params(*names: str) -> list[dict[str, str]]:
    return [ref("parameters", name) for name in names]


def _body(*, patch: bool = False, schema: str = "ObjectRequest") -> dict[str, Any]:
    content = json_content(ref("schemas", schema))
    if patch:
        content["application/merge-patch+json"] = {"schema": ref("schemas", schema)}
        content["application/json-patch+json"] = {"schema": ref("schemas", "JSONPatch")}
    return {"required": False, "content": content}


_LIST = ref("schemas", "ListResponse")
_OBJ = ref("schemas", "ObjectResponse")
_STAMPS = ("ETag", "Last-Modified")
_LIST_QUERY = ("_limit", "_token", "_since", "_before", "_sort", "_fields", "filters")


def plural_operation(method: str, plural: str) -> dict[str, Any]:
    if method == "GET":
        return {
            "summary": f"List {plural}",
            "parameters": _params(*_LIST_QUERY, "If-Match", "If-None-Match"),
            "responses": {
                "200": response(f"A page of {plural}", _LIST, (*_STAMPS, "Next-Page")),
                "304": ref("responses", "NotModified"),
            },
        }
    if method == "HEAD":
        return {
            "summary": f"Count {plural}",
            "parameters": _params(*_LIST_QUERY, "If-Match", "If-None-Match"),
            "responses": {
                "200": response("Headers only", None, (*_STAMPS, "Total-Objects", "Total-Records")),
                "304": ref("responses", "NotModified"),
            },
        }
    if method == "POST":
        return {
            "summary": f"Create one of the {plural}",
            "parameters": _params("If-Match", "If-None-Match"),
            "requestBody": _body(),
            "responses": {
                "201": response("Created", _OBJ, _STAMPS),
                "200": response("It existed already", _OBJ, _STAMPS),
            },
        }
    if method == "DELETE":
        return {
            "summary": f"Delete {plural}",
            "parameters": _params(*_LIST_QUERY, "If-Match"),
            "responses": {"200": response("Their tombstones", _LIST, (*_STAMPS, "Next-Page"))},
        }
    return generic_operation(method, plural)


def object_operation(method: str, name: str) -> dict[str, Any]:
    a = "an" if name[:1] in "aeiou" else "a"
    if method in ("GET", "HEAD"):
        summary = f"Retrieve {a} {name}" if method == "GET" else f"Headers of {a} {name}"
        return {
            "summary": summary,
            "parameters": _params("_fields", "If-Match", "If-None-Match"),
            "responses": {
                "200": response(f"The {name}", _OBJ if method == "GET" else None, _STAMPS),
                "304": ref("responses", "NotModified"),
            },
        }
    if method == "PUT":
        return {
            "summary": f"Create or replace {a} {name}",
            "parameters": _params("If-Match", "If-None-Match"),
            "requestBody": _body(),
            "responses": {
                "200": response("Replaced", _OBJ, _STAMPS),
                "201": response("Created", _OBJ, _STAMPS),
            },
        }
    if method == "PATCH":
        return {
            "summary": f"Modify {a} {name}",
            "parameters": _params("If-Match", "If-None-Match", "Response-Behavior"),
            "requestBody": _body(patch=True),
            "responses": {"200": response("Modified", _OBJ, _STAMPS)},
        }
    if method == "DELETE":
        return {
            "summary": f"Delete {a} {name}",
            "parameters": _params("If-Match", "last_modified"),
            "responses": {"200": response("Its tombstone", _OBJ, _STAMPS)},
        }
    return generic_operation(method, name)


# Utility endpoints known by route name: (summary, request body schema, 2xx responses).
_UTILITIES: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "root": (
        "Server information and capabilities",
        None,
        {"200": response("Server information", ref("schemas", "Root"))},
    ),
    "heartbeat": (
        "Health of the backends",
        None,
        {
            "200": response("All healthy", ref("schemas", "Heartbeat")),
            "503": response("A backend fails", ref("schemas", "Heartbeat")),
        },
    ),
    "lbheartbeat": (
        "Liveness for load balancers",
        None,
        {"200": response("Alive", {"type": "object"})},
    ),
    "version": (
        "Deployed version (version.json)",
        None,
        {"200": response("The version file", {"type": "object"})},
    ),
    "batch": (
        "Several requests in one transaction",
        "BatchRequest",
        {"200": response("One response per request", ref("schemas", "BatchResponse"))},
    ),
    "openapi": (
        "This document",
        None,
        {"200": response("OpenAPI 3.0 document", {"type": "object"})},
    ),
    "contribute": (
        "How to contribute (contribute.json)",
        None,
        {"200": response("contribute.json", {"type": "object"})},
    ),
    "metrics": (
        "Prometheus metrics",
        None,
        {
            "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    ),
    "flush": (
        "Delete everything (test servers only)",
        None,
        {"202": response("Flushed", {"type": "object"})},
    ),
    "history_snapshot": (
        "A collection's records at a past timestamp",
        None,
        {"200": response("The records then", _LIST)},
    ),
}
# Lists that take the querystring of plural endpoints, though they hold no resource.
_LISTS = ("history", "permissions")


def generic_operation(method: str, name: str, description: str | None = None) -> dict[str, Any]:
    summary, body, responses = _UTILITIES.get(
        name, (description or f"{method} {name}", None, {"200": response("Success", {})})
    )
    if method == "HEAD":  # the same responses, without their bodies
        responses = {
            code: {k: v for k, v in response.items() if k != "content"}
            for code, response in responses.items()
        }
    operation: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": json_content(ref("schemas", body))}
    return operation


# -- routes --------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{(\w+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}")
_STAR = re.compile(r"\*(\w+)$")


def openapi_path(pattern: str) -> str:
    """``v1/buckets/{id:\\w+}`` -> ``/buckets/{id}``: route pattern to OpenAPI template."""
    path = "/" + pattern.lstrip("/")
    path = _STAR.sub(r"{\1}", _PLACEHOLDER.sub(r"{\1}", path))
    if path == PREFIX or path.startswith(PREFIX + "/"):
        path = path[len(PREFIX) :] or "/"
    return path


def route_methods(registry: Registry, route: Any) -> list[str]:
    """The methods a route answers: its cornice service's, else those of its views."""
    service = getattr(registry, "cornice_services", {}).get(route.pattern)
    if service is not None:
        methods = set(service.defined_methods)
    else:
        methods = set()
        introspectable = registry.introspector.get("routes", route.name)
        related = registry.introspector.related(introspectable) if introspectable else []
        for view in related:
            if view.category_name != "views":
                continue
            requested = view["request_methods"] or ("GET",)
            methods.update([requested] if isinstance(requested, str) else requested)
        if "GET" in methods:
            methods.add("HEAD")  # Pyramid answers HEAD with the GET view
    return [m for m in ORDER if m in methods]


def _kind(service: Service | None, route: Any) -> str | None:
    """``plural``, ``object`` or None (not a resource endpoint)."""
    suffix = route.name.rsplit(":", 1)[-1] if ":" in route.name else None
    if suffix in ("plural", "object"):
        return suffix
    if route.name in _LISTS:
        return "plural"
    views = {view for _, view, _ in getattr(service, "definitions", ())}
    if resource_views.list_objects in views:
        return "plural"
    if resource_views.get_object in views:
        return "object"
    return None


def path_item(registry: Registry, route: Any) -> dict[str, Any]:
    path = openapi_path(route.pattern)
    service = getattr(registry, "cornice_services", {}).get(route.pattern)
    kind = _kind(service, route)
    resource = route.name.split(":", 1)[0]
    literal = [s for s in path.split("/") if s and "{" not in s]
    plural = literal[-1] if literal else resource
    item: dict[str, Any] = {}
    names = _PLACEHOLDER.findall(path)
    if names:
        item["parameters"] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
        ]
    # Plugins describe their own operations: {route name: {method: operation}}.
    described = getattr(registry, "openapi_operations", {}).get(route.name, {})
    for method in route_methods(registry, route):
        if method in described:
            operation = copy.deepcopy(described[method])
        elif kind == "plural":
            operation = plural_operation(method, plural)
        elif kind == "object":
            operation = object_operation(method, resource)
        else:
            operation = generic_operation(method, route.name, getattr(service, "description", None))
        operation["operationId"] = re.sub(r"\W", "_", f"{method.lower()}_{route.name}")
        operation["tags"] = [resource if kind else "utilities"]
        operation["responses"]["default"] = ref("responses", "Error")
        item[method.lower()] = operation
    return item


def build(registry: Registry) -> dict[str, Any]:
    """The document, without ``servers`` (which depends on the host of the request)."""
    settings = registry.settings
    mapper = registry.getUtility(IRoutesMapper)
    paths: dict[str, Any] = {}
    for route in mapper.get_routes():
        paths.setdefault(openapi_path(route.pattern), {}).update(path_item(registry, route))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": settings["project_name"],
            "version": settings["http_api_version"],
            "description": "Store, sync and share JSON data: the Kinto HTTP API.",
        },
        "externalDocs": {"url": settings["project_docs"]},
        "paths": paths,
        "components": _with_plugin_schemas(registry, components()),
        # Authentication is optional: anonymous requests get what system.Everyone may do.
        "security": [{"basicAuth": []}, {}],
    }


def describe(
    config: Configurator,
    route_name: str,
    operations: dict[str, Any],
    schemas: dict[str, Any] | None = None,
) -> None:
    """For plugins: the operations of one route (``{method: operation}``, without
    operationId and tags) and the schemas they refer to (``#/components/schemas/<name>``)."""
    registry = config.registry
    registry.openapi_operations = {
        **getattr(registry, "openapi_operations", {}),
        route_name: operations,
    }
    registry.openapi_schemas = {**getattr(registry, "openapi_schemas", {}), **(schemas or {})}


def _with_plugin_schemas(registry: Registry, found: dict[str, Any]) -> dict[str, Any]:
    """The schemas plugins registered (``registry.openapi_schemas``) join ours."""
    schemas = {**found["schemas"], **getattr(registry, "openapi_schemas", {})}
    return {**found, "schemas": schemas}


@api.get(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def get_openapi(request: Request) -> dict[str, Any]:
    registry = request.registry
    # Routes are fixed once the app is made: build once, at the first request.
    document = getattr(registry, "openapi_document", None)
    if document is None:
        document = registry.openapi_document = build(registry)
    return {**document, "servers": [{"url": f"{application_url(request)}{PREFIX}"}]}


def includeme(config: Configurator) -> None:
    config.add_cornice_service(api)
