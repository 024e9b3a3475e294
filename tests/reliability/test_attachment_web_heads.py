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

from tests import server
from tests.reliability.conftest import behind_nginx, nginx_binary, web_heads
from tests.support import ALICE

FOLDERS = ("/buckets/files", "/buckets/files/collections/certs")
RECORDS = f"{FOLDERS[1]}/records"
TIMEOUT = 30


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """(nginx URL, [head 1 URL, head 2 URL]), with the attachments plugin on."""
    nginx_binary()  # skip (or fail on CI) without nginx
    workdir = tmp_path_factory.mktemp("attachment-heads")
    settings = {"kinto.includes": "kinto_attachment"}
    with (
        web_heads(workdir, "attachment_heads", settings) as heads,
        behind_nginx(workdir, heads) as nginx_url,
    ):
        server.create(server.session_as(ALICE), nginx_url, *FOLDERS, timeout=TIMEOUT)
        yield nginx_url, heads


def upload(base: str, record: str, content: bytes) -> requests.Response:
    return requests.post(
        f"{base}{RECORDS}/{record}/attachment",
        headers=ALICE,
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
    record = requests.get(f"{head2}{RECORDS}/one", headers=ALICE, timeout=TIMEOUT).json()
    assert record["data"]["attachment"]["hash"] == digest

    removed = requests.delete(f"{head2}{RECORDS}/one/attachment", headers=ALICE, timeout=TIMEOUT)
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
