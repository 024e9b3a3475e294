"""The streaming server as operators run it: ``kinto-clone start`` with
``[server:main] use = egg:kinto_clone#stream`` (uvicorn), in its own process, on each SQL
backend (memory too: it is one process).

- ``stream_server``: a fresh server (fresh data) per test; ``.url`` is ``.../v1``,
  ``.restart()`` stops it and starts it again on the same port (same data).
- ``StreamServer(workdir, settings)``: the same, for tests that build their own.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from tests import postgres, server


def write_stream_ini(path: Path, settings: dict[str, str]) -> Path:
    server.write_ini(path, {**server.BASE_SETTINGS, **settings})
    text = path.read_text().replace("use = egg:waitress#main", "use = egg:kinto_clone#stream")
    path.write_text(text)
    return path


class StreamServer:
    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        self.workdir = workdir
        self.ini = write_stream_ini(workdir / "kinto.ini", settings)
        if settings.get("kinto.storage_url"):
            server.migrate(self.ini, workdir)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        for _attempt in range(server.PORT_ATTEMPTS):
            port = self.port or server.free_port()
            self.starts += 1
            out = open(self.workdir / f"stream-{self.starts}.log", "wb")  # noqa: SIM115
            self.process = subprocess.Popen(
                [*_cli(), "start", "--ini", str(self.ini), "--port", str(port)],
                cwd=self.workdir,
                env=server.server_environment(),
                stdout=out,
                stderr=out,
            )
            out.close()
            # A busy 2-core machine takes a while to import and configure everything.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if (
                        requests.get(
                            f"http://127.0.0.1:{port}/v1/__heartbeat__", timeout=1
                        ).status_code
                        == 200
                    ):
                        self.port = port
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            self.stop()
            if "address already in use" not in self.log().lower():
                break
        pytest.fail(f"the streaming server did not start\n{self.log()}")

    def log(self) -> str:
        path = self.workdir / f"stream-{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            server.stop(self.process)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "kinto_clone"]


def backend_ini_settings(
    backend: str, request: pytest.FixtureRequest, workdir: Path, name: str
) -> Iterator[dict[str, str]]:
    if backend == "memory":
        yield server.settings_for("memory")
    elif backend == "sqlite":
        yield server.settings_for("sqlite", f"sqlite:///{workdir}/kinto.sqlite")
    else:
        session_url = request.getfixturevalue("postgresql_url")
        maintenance = session_url.rsplit("/", 1)[0] + "/postgres"
        db_name = f"kinto_clone_stream_{os.getpid()}_{name}"
        url = postgres.create_database(maintenance, db_name)
        try:
            yield server.settings_for("postgresql", url)
        finally:
            conn = psycopg2.connect(maintenance)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.close()


@pytest.fixture
def stream_settings() -> dict[str, str]:
    """Extra ini settings of ``stream_server`` (a test module may override the fixture)."""
    return {"kinto.stream_heartbeat_seconds": "0.5", "kinto.stream_settle_ms": "300"}


@pytest.fixture
def stream_server(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, stream_settings: dict[str, str]
) -> Iterator[StreamServer]:
    for settings in backend_ini_settings(backend, request, tmp_path, "t"):
        running = StreamServer(tmp_path, {**settings, **stream_settings})
        running.start()
        try:
            yield running
        finally:
            running.stop()


def put(url: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    r = requests.put(url, json=body or {}, headers=headers, timeout=10)
    assert r.status_code in (200, 201), r.text
    return r.json()
