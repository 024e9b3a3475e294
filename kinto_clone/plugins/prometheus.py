"""Prometheus metrics at ``GET /v1/__metrics__`` (``kinto.plugins.prometheus``, §10.3).

A tween, outside the request transaction so that the commit is timed too, counts every
response by method, endpoint and status, and times it in a histogram. Batch subrequests
go through the tweens, so they are counted as well, as in Kinto.

The ``endpoint`` label is the route pattern (``/buckets/{bucket_id}/collections``), never
the raw path: a label per URL would grow without bound. Requests that match no route
(404s, redirects) or are refused before routing (CORS, readonly, end of service) are
counted under ``unknown``. ``metrics_matchdict_fields`` adds the
named URL parts as labels of the request counter (the object's own ``{id}`` is reported as
``<resource>_id``, e.g. ``record_id``); set it empty to keep the number of series small.

Each app has its own collector registry: two apps in one process (tests) never share
counts, and nothing else registered in prometheus_client's global registry leaks here.

Settings (their defaults are Kinto's):

- ``prometheus_prefix``: prefix of every metric name (default: ``project_name``);
- ``prometheus_disabled_metrics``: names of metrics not to record (``request_summary``,
  ``request_duration``);
- ``prometheus_created_metrics_enabled``: expose the ``*_created`` timestamps;
- ``prometheus_histogram_buckets``: upper bounds of the duration histogram, in seconds;
- ``metrics_matchdict_fields``: URL parts added as labels of ``request_summary``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from cornice import Service
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.tweens import INGRESS

from kinto_clone.settings import as_list
from kinto_clone.views.root import add_capability

Handler = Callable[[Request], Response]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULTS: dict[str, Any] = {
    "prometheus_prefix": None,
    "prometheus_disabled_metrics": [],
    "prometheus_created_metrics_enabled": True,
    "prometheus_histogram_buckets": "0.01 0.05 0.1 0.5 1.0 3.0 6.0 Inf",
    "metrics_matchdict_fields": "bucket_id collection_id group_id record_id",
}

metrics = Service(name="metrics", path="/__metrics__", description="Prometheus metrics")


def metric_name(value: str) -> str:
    """A valid Prometheus name: anything else than letters, digits and ``_`` becomes ``_``."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", value)
    return f"_{name}" if name[:1].isdigit() else name


def endpoint(request: Request) -> str:
    """The pattern of the matched route without the version prefix, or ``unknown``."""
    route = getattr(request, "matched_route", None)
    if route is None:
        return "unknown"
    path = "/" + route.pattern.lstrip("/")
    if path == "/v1" or path.startswith("/v1/"):
        return path[len("/v1") :] or "/"
    return path


class RequestMetrics:
    """The metrics of one app and how a request is recorded in them."""

    def __init__(self, settings: dict[str, Any]) -> None:
        prefix = metric_name(str(settings["prometheus_prefix"]))
        disabled = set(as_list(settings["prometheus_disabled_metrics"]))
        self.created = settings["prometheus_created_metrics_enabled"] is not False
        self.fields = [metric_name(f) for f in as_list(settings["metrics_matchdict_fields"])]
        self.registry = CollectorRegistry()
        self.summary: Counter | None = None
        self.duration: Histogram | None = None
        if "request_summary" not in disabled:
            self.summary = Counter(
                f"{prefix}_request_summary",
                "Requests served, by method, endpoint and status.",
                ["method", "endpoint", "status", *self.fields],
                registry=self.registry,
            )
        if "request_duration" not in disabled:
            buckets = [float(b) for b in as_list(settings["prometheus_histogram_buckets"])]
            self.duration = Histogram(
                f"{prefix}_request_duration",
                "Time to serve a request, in seconds.",
                ["method", "endpoint"],
                buckets=buckets,
                registry=self.registry,
            )

    def _url_labels(self, request: Request) -> list[str]:
        matchdict = dict(getattr(request, "matchdict", None) or {})
        route = getattr(request, "matched_route", None)
        if "id" in matchdict and route is not None and ":" in route.name:
            matchdict[route.name.split(":", 1)[0] + "_id"] = matchdict["id"]
        return [str(matchdict.get(field, "")) for field in self.fields]

    def record(self, request: Request, status: int, seconds: float) -> None:
        method, where = request.method.lower(), endpoint(request)
        if self.summary is not None:
            self.summary.labels(method, where, str(status), *self._url_labels(request)).inc()
        if self.duration is not None:
            self.duration.labels(method, where).observe(seconds)

    def collect(self) -> Iterator[Metric]:
        """The registry's metrics, without the ``*_created`` samples when disabled."""
        for metric in self.registry.collect():
            if not self.created:
                metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric

    def exposition(self) -> bytes:
        return generate_latest(self)


def metrics_tween(handler: Handler, registry: Registry) -> Handler:
    recorder: RequestMetrics = registry.prometheus_metrics

    def tween(request: Request) -> Response:
        start = time.perf_counter()
        status = 500  # what the client gets if an exception escapes every view
        try:
            response = handler(request)
            status = response.status_code
            return response
        finally:
            recorder.record(request, status, time.perf_counter() - start)

    return tween


@metrics.get(permission=NO_PERMISSION_REQUIRED)
def get_metrics(request: Request) -> Response:
    body = request.registry.prometheus_metrics.exposition()
    response = Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


def includeme(config: Configurator) -> None:
    settings = config.registry.settings
    for name, value in DEFAULTS.items():
        settings.setdefault(name, value)
    if settings["prometheus_prefix"] is None:
        settings["prometheus_prefix"] = settings["project_name"]
    recorder = RequestMetrics(settings)
    config.registry.prometheus_metrics = recorder
    config.add_tween(
        "kinto_clone.plugins.prometheus.metrics_tween",
        under=INGRESS,
        over="kinto_clone.tweens.transaction_tween",
    )
    config.add_cornice_service(metrics)
    add_capability(
        config,
        "prometheus",
        "Prometheus metrics.",
        "https://kinto.readthedocs.io/en/stable/configuration/settings.html",
        prefix=metric_name(str(settings["prometheus_prefix"])),
        disabled_metrics=as_list(settings["prometheus_disabled_metrics"]),
    )
