"""Attachments with two web heads behind nginx (config/nginx.conf) on one PostgreSQL.

The files live in the database, so the heads share nothing else: a file uploaded through
one head is downloadable through the other and through nginx, with its hash; removing it
through one head makes it gone on both. Uploads through nginx get locations that lead
back through nginx (it passes the Host header on).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator

import pytest
import requests

from tests import postgres, server
from tests.reliability.conftest import (
    nginx_binary,
    postgres_server,
    render_nginx_conf,
    run_nginx,
    start_head,
)

ALICE = ("alice", "alicepassword")
RECORDS = "/buckets/files/collections/certs/records"
TIMEOUT = 30


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """(nginx URL, [head 1 URL, head 2 URL]), with the attachments plugin on."""
    nginx_binary()  # skip (or fail on CI) without nginx
    maintenance = postgres_server()
    workdir = tmp_path_factory.mktemp("attachment-heads")
    name = f"kinto_clone_attachment_heads_{os.getpid()}"
    db_url = postgres.create_database(maintenance, name)
    processes = []
    try:
        ini = server.write_ini(
            workdir / "kinto.ini",
            {
                **server.BASE_SETTINGS,
                **server.settings_for("postgresql", db_url),
                "kinto.includes": "kinto_attachment",
                "kinto.storage_pool_size": "4",
            },
        )
        server.migrate(ini, workdir)
        heads = []
        for index in (1, 2):
            process, url = start_head(ini, workdir, f"head-{index}")
            processes.append(process)
            heads.append(url)
        ports = [int(url.split(":")[2].split("/")[0]) for url in heads]
        listen_port = server.free_port()
        conf = render_nginx_conf(workdir, listen_port, ports)
        with run_nginx(conf, workdir, listen_port) as nginx_url:
            session = requests.Session()
            session.auth = ALICE
            for path in ("/buckets/files", "/buckets/files/collections/certs"):
                assert session.put(nginx_url + path, json={}, timeout=TIMEOUT).ok
            yield nginx_url, heads
    finally:
        for process in processes:
            server.stop(process)
        postgres.drop_database(maintenance, name)


def upload(base: str, record: str, content: bytes) -> requests.Response:
    return requests.post(
        f"{base}{RECORDS}/{record}/attachment",
        auth=ALICE,
        timeout=TIMEOUT,
        files={"attachment": ("f.txt", content, "text/plain")},
    )


def test_a_file_uploaded_through_one_head_is_served_by_the_other(
    deployment: tuple[str, list[str]],
) -> None:
    nginx, (head1, head2) = deployment
    content = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(content).hexdigest()
    resp = upload(head1, "one", content)
    assert resp.status_code == 201, resp.text
    for base in (head2, nginx):
        got = requests.get(f"{base}/attachments/{digest}", timeout=TIMEOUT)
        assert got.status_code == 200 and got.headers["ETag"] == f'"{digest}"'
        assert hashlib.sha256(got.content).hexdigest() == digest
        part = requests.get(
            f"{base}/attachments/{digest}", headers={"Range": "bytes=-10"}, timeout=TIMEOUT
        )
        assert part.status_code == 206 and part.content == content[-10:]
    record = requests.get(f"{head2}{RECORDS}/one", auth=ALICE, timeout=TIMEOUT).json()
    assert record["data"]["attachment"]["hash"] == digest

    removed = requests.delete(f"{head2}{RECORDS}/one/attachment", auth=ALICE, timeout=TIMEOUT)
    assert removed.status_code == 204
    assert requests.get(f"{head1}/attachments/{digest}", timeout=TIMEOUT).status_code == 404


def test_uploads_through_nginx_from_several_clients_land_whole_on_either_head(
    deployment: tuple[str, list[str]],
) -> None:
    nginx, heads = deployment
    results: dict[str, tuple[int, str, str]] = {}

    def client(index: int) -> None:
        for n in range(4):
            content = os.urandom(200_000 + index * 1000 + n)
            resp = upload(nginx, f"c{index}-{n}", content)
            results[f"c{index}-{n}"] = (
                resp.status_code,
                hashlib.sha256(content).hexdigest(),
                resp.json().get("location", ""),
            )

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 8)
        assert not thread.is_alive()
    assert len(results) == 16
    for status, digest, location in results.values():
        assert status == 201
        assert location == f"{nginx}/attachments/{digest}"  # back through nginx
        for base in heads:
            body = requests.get(f"{base}/attachments/{digest}", timeout=TIMEOUT).content
            assert hashlib.sha256(body).hexdigest() == digest
