"""``POST /v1/__flush__``: delete EVERYTHING, for test suites (§10.2, §13.39).

    !!! ANYONE CAN CALL IT: NO AUTHENTICATION, NO PERMISSION. !!!

Enabled by ``kinto.includes = kinto_clone.plugins.flush`` (Kinto's name
``kinto.plugins.flush`` is an alias). It wipes every bucket, collection, group, record,
tombstone and timestamp, every ACE and every group membership, and what plugins keep
beside them (``registry.flush_hooks``: attachments), in one transaction, and
answers ``202 {}``. That is how Kinto behaves and what client test suites (kinto-http,
Kinto.js) expect of a test server. Never include it on a server holding data you want to
keep. In readonly mode it answers 405 like every other write.
"""

from __future__ import annotations

from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from kinto_clone.errors import MethodNotAllowed
from kinto_clone.views.root import add_capability

flush = Service(name="flush", path="/__flush__", description="Delete everything (tests only)")


# Deliberately public: the endpoint exists for test servers, where anyone may reset them.
@flush.post(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def post_flush(request: Request) -> Any:
    if request.registry.settings["readonly"]:
        raise MethodNotAllowed()
    backends = request.registry.backends
    for hook in request.registry.flush_hooks:
        hook(request)
    backends.storage.flush()
    backends.permission.flush()
    if backends.cache is not None:
        backends.cache.flush()
    _forget_logins(request.registry)
    request.response.status_int = 202
    return {}


def _forget_logins(registry: Registry) -> None:
    """Logins the accounts plugin remembers would otherwise outlive the accounts (in this
    process; other web heads forget them after ``account_cache_ttl_seconds``)."""
    passwords = getattr(registry, "account_passwords", None)
    if passwords is not None:
        passwords.forget_all()


def includeme(config: Configurator) -> None:
    config.add_cornice_service(flush)
    add_capability(
        config,
        "flush_endpoint",
        "POST /__flush__ deletes every object and "
        "permission of the server (for test servers only).",
        "https://kinto.readthedocs.io/en/latest/configuration/settings.html"
        "#activating-the-flush-endpoint",
    )
