"""Server-Sent Events framing (the ``text/event-stream`` format EventSource reads).

Every frame is one event: ``id``, ``event`` (its type) and one ``data`` line of compact
JSON, which never contains a newline. Comments (``:``) keep idle connections alive.
"""

from __future__ import annotations

from typing import Any

from kinto_clone import json

HEARTBEAT = b": heartbeat\n\n"


def frame(event: str, data: Any, event_id: str | None = None, retry_ms: int | None = None) -> bytes:
    lines = []
    if retry_ms is not None:
        lines.append(b"retry: %d" % retry_ms)
    if event_id is not None:
        lines.append(b"id: " + event_id.encode())
    lines.append(b"event: " + event.encode())
    lines.append(b"data: " + json.dumps(data))
    return b"\n".join(lines) + b"\n\n"
