"""Attachments on a live server, driven by the official clients (issue 11).

kinto-http's ``add_attachment``, ``download_attachment`` (which joins the capability's
``base_url`` and the record's ``location``) and ``remove_attachment``; kinto-wizard's dump
of a collection with ``--attachments`` (it downloads every file next to the YAML) and its
load into another server (it uploads them again).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from kinto_http import Client, KintoException

from tests.e2e.conftest import _server_on
from tests.server import server_environment

PLUGINS = "kinto_clone.plugins.default_bucket kinto_attachment"
LIVE_SERVER_SETTINGS = {"kinto.includes": PLUGINS, "attachment.extensions": "default+pem"}
ALICE = ("alice", "alicepassword")
# Its console script, run with our interpreter (``python -m kinto_wizard`` defines main
# without calling it). kinto-wizard 6 calls ``itertools.batched``, new in Python 3.12; we
# run on 3.11, so the runner gives it one first.
WIZARD = """
import itertools
def batched(items, size):
    items = list(items)
    return [tuple(items[i:i + size]) for i in range(0, len(items), size)]
itertools.batched = getattr(itertools, "batched", batched)
from kinto_wizard.__main__ import main
main()
"""


def client(url: str, bucket: str, auth: tuple[str, str] = ALICE) -> Client:
    return Client(server_url=url, auth=auth, bucket=bucket, collection="certs", timeout=10)


def world(url: str, bucket: str) -> Client:
    alice = client(url, bucket)
    alice.create_bucket(id=bucket)
    alice.create_collection(id="certs")
    return alice


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_kinto_http_adds_downloads_and_removes_an_attachment(
    shared_live_server: str, tmp_path: Path
) -> None:
    alice = world(shared_live_server, "http-client")
    content = b"-----BEGIN CERTIFICATE-----\n" + bytes(range(256)) * 400
    source = write(tmp_path / "intermediate.pem", content)

    metadata = alice.add_attachment(
        id="cert1",
        filepath=str(source),
        data={"issuer": "x"},
        permissions={"read": ["system.Everyone"]},
    )

    assert metadata["hash"] == hashlib.sha256(content).hexdigest()
    assert metadata["size"] == len(content)
    assert metadata["filename"] == "intermediate.pem"
    assert metadata["mimetype"] == "application/x-pem-file"
    record = alice.get_record(id="cert1")
    assert record["data"]["attachment"] == metadata and record["data"]["issuer"] == "x"
    saved = alice.download_attachment(record["data"], filepath=str(tmp_path / "out"))
    assert Path(saved).read_bytes() == content
    anonymous = requests.get(metadata["location"], timeout=10)
    assert anonymous.status_code == 200 and anonymous.headers["ETag"] == f'"{metadata["hash"]}"'

    alice.remove_attachment(id="cert1")

    assert alice.get_record(id="cert1")["data"]["attachment"] is None
    assert requests.get(metadata["location"], timeout=10).status_code == 404


def test_kinto_http_sees_refused_uploads_as_errors(shared_live_server: str, tmp_path: Path) -> None:
    world(shared_live_server, "http-refused")
    source = write(tmp_path / "tool.exe", b"MZ")
    with pytest.raises(KintoException) as refused:
        client(shared_live_server, "http-refused").add_attachment(id="r", filepath=str(source))
    assert refused.value.response.status_code == 400
    bob = client(shared_live_server, "http-refused", auth=("bob", "bobpassword"))
    with pytest.raises(KintoException) as forbidden:
        bob.add_attachment(id="r", filepath=str(write(tmp_path / "a.txt", b"a")))
    assert forbidden.value.response.status_code == 403


def wizard(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WIZARD, *args],
        cwd=cwd,
        env=server_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kinto_wizard_dumps_and_loads_a_collection_with_attachments(
    shared_live_server: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    alice = world(shared_live_server, "wizard")
    files = {f"r{i}": bytes([i]) * (1000 * i + 1) for i in range(1, 4)}
    for record_id, content in files.items():
        alice.add_attachment(
            id=record_id,
            filepath=str(write(tmp_path / f"{record_id}.txt", content)),
            data={"n": record_id},
        )
    alice.create_record(id="plain", data={"n": "no file"})
    folder = tmp_path / "dumped"
    auth = "alice:alicepassword"
    dumped = wizard(
        "dump",
        "--server",
        shared_live_server,
        "--auth",
        auth,
        "--full",
        "--bucket",
        "wizard",
        "--attachments",
        str(folder),
        cwd=tmp_path,
    )
    (tmp_path / "dump.yaml").write_text(dumped)
    assert (
        len([p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")])
        == 3
    )

    (tmp_path / "target").mkdir()
    with _server_on(backend, request, tmp_path / "target", LIVE_SERVER_SETTINGS) as target:
        wizard(
            "load",
            "--server",
            target,
            "--auth",
            auth,
            "--attachments",
            str(folder),
            str(tmp_path / "dump.yaml"),
            cwd=tmp_path,
        )
        loaded = client(target, "wizard")
        records = {r["id"]: r for r in loaded.get_records()}
        assert set(records) == {*files, "plain"}
        assert "attachment" not in records["plain"]
        for record_id, content in files.items():
            attachment: dict[str, Any] = records[record_id]["attachment"]
            assert attachment["hash"] == hashlib.sha256(content).hexdigest()
            assert attachment["filename"] == f"{record_id}.txt"
            assert attachment["location"].startswith(target)  # stored by the target
            assert requests.get(attachment["location"], timeout=10).content == content
            assert records[record_id]["n"] == record_id
