"""Start, stop and measure the two servers under test: the real Kinto and kinto_clone.

Both get the same settings where they overlap: waitress with 1 process x 4 threads, Basic
Auth, `bucket_create_principals = system.Authenticated`, no history plugin, logging at
WARNING (a per-request access log would cost both of them CPU), and their own dedicated
PostgreSQL database, dropped and recreated before each start.

`Meter` samples CPU times from /proc so that a load window can be attributed to the server
(its process tree), to PostgreSQL (backends of the bench database plus the cluster's own
background processes, not other people's sessions) and to the load generator.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# BENCH_OURS_TREE: run "ours" from another checkout (its .venv, its code), to compare two
# commits with one harness (e.g. a worktree of an older commit; bench/README.md).
OURS_TREE = Path(os.environ.get("BENCH_OURS_TREE") or ROOT).resolve()
# BENCH_BASE_TREE: the checkout of the server "base", ours at another commit, run in Kinto's
# place (`--servers base,ours`): the two commits alternate run by run, as Kinto and ours do.
BASE_TREE = Path(os.environ.get("BENCH_BASE_TREE") or ROOT).resolve()
TREES = {"ours": OURS_TREE, "base": BASE_TREE}  # the checkout each of our servers runs from
KINTO_VENV = BENCH / ".venv-kinto"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

# WARNING and above: a per-request access log would cost both servers CPU.
LOGGING = "\n" + (ROOT / "config" / "logging-warning.ini").read_text()


def pg_url(db: str) -> str:
    return f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{db}"


def psql(sql: str, db: str = "postgres", timeout: float = 3600) -> str:
    """Run SQL through psql (tuples only, unaligned); raise with psql's message on error."""
    cmd = [
        "psql",
        "-h",
        PG["host"],
        "-p",
        PG["port"],
        "-U",
        PG["user"],
        "-d",
        db,
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"psql failed on {db}: {res.stderr.strip()}\nSQL: {sql[:300]}")
    return res.stdout.strip()


def recreate_database(db: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    psql(f"CREATE DATABASE \"{db}\" ENCODING 'UTF8' TEMPLATE template0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The storage settings of each (server, backend); a SQL backend's ``{url}`` is filled in.
BACKENDS: dict[tuple[str, str], dict[str, str]] = {
    ("kinto", "postgresql"): {
        "kinto.storage_backend": "kinto.core.storage.postgresql",
        "kinto.storage_url": "{url}",
        "kinto.permission_backend": "kinto.core.permission.postgresql",
        "kinto.permission_url": "{url}",
        "kinto.cache_backend": "kinto.core.cache.postgresql",
        "kinto.cache_url": "{url}",
    },
    ("kinto", "memory"): {
        "kinto.storage_backend": "kinto.core.storage.memory",
        "kinto.permission_backend": "kinto.core.permission.memory",
        "kinto.cache_backend": "kinto.core.cache.memory",
    },
    ("ours", "postgresql"): {
        "kinto.storage_backend": "kinto_clone.storage.sql",
        "kinto.storage_url": "{url}",
        "kinto.permission_backend": "kinto_clone.permission.sql",
        "kinto.permission_url": "{url}",
    },
    ("ours", "memory"): {
        "kinto.storage_backend": "kinto_clone.storage.memory",
        "kinto.permission_backend": "kinto_clone.permission.memory",
    },
}
BACKENDS["ours", "sqlite"] = BACKENDS["ours", "postgresql"]


@dataclass
class ServerSpec:
    """What to start: ``name`` "kinto", "ours" or "base" (ours from ``BASE_TREE``),
    ``backend`` "postgresql" or "memory" (and "sqlite" for ours: a file in ``workdir``).
    ``front`` "stream" puts ours behind uvicorn (``egg:kinto_clone#stream``) instead of
    waitress; ``settings`` override app settings (full ini names)."""

    name: str
    backend: str
    port: int = 0
    db: str = ""
    front: str = "waitress"
    settings: dict[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))

    @property
    def uses_pg(self) -> bool:
        return self.backend == "postgresql"

    @property
    def label(self) -> str:
        return self.name if self.front == "waitress" else f"{self.name}-{self.front}"

    def url(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir}/{self.name}.sqlite"
        return pg_url(self.db)

    def app_settings(self) -> dict[str, str]:
        package = "kinto" if self.name == "kinto" else "kinto_clone"
        backends = BACKENDS["kinto" if self.name == "kinto" else "ours", self.backend]
        url = self.url() if "{url}" in backends.get("kinto.storage_url", "") else ""
        return {
            "use": f"egg:{package}",
            "kinto.includes": f"{package}.plugins.default_bucket",
            **{key: value.format(url=url) for key, value in backends.items()},
            "kinto.userid_hmac_secret": "bench",
            "multiauth.policies": "basicauth",
            "kinto.bucket_create_principals": "system.Authenticated",
            **self.settings,
        }

    def ini(self) -> str:
        app = "".join(f"{key} = {value}\n" for key, value in self.app_settings().items())
        if self.front == "stream":
            server = "use = egg:kinto_clone#stream\n"
        else:
            server = "use = egg:waitress#main\nthreads = 4\n"
        return (
            f"[app:main]\n{app}\n[server:main]\n{server}host = 127.0.0.1\n"
            f"port = {self.port}\n" + LOGGING
        )

    def commands(self, ini: Path) -> tuple[list[str] | None, list[str]]:
        """The migrate command (None when there is nothing to create) and the start one."""
        if self.name == "kinto":
            cli = [str(KINTO_VENV / "bin" / "kinto")]
        else:
            cli = [str(TREES[self.name] / ".venv" / "bin" / "python"), "-m", "kinto_clone"]
        migrate = [*cli, "migrate", "--ini", str(ini)] if self.backend != "memory" else None
        return migrate, [*cli, "start", "--ini", str(ini), "--port", str(self.port)]


class Server:
    """One running server; `start()` recreates its database, migrates and waits for /v1/."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.log_path = spec.workdir / f"{spec.label}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"

    def start(self, fresh: bool = True, timeout: float = 90) -> None:
        """fresh: new database and migration; otherwise restart on the kept database."""
        spec = self.spec
        spec.port = spec.port or free_port()
        if spec.uses_pg:
            spec.db = spec.db or f"bench_{spec.name}"
            if fresh:
                recreate_database(spec.db)
        elif spec.backend == "sqlite" and fresh:
            Path(spec.url().removeprefix("sqlite:///")).unlink(missing_ok=True)
        ini = spec.workdir / f"{spec.label}.ini"
        ini.write_text(spec.ini())
        migrate, start = spec.commands(ini)
        cwd = TREES.get(spec.name) or ROOT
        env = dict(os.environ, PYTHONUNBUFFERED="1", KINTO_INI=str(ini))
        env.pop("VIRTUAL_ENV", None)
        if migrate and fresh:
            res = subprocess.run(
                migrate, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
            )
            if res.returncode != 0:
                raise RuntimeError(
                    f"{spec.name} migrate failed ({res.returncode}):\n{res.stderr[-3000:]}"
                )
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                start,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{spec.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", spec.port), timeout=1) as s:
                    s.sendall(b"GET /v1/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"{spec.name} did not answer on port {spec.port} in {timeout}s:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def peak_rss_kb(self) -> int:
        return max((_status_kb(pid, "VmHWM") for pid in self.pids()), default=0)

    def rss_kb(self) -> int:
        return sum(_status_kb(pid, "VmRSS") for pid in self.pids())

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's process tree so far."""
        return sum(_ticks(self.pids()).values()) / CLK_TCK

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


# --- /proc sampling -------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, utime+stime ticks) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return comm, int(rest[1]), int(rest[11]) + int(rest[12])


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st:
            children.setdefault(st[1], []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _pg_pids(db: str | None) -> list[int]:
    """PostgreSQL processes that belong to this bench: the backends of `db` and the
    cluster's background processes (checkpointer, walwriter...), not other databases'."""
    pids = []
    for pid in _all_pids():
        st = _stat(pid)
        if not st or st[0] != "postgres":
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parts = cmd.split()
        # backends look like "postgres: <user> <db> <host>(<port>) <state>"
        is_backend = len(parts) >= 4 and parts[0] == "postgres:" and "(" in parts[3]
        if not is_backend or (db is not None and parts[2] == db):
            pids.append(pid)
    return pids


def _ticks(pids: list[int]) -> dict[int, int]:
    out = {}
    for pid in pids:
        st = _stat(pid)
        if st:
            out[pid] = st[2]
    return out


class Meter:
    """CPU deltas (ms) over a window: server tree, PostgreSQL, generator (this process and
    its waited-for children such as wrk), and everything else on the machine (noise)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.db = server.spec.db if server.spec.uses_pg else None

    def __enter__(self) -> Meter:
        self._srv = _ticks(self.server.pids())
        self._pg = _ticks(_pg_pids(self.db)) if self.db else {}
        self._gen = _self_cpu()
        self._total = _machine_busy_ticks()
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.monotonic() - self._t0
        srv = _ticks(self.server.pids())
        pg = _ticks(_pg_pids(self.db)) if self.db else {}
        self.server_ms = _delta(self._srv, srv)
        self.pg_ms = _delta(self._pg, pg)
        self.gen_ms = (_self_cpu() - self._gen) * 1000
        busy_ms = (_machine_busy_ticks() - self._total) * 1000 / CLK_TCK
        self.other_ms = max(0.0, busy_ms - self.server_ms - self.pg_ms - self.gen_ms)


def _delta(before: dict[int, int], after: dict[int, int]) -> float:
    ticks = sum(max(0, t - before.get(pid, 0)) for pid, t in after.items())
    return ticks * 1000 / CLK_TCK


def _self_cpu() -> float:
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals[:8]) - idle


def wait_quiet(max_wait: float, threshold_cores: float = 0.25, probe_s: float = 1.0) -> float:
    """Wait (at most max_wait seconds) until the machine is nearly idle between windows, so
    other people's test runs do not land in a measurement. Returns the last busy level (in
    cores) seen; the caller reports it."""
    deadline = time.monotonic() + max_wait
    while True:
        before = _machine_busy_ticks()
        time.sleep(probe_s)
        busy = (_machine_busy_ticks() - before) / CLK_TCK / probe_s
        if busy < threshold_cores or time.monotonic() >= deadline:
            return busy
