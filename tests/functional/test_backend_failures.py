"""When the database fails: 503 errno 201 quickly, heartbeats that tell, nothing half-written.

Two kinds of failure. A database that is *down* (its port is closed) or *hung* (it accepts
the connection and never answers): every resource request answers Kinto's 503 (§5.3) with
``Retry-After``, well within a client's patience, and ``__heartbeat__`` says which backend
failed. And a backend call that fails *after* the request wrote something: the request's
transaction rolls back, so nothing of it is stored (§5.3 "Transactions"; §9 for /batch).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest

from kinto_clone.errors import ValidationError, detail
from kinto_clone.storage import BackendError
from tests import server
from tests.conftest import DEFAULT_SETTINGS, build_app
from tests.support import ALICE, BOB_ID, assert_error, create_collection

BUCKET = "/v1/buckets/blog"
COLLECTION = f"{BUCKET}/collections/articles"
RECORDS = f"{COLLECTION}/records"

SERVICE_UNAVAILABLE = {
    "code": 503,
    "errno": 201,
    "error": "Service Unavailable",
    "message": "Service temporary unavailable due to overloading or maintenance, "
    "please retry later.",
}
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/kinto"
# db.py gives up connecting after 5 s; a client must get its answer well before it gives up.
ANSWER_WITHIN_SECONDS = 10.0


@pytest.fixture
def make_dead_app() -> Iterator[Callable[..., webtest.TestApp]]:
    apps: list[webtest.TestApp] = []

    def factory(url: str = CLOSED_PORT_URL, **settings: Any) -> webtest.TestApp:
        app = webtest.TestApp(
            build_app({**DEFAULT_SETTINGS, **server.settings_for("postgresql", url), **settings})
        )
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.app.registry.kinto_clone_close()


@pytest.fixture
def hung_database_url() -> Iterator[str]:
    """A PostgreSQL URL whose server accepts TCP connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes the handshakes; nobody ever reads
        yield f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/kinto"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def assert_service_unavailable(resp: Any, retry_after: str = "3") -> None:
    assert resp.json == SERVICE_UNAVAILABLE
    assert_error(resp, 503, 201, SERVICE_UNAVAILABLE["message"])
    assert resp.headers["Retry-After"] == retry_after


# -- the database is down -----------------------------------------------------------------

RESOURCE_REQUESTS = [
    ("GET", "/v1/buckets", None),
    ("GET", BUCKET, None),
    ("GET", RECORDS, None),
    ("GET", f"{RECORDS}?_since=0", None),
    ("GET", f"{RECORDS}/r1", None),
    ("HEAD", RECORDS, None),
    ("PUT", BUCKET, {}),
    ("POST", RECORDS, {"data": {"title": "x"}}),
    ("PATCH", f"{RECORDS}/r1", {"data": {"title": "x"}}),
    ("DELETE", f"{RECORDS}/r1", None),
    ("DELETE", RECORDS, None),
    ("POST", "/v1/batch", {"requests": [{"method": "PUT", "path": "/buckets/blog"}]}),
]
# Anonymous callers have no default bucket (401 without asking the database).
DEFAULT_BUCKET = ("GET", "/v1/buckets/default/collections/tasks/records", None)
CASES = [("alice", *request) for request in [*RESOURCE_REQUESTS, DEFAULT_BUCKET]] + [
    ("anonymous", *request) for request in RESOURCE_REQUESTS
]


@pytest.mark.parametrize(
    "caller, method, path, body", CASES, ids=[f"{c} {m} {p}" for c, m, p, _ in CASES]
)
def test_a_resource_request_on_a_database_that_is_down_answers_503_at_once(
    make_dead_app: Callable[..., webtest.TestApp],
    caller: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    headers = ALICE if caller == "alice" else {}
    app = make_dead_app()

    content = (
        {}
        if body is None
        else {"body": json.dumps(body).encode(), "content_type": "application/json"}
    )

    resp, seconds = timed(
        lambda: app.request(path, method=method, headers=headers, expect_errors=True, **content)
    )

    assert resp.status_int == 503
    if method != "HEAD":
        assert_service_unavailable(resp)
    assert resp.headers["Retry-After"] == "3"
    assert seconds < ANSWER_WITHIN_SECONDS


def test_retry_after_follows_the_setting(make_dead_app: Callable[..., webtest.TestApp]) -> None:
    app = make_dead_app(retry_after_seconds=30)

    resp = app.get(BUCKET, headers=ALICE, status=503)

    assert_service_unavailable(resp, retry_after="30")


def test_heartbeat_on_a_database_that_is_down_says_which_backends_failed(
    make_dead_app: Callable[..., webtest.TestApp],
) -> None:
    app = make_dead_app()

    resp, seconds = timed(lambda: app.get("/v1/__heartbeat__", status=503))

    assert resp.json == {"storage": False, "permission": False}
    assert "Retry-After" not in resp.headers  # §1.3: none on the heartbeat's 503
    assert seconds < ANSWER_WITHIN_SECONDS


def test_lbheartbeat_answers_200_while_the_database_is_down(
    make_dead_app: Callable[..., webtest.TestApp],
) -> None:
    app = make_dead_app()

    assert app.get("/v1/__lbheartbeat__", status=200).json == {}


# -- the database hangs -------------------------------------------------------------------


def test_a_resource_request_on_a_hung_database_answers_503_within_seconds(
    make_dead_app: Callable[..., webtest.TestApp], hung_database_url: str
) -> None:
    app = make_dead_app(hung_database_url)

    resp, seconds = timed(lambda: app.get(RECORDS, headers=ALICE, expect_errors=True))

    assert resp.status_int == 503
    assert_service_unavailable(resp)
    assert seconds < ANSWER_WITHIN_SECONDS


def test_heartbeat_on_a_hung_database_answers_by_its_timeout(
    make_dead_app: Callable[..., webtest.TestApp], hung_database_url: str
) -> None:
    # A load balancer polls the heartbeat with its own short timeout: the answer must come
    # by `heartbeat_timeout_seconds`, not when the stuck connection finally gives up.
    app = make_dead_app(hung_database_url, heartbeat_timeout_seconds=1)

    resp, seconds = timed(lambda: app.get("/v1/__heartbeat__", status=503))

    assert resp.json == {"storage": False, "permission": False}
    assert seconds < 3


# -- a failure after a write rolls the write back -------------------------------------------


class FailingACLWrites:
    """Make the permission backend's ACL writes raise BackendError, as a database that
    dies in the middle of a request would; ``calls`` proves the failure happened."""

    # `add_object_permissions` is an optimisation of `replace_object_permissions` for
    # new objects: whichever the resource logic calls must fail.
    METHODS = ("replace_object_permissions", "add_object_permissions")

    def __init__(
        self, app: webtest.TestApp, monkeypatch: pytest.MonkeyPatch, fail_on_call: int = 1
    ) -> None:
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.monkeypatch = monkeypatch
        permission = app.app.registry.backends.permission
        for name in self.METHODS:
            original = getattr(permission, name, None)
            if original is not None:
                monkeypatch.setattr(permission, name, self._failing(original))

    def _failing(self, original: Callable[..., None]) -> Callable[..., None]:
        def write(*args: Any, **kwargs: Any) -> None:
            self.calls += 1
            if self.calls >= self.fail_on_call:
                raise BackendError("connection lost in the middle of the request")
            original(*args, **kwargs)

        return write

    def undo(self) -> None:
        self.monkeypatch.undo()


@pytest.fixture
def blog(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app)
    app.put_json(f"{RECORDS}/r0", {"data": {"title": "original"}}, headers=ALICE, status=201)
    return app


def records_state(app: webtest.TestApp) -> tuple[list[dict[str, Any]], str]:
    """Every change of the collection (tombstones included) and its ETag."""
    resp = app.get(f"{RECORDS}?_since=0", headers=ALICE)
    return resp.json["data"], resp.headers["ETag"]


def test_a_post_whose_acl_write_fails_stores_no_record(
    blog: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = records_state(blog)
    failing = FailingACLWrites(blog, monkeypatch)

    resp = blog.post_json(
        RECORDS, {"data": {"id": "r1", "title": "new"}}, headers=ALICE, expect_errors=True
    )

    assert failing.calls == 1  # the record was written before the ACL write failed
    assert resp.status_int == 503
    assert_service_unavailable(resp)
    failing.undo()
    blog.get(f"{RECORDS}/r1", headers=ALICE, status=404)
    assert records_state(blog) == before  # no record, no tombstone, same list timestamp


def test_a_put_whose_acl_write_fails_creates_no_bucket(
    app: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = FailingACLWrites(app, monkeypatch)

    resp = app.put_json(BUCKET, {"data": {"a": 1}}, headers=ALICE, expect_errors=True)

    assert failing.calls == 1
    assert_service_unavailable(resp)
    failing.undo()
    assert app.get("/v1/buckets", headers=ALICE).json["data"] == []
    # Creating it now works: no half-created bucket is in the way.
    app.put_json(BUCKET, {"data": {"a": 2}}, headers=ALICE, status=201)


def test_a_patch_whose_acl_write_fails_leaves_the_object_unchanged(
    blog: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = blog.get(f"{RECORDS}/r0", headers=ALICE).json
    state = records_state(blog)
    failing = FailingACLWrites(blog, monkeypatch)

    resp = blog.patch_json(
        f"{RECORDS}/r0",
        {"data": {"title": "changed"}, "permissions": {"read": [BOB_ID]}},
        headers=ALICE,
        expect_errors=True,
    )

    assert failing.calls == 1
    assert_service_unavailable(resp)
    failing.undo()
    assert blog.get(f"{RECORDS}/r0", headers=ALICE).json == before
    assert records_state(blog) == state


def rejecting_listener(request: Any, change: Any) -> None:
    """A plugin that refuses some writes after they were stored (a 4xx after a write)."""
    if change.new.get("reject"):
        raise ValidationError([detail("body", "data.reject", "refused by a plugin")])


def test_a_request_refused_after_its_write_stores_nothing(
    blog: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = records_state(blog)
    monkeypatch.setattr(blog.app.registry, "listeners", [rejecting_listener])

    blog.post_json(RECORDS, {"data": {"id": "r1", "reject": True}}, headers=ALICE, status=400)

    blog.get(f"{RECORDS}/r1", headers=ALICE, status=404)
    assert records_state(blog) == before


def batch(app: webtest.TestApp, *bodies: dict[str, Any], status: int = 200) -> Any:
    requests = [{"method": "POST", "path": RECORDS[len("/v1") :], "body": body} for body in bodies]
    return app.post_json("/v1/batch", {"requests": requests}, headers=ALICE, status=status)


def test_a_batch_keeps_the_write_before_a_refused_subrequest_and_nothing_of_it(
    blog: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blog.app.registry, "listeners", [rejecting_listener])

    resp = batch(
        blog, {"data": {"id": "r1"}}, {"data": {"id": "r2", "reject": True}}, {"data": {"id": "r3"}}
    )

    assert [r["status"] for r in resp.json["responses"]] == [201, 400, 201]
    r1, r3 = (resp.json["responses"][i]["body"]["data"] for i in (0, 2))
    blog.get(f"{RECORDS}/r2", headers=ALICE, status=404)
    changes, etag = records_state(blog)
    assert {r["id"] for r in changes} == {"r0", "r1", "r3"}  # no tombstone of r2 either
    assert blog.get(f"{RECORDS}/r1", headers=ALICE).json["data"] == r1
    assert etag == f'"{r3["last_modified"]}"'


def test_a_batch_whose_subrequest_hits_a_backend_error_stores_nothing(
    blog: webtest.TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = records_state(blog)
    failing = FailingACLWrites(blog, monkeypatch, fail_on_call=2)

    resp = batch(
        blog, {"data": {"id": "r1"}}, {"data": {"id": "r2"}}, {"data": {"id": "r3"}}, status=503
    )

    assert failing.calls == 2  # r1 was fully written, r2 half-written
    assert_service_unavailable(resp)
    assert "responses" not in resp.json  # no 201 reported for records that were not stored
    failing.undo()
    for record_id in ("r1", "r2", "r3"):
        blog.get(f"{RECORDS}/{record_id}", headers=ALICE, status=404)
    assert records_state(blog) == before
