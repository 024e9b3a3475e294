"""``GET/HEAD /v1/permissions``: what the caller may do, object by object (§6.7).

Registered only when ``experimental_permissions_endpoint`` is true (else the URL is a
404); readable by ``permissions_read_principals`` (default ``system.Everyone``). The
entries, their filters, sorting and pages: ``resources/permission_entries.py``.
"""

from __future__ import annotations

from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.settings import asbool

from kinto_clone.authorization import settings_grant
from kinto_clone.resources import permission_entries
from kinto_clone.views.http import (
    expose,
    next_page_url,
    now_ms,
    set_cache_headers,
    set_timestamp_headers,
)
from kinto_clone.views.root import add_capability

SETTING = "experimental_permissions_endpoint"


class PermissionsContext:
    """The route context: ``read`` is granted by ``permissions_read_principals``."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def permits(self, permission: str) -> bool:
        return settings_grant(
            self.request.registry.settings, "permissions", permission, self.request.principals
        )


# -- the view ------------------------------------------------------------------------------

permissions = Service(
    name="permissions",
    path="/permissions",
    factory=PermissionsContext,
    description="What the caller may do, object by object",
)


@permissions.get(permission="read", renderer="kinto_json")
def list_permissions(request: Request) -> Any:
    registry = request.registry
    params = list(request.GET.items())
    parsed = permission_entries.parse_params(params, now_ms(), registry.settings)
    entries = permission_entries.entries_of(
        registry.backends, registry.resource_types, registry.settings, request.principals
    )
    found = permission_entries.page_of(entries, parsed)
    expose(
        request,
        "Next-Page",
        "Total-Objects",
        "Total-Records",
        "Cache-Control",
        "ETag",
        "Last-Modified",
    )
    set_cache_headers(request, None)
    set_timestamp_headers(request.response, permission_entries.timestamp(registry.backends))
    if request.method == "HEAD":
        headers = request.response.headers
        headers["Total-Objects"] = headers["Total-Records"] = str(found.total)
        request.response.content_type, request.response.charset = "application/json", None
        return request.response
    if found.next_token is not None:
        request.response.headers["Next-Page"] = next_page_url(
            request, parsed.limit, found.next_token
        )
    return {"data": found.entries}


def includeme(config: Configurator) -> None:
    """Include inside the ``/v1`` route prefix; a no-op unless the setting is true."""
    if asbool(config.registry.settings.get(SETTING)):
        add_permissions_endpoint(config)


def add_permissions_endpoint(config: Configurator) -> None:
    """Also for plugins that bring the endpoint with them (Kinto's admin plugin does)."""
    if "permissions_endpoint" in config.registry.capabilities:
        return  # enabled by the setting and by such a plugin
    config.add_cornice_service(permissions)
    add_capability(
        config,
        "permissions_endpoint",
        "GET /permissions lists what the caller may do, object by object.",
        "https://kinto.readthedocs.io/en/latest/configuration/settings.html"
        "#activating-the-permissions-endpoint",
    )
