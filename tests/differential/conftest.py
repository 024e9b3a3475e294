"""Fixtures of the differential test: the real Kinto and ours, each a real HTTP server.

- ``kinto_url``: Kinto 26.5.0 (installed by ``setup-kinto.sh`` on first use) on a
  PostgreSQL database of its own, one per worker process; shared by the module.
- ``ours_url``: kinto_clone on ``ours_backend`` (``sqlite``: a file; ``postgresql``: a
  database of its own), shared by the module for that backend.

Both are emptied through ``POST /__flush__`` before every sequence. A missing PostgreSQL
skips, except with ``CI=true`` where it fails. The terminal summary prints what was
compared (the tests record it in their ``user_properties``, which also cross xdist).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.differential import servers


@pytest.fixture(scope="module")
def kinto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = postgres.required_server_url()
    name = f"kinto_clone_diff_kinto_{os.getpid()}"
    db_url = postgres.create_database(server, name)
    try:
        with servers.kinto(tmp_path_factory.mktemp("kinto"), db_url) as url:
            yield url
    finally:
        postgres.drop_database(server, name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ours_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def ours_url(ours_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp(f"ours-{ours_backend}")
    if ours_backend == "sqlite":
        with servers.ours(workdir, "sqlite") as url:
            yield url
        return
    server = postgres.required_server_url()
    name = f"kinto_clone_diff_ours_{os.getpid()}"
    db_url = postgres.create_database(server, name)
    try:
        with servers.ours(workdir, "postgresql", db_url) as url:
            yield url
    finally:
        postgres.drop_database(server, name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = []
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
        "failed", []
    ):
        for key, value in getattr(report, "user_properties", []):
            if key == "differential":
                lines.append(str(value))
    if lines:
        terminalreporter.write_sep("-", "differential test against Kinto 26.5.0")
        for line in lines:
            terminalreporter.write_line(line)
