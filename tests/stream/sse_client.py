"""A small Server-Sent Events client for the tests: it reads one stream on a thread and
parses its events the way EventSource does (``id``, ``event``, ``data``, ``retry``,
comments), so that a test reads them with a timeout and never hangs."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class Event:
    event: str
    data: Any
    id: str | None
    retry: int | None = None


class Closed(Exception):
    pass


class EventStream:
    """``GET url`` with ``Accept: text/event-stream``; ``response`` is the answer (read it
    when ``status != 200``)."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        last_event_id: str | None = None,
        read_timeout: float = 30,
    ) -> None:
        sent = {"Accept": "text/event-stream", **(headers or {})}
        if last_event_id is not None:
            sent["Last-Event-ID"] = last_event_id
        self.response = requests.get(url, headers=sent, stream=True, timeout=(5, read_timeout))
        self.status = self.response.status_code
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.comments = 0
        self.last_event_id = last_event_id
        self._thread: threading.Thread | None = None
        if self.status == 200:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=False):
                line = raw.decode("utf-8")
                if not line:
                    if "data" in fields:
                        event = Event(
                            fields.get("event", "message"),
                            json.loads(fields["data"]),
                            fields.get("id"),
                            int(fields["retry"]) if "retry" in fields else None,
                        )
                        self.events.put(event)
                    fields = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
        except (requests.RequestException, OSError, ValueError, AttributeError):
            pass
        finally:
            self.events.put(None)

    def next(self, timeout: float = 10) -> Event:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None
        if event is None:
            self.events.put(None)
            raise Closed()
        if event.id is not None:
            self.last_event_id = event.id
        return event

    def changes(self, count: int, timeout: float = 10) -> list[Event]:
        """The next ``count`` change events (create/update/delete), skipping ``ready``."""
        found: list[Event] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            event = self.next(max(0.01, deadline - time.monotonic()))
            if event.event != "ready":
                found.append(event)
        return found

    def quiet(self, seconds: float) -> list[Event]:
        """Every event that arrives within ``seconds`` (expected: none)."""
        found: list[Event] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                found.append(self.next(left))
            except (TimeoutError, Closed):
                break
        return [e for e in found if e.event != "ready"]

    def until_closed(self, timeout: float = 10) -> list[Event]:
        found: list[Event] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                found.append(self.next(max(0.01, deadline - time.monotonic())))
            except Closed:
                return found

    def close(self) -> None:
        self.response.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
