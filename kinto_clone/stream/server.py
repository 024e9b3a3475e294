"""``[server:main] use = egg:kinto_clone#stream``: uvicorn serving the API and the streams.

A paste server runner, so that ``kinto-clone start`` (and ``make serve``) serve the
stream on the same origin with no extra step. uvicorn (httptools, uvloop) holds the open
streams in one event loop; ordinary requests run in the WSGI thread pool (``wsgi.py``).
On SIGTERM/SIGINT every stream first gets a final ``resume`` event, so that clients
reconnect (with ``Last-Event-ID``) to whichever head is up.
"""

from __future__ import annotations

import gc
import resource
from typing import Any

import uvicorn

from kinto_clone.stream.gateway import Gateway
from kinto_clone.stream.hub import Hub
from kinto_clone.stream.reader import StreamReader
from kinto_clone.stream.wsgi import WSGIBridge


def build(app: Any) -> Gateway:
    """The ASGI application around the Pyramid application ``app`` (kinto_clone.main)."""
    registry = app.registry
    options = registry.stream_options
    hub = Hub(
        registry.settings,
        StreamReader(registry.backends),
        options,
        registry.stream_actions,
        registry.stream_broker,
    )
    registry.heartbeats["stream"] = hub
    bridge = WSGIBridge(app, options.wsgi_threads, registry.settings["max_request_body_bytes"])
    return Gateway(bridge, hub, registry.settings)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    def handle_exit(self, sig: int, frame: Any) -> None:
        hub = self.gateway.hub
        hub.closing = True
        for subscriber in hub.subscribers():
            subscriber.finish("server restart")
        super().handle_exit(sig, frame)


def _raise_open_files_limit() -> None:
    """One file descriptor per open stream: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(
    app: Any,
    global_conf: dict[str, Any],
    host: str = "127.0.0.1",
    port: str | int = 8888,
    **options: Any,
) -> None:
    _raise_open_files_limit()
    gateway = build(app)
    # What start-up built lives as long as the process: moved out of the cyclic
    # collector's sight, so that a full collection (a pause for every stream) walks only
    # the objects of requests and streams (bench/RESULTS.md, issue 12).
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        gateway,
        host=host,
        port=int(port),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=str(options.get("log_level", "warning")),
        backlog=int(options.get("backlog", 4096)),
        timeout_graceful_shutdown=5,
        proxy_headers=True,
        server_header=False,
        forwarded_allow_ips=options.get("trusted_proxy", "127.0.0.1"),
    )
    _Server(config, gateway).run()
