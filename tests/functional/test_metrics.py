"""The Prometheus plugin: ``GET /v1/__metrics__`` in the text exposition format, requests
counted by method, endpoint and status and timed in a histogram (kinto-api.md §10.3).
"""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families

from kinto_clone.storage import BackendError
from tests.support import ALICE, auth

PLUGIN = "kinto_clone.plugins.default_bucket kinto.plugins.prometheus"
BUCKETS = ("0.01", "0.05", "0.1", "0.5", "1.0", "3.0", "6.0", "+Inf")
# The counters live in each application: a reused one would carry earlier tests' counts.
pytestmark = pytest.mark.fresh_app


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return make_app(includes=PLUGIN)


def scrape(app: webtest.TestApp) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of the exposition, parsed by prometheus_client's own parser."""
    resp = app.get("/v1/__metrics__", status=200)
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    ]


def count(app: webtest.TestApp, prefix: str = "kinto", **labels: str) -> float:
    """Requests counted with these labels (summed over the labels not given)."""
    return sum(
        value
        for name, got, value in scrape(app)
        if name == f"{prefix}_request_summary_total"
        and all(got.get(k) == v for k, v in labels.items())
    )


def duration(
    app: webtest.TestApp, suffix: str, prefix: str = "kinto", **labels: str
) -> list[tuple[dict[str, str], float]]:
    return [
        (got, value)
        for name, got, value in scrape(app)
        if name == f"{prefix}_request_duration_{suffix}"
        and all(got.get(k) == v for k, v in labels.items())
    ]


def test_the_plugin_advertises_its_capability(app):
    capability = app.get("/v1/").json["capabilities"]["prometheus"]

    assert capability["prefix"] == "kinto"
    assert capability["disabled_metrics"] == []
    assert capability["description"] and capability["url"].startswith("https://")


def test_without_the_plugin_there_is_no_metrics_endpoint(make_app):
    app = make_app()

    app.get("/v1/__metrics__", status=404)
    assert "prometheus" not in app.get("/v1/").json["capabilities"]


def test_requests_are_counted_by_method_endpoint_and_status(app):
    app.get("/v1/")
    app.get("/v1/")
    app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=201)
    app.get("/v1/buckets/blog", headers=auth("bob"), status=403)
    app.get("/v1/nowhere", status=404)

    assert count(app, method="get", endpoint="/", status="200") == 2
    assert count(app, method="put", endpoint="/buckets/{id}", status="201") == 1
    assert count(app, method="get", endpoint="/buckets/{id}", status="403") == 1
    assert count(app, method="get", endpoint="unknown", status="404") == 1


def test_the_endpoint_is_the_route_pattern_not_the_url(app):
    app.put_json("/v1/buckets/a", {}, headers=ALICE, status=201)
    app.put_json("/v1/buckets/b", {}, headers=ALICE, status=201)

    endpoints = {
        labels["endpoint"]
        for name, labels, _ in scrape(app)
        if name == "kinto_request_summary_total"
    }

    assert endpoints == {"/buckets/{id}"}


def test_url_parts_are_labels_with_the_object_id_named_after_its_resource(app):
    app.put_json("/v1/buckets/blog", {}, headers=ALICE)
    app.put_json("/v1/buckets/blog/collections/articles", {}, headers=ALICE)
    app.put_json("/v1/buckets/blog/collections/articles/records/r1", {}, headers=ALICE)

    assert count(app, method="put", bucket_id="blog", collection_id="articles", record_id="r1") == 1
    assert count(app, method="put", bucket_id="blog", collection_id="articles", record_id="") == 1


def test_no_url_labels_when_metrics_matchdict_fields_is_empty(make_app):
    app = make_app(includes=PLUGIN, metrics_matchdict_fields="")
    app.put_json("/v1/buckets/blog", {}, headers=ALICE)

    labels = {
        frozenset(got) for name, got, _ in scrape(app) if name == "kinto_request_summary_total"
    }

    assert labels == {frozenset({"method", "endpoint", "status"})}


def test_durations_are_a_histogram_with_kintos_buckets(app):
    app.get("/v1/")
    app.get("/v1/")

    buckets = duration(app, "bucket", method="get", endpoint="/")
    assert [labels["le"] for labels, _ in buckets] == list(BUCKETS)
    assert buckets[-1][1] == 2
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    assert duration(app, "count", method="get", endpoint="/")[0][1] == 2
    assert duration(app, "sum", method="get", endpoint="/")[0][1] > 0


def test_the_histogram_buckets_can_be_configured(make_app):
    app = make_app(includes=PLUGIN, prometheus_histogram_buckets="0.2 2")
    app.get("/v1/")

    assert [labels["le"] for labels, _ in duration(app, "bucket", endpoint="/")] == [
        "0.2",
        "2.0",
        "+Inf",
    ]


@pytest.mark.parametrize("prefix, expected", [("myapp", "myapp"), ("my-app.v2", "my_app_v2")])
def test_the_prefix_names_every_metric(make_app, prefix, expected):
    app = make_app(includes=PLUGIN, prometheus_prefix=prefix)
    app.get("/v1/")

    names = {name for name, _, _ in scrape(app)}

    assert names and all(name.startswith(f"{expected}_") for name in names)
    assert count(app, prefix=expected, endpoint="/") == 1
    assert app.get("/v1/").json["capabilities"]["prometheus"]["prefix"] == expected


def test_the_prefix_defaults_to_the_project_name(make_app):
    app = make_app(includes=PLUGIN, project_name="storage")
    app.get("/v1/")

    assert count(app, prefix="storage", endpoint="/") == 1


def test_disabled_metrics_are_not_recorded(make_app):
    app = make_app(includes=PLUGIN, prometheus_disabled_metrics="request_duration")
    app.get("/v1/")

    names = {name for name, _, _ in scrape(app)}

    assert "kinto_request_summary_total" in names
    assert not any(name.startswith("kinto_request_duration") for name in names)
    assert app.get("/v1/").json["capabilities"]["prometheus"]["disabled_metrics"] == [
        "request_duration"
    ]


@pytest.mark.parametrize("enabled, present", [("true", True), ("false", False)])
def test_created_timestamps_can_be_left_out(make_app, enabled, present):
    app = make_app(includes=PLUGIN, prometheus_created_metrics_enabled=enabled)
    app.get("/v1/")

    text = app.get("/v1/__metrics__").text

    assert ("_created" in text) is present


def test_batch_subrequests_are_counted_too(app):
    app.put_json("/v1/buckets/blog", {}, headers=ALICE)

    app.post_json(
        "/v1/batch",
        {
            "requests": [
                {
                    "method": "PUT",
                    "path": "/buckets/blog/groups/g1",
                    "body": {"data": {"members": []}},
                },
                {"method": "GET", "path": "/buckets/blog/groups/nope"},
            ]
        },
        headers=ALICE,
    )

    assert count(app, method="post", endpoint="/batch", status="200") == 1
    assert count(app, method="put", endpoint="/buckets/{bucket_id}/groups/{id}", status="201") == 1
    assert count(app, method="get", endpoint="/buckets/{bucket_id}/groups/{id}", status="404") == 1


def test_backend_failures_are_counted_with_their_status(app, monkeypatch):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise BackendError("database is down")

    for name in ("list_objects", "list_encoded", "list_page"):
        monkeypatch.setattr(app.app.registry.backends.storage, name, fail)
    app.get("/v1/buckets", headers=ALICE, status=503)

    assert count(app, method="get", endpoint="/buckets", status="503") == 1


def test_each_app_counts_its_own_requests(make_app):
    first, second = make_app(includes=PLUGIN), make_app(includes=PLUGIN)
    first.get("/v1/")

    assert count(first, endpoint="/") == 1
    assert count(second, endpoint="/") == 0


def test_a_prometheus_scraper_is_served(app):
    accept = (
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    )

    resp = app.get("/v1/__metrics__", headers={"Accept": accept}, status=200)

    assert resp.text.startswith("# HELP")


def test_the_metrics_endpoint_is_public_and_read_only(app):
    app.get("/v1/__metrics__", headers=ALICE, status=200)
    app.post("/v1/__metrics__", status=405)
