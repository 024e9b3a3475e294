"""kinto_clone: a server of the Kinto HTTP API (v1).

``main()`` is the WSGI application factory (``[app:main] use = egg:kinto_clone``). It reads
like a table of contents; each part sets itself up in its own ``includeme``.
"""

from __future__ import annotations

from typing import Any

from pyramid.config import Configurator
from pyramid.router import Router
from pyramid.tweens import EXCVIEW, INGRESS

from kinto_clone import backends, request, settings
from kinto_clone.json import JSONRenderer
from kinto_clone.resources.types import Topology
from kinto_clone.version import __version__ as __version__  # kinto_clone.__version__
from kinto_clone.views import dispatch


def main(global_config: dict[str, Any] | None = None, **raw_settings: Any) -> Router:
    app_settings = settings.load(raw_settings)
    # No introspection: nothing reads it, and it is a third of the start-up time.
    config = Configurator(settings=app_settings, introspection=False)
    config.registry.capabilities = {}
    # Plugins subscribe to writes and check data here (events.py).
    config.registry.listeners = []
    config.registry.data_checks = []
    # The resource tree: Kinto's four types, then the plugins' (resources/types.py).
    config.registry.resource_types = Topology()
    # Plugins with tables of their own empty them when POST /__flush__ runs (plugins/flush.py).
    config.registry.flush_hooks = []
    # Storage and permission backends, built once (backends.py).
    config.registry.backends = backends.load(app_settings)
    config.registry.kinto_clone_close = config.registry.backends.close
    # Cornice registers its own exception views; ours (views/errors.py) override them.
    config.include("cornice")
    config.commit()
    config.add_renderer("kinto_json", JSONRenderer)
    # One transaction per request, then CORS and response headers (tweens.py).
    config.add_tween("kinto_clone.tweens.transaction_tween", under=INGRESS)
    config.add_tween(
        "kinto_clone.tweens.headers_tween",
        under="kinto_clone.tweens.transaction_tween",
        over=EXCVIEW,
    )
    # Exceptions -> JSON errors, unknown URLs -> redirects or 404 (views/errors.py).
    config.include("kinto_clone.views.errors")
    with config.route_prefix_context("v1"):
        # GET /v1/, heartbeats, version (views/root.py).
        config.include("kinto_clone.views.root")
        # Buckets, groups, collections, records (views/resources.py).
        config.include("kinto_clone.views.resources")
        # POST /v1/batch (views/batch.py).
        config.include("kinto_clone.views.batch")
        config.include("kinto_clone.views.permissions")  # GET /v1/permissions, if enabled
        # GET {object}/permissions: who may do what there, and why (views/explain.py).
        config.include("kinto_clone.views.explain")
        # GET /v1/__api__, the OpenAPI description of every route (views/openapi.py).
        config.include("kinto_clone.views.openapi")
        # GET /v1/contribute.json (views/contribute.py).
        config.include("kinto_clone.views.contribute")
        config.include("kinto_clone.plugins.schema")  # JSON schemas, if enabled
        # Plugins named in `kinto.includes` (default_bucket, ...).
        for plugin in app_settings["includes"]:
            config.include(plugin)
    # Change announcements for the live stream (stream/, served by stream/server.py).
    config.include("kinto_clone.stream")
    # Identity, principals and the permission decision (security.py, context.py); after
    # the plugins, which may bring authentication policies (accounts).
    config.include("kinto_clone.security")
    if "basicauth" in app_settings.get("multiauth.policies", ""):
        from kinto_clone.views.root import add_capability

        add_capability(
            config,
            "basicauth",
            "Very basic authentication sessions. Not for production use.",
            "http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html",
        )
    config.set_request_factory(request.KintoRequest)
    config.commit()
    # No per-request hooks: what they attached is declared on KintoRequest (request.py).
    request.install(config.registry)
    # A route's view for the method is found without raising exceptions (views/dispatch.py).
    dispatch.install(config.registry)
    return config.make_wsgi_app()
