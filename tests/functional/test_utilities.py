"""Operating the server: readonly mode, end of service, Backoff, Retry-After, CORS origins,
per-method switches, anonymous caching, redirect switches, environment overrides and
contribute.json (kinto-api.md §1.2, §1.3, §3.6-3.8, §3.11, §11, §13.36-37).

Backoff on every status, the exact Cache-Control values and the CORS basics are in
test_headers.py; here each setting is switched on and followed through the API.
"""

from __future__ import annotations

import datetime
import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import webtest

from kinto_clone.storage import BackendError
from tests.support import ALICE, assert_error, auth

RECORDS = "/v1/buckets/blog/collections/articles/records"
METHOD_NOT_ALLOWED = "Method not allowed on this endpoint."
GONE = "The service you are trying to connect no longer exists at this location."


def days_from_today(days: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


def publish_blog(app: webtest.TestApp, **collection: Any) -> None:
    """A bucket and a collection anyone may read, holding record r1."""
    app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=201)
    app.put_json(
        "/v1/buckets/blog/collections/articles",
        {"data": collection, "permissions": {"read": ["system.Everyone"]}},
        headers=ALICE,
        status=201,
    )
    app.put_json(f"{RECORDS}/r1", {"data": {"title": "hello"}}, headers=ALICE, status=201)


def comma_set(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


# --- readonly -----------------------------------------------------------------------------


@pytest.fixture
def readonly(make_app: Any, backend_settings: dict[str, Any]) -> webtest.TestApp:
    """A blog written by a normal app, then served by a readonly one on the same data."""
    if backend_settings["storage_backend"].endswith(".memory"):
        pytest.skip("the memory backend's data dies with its app")
    publish_blog(make_app())
    return make_app(readonly=True)


@pytest.mark.parametrize(
    "method, url",
    [
        ("POST", "/v1/buckets"),
        ("PUT", "/v1/buckets/blog"),
        ("PATCH", "/v1/buckets/blog"),
        ("DELETE", "/v1/buckets/blog"),
        ("DELETE", "/v1/buckets"),
        ("POST", RECORDS),
        ("PUT", f"{RECORDS}/r2"),
        ("PATCH", f"{RECORDS}/r1"),
        ("DELETE", f"{RECORDS}/r1"),
        ("DELETE", RECORDS),
        ("POST", "/v1/batch"),
        ("POST", "/v1/nowhere"),
    ],
)
def test_readonly_refuses_every_write_with_405_and_no_allow_header(make_app, method, url):
    app = make_app(readonly=True)

    resp = app.request(
        url,
        method=method,
        body=b'{"data": {}}',
        headers={**ALICE, "Content-Type": "application/json"},
        expect_errors=True,
    )

    assert_error(resp, 405, 115, METHOD_NOT_ALLOWED, error="Method Not Allowed")
    assert "Allow" not in resp.headers


def test_readonly_refuses_the_default_bucket_even_for_reads(make_app):
    app = make_app(readonly=True)

    for method in ("GET", "PUT", "POST"):
        url = "/v1/buckets/default" + ("/collections" if method == "POST" else "")
        resp = app.request(url, method=method, headers=ALICE, expect_errors=True)
        assert_error(resp, 405, 115, METHOD_NOT_ALLOWED)


def test_readonly_still_serves_reads_of_existing_data(readonly):
    assert readonly.get(f"{RECORDS}/r1").json["data"]["title"] == "hello"
    assert [r["id"] for r in readonly.get(RECORDS).json["data"]] == ["r1"]
    assert readonly.head(RECORDS).headers["Total-Objects"] == "1"
    readonly.put_json(f"{RECORDS}/r1", {"data": {}}, headers=ALICE, status=405)
    assert readonly.get(f"{RECORDS}/r1").json["data"]["title"] == "hello"


def test_readonly_makes_the_root_cacheable_and_says_so(make_app):
    app = make_app(readonly=True)

    resp = app.get("/v1/")

    assert resp.json["settings"]["readonly"] is True
    assert resp.headers["Cache-Control"] == "max-age=86400"
    expires = parsedate_to_datetime(resp.headers["Expires"]).timestamp()
    assert abs(expires - (time.time() + 86400)) < 60


def test_readonly_root_caching_follows_root_cache_expires_seconds(make_app):
    resp = make_app(readonly=True, root_cache_expires_seconds=60).get("/v1/")

    assert resp.headers["Cache-Control"] == "max-age=60"


def test_the_root_is_not_cacheable_when_writes_are_allowed(app):
    assert "max-age" not in app.get("/v1/").headers.get("Cache-Control", "")


def test_readonly_preflights_offer_only_reads(make_app):
    app = make_app(readonly=True)
    preflight = {"Origin": "http://a.org", "Access-Control-Request-Method": "GET"}

    resp = app.options(RECORDS, headers=preflight)
    refused = app.options(
        RECORDS, headers={**preflight, "Access-Control-Request-Method": "POST"}, status=400
    )

    assert comma_set(resp.headers["Access-Control-Allow-Methods"]) == {"GET", "HEAD", "OPTIONS"}
    assert_error(refused, 400, 107, "Access-Control-Request-Method in header: Method not allowed")


def test_readonly_heartbeat_and_utilities_still_answer(make_app):
    app = make_app(readonly=True)

    assert app.get("/v1/__heartbeat__").json == {"storage": True, "permission": True}
    app.get("/v1/__lbheartbeat__", status=200)
    app.get("/v1/contribute.json", status=200)


# --- end of service (eos) -----------------------------------------------------------------


def alert(resp: Any) -> dict[str, Any]:
    return json.loads(resp.headers["Alert"])


def test_a_future_eos_date_sends_a_soft_eol_alert_on_every_response(make_app):
    app = make_app(
        eos=days_from_today(30), eos_message="Moving soon", eos_url="https://example.com/eos"
    )
    app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=201)

    responses = [
        app.get("/v1/"),
        app.get("/v1/buckets/blog", headers=ALICE),
        app.get("/v1/buckets/nope", headers=ALICE, status=403),
        app.get("/v1/nowhere", status=404),
        app.get("/buckets", status=307),
        app.post("/v1/buckets/blog", headers=ALICE, status=405),
    ]

    for resp in responses:
        assert alert(resp) == {
            "code": "soft-eol",
            "message": "Moving soon",
            "url": "https://example.com/eos",
        }, resp.status
    assert responses[0].json["eos"] == days_from_today(30)


def test_the_alert_links_to_the_project_docs_when_no_eos_url_is_given(make_app):
    resp = make_app(eos=days_from_today(1)).get("/v1/")

    assert alert(resp) == {
        "code": "soft-eol",
        "message": None,
        "url": "https://kinto.readthedocs.io/",
    }
    assert resp.headers["Alert"] == json.dumps(alert(resp), separators=(",", ":"))


@pytest.mark.parametrize("eos", [days_from_today(-1), days_from_today(0)])
def test_a_past_eos_date_makes_every_request_410_with_a_hard_eol_alert(make_app, eos):
    app = make_app(eos=eos, eos_message="bye", eos_url="http://eos.example")
    requests = [
        ("GET", "/v1/"),
        ("GET", "/v1/__heartbeat__"),
        ("GET", "/v1/buckets"),
        ("PUT", "/v1/buckets/blog"),
        ("POST", "/v1/batch"),
        ("GET", "/v1/nowhere"),
        ("GET", "/buckets"),
        ("GET", "/v1/buckets/default"),
        ("OPTIONS", "/v1/buckets"),
    ]

    for method, url in requests:
        resp = app.request(url, method=method, headers=ALICE, expect_errors=True)
        assert_error(resp, 410, 202, GONE, error="Gone")
        assert alert(resp) == {"code": "hard-eol", "message": "bye", "url": "http://eos.example"}


@pytest.mark.parametrize(
    "eos, code",
    [
        ("2999-01-01T12:30:00", "soft-eol"),
        ("2999-01-01T12:30:00+00:00", "soft-eol"),
        ("2001-01-01T12:30:00+02:00", "hard-eol"),
        ("20010101", "hard-eol"),
    ],
)
def test_eos_may_be_a_date_and_time(make_app, eos, code):
    resp = make_app(eos=eos).get("/v1/", expect_errors=True)

    assert alert(resp)["code"] == code
    assert resp.status_int == (200 if code == "soft-eol" else 410)


@pytest.mark.parametrize("eos", ["next tuesday", "2030-13-01"])
def test_a_malformed_eos_fails_at_start_up(make_app, eos):
    from kinto_clone.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="eos"):
        make_app(eos=eos)


def test_no_alert_without_eos(app):
    assert "Alert" not in app.get("/v1/").headers
    assert "eos" not in app.get("/v1/").json


def test_a_deprecated_to_parameter_sends_its_own_alert(make_app):
    app = make_app()
    publish_blog(app)

    resp = app.get(f"{RECORDS}?_to=1", headers=ALICE)

    assert alert(resp)["code"] == "soft-eol"
    assert "_before" in alert(resp)["message"]


# --- Backoff and Retry-After --------------------------------------------------------------


@pytest.mark.parametrize("percentage, expected", [(100, 20), (0, 0)])
def test_backoff_percentage_sends_backoff_on_that_share_of_responses(
    make_app, percentage, expected
):
    app = make_app(backoff=30, backoff_percentage=percentage)

    sent = [app.get("/v1/").headers.get("Backoff") for _ in range(20)]

    assert sent.count("30") == expected
    assert set(sent) <= {"30", None}


def test_backoff_is_sent_on_preflights_and_eol_responses(make_app):
    app = make_app(backoff=10, eos=days_from_today(-1))

    resp = app.get("/v1/", status=410)

    assert resp.headers["Backoff"] == "10"


def break_storage(app: webtest.TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise BackendError("database is down")

    storage = app.app.registry.backends.storage
    for name in ("list_objects", "list_encoded", "list_page", "get_many", "count"):
        monkeypatch.setattr(storage, name, fail)


@pytest.mark.parametrize("settings, expected", [({}, "3"), ({"retry_after_seconds": 30}, "30")])
def test_a_backend_failure_is_503_with_retry_after(make_app, monkeypatch, settings, expected):
    app = make_app(**settings)
    break_storage(app, monkeypatch)

    resp = app.get("/v1/buckets", headers=ALICE, status=503)

    assert_error(resp, 503, 201)
    assert resp.headers["Retry-After"] == expected


def test_other_errors_have_no_retry_after(app):
    assert "Retry-After" not in app.get("/v1/buckets/nope", headers=ALICE, status=403).headers
    assert "Retry-After" not in app.get("/v1/buckets", headers=ALICE).headers


# --- CORS origins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "configured, origin, allowed",
    [
        ("*", "http://anything.example", True),
        ("http://a.example", "http://a.example", True),
        ("http://a.example", "https://a.example", False),
        ("http://a.example", "http://a.example.evil.com", False),
        ("https://*.example.org", "https://api.example.org", True),
        ("https://*.example.org", "https://example.org", False),
        ("http://localhost:* https://prod.example", "http://localhost:3000", True),
        ("http://localhost:*\nhttps://prod.example", "https://prod.example", True),
        ("http://localhost:? ", "http://localhost:30", False),
    ],
)
def test_cors_origins_are_shell_patterns(make_app, configured, origin, allowed):
    app = make_app(cors_origins=configured)
    preflight = {"Origin": origin, "Access-Control-Request-Method": "GET"}

    simple = app.get("/v1/", headers={"Origin": origin}, expect_errors=True)
    options = app.options("/v1/buckets", headers=preflight, expect_errors=True)

    if allowed:
        echoed = "*" if configured == "*" else origin
        for resp in (simple, options):
            assert resp.status_int == 200
            assert resp.headers["Access-Control-Allow-Origin"] == echoed
    else:
        for resp in (simple, options):
            assert_error(resp, 400, 107, f"Origin in header: {origin} not allowed")
            assert "Access-Control-Allow-Origin" not in resp.headers


def test_a_preflight_max_age_follows_cors_max_age_seconds(make_app):
    app = make_app(cors_max_age_seconds=60)

    resp = app.options(
        "/v1/buckets",
        headers={"Origin": "http://a.example", "Access-Control-Request-Method": "GET"},
    )

    assert resp.headers["Access-Control-Max-Age"] == "60"


# --- per-method switches ------------------------------------------------------------------


def test_a_disabled_plural_method_is_405_with_an_allow_header_without_it(make_app):
    app = make_app(plural_bucket_delete_enabled=False)
    app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=201)

    resp = app.delete("/v1/buckets", headers=ALICE, status=405)

    assert_error(resp, 405, 115, METHOD_NOT_ALLOWED)
    assert comma_set(resp.headers["Allow"]) == {"HEAD", "GET", "POST", "OPTIONS"}
    app.get("/v1/buckets/blog", headers=ALICE, status=200)
    app.delete("/v1/buckets/blog", headers=ALICE, status=200)


def test_a_disabled_object_method_leaves_the_others_working(make_app):
    app = make_app(object_record_patch_enabled="false")
    publish_blog(app)

    resp = app.patch_json(f"{RECORDS}/r1", {"data": {}}, headers=ALICE, status=405)

    assert comma_set(resp.headers["Allow"]) == {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
    app.put_json(f"{RECORDS}/r1", {"data": {"title": "bye"}}, headers=ALICE, status=200)
    app.patch_json(
        "/v1/buckets/blog/collections/articles", {"data": {"x": 1}}, headers=ALICE, status=200
    )


def test_a_disabled_method_is_refused_in_a_batch_and_in_preflights(make_app):
    app = make_app(plural_record_post_enabled=False)
    publish_blog(app)

    batch = app.post_json(
        "/v1/batch",
        {
            "requests": [
                {"method": "POST", "path": RECORDS.removeprefix("/v1"), "body": {"data": {}}}
            ]
        },
        headers=ALICE,
    ).json
    preflight = app.options(
        RECORDS,
        headers={"Origin": "http://a.example", "Access-Control-Request-Method": "POST"},
        status=400,
    )

    assert batch["responses"][0]["status"] == 405
    assert_error(preflight, 400, 107)


def test_a_method_switch_left_true_changes_nothing(make_app):
    app = make_app(plural_bucket_delete_enabled=True)

    app.delete("/v1/buckets", headers=ALICE, status=200)


# --- cache_expires on collections ---------------------------------------------------------


def test_collection_cache_expires_lets_anonymous_record_reads_be_cached(make_app):
    app = make_app()
    publish_blog(app, cache_expires=3600)

    for url in (RECORDS, f"{RECORDS}/r1"):
        resp = app.get(url)
        assert resp.headers["Cache-Control"] == "max-age=3600"
        expires = parsedate_to_datetime(resp.headers["Expires"]).timestamp()
        assert abs(expires - (time.time() + 3600)) < 60
        assert app.get(url, headers=ALICE).headers["Cache-Control"] == "no-cache, no-store"


def test_changing_cache_expires_applies_to_the_next_read(make_app):
    app = make_app()
    publish_blog(app, cache_expires=3600)

    app.patch_json(
        "/v1/buckets/blog/collections/articles",
        {"data": {"cache_expires": 10}},
        headers=ALICE,
        status=200,
    )

    assert app.get(RECORDS).headers["Cache-Control"] == "max-age=10"


def test_the_bucket_wide_record_cache_setting_applies_to_its_collections(make_app):
    app = make_app(**{"blog.record_cache_expires_seconds": 120})
    publish_blog(app)

    assert app.get(RECORDS).headers["Cache-Control"] == "max-age=120"


def test_legacy_underscore_record_cache_settings_are_honoured(make_app):
    app = make_app(blog_articles_record_cache_expires_seconds=90)
    publish_blog(app)

    assert app.get(RECORDS).headers["Cache-Control"] == "max-age=90"


# --- redirect switches --------------------------------------------------------------------


def test_without_version_prefix_redirects_unversioned_paths_are_404(make_app):
    app = make_app(version_prefix_redirect_enabled=False)

    resp = app.get("/buckets", status=404)

    assert_error(resp, 404, 111)
    assert "Location" not in resp.headers


def test_without_trailing_slash_redirects_a_trailing_slash_is_404(make_app):
    app = make_app(trailing_slash_redirect_enabled=False)

    resp = app.get("/v1/buckets/", headers=ALICE, status=404)

    assert_error(resp, 404, 111)
    assert "Location" not in resp.headers
    app.get("/v1/buckets", headers=ALICE, status=200)


def test_the_redirect_ttls_set_the_cache_headers_of_redirects(make_app):
    app = make_app(trailing_slash_redirect_ttl_seconds=-1, version_prefix_redirect_ttl_seconds=60)

    slash = app.get("/v1/buckets/", status=307)
    prefix = app.get("/buckets", status=307)

    assert "Cache-Control" not in slash.headers
    assert prefix.headers["Cache-Control"] == "max-age=60"
    assert prefix.headers["Location"].endswith("/v1/buckets")


# --- environment overrides ----------------------------------------------------------------


def test_readonly_can_be_switched_on_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("KINTO_READONLY", "true")

    app = make_app()

    assert app.get("/v1/").json["settings"]["readonly"] is True
    app.put_json("/v1/buckets/blog", {}, headers=ALICE, status=405)


def test_eos_and_backoff_can_come_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("KINTO_EOS", days_from_today(10))
    monkeypatch.setenv("KINTO_BACKOFF", "7")

    resp = make_app().get("/v1/")

    assert alert(resp)["code"] == "soft-eol"
    assert resp.headers["Backoff"] == "7"


def test_cors_origins_from_the_environment_override_the_ini(make_app, monkeypatch):
    monkeypatch.setenv("KINTO_CORS_ORIGINS", "http://env.example")

    app = make_app(cors_origins="http://ini.example")

    app.get("/v1/", headers={"Origin": "http://env.example"}, status=200)
    app.get("/v1/", headers={"Origin": "http://ini.example"}, status=400)


def test_a_method_switch_from_the_environment_applies_when_the_ini_names_it(make_app, monkeypatch):
    monkeypatch.setenv("KINTO_PLURAL_BUCKET_DELETE_ENABLED", "false")

    app = make_app(plural_bucket_delete_enabled="true")

    app.delete("/v1/buckets", headers=ALICE, status=405)


# --- contribute.json ----------------------------------------------------------------------


def test_contribute_json_describes_the_project(app):
    resp = app.get("/v1/contribute.json", status=200)

    assert resp.content_type == "application/json"
    body = resp.json
    assert set(body) >= {"name", "description", "repository", "participate", "bugs", "keywords"}
    assert body["name"] == "kinto_clone"
    assert body["repository"]["url"].startswith("https://")
    assert body["participate"]["home"].startswith("https://")
    assert body["bugs"]["report"].startswith("https://")
    assert "kinto" in body["keywords"]


def test_contribute_json_needs_no_authentication_and_is_read_only(app):
    app.get("/contribute.json", status=307)
    app.get("/v1/contribute.json", headers=auth("bob"), status=200)
    resp = app.post_json("/v1/contribute.json", {}, status=405)

    assert_error(resp, 405, 115)
