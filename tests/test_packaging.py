"""The package installed the ordinary way (``pip install .``, not ``-e``) works on its own.

A fresh virtual environment gets the package from a copy of this checkout, dependencies
from the package index (pip's cache makes a second run quick). Then the installed
``kinto-clone`` command writes an ini (``init``), creates the SQLite schema (``migrate``:
it needs the migrations shipped inside the package, not the checkout's folder) and serves
(``start``), and ``GET /v1/`` answers over HTTP. Everything runs with the fresh
environment's own executables, from a folder outside the checkout, so that nothing of the
checkout can be imported by accident.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
import requests

from tests.server import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT_SECONDS = 600
COMMAND_TIMEOUT_SECONDS = 120
START_TIMEOUT_SECONDS = 30
# What a checkout holds besides the sources: never part of what pip is given.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-*",
    "build",
    "dist",
    "*.egg-info",
    "data",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".coverage",
    "htmlcov",
    "out",
)

pytestmark = pytest.mark.packaging


def run(*args: str | Path, cwd: Path, timeout: float = COMMAND_TIMEOUT_SECONDS) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert done.returncode == 0, (
        f"{args} exited with {done.returncode}\n"
        f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin/`` folder of a fresh venv holding the package, installed from a copy."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCES)
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run(
        bin_dir / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        str(source),
        cwd=base,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    return bin_dir


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = run(
        installed / "python", "-c", "import kinto_clone; print(kinto_clone.__file__)", cwd=tmp_path
    )
    assert "site-packages" in where and not where.startswith(str(REPO_ROOT))
    assert (
        run(installed / "kinto-clone", "version", cwd=tmp_path).strip()
        == run(
            sys.executable,
            "-c",
            "import kinto_clone; print(kinto_clone.__version__)",
            cwd=REPO_ROOT,
        ).strip()
    )


def test_an_installed_server_is_initialised_migrated_and_started(
    installed: Path, tmp_path: Path
) -> None:
    kinto = installed / "kinto-clone"
    run(kinto, "init", "--ini", "kinto.ini", "--backend", "sqlite", cwd=tmp_path)
    migrated = run(kinto, "migrate", "--ini", "kinto.ini", cwd=tmp_path)
    assert list(tmp_path.glob("**/*.sqlite")), migrated
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [str(kinto), "start", "--ini", "kinto.ini", "--port", str(port)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        answer = _first_answer(f"http://127.0.0.1:{port}/v1/", server, tmp_path / "server.log")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/json")
        body = answer.json()
        assert body["project_name"] == "kinto"
        assert body["http_api_version"] == "1.23"
        assert body["url"] == f"http://127.0.0.1:{port}/v1/"
        # The schema the installed migrations created is the one the server writes to.
        created = requests.put(
            f"http://127.0.0.1:{port}/v1/buckets/installed", auth=("alice", "secret"), timeout=10
        )
        assert created.status_code == 201, created.text
        # `init` writes an ini whose server also serves the change streams, on the same port.
        collection = f"http://127.0.0.1:{port}/v1/buckets/installed/collections/tasks"
        requests.put(collection, auth=("alice", "secret"), timeout=10).raise_for_status()
        with requests.get(
            f"{collection}/records",
            auth=("alice", "secret"),
            headers={"Accept": "text/event-stream"},
            stream=True,
            timeout=10,
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["Content-Type"].startswith("text/event-stream")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _first_answer(url: str, server: subprocess.Popen[bytes], log: Path) -> requests.Response:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"the installed server exited with {server.returncode}:\n"
                f"{log.read_text(errors='replace')}"
            )
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(
        f"no answer from {url} in {START_TIMEOUT_SECONDS} s:\n{log.read_text(errors='replace')}"
    )
