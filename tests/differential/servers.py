"""The two servers the differential test compares, both as real HTTP servers.

- ``kinto(workdir, db_url)``: the real Kinto 26.5.0, from the venv ``setup-kinto.sh``
  creates from PyPI (``KINTO_CLONE_DIFF_KINTO`` may name another ``kinto`` executable of
  that version), on a PostgreSQL database of its own, migrated with ``kinto migrate``.
- ``ours(workdir, backend, db_url)``: kinto_clone through ``tests/server.py`` on SQLite or
  PostgreSQL.

Both get the settings of ``SHARED``: the default bucket and flush plugins, Basic Auth, and
the HMAC secret of the other tests, so user ids and personal bucket ids are the same on
both. The flush endpoint gives every sequence an empty server without a restart.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
import requests

from tests import server
from tests.support import SECRET

HERE = Path(__file__).resolve().parent
KINTO_VERSION = "26.5.0"
SETUP_TIMEOUT_SECONDS = 900.0
START_TIMEOUT_SECONDS = 60.0

SHARED: dict[str, str] = {
    "kinto.userid_hmac_secret": SECRET,
    "kinto.bucket_create_principals": "system.Authenticated",
    "multiauth.policies": "basicauth",
    "kinto.cache_backend": "kinto.core.cache.memory",
}


def kinto_executable() -> str:
    """Path of a ``kinto`` 26.5.0 executable; installs it on first use."""
    given = os.environ.get("KINTO_CLONE_DIFF_KINTO")
    if given:
        return given
    done = subprocess.run(
        [str(HERE / "setup-kinto.sh")],
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"installing Kinto {KINTO_VERSION} failed\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def kinto_ini(path: Path, db_url: str, settings: Mapping[str, str]) -> Path:
    lines = [
        "[app:main]",
        "use = egg:kinto",
        "kinto.includes = kinto.plugins.default_bucket kinto.plugins.flush",
        *(f"{key} = {value}" for key, value in settings.items()),
        "kinto.storage_backend = kinto.core.storage.postgresql",
        f"kinto.storage_url = {db_url}",
        "kinto.permission_backend = kinto.core.permission.postgresql",
        f"kinto.permission_url = {db_url}",
        "",
        "[server:main]",
        "use = egg:waitress#main",
        "host = 127.0.0.1",
        "port = %(http_port)s",
        "",
        "[loggers]",
        "keys = root",
        "[handlers]",
        "keys = console",
        "[formatters]",
        "keys = plain",
        "[logger_root]",
        "level = WARNING",
        "handlers = console",
        "[handler_console]",
        "class = StreamHandler",
        "args = (sys.stderr,)",
        "level = NOTSET",
        "formatter = plain",
        "[formatter_plain]",
        "format = %%(levelname)s [%%(name)s] %%(message)s",
        "",
    ]
    path.write_text("\n".join(lines))
    return path


def _wait(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Kinto exited with {process.returncode}\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base_url}/__lbheartbeat__", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop(process)
    pytest.fail(f"Kinto did not start in {START_TIMEOUT_SECONDS} s\n{log.read_text()[-3000:]}")


@contextmanager
def kinto(workdir: Path, db_url: str) -> Iterator[str]:
    """Serve the real Kinto on ``db_url``; yield its ``.../v1`` base URL."""
    executable = kinto_executable()
    ini = kinto_ini(workdir / "kinto-real.ini", db_url, SHARED)
    env = server.server_environment()
    env.pop("PYTHONPATH", None)  # Kinto's venv must not see our package
    log = workdir / "kinto-real.log"
    migrated = subprocess.run(
        [executable, "migrate", "--ini", str(ini)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if migrated.returncode != 0:
        pytest.fail(f"kinto migrate failed\n{migrated.stdout}\n{migrated.stderr}")
    port = server.free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [executable, "start", "--ini", str(ini), "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait(process, base_url, log)
        yield base_url
    finally:
        server.stop(process)


@contextmanager
def ours(workdir: Path, backend: str, db_url: str | None = None) -> Iterator[str]:
    """Serve kinto_clone on ``backend`` (``sqlite`` or ``postgresql``)."""
    if backend == "sqlite":
        db_url = f"sqlite:///{workdir}/kinto.sqlite"
    settings = {
        **SHARED,
        **server.settings_for(backend, db_url),
        "kinto.includes": "kinto_clone.plugins.default_bucket kinto_clone.plugins.flush",
        # Kinto has no access-revoked tombstones (README, "Revocations"): off, so that
        # _since polls and list ETags after an ACL change compare as Kinto's.
        "kinto.revocation_tombstones": "false",
    }
    # The shared helper waits 15 s for a start; next to a Kinto starting on the same cores
    # (CI runs the backends on two workers at once) a start can take longer.
    with (
        mock.patch.object(server, "START_TIMEOUT_SECONDS", START_TIMEOUT_SECONDS),
        server.serve(workdir, settings) as base_url,
    ):
        yield base_url
