"""Run the real application in its own process, the way an operator starts it.

- ``serve(workdir, settings)``: writes an ini file like the one in the README, creates the
  schema with ``python -m kinto_clone migrate --ini FILE`` (SQL backends only: the memory
  backends have nothing to create), starts ``python -m kinto_clone start --ini FILE
  --port N`` on a free port, waits for ``GET /v1/__lbheartbeat__`` and yields the base URL
  ``http://127.0.0.1:N/v1``. On exit the process gets SIGTERM, then SIGKILL if it lingers.
- The steps, for tests that restart or kill servers or run several on one database:
  ``migrated_ini(workdir, settings)``, ``start(ini, workdir)`` (the process and its base
  URL; ``stop(process)`` ends it) and ``running(ini, workdir)`` (the two as a context).
  ``start`` also starts other servers of the same command line (the real Kinto).
- ``settings_for(backend, url)`` gives the ini settings of a backend pair (``memory``,
  ``sqlite`` or ``postgresql``); ``database_settings(backend, request, workdir, name)``
  gives them with a database of the test's own (a SQLite file in ``workdir``, a PostgreSQL
  database dropped afterwards). ``tests/e2e/conftest.py`` turns all this into the
  ``live_server`` fixture.

The server writes its output to files in ``workdir`` rather than pipes: a chatty server
can never block on a full pipe, and a failure message can quote what it printed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import requests

from tests import postgres
from tests.support import SECRET

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
MIGRATE_TIMEOUT_SECONDS = 60.0
CLI_TIMEOUT_SECONDS = 60.0
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


def write_ini(
    path: Path, settings: Mapping[str, str], use: str = "egg:kinto_clone", tail: str = ""
) -> Path:
    """Write a paste-deploy ini serving ``settings`` with waitress on ``%(http_port)s``;
    ``use`` names the application, ``tail`` is ini text added as it is (logging...)."""
    # ConfigParser interpolates ``%``: a literal one in a value must be doubled.
    app_lines = [f"{key} = {str(value).replace('%', '%%')}" for key, value in settings.items()]
    path.write_text(
        "\n".join(
            [
                "[app:main]",
                f"use = {use}",
                *app_lines,
                "",
                "[server:main]",
                "use = egg:waitress#main",
                "host = 127.0.0.1",
                "port = %(http_port)s",
                "",
            ]
        )
        + tail
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


def cli(*args: str, cwd: Path | None = None, **options: Any) -> subprocess.CompletedProcess[str]:
    """``python -m kinto_clone ARGS`` run as an operator runs it (``server_environment``),
    its output captured; a failure is returned, not raised. ``options`` go to
    ``subprocess.run`` (``input``, ``start_new_session``...)."""
    return subprocess.run(
        _cli(*args),
        cwd=cwd,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
        **options,
    )


def migrate(
    ini: Path,
    workdir: Path,
    *,
    command: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> None:
    """Run ``COMMAND migrate --ini INI`` (our CLI unless told); fail the test with its
    output if it fails."""
    argv = [*(command or _cli()), "migrate", "--ini", str(ini)]
    try:
        done = subprocess.run(
            argv,
            cwd=workdir,
            env=server_environment() if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`{' '.join(argv)}` did not finish in {exc.timeout} s")
    if done.returncode != 0:
        pytest.fail(
            f"`{' '.join(argv)}` exited with {done.returncode}\n"
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


def migrated_ini(workdir: Path, settings: Mapping[str, str]) -> Path:
    """``workdir/kinto.ini`` serving ``BASE_SETTINGS`` overridden by ``settings``, its
    schema created when it names a SQL database."""
    ini = write_ini(workdir / "kinto.ini", {**BASE_SETTINGS, **settings})
    if settings.get("kinto.storage_url") or settings.get("kinto.permission_url"):
        migrate(ini, workdir)
    return ini


def _output(workdir: Path, name: str) -> str:
    parts = []
    for stream in ("stdout", "stderr"):
        path = workdir / f"{name}.{stream}"
        text = path.read_text(errors="replace") if path.exists() else ""
        parts.append(f"--- {stream} ---\n{text}")
    return "\n".join(parts)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start(
    ini: Path,
    workdir: Path,
    name: str = "server",
    *,
    command: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``COMMAND start --ini INI --port N`` (our CLI unless told) on a free port and
    wait for ``GET /v1/__lbheartbeat__``; return the process and its base URL, or fail the
    test with what it printed (in ``workdir/NAME.stdout`` and ``.stderr``; the folder is
    created if need be)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        with (
            open(workdir / f"{name}.stdout", "wb") as out,
            open(workdir / f"{name}.stderr", "wb") as err,
        ):
            process = subprocess.Popen(
                [*(command or _cli()), "start", "--ini", str(ini), "--port", str(port)],
                cwd=workdir,
                env=server_environment() if env is None else dict(env),
                stdout=out,
                stderr=err,
            )
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(f"{base_url}/__lbheartbeat__"):
                return process, base_url
            time.sleep(0.05)
        stop(process)
        output = _output(workdir, name)
        lost_the_port = "address already in use" in output.lower()
        if not lost_the_port or attempt + 1 == PORT_ATTEMPTS:
            pytest.fail(
                f"{name} did not answer GET /v1/__lbheartbeat__ within {timeout} s "
                f"(exit code {process.returncode})\n{output}"
            )
    raise AssertionError("unreachable")


@contextmanager
def running(
    ini: Path, workdir: Path, name: str = "server", **options: Any
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``start`` as a context: ``(process, base URL)``, stopped on exit."""
    process, base_url = start(ini, workdir, name, **options)
    try:
        yield process, base_url
    finally:
        stop(process)


@contextmanager
def serve(
    workdir: Path, settings: Mapping[str, str], timeout: float = START_TIMEOUT_SECONDS
) -> Iterator[str]:
    """Serve ``BASE_SETTINGS`` overridden by ``settings``; yield the ``.../v1`` base URL."""
    with running(migrated_ini(workdir, settings), workdir, timeout=timeout) as (_, base_url):
        yield base_url


@contextmanager
def own_postgresql(request: pytest.FixtureRequest, name: str) -> Iterator[str]:
    """The URL of a PostgreSQL database of the test's own, named ``name`` and the process
    id, dropped afterwards. It lives on the server of the session database of
    tests/conftest.py (which skips, or fails on CI, without one) but is created from the
    maintenance database: another test session may drop and recreate the session
    database at any time."""
    session_url: str = request.getfixturevalue("postgresql_url")
    maintenance_url = session_url.rsplit("/", 1)[0] + "/postgres"
    database = f"kinto_clone_{name}_{os.getpid()}"
    url = postgres.create_database(maintenance_url, database)
    try:
        yield url
    finally:
        postgres.drop_database(maintenance_url, database)


@contextmanager
def database_settings(
    backend: str, request: pytest.FixtureRequest, workdir: Path, name: str
) -> Iterator[dict[str, str]]:
    """The ini settings of ``backend`` with a database of the test's own: none for memory,
    a SQLite file in ``workdir``, a PostgreSQL database (``own_postgresql``)."""
    if backend == "memory":
        yield settings_for("memory")
    elif backend == "sqlite":
        yield settings_for("sqlite", f"sqlite:///{workdir}/kinto.sqlite")
    else:
        with own_postgresql(request, name) as url:
            yield settings_for("postgresql", url)


def session_as(headers: Mapping[str, str]) -> requests.Session:
    """A ``requests`` session sending ``headers`` (``tests.support.ALICE``...) every time."""
    http = requests.Session()
    http.headers.update(headers)
    return http


def create(http: requests.Session, base_url: str, *paths: str, timeout: float = 10) -> None:
    """PUT an empty object at each of ``paths`` (a bucket, its collection...): 201 each."""
    for path in paths:
        resp = http.put(base_url + path, json={}, timeout=timeout)
        assert resp.status_code == 201, resp.text


class Writer(Protocol):
    """A thread writing to a server until it goes away (tests/e2e durability tests)."""

    acknowledged: Sized  # what the server acknowledged
    unexpected: list[str]  # answers that should not have come; empty if all went well

    def start(self) -> None: ...
    def is_alive(self) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...


def sigkill_while_writing(
    process: subprocess.Popen[bytes],
    writers: Sequence[Writer],
    acknowledged: int,
    seconds: float,
    join_seconds: float,
) -> None:
    """Start ``writers``; once the server acknowledged ``acknowledged`` writes between them
    (within ``seconds``), SIGKILL it while they are still writing. Every writer must then
    end, within ``join_seconds``, with nothing unexpected."""
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + seconds
    while sum(len(w.acknowledged) for w in writers) < acknowledged:
        assert time.monotonic() < deadline, "the writers made no progress"
        assert all(w.is_alive() for w in writers), [w.unexpected for w in writers]
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_SECONDS)
    for writer in writers:
        writer.join(timeout=join_seconds)
        assert not writer.is_alive()
        assert writer.unexpected == []
