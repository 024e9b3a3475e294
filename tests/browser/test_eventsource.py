"""A real browser: headless Chromium (Debian's ``chromium``, driven by Playwright) opens a
page that follows a shared collection with ``EventSource``, as a web app would.

The page is served from the API's own origin (Playwright answers its URL), so that
EventSource sends the Basic credentials the browser holds for that origin, the only ones
EventSource can send (it takes no custom headers).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import server
from tests.stream.conftest import StreamServer, put
from tests.support import auth, userid

CHROMIUM = os.environ.get("KINTO_CLONE_CHROMIUM", "/usr/bin/chromium")
ALICE = auth("alice")

PAGE = """<!doctype html>
<html><body>
<ul id="tasks"></ul>
<script>
  const seen = new Map(); window.events = []; window.opened = 0;
  const source = new EventSource("/v1/buckets/shared/collections/tasks/records");
  source.addEventListener("ready", () => { window.opened += 1; });
  for (const action of ["create", "update", "delete"]) {
    source.addEventListener(action, (e) => {
      const change = JSON.parse(e.data);
      window.events.push([e.lastEventId, change.action, change.data.id]);
      if (change.data.deleted) seen.delete(change.data.id);
      else seen.set(change.data.id, change.data);
      document.getElementById("tasks").innerHTML =
        [...seen.values()].map((t) => `<li id="${t.id}">${t.title}</li>`).join("");
    });
  }
</script>
</body></html>
"""


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, StreamServer]]:
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is not installed; CI requires it (.ci/run installs it)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    running = StreamServer(
        tmp_path,
        {
            **server.settings_for("sqlite", f"sqlite:///{tmp_path}/kinto.sqlite"),
            "kinto.stream_heartbeat_seconds": "1",
            "kinto.stream_retry_ms": "300",
        },
    )
    running.start()
    put(f"{running.url}/buckets/shared", ALICE)
    put(
        f"{running.url}/buckets/shared/collections/tasks",
        ALICE,
        {"permissions": {"read": [userid("bob")]}},
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            context = browser.new_context(
                http_credentials={"username": "bob", "password": "bobpassword"}
            )
            page = context.new_page()
            origin = f"http://127.0.0.1:{running.port}"
            page.route(
                f"{origin}/app.html",
                lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE),
            )
            page.goto(f"{origin}/app.html")
            yield page, running
            browser.close()
    finally:
        running.stop()


def _create(base: str, title: str) -> dict[str, Any]:
    r = requests.post(
        f"{base}/buckets/shared/collections/tasks/records",
        json={"data": {"title": title}},
        headers=ALICE,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


def test_a_page_sees_what_a_sharing_user_writes_and_survives_a_server_restart(
    browser_page: tuple[Any, StreamServer],
) -> None:
    page, running = browser_page
    page.wait_for_function("window.opened === 1", timeout=10_000)
    first = _create(running.url, "Write a tutorial")
    page.wait_for_selector(f"li[id='{first['id']}']", timeout=10_000)
    assert page.inner_text(f"li[id='{first['id']}']") == "Write a tutorial"

    running.restart()  # the stream ends with a "resume" event; EventSource reconnects
    second = _create(running.url, "Survive a restart")
    page.wait_for_selector(f"li[id='{second['id']}']", timeout=15_000)
    assert page.evaluate("window.opened") == 2
    events = page.evaluate("window.events")
    assert events == [
        [str(first["last_modified"]), "create", first["id"]],
        [str(second["last_modified"]), "create", second["id"]],
    ]


def test_a_page_drops_a_record_when_its_reader_loses_access(
    browser_page: tuple[Any, StreamServer],
) -> None:
    page, running = browser_page
    page.wait_for_function("window.opened === 1", timeout=10_000)
    records = f"{running.url}/buckets/shared/collections/tasks/records"
    r = requests.post(
        records,
        json={"data": {"title": "Shared with bob"}, "permissions": {"read": [userid("bob")]}},
        headers=ALICE,
        timeout=10,
    )
    kept = r.json()["data"]
    shared = _create(running.url, "Readable through the collection")
    page.wait_for_selector(f"li[id='{shared['id']}']", timeout=10_000)

    # Bob no longer reads the collection: the record he read through it goes from the
    # page, the one shared with him by its own ACL stays.
    put(f"{running.url}/buckets/shared/collections/tasks", ALICE, {"permissions": {"read": []}})
    page.wait_for_selector(f"li[id='{shared['id']}']", state="detached", timeout=10_000)
    assert page.inner_text(f"li[id='{kept['id']}']") == "Shared with bob"
    last = page.evaluate("window.events")[-1]
    assert last[1:] == ["delete", shared["id"]]
