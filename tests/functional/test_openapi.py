"""``GET /v1/__api__``: an OpenAPI 3.0 document that a validator accepts and that
describes every route the app serves, those of every plugin included (kinto-api.md §1.3).

The reference app includes every plugin found in ``kinto_clone/plugins/``, so a plugin
added later is checked without touching this file (give it settings in PLUGIN_SETTINGS if
it needs some to start).
"""

from __future__ import annotations

import pkgutil
import re
from typing import Any

import pytest
import webtest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from pyramid.interfaces import IRoutesMapper

import kinto_clone.plugins
from tests.support import ALICE

PLUGINS = sorted(m.name for m in pkgutil.iter_modules(kinto_clone.plugins.__path__))
# What some plugins need to start, and what switches optional core endpoints on.
PLUGIN_SETTINGS: dict[str, Any] = {
    "multiauth.policies": "account basicauth",
    "multiauth.policy.account.use": "kinto.plugins.accounts.AccountsPolicy",
    "account_create_principals": "system.Everyone",
    "experimental_permissions_endpoint": "true",
    "experimental_collection_schema_validation": "true",
}
LIST_QUERY = {"_limit", "_token", "_since", "_before", "_sort", "_fields"}
WRITES = ("put", "patch", "post")


@pytest.fixture
def full_app(make_app: Any) -> webtest.TestApp:
    includes = " ".join(f"kinto_clone.plugins.{name}" for name in PLUGINS)
    return make_app(includes=includes, **PLUGIN_SETTINGS)


def document(app: webtest.TestApp, **kwargs: Any) -> dict[str, Any]:
    resp = app.get("/v1/__api__", **kwargs)
    assert resp.content_type == "application/json"
    return resp.json


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``) if ``node`` is one."""
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def routes(app: webtest.TestApp) -> list[Any]:
    return list(app.app.registry.getUtility(IRoutesMapper).get_routes())


def template(pattern: str) -> str:
    """The path a route should have in the document: ``v1/x/{id}`` -> ``/x/{id}``."""
    path = "/" + re.sub(r"\{(\w+):[^}]*\}", r"{\1}", pattern.lstrip("/"))
    return path.removeprefix("/v1") or "/"


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    ]


def query_names(doc: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    params = [resolve(doc, p) for p in operation.get("parameters", [])]
    return {p["name"] for p in params if p["in"] == "query"}


def assert_documented(doc: dict[str, Any], path: str, resp: Any) -> None:
    """The response body matches the schema documented for its path, method and status."""
    operation = doc["paths"][path][resp.request.method.lower()]
    responses = operation["responses"]
    documented = resolve(doc, responses.get(str(resp.status_int), responses["default"]))
    schema = documented["content"]["application/json"]["schema"]
    OAS30Validator({**schema, "components": doc["components"]}).validate(resp.json)


# --- the document -------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_with_every_plugin(full_app):
    doc = document(full_app)

    validate(doc)
    assert doc["openapi"].startswith("3.0.")
    assert (doc["info"]["title"], doc["info"]["version"]) == ("kinto", "1.23")


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"includes": ""},
        {"readonly": True},
        {"plural_bucket_delete_enabled": False, "object_record_patch_enabled": False},
    ],
)
def test_the_document_is_valid_whatever_the_configuration(make_app, settings):
    validate(document(make_app(**settings)))


def test_every_route_of_the_app_is_described_with_its_methods(full_app):
    doc = document(full_app)
    services = full_app.app.registry.cornice_services

    for route in routes(full_app):
        item = doc["paths"].get(template(route.pattern))
        assert item is not None, f"route {route.name} ({route.pattern}) is not described"
        described = {m.upper() for m in item if m != "parameters"}
        assert described, route.name
        service = services.get(route.pattern)
        if service is not None:
            assert described == set(service.defined_methods), route.name


def test_the_document_describes_nothing_that_is_not_served(full_app):
    doc = document(full_app)

    assert set(doc["paths"]) == {template(route.pattern) for route in routes(full_app)}


def test_every_plugin_route_appears_only_when_the_plugin_is_included(make_app, full_app):
    bare = set(document(make_app(includes=""))["paths"])
    full = set(document(full_app)["paths"])

    assert {"/", "/buckets", "/batch", "/__api__", "/contribute.json"} <= bare
    for plugin_path in (
        "/__metrics__",
        "/__flush__",
        "/accounts",
        "/accounts/{id}",
        "/buckets/{bucket_id}/history",
    ):
        if plugin_path in full:
            assert plugin_path not in bare
    assert "/__metrics__" in full


def test_operation_ids_are_unique(full_app):
    ids = [op["operationId"] for _, _, op in operations(document(full_app))]

    assert len(ids) == len(set(ids))


def test_every_path_parameter_is_declared(full_app):
    doc = document(full_app)

    for path, item in doc["paths"].items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), path


def test_the_servers_url_carries_the_version_prefix_and_follows_the_host(make_app):
    assert document(make_app())["servers"] == [{"url": "http://localhost/v1"}]
    other = make_app(http_host="kinto.example.com", http_scheme="https")
    assert document(other)["servers"] == [{"url": "https://kinto.example.com/v1"}]


def test_the_document_is_public_and_stable_between_requests(app):
    first = document(app)

    assert document(app, headers=ALICE) == first
    assert app.head("/v1/__api__").status_int == 200


# --- what each endpoint says --------------------------------------------------------------


def test_plural_endpoints_document_the_querystring(full_app):
    doc = document(full_app)
    plurals = [r for r in routes(full_app) if r.name.endswith(":plural")]

    assert {r.name for r in plurals} >= {
        "bucket:plural",
        "group:plural",
        "collection:plural",
        "record:plural",
    }
    for route in plurals:
        item = doc["paths"][template(route.pattern)]
        for method in ("get", "head", "delete"):
            if method in item:
                assert query_names(doc, item[method]) >= LIST_QUERY, (route.name, method)
    listing = doc["paths"]["/buckets/{bucket_id}/collections/{collection_id}/records"]["get"]
    sort = next(
        resolve(doc, p) for p in listing["parameters"] if resolve(doc, p)["name"] == "_sort"
    )
    assert sort["schema"]["type"] == "array" and sort["explode"] is False


def test_object_endpoints_document_preconditions_and_fields(app):
    doc = document(app)
    record = doc["paths"]["/buckets/{bucket_id}/collections/{collection_id}/records/{id}"]

    headers = {resolve(doc, p)["name"] for p in record["put"]["parameters"]}
    assert {"If-Match", "If-None-Match"} <= headers
    assert "_fields" in query_names(doc, record["get"])
    assert "last_modified" in query_names(doc, record["delete"])


def test_writes_document_the_data_and_permissions_envelope(full_app):
    doc = document(full_app)

    for path, method, op in operations(doc):
        if method not in WRITES or not path.startswith("/buckets"):
            continue
        if path.endswith("/attachment"):  # a multipart upload (plugins/attachments)
            assert "multipart/form-data" in op["requestBody"]["content"], (path, method)
            continue
        if path.endswith(("/restore", "/revert")):  # actions, their own body (issue 13)
            continue
        body = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"])
        assert set(body["properties"]) == {"data", "permissions"}, (path, method)
    patch = doc["paths"]["/buckets/{id}"]["patch"]["requestBody"]["content"]
    assert set(patch) == {
        "application/json",
        "application/merge-patch+json",
        "application/json-patch+json",
    }


def test_responses_document_the_object_and_list_envelopes(app):
    doc = document(app)
    records = doc["paths"]["/buckets/{bucket_id}/collections/{collection_id}/records"]

    listing = resolve(doc, records["get"]["responses"]["200"])
    created = resolve(doc, records["post"]["responses"]["201"])
    assert (
        resolve(doc, listing["content"]["application/json"]["schema"])["properties"]["data"]["type"]
        == "array"
    )
    assert set(resolve(doc, created["content"]["application/json"]["schema"])["properties"]) == {
        "data",
        "permissions",
    }
    assert {"ETag", "Next-Page"} <= set(listing["headers"])
    assert {"Total-Objects"} <= set(records["head"]["responses"]["200"]["headers"])


def test_every_operation_documents_the_error_envelope(full_app):
    doc = document(full_app)
    error = doc["components"]["schemas"]["Error"]

    assert set(error["required"]) == {"code", "errno", "error"}
    for path, method, op in operations(doc):
        default = resolve(doc, op["responses"]["default"])
        assert default["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }, (path, method)


def test_basic_auth_is_the_security_scheme_and_anonymous_access_is_allowed(app):
    doc = document(app)

    assert doc["components"]["securitySchemes"]["basicAuth"]["type"] == "http"
    assert doc["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"
    assert doc["security"] == [{"basicAuth": []}, {}]


def test_switched_off_methods_are_not_described(make_app):
    readonly = document(make_app(readonly=True))
    switched = document(make_app(plural_bucket_delete_enabled=False))

    for path, method, _ in operations(readonly):
        assert method in ("get", "head"), (path, method)
    assert "/batch" not in readonly["paths"]
    assert "delete" not in switched["paths"]["/buckets"]
    assert "delete" in switched["paths"]["/buckets/{id}"]


def test_the_metrics_endpoint_is_described_as_text(full_app):
    metrics = document(full_app)["paths"]["/__metrics__"]["get"]["responses"]["200"]

    assert list(metrics["content"]) == ["text/plain"]


# --- the document against real responses -------------------------------------------------


def test_real_responses_match_the_documented_schemas(full_app):
    doc = document(full_app)
    base = "/v1/buckets/blog/collections/articles/records"
    record = "/buckets/{bucket_id}/collections/{collection_id}/records/{id}"
    records = "/buckets/{bucket_id}/collections/{collection_id}/records"
    full_app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=201)
    full_app.put_json("/v1/buckets/blog/collections/articles", {}, headers=ALICE)

    checks = [
        ("/", full_app.get("/v1/", headers=ALICE)),
        ("/__heartbeat__", full_app.get("/v1/__heartbeat__")),
        ("/__lbheartbeat__", full_app.get("/v1/__lbheartbeat__")),
        ("/contribute.json", full_app.get("/v1/contribute.json")),
        (records, full_app.post_json(base, {"data": {"id": "r1", "n": 1}}, headers=ALICE)),
        (record, full_app.put_json(f"{base}/r2", {"data": {"n": 2}}, headers=ALICE)),
        (record, full_app.patch_json(f"{base}/r2", {"data": {"n": 3}}, headers=ALICE)),
        (record, full_app.get(f"{base}/r1", headers=ALICE)),
        (records, full_app.get(base, headers=ALICE)),
        (record, full_app.delete(f"{base}/r1", headers=ALICE)),
        (records, full_app.delete(base, headers=ALICE)),
        (record, full_app.get(f"{base}/nope", headers=ALICE, status=404)),
        (record, full_app.get(f"{base}/r1", status=401)),
        ("/buckets", full_app.post_json("/v1/buckets", {"data": 1}, headers=ALICE, status=400)),
        (
            "/batch",
            full_app.post_json(
                "/v1/batch", {"requests": [{"path": "/buckets/blog"}]}, headers=ALICE
            ),
        ),
    ]

    for path, resp in checks:
        assert_documented(doc, path, resp)


def test_a_route_added_with_plain_pyramid_is_described_with_its_view_methods():
    from pyramid.config import Configurator

    from kinto_clone import settings
    from kinto_clone.views.openapi import build

    config = Configurator(settings=settings.load({}, environ={}))
    config.add_route("thing", "/v1/things/{name:[a-z]+}/*rest")
    config.add_view(lambda request: {}, route_name="thing", request_method="POST", renderer="json")
    config.add_view(
        lambda request: {}, route_name="thing", request_method=("GET", "PUT"), renderer="json"
    )
    config.commit()

    doc = {**build(config.registry), "servers": [{"url": "/v1"}]}

    validate(doc)
    item = doc["paths"]["/things/{name}/{rest}"]
    assert [m for m in item if m != "parameters"] == ["get", "head", "post", "put"]
    assert {p["name"] for p in item["parameters"]} == {"name", "rest"}
