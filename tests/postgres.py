"""Find a PostgreSQL server for the tests, or start a throwaway cluster.

Order: ``$KINTO_CLONE_TEST_POSTGRES_URL``; a server on 127.0.0.1:5432 (user postgres);
else, when PostgreSQL is installed, ``initdb`` a cluster in a temporary folder and start it
on a free port (as the ``postgres`` user when running as root). Returns None only when no
PostgreSQL is installed at all; ``required_server_url()`` then skips the test (fails it with
``CI=true``: CI runs every test).
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg2
import pytest


def _answers(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _run(cmd: list[str], as_postgres: bool) -> None:
    if as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _start_cluster() -> str | None:
    bindir = _pg_bin()
    if bindir is None:
        return None
    as_postgres = os.geteuid() == 0
    datadir = tempfile.mkdtemp(prefix="kinto-clone-pg-")
    if as_postgres:
        shutil.chown(datadir, "postgres", "postgres")
    port = _free_port()
    initdb = [f"{bindir}/initdb", "-D", datadir, "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    _run(initdb, as_postgres)
    _run(
        [
            f"{bindir}/pg_ctl",
            "-D",
            datadir,
            "-w",
            "-l",
            f"{datadir}/log",
            "-o",
            f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        as_postgres,
    )

    def stop() -> None:
        subprocess.run(
            (["runuser", "-u", "postgres", "--"] if as_postgres else [])
            + [f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(datadir, ignore_errors=True)

    atexit.register(stop)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    for _ in range(50):
        if _answers(url):
            return url
        time.sleep(0.1)
    return None


def server_url() -> str | None:
    """URL of a PostgreSQL server's maintenance database, or None."""
    url = os.environ.get("KINTO_CLONE_TEST_POSTGRES_URL")
    if url:
        return url
    default = "postgresql://postgres@127.0.0.1:5432/postgres"
    if _answers(default):
        return default
    return _start_cluster()


def required_server_url() -> str:
    """``server_url()``, or skip the test without one (fail it with ``CI=true``)."""
    url = server_url()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is neither running nor installed; CI requires it")
        pytest.skip("PostgreSQL is neither running nor installed")
    return url


def create_database(server: str, name: str) -> str:
    """Create (or recreate) database ``name`` and return its URL."""
    conn = psycopg2.connect(server)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    conn.close()
    return server.rsplit("/", 1)[0] + "/" + name


def drop_database(server: str, name: str) -> None:
    conn = psycopg2.connect(server)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()
