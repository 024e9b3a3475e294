"""Helpers of the reliability tests: real processes, real PostgreSQL, real nginx.

- ``web_heads(workdir, name, settings)``: web heads (``python -m kinto_clone start``
  processes, ``tests/server.py``) on one PostgreSQL database of their own, migrated once.
- ``behind_nginx(workdir, heads)``: nginx configured by config/nginx.conf in front of them.
- ``nginx_binary()``: the nginx executable; skips without one (fails with ``CI=true``).
- ``render_nginx_conf(...)``: ``config/nginx.conf`` with the test's ports and paths.
- ``run_nginx(...)``: nginx in the foreground (``daemon off``), stopped on exit.
- ``Cluster``: a throwaway PostgreSQL cluster on a free port that a test may stop and
  start again (never the machine's shared server).
- ``postgres_server()``: the maintenance URL of a PostgreSQL server for a test database
  (skips without one; fails with ``CI=true``).
- ``Session``: ``requests.Session`` that always sends a timeout, so no call hangs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

from tests import postgres, server

ON_CI = os.environ.get("CI") == "true"
NGINX_CONF = server.REPO_ROOT / "config" / "nginx.conf"
REQUEST_TIMEOUT_SECONDS = 15.0


def missing(what: str) -> None:
    """Skip locally, fail on CI: CI must run every reliability test."""
    if ON_CI:
        pytest.fail(f"{what}; CI requires it")
    pytest.skip(what)


class Session(requests.Session):
    """A session whose requests time out (REQUEST_TIMEOUT_SECONDS unless told)."""

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)


def wait_for(url: str, seconds: float, status: int = 200) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code == status:
                return True
        time.sleep(0.05)
    return False


# --- web heads -------------------------------------------------------------------------


@contextmanager
def web_heads(
    workdir: Path, name: str, settings: Mapping[str, str] | None = None, count: int = 2
) -> Iterator[list[str]]:
    """``count`` web heads on one fresh PostgreSQL database (``kinto_clone_<name>_<pid>``,
    migrated once, dropped on exit), each with a pool of 4 connections and ``settings``;
    yields their base URLs (head-1, head-2... in ``workdir``)."""
    maintenance = postgres_server()
    database = f"kinto_clone_{name}_{os.getpid()}"
    db_url = postgres.create_database(maintenance, database)
    processes = []
    try:
        ini = server.migrated_ini(
            workdir,
            {
                **server.settings_for("postgresql", db_url),
                "kinto.storage_pool_size": "4",
                **(settings or {}),
            },
        )
        urls = []
        for index in range(1, count + 1):
            process, url = server.start(ini, workdir, f"head-{index}")
            processes.append(process)
            urls.append(url)
        yield urls
    finally:
        for process in processes:
            server.stop(process)
        postgres.drop_database(maintenance, database)


@contextmanager
def behind_nginx(workdir: Path, heads: list[str]) -> Iterator[str]:
    """nginx, configured by config/nginx.conf, in front of ``heads``; yields its base URL."""
    listen_port = server.free_port()
    ports = [int(url.split(":")[2].split("/")[0]) for url in heads]
    conf = render_nginx_conf(workdir, listen_port, ports)
    with run_nginx(conf, workdir, listen_port) as url:
        yield url


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- nginx -----------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        missing("nginx is not installed (Debian: apt-get install nginx)")
    return str(found)


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"config/nginx.conf: expected one line matching {pattern!r}"
    return new


def render_nginx_conf(directory: Path, listen_port: int, head_ports: list[int]) -> Path:
    """config/nginx.conf as deployed, but listening on ``listen_port`` in front of
    ``head_ports``, with pid, logs and temporary files in ``directory``.

    Two additions for the test only: ``user root`` when we are root (the workers must
    reach the temporary directory), and an ``X-Upstream`` response header saying which
    head answered.
    """
    text = NGINX_CONF.read_text()
    text = _replace_once(text, r"^\s*listen 80;", f"        listen 127.0.0.1:{listen_port};")
    upstream_lines = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;" for port in head_ports
    )
    text = _replace_once(
        text, r"^\s*server 127\.0\.0\.1:8001 .*\n\s*server 127\.0\.0\.1:8002 .*$", upstream_lines
    )
    text = _replace_once(text, r"^pid .*;$", f"pid {directory}/nginx.pid;")
    text = _replace_once(text, r"^error_log .*;$", f"error_log {directory}/error.log warn;")
    text = _replace_once(text, r"^\s*access_log .*;$", f"    access_log {directory}/access.log;")
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = _replace_once(text, r"^http \{$", "http {\n" + temp_paths)
    text = _replace_once(
        text,
        r"^(\s*)proxy_pass http://kinto_clone;$",
        r"\1proxy_pass http://kinto_clone;\n\1add_header X-Upstream $upstream_addr always;",
    )
    if os.geteuid() == 0:
        text = "user root;\n" + text
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


@contextmanager
def run_nginx(conf: Path, directory: Path, listen_port: int) -> Iterator[str]:
    """Run nginx on ``conf`` in the foreground; yield ``http://127.0.0.1:PORT/v1``."""
    nginx = nginx_binary()
    base = [nginx, "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf)]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"nginx -t failed:\n{checked.stderr}"
    with open(directory / "nginx.stderr", "wb") as err:
        process = subprocess.Popen([*base, "-g", "daemon off;"], stdout=err, stderr=err)
    url = f"http://127.0.0.1:{listen_port}/v1"
    try:
        if not wait_for(f"{url}/__lbheartbeat__", 10):
            log = (directory / "error.log").read_text(errors="replace")
            pytest.fail(f"nginx did not answer on port {listen_port}\n{log}")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # fast shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --- PostgreSQL ------------------------------------------------------------------------


def postgres_server() -> str:
    """Maintenance URL of the PostgreSQL server the tests use (see tests/postgres.py)."""
    return postgres.required_server_url()


class Cluster:
    """A PostgreSQL cluster of our own (initdb in a temporary folder, a free port), which
    a test may stop and start again: the machine's shared server is never touched."""

    def __init__(self) -> None:
        bindir = postgres._pg_bin()
        if bindir is None:
            missing("PostgreSQL is not installed (initdb not found)")
        self.bindir = str(bindir)
        self.as_postgres = os.geteuid() == 0
        self.datadir = tempfile.mkdtemp(prefix="kinto-clone-outage-pg-")
        if self.as_postgres:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.port = server.free_port()
        self._pg(["initdb", "-D", self.datadir, "-U", "postgres", "-A", "trust", "-E", "UTF8"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, command: list[str]) -> None:
        cmd = [f"{self.bindir}/{command[0]}", *command[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(
            [
                "pg_ctl",
                "-D",
                self.datadir,
                "-w",
                "-t",
                "30",
                "-l",
                f"{self.datadir}/log",
                "-o",
                options,
                "start",
            ]
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with suppress(psycopg2.Error):
                psycopg2.connect(self.url, connect_timeout=2).close()
                return
            time.sleep(0.1)
        pytest.fail(f"throwaway PostgreSQL on port {self.port} did not come up")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected, a checkpoint is written; ``immediate``: the
        server is killed outright (a crash, recovered from the WAL at the next start)."""
        self._pg(["pg_ctl", "-D", self.datadir, "-w", "-t", "30", "-m", mode, "stop"])

    def destroy(self) -> None:
        with suppress(AssertionError, subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0
