"""The request class, with everything a request carries declared on the class.

Pyramid and cornice can attach request attributes per request instead: cornice subscribes
to every ``NewRequest`` to set ``errors``, ``validated`` and ``info`` and to register two
response callbacks, and ``add_request_method`` makes Pyramid build a new class for each
request. Together with the five event dispatches a subscriber turns on, that was 20% of the
CPU of a GET. So ``KintoRequest`` declares them all as lazy properties, and ``install``
takes cornice's per-request hooks out once the configuration is complete. Cornice's
response callbacks had nothing to do here: our services declare no filters and no cornice
CORS policy (CORS and ``X-Content-Type-Options`` are set in tweens.py).
"""

from __future__ import annotations

from typing import Any

from cornice.errors import Errors
from cornice.pyramidhook import wrap_request
from cornice.util import current_service
from pyramid.decorator import reify
from pyramid.interfaces import IRequestExtensions
from pyramid.registry import Registry
from pyramid.request import Request

from kinto_clone.security import Identity, principals


class KintoRequest(Request):
    """Pyramid's request, plus the state our layers hand each other during a request.

    That state is declared here, once, with its type and who writes it; nothing travels in
    ``request.environ`` keys. Class attributes are the defaults; an assignment sets the
    request's own value.
    """

    principals = reify(principals)
    current_service = reify(current_service)

    # Whether the security policy already looked for the caller, and what it found
    # (security.py); /batch copies both to subrequests with the caller's credentials.
    identity_known: bool = False
    known_identity: Identity | None = None
    # The caller's principals when they came with another statement: the route context's
    # one-statement load (context.py, plugins/history) or the batch's caller (views/batch.py).
    # None: ``principals`` asks the permission backend.
    known_principals: frozenset[str] | None = None
    # The JSON body once parsed (body.json_body), so that peeking at it before validation
    # (context.py, plugins) does not parse it twice.
    body_parsed: bool = False
    parsed_body: Any = None
    # Writes made before the request's handling that must survive a 4xx
    # (tweens.handle_keeping_earlier_writes); /batch keeps them too for such a subrequest.
    kept_writes: bool = False
    # A subrequest of /batch (views/batch.py): the default bucket plugin creates the
    # personal bucket there even for a method no view serves, as Kinto's batch does.
    in_batch: bool = False
    # Response headers this endpoint adds to Access-Control-Expose-Headers (views/http.py
    # ``expose``, read by tweens.py).
    exposed_headers: tuple[str, ...] = ()
    # True while the attachment views write the record themselves (plugins/attachments):
    # the plugin's change listener and data check then let the write through.
    attachment_write: bool = False

    @reify
    def errors(self) -> Errors:  # read by cornice's view wrapper
        return Errors()

    @reify
    def validated(self) -> dict[str, Any]:
        return {}

    @reify
    def info(self) -> dict[str, Any]:
        return {}


def install(registry: Registry) -> None:
    """Once the app is configured: drop cornice's per-request subscriber and request
    method (``KintoRequest`` has what they gave), and switch Pyramid's event dispatch off
    when no other subscriber is left."""
    for handler in list(registry.registeredHandlers()):
        if getattr(handler.factory, "__wrapped__", handler.factory) is wrap_request:
            registry.unregisterHandler(
                handler.factory, required=handler.required, name=handler.name
            )
    extensions = registry.queryUtility(IRequestExtensions)
    if extensions is not None:
        extensions.descriptors.pop("current_service", None)
        if not extensions.descriptors and not extensions.methods:
            registry.unregisterUtility(provided=IRequestExtensions)
    if not list(registry.registeredHandlers()) and not list(
        registry.registeredSubscriptionAdapters()
    ):
        registry.has_listeners = False
