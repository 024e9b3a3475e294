"""Run the real application in its own process, the way an operator starts it.

``serve(workdir, settings)`` writes an ini file like the one in the README, creates the
schema with ``python -m kinto_clone migrate --ini FILE`` (SQL backends only: the memory
backends have nothing to create), starts ``python -m kinto_clone start --ini FILE --port N``
on a free port, waits for ``GET /v1/__lbheartbeat__`` and yields the base URL
``http://127.0.0.1:N/v1``. On exit the process gets SIGTERM, then SIGKILL if it lingers.

The server writes its output to files in ``workdir`` rather than pipes: a chatty server
can never block on a full pipe, and a failure message can quote what it printed.

``settings_for(backend, url)`` gives the ini settings of a backend pair (``memory``,
``sqlite`` or ``postgresql``); ``tests/e2e/conftest.py`` turns all this into the
``live_server`` fixture.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.support import SECRET

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
MIGRATE_TIMEOUT_SECONDS = 60.0
# Binding a free port and handing it to the server is racy; a lost race ends the server
# at once with "address already in use", so a few fresh ports are tried.
PORT_ATTEMPTS = 3

# The settings every live server gets, written with their full ini names. They match
# ``DEFAULT_SETTINGS`` in tests/conftest.py so that ``tests.support`` computes the same
# user ids and default bucket ids as the in-process tests.
BASE_SETTINGS: dict[str, str] = {
    "kinto.userid_hmac_secret": SECRET,
    "kinto.includes": "kinto_clone.plugins.default_bucket",
    "kinto.bucket_create_principals": "system.Authenticated",
    "multiauth.policies": "basicauth",
}


def settings_for(backend: str, url: str | None = None) -> dict[str, str]:
    """Ini settings selecting the ``backend`` pair; SQL backends need their ``url``."""
    if backend == "memory":
        return {
            "kinto.storage_backend": "kinto_clone.storage.memory",
            "kinto.permission_backend": "kinto_clone.permission.memory",
        }
    if backend not in ("sqlite", "postgresql") or not url:
        raise ValueError(f"unknown backend {backend!r} or missing url")
    return {
        "kinto.storage_backend": "kinto_clone.storage.sql",
        "kinto.storage_url": url,
        "kinto.permission_backend": "kinto_clone.permission.sql",
        "kinto.permission_url": url,
    }


def write_ini(path: Path, settings: Mapping[str, str]) -> Path:
    """Write a paste-deploy ini serving ``settings`` with waitress on ``%(http_port)s``."""
    # ConfigParser interpolates ``%``: a literal one in a value must be doubled.
    app_lines = [f"{key} = {str(value).replace('%', '%%')}" for key, value in settings.items()]
    path.write_text(
        "\n".join(
            [
                "[app:main]",
                "use = egg:kinto_clone",
                *app_lines,
                "",
                "[server:main]",
                "use = egg:waitress#main",
                "host = 127.0.0.1",
                "port = %(http_port)s",
                "",
            ]
        )
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment() -> dict[str, str]:
    """Our environment minus ``KINTO_*`` variables, plus the repository on the path.

    The server reads ``KINTO_<SETTING>`` variables as setting overrides (and ``KINTO_INI``
    for the root ``config`` section); a stray one in a developer's shell must not change
    what the tests see.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINTO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kinto_clone", *args]


def migrate(ini: Path, workdir: Path) -> None:
    """Run ``kinto_clone migrate``; fail the test with its output if it fails."""
    try:
        done = subprocess.run(
            _cli("migrate", "--ini", str(ini)),
            cwd=workdir,
            env=server_environment(),
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`kinto_clone migrate` did not finish in {exc.timeout} s")
    if done.returncode != 0:
        pytest.fail(
            f"`kinto_clone migrate --ini {ini}` exited with {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within a few seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _output(workdir: Path, attempt: int) -> str:
    parts = []
    for stream in ("stdout", "stderr"):
        path = workdir / f"server-{attempt}.{stream}"
        text = path.read_text(errors="replace") if path.exists() else ""
        parts.append(f"--- {stream} ---\n{text}")
    return "\n".join(parts)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _start(ini: Path, workdir: Path, attempt: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start one server; return it with its base URL, or fail with what it printed.

    Returns the base URL ``""`` when the port was taken, so that the caller tries another.
    """
    port = free_port()
    with (
        open(workdir / f"server-{attempt}.stdout", "wb") as out,
        open(workdir / f"server-{attempt}.stderr", "wb") as err,
    ):
        process = subprocess.Popen(
            _cli("start", "--ini", str(ini), "--port", str(port)),
            cwd=workdir,
            env=server_environment(),
            stdout=out,
            stderr=err,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = _output(workdir, attempt)
            if "address already in use" in output.lower() and attempt + 1 < PORT_ATTEMPTS:
                return process, ""
            pytest.fail(f"the server exited with {process.returncode} on start\n{output}")
        if _answers(f"{base_url}/__lbheartbeat__"):
            return process, base_url
        time.sleep(0.05)
    stop(process)
    pytest.fail(
        f"the server did not answer GET /v1/__lbheartbeat__ within {START_TIMEOUT_SECONDS} s\n"
        + _output(workdir, attempt)
    )


@contextmanager
def serve(workdir: Path, settings: Mapping[str, str]) -> Iterator[str]:
    """Serve ``BASE_SETTINGS`` overridden by ``settings``; yield the ``.../v1`` base URL."""
    ini = write_ini(workdir / "kinto.ini", {**BASE_SETTINGS, **settings})
    if settings.get("kinto.storage_url") or settings.get("kinto.permission_url"):
        migrate(ini, workdir)
    for attempt in range(PORT_ATTEMPTS):
        process, base_url = _start(ini, workdir, attempt)
        if base_url:
            break
    try:
        yield base_url
    finally:
        stop(process)
