"""Live sync: a resumable, permission-filtered change stream (Server-Sent Events).

- ``gateway.py``: the ASGI application; streams there, ordinary requests to ``wsgi.py``
  (the Pyramid application on a bounded thread pool). ``server.py`` runs it with uvicorn
  (``[server:main] use = egg:kinto_clone#stream``).
- ``hub.py``: which stream follows which list; one database read per list and change
  (``reader.py``), fanned out to its subscribers (``subscriber.py``) after the
  permission check of each event (``filters.py``); ``sse.py`` frames the events.
- ``broker.py``: how the heads learn of changes: NOTIFY in the writer's transaction on
  PostgreSQL, polling of the list timestamps on SQLite; one interface for Redis/NATS.
- ``options.py``: the ``stream_*`` settings.

``includeme`` runs in the WSGI application of every web head (also behind waitress):
its writes must be announced whoever serves the streams.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kinto_clone.stream.broker import Broker, NotifyBroker, PollingBroker
from kinto_clone.stream.hub import Actions
from kinto_clone.stream.options import StreamOptions


def includeme(config: Configurator) -> None:
    registry = config.registry
    settings = registry.settings
    options = StreamOptions.from_settings(settings)
    actions = Actions()
    url = str(settings.get("storage_url") or "")
    broker: Broker
    if url.startswith(("postgresql", "postgres:")):
        broker = NotifyBroker(actions.add, url, retry_seconds=options.retry_ms / 1000)
    else:
        broker = PollingBroker(actions.add, options.poll_interval_ms)
    registry.stream_options = options
    registry.stream_actions = actions
    registry.stream_broker = broker
    # Extra checks of /__heartbeat__ (plugins add theirs; the stream's hub when served).
    registry.heartbeats = getattr(registry, "heartbeats", None) or {}
    registry.listeners.append(broker.publish)
