"""Upload and download of a 10 MB attachment: throughput and server memory (issue 11).

For each backend (SQLite file, PostgreSQL, memory) this starts the real server (its CLI,
waitress, the ``kinto_attachment`` plugin with files in the database), uploads a 10 MB
file ``--rounds`` times (each to a new record, random bytes so that no copy is shared)
and downloads each once, streamed, checking its sha256. It reports MB/s (10^6 bytes per
second, client-side wall time of whole requests) and the server's resident memory: after
start-up and a warm-up upload, then its peak (``VmHWM``, reset through
``/proc/PID/clear_refs``) while uploading and while downloading. A peak above the warmed-up
baseline, in file sizes, says how many copies of a file the server held at once (on the
memory backend the stored files themselves are in memory: each upload adds one).

Usage: ``.venv/bin/python bench/attachments.py [--backends sqlite,postgresql,memory]
[--size-mb 10] [--rounds 5]``. Prints a markdown table, also written to
``bench/out/attachments.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from servers import ROOT, Server, ServerSpec  # noqa: E402

AUTH = ("alice", "secret")
RECORDS = "/buckets/bench/collections/files/records"
DATABASE = "bench_attachments"


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for {pid}")


def _reset_peak(pid: int) -> int:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS; return that, in KiB."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    return _status_kb(pid, "VmRSS")


def start_server(backend: str, workdir: Path, max_size: int) -> Server:
    """Ours on ``backend`` with the attachments plugin, files in the database."""
    settings = {
        "kinto.includes": "kinto_attachment",
        "attachment.extensions": "any",
        "attachment.max_size_bytes": str(max_size),
    }
    server = Server(ServerSpec("ours", backend, db=DATABASE, settings=settings, workdir=workdir))
    server.start(fresh=True)
    return server


def run(backend: str, size: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(backend, Path(tmp), max_size=size * 2)
        base = server.base_url + "/v1"
        pid = server.proc.pid
        try:
            http = requests.Session()
            http.auth = AUTH
            http.put(f"{base}/buckets/bench", json={}).raise_for_status()
            http.put(f"{base}/buckets/bench/collections/files", json={}).raise_for_status()
            warm = os.urandom(size)
            http.post(
                f"{base}{RECORDS}/warm/attachment", files={"attachment": ("warm.bin", warm)}
            ).raise_for_status()
            baseline = _reset_peak(pid)
            uploaded: list[tuple[str, str]] = []
            upload_seconds = 0.0
            for n in range(rounds):
                content = os.urandom(size)
                started = time.perf_counter()
                resp = http.post(
                    f"{base}{RECORDS}/r{n}/attachment", files={"attachment": (f"f{n}.bin", content)}
                )
                upload_seconds += time.perf_counter() - started
                resp.raise_for_status()
                uploaded.append((resp.json()["location"], hashlib.sha256(content).hexdigest()))
            upload_peak = _status_kb(pid, "VmHWM")
            _reset_peak(pid)
            download_seconds = 0.0
            for location, digest in uploaded:
                started = time.perf_counter()
                sha = hashlib.sha256()
                with requests.get(location, stream=True) as got:
                    got.raise_for_status()
                    for block in got.iter_content(256 * 1024):
                        sha.update(block)
                download_seconds += time.perf_counter() - started
                assert sha.hexdigest() == digest, "downloaded file differs"
            download_peak = _status_kb(pid, "VmHWM")
        finally:
            server.stop()
    total_mb = size * rounds / 1e6
    return {
        "upload_mb_s": total_mb / upload_seconds,
        "download_mb_s": total_mb / download_seconds,
        "rss_baseline_mb": baseline / 1024,
        "upload_peak_mb": upload_peak / 1024,
        "download_peak_mb": download_peak / 1024,
        "upload_copies": (upload_peak - baseline) * 1024 / size,
        "download_copies": (download_peak - baseline) * 1024 / size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql,memory")
    parser.add_argument("--size-mb", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = int(args.size_mb * 1e6)
    lines = [
        f"Attachment of {size / 1e6:g} MB, {args.rounds} uploads and downloads "
        f"(commit {_commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "| backend | upload MB/s | download MB/s | RSS after warm-up | RSS peak uploading "
        "| RSS peak downloading | peaks - warm-up, in file sizes (up / down) |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend in args.backends.split(","):
        r = run(backend, size, args.rounds)
        lines.append(
            f"| {backend} | {r['upload_mb_s']:.1f} | {r['download_mb_s']:.1f} | "
            f"{r['rss_baseline_mb']:.1f} MB | {r['upload_peak_mb']:.1f} MB | "
            f"{r['download_peak_mb']:.1f} MB | {r['upload_copies']:.2f} / "
            f"{r['download_copies']:.2f} |"
        )
        print(lines[-1], flush=True)
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "attachments.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
