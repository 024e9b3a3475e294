"""The two servers the differential test compares, both as real HTTP servers.

- ``kinto(workdir, db_url)``: the real Kinto 26.5.0, from the venv ``setup-kinto.sh``
  creates from PyPI (``KINTO_CLONE_DIFF_KINTO`` may name another ``kinto`` executable of
  that version), on a PostgreSQL database of its own, migrated with ``kinto migrate``.
- ``ours(workdir, backend, db_url)``: kinto_clone through ``tests/server.py`` on SQLite or
  PostgreSQL.

Both get the settings of ``tests/server.py``'s ``BASE_SETTINGS`` (Basic Auth, the HMAC
secret of the other tests), so user ids and personal bucket ids are the same on both,
those of ``SHARED`` (a memory cache, so both heartbeats check one), and their own default
bucket and flush plugins. The flush endpoint gives every sequence an empty server without
a restart.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import server

HERE = Path(__file__).resolve().parent
KINTO_VERSION = "26.5.0"
SETUP_TIMEOUT_SECONDS = 900.0
START_TIMEOUT_SECONDS = 60.0

# Kinto's name of the memory cache; ours takes it as an alias of its own.
SHARED = {"kinto.cache_backend": "kinto.core.cache.memory"}
# Kinto's own CLI logs every request at INFO; these sections keep WARNING and above.
KINTO_LOGGING = "\n" + (server.REPO_ROOT / "config" / "logging-warning.ini").read_text()


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


def kinto_ini(path: Path, db_url: str) -> Path:
    kinto_settings = {
        **server.BASE_SETTINGS,
        "kinto.includes": "kinto.plugins.default_bucket kinto.plugins.flush",
        "kinto.storage_backend": "kinto.core.storage.postgresql",
        "kinto.storage_url": db_url,
        "kinto.permission_backend": "kinto.core.permission.postgresql",
        "kinto.permission_url": db_url,
        **SHARED,
    }
    return server.write_ini(path, kinto_settings, use="egg:kinto", tail=KINTO_LOGGING)


@contextmanager
def kinto(workdir: Path, db_url: str) -> Iterator[str]:
    """Serve the real Kinto on ``db_url``; yield its ``.../v1`` base URL."""
    executable = kinto_executable()
    ini = kinto_ini(workdir / "kinto-real.ini", db_url)
    env = server.server_environment()
    env.pop("PYTHONPATH", None)  # Kinto's venv must not see our package
    server.migrate(ini, workdir, command=[executable], env=env)
    with server.running(
        ini, workdir, "kinto-real", command=[executable], env=env, timeout=START_TIMEOUT_SECONDS
    ) as (_, base_url):
        yield base_url


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
    # Next to a Kinto starting on the same cores (CI runs the backends on two workers at
    # once) a start can take longer than tests/server.py's usual wait.
    with server.serve(workdir, settings, timeout=START_TIMEOUT_SECONDS) as base_url:
        yield base_url
