"""The root document, utility endpoints, settings at start-up and Basic Auth identity
(kinto-api.md §1.3, §7.2, §7.5, §11.1, §11.2, §13.14).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import webtest

from tests.support import ALICE, UNAUTHORIZED_BODY, assert_error, auth, default_bucket_id, userid


def basic(raw: bytes) -> dict[str, str]:
    """An Authorization header carrying ``raw`` base64-encoded, whatever it contains."""
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# GET /v1/


def test_the_root_lists_its_keys_in_kintos_order(app: webtest.TestApp) -> None:
    body = app.get("/v1/", headers=ALICE, status=200).json
    assert list(body) == [
        "project_name",
        "project_version",
        "http_api_version",
        "project_docs",
        "url",
        "config",
        "settings",
        "user",
        "capabilities",
    ]
    # null, or the ini file in use (§1.3): never anything else.
    assert body["config"] is None or sorted(body["config"]) == ["hash", "modified", "path"]


def test_the_root_describes_the_project_and_the_api(app: webtest.TestApp) -> None:
    resp = app.get("/v1/", status=200)
    assert resp.content_type == "application/json"
    body = resp.json
    assert body["project_name"] == "kinto"
    assert isinstance(body["project_version"], str)
    assert body["project_version"]
    assert body["http_api_version"] == "1.23"
    assert body["project_docs"] == "https://kinto.readthedocs.io/"
    assert body["url"] == "http://localhost/v1/"
    assert body["settings"] == {
        "batch_max_requests": 25,
        "readonly": False,
        "explicit_permissions": True,
    }


def test_the_root_is_not_cached_nor_versioned_by_etag(app: webtest.TestApp) -> None:
    resp = app.get("/v1/", status=200)
    assert "ETag" not in resp.headers
    assert "Last-Modified" not in resp.headers


def test_the_root_url_follows_the_http_host_and_scheme_settings(make_app: Any) -> None:
    app = make_app(http_host="kinto.example.com", http_scheme="https")
    assert app.get("/v1/").json["url"] == "https://kinto.example.com/v1/"


def test_the_root_shows_public_settings_as_configured(make_app: Any) -> None:
    app = make_app(batch_max_requests=7, explicit_permissions=False, readonly=True)
    assert app.get("/v1/").json["settings"] == {
        "batch_max_requests": 7,
        "readonly": True,
        "explicit_permissions": False,
    }


def test_the_root_advertises_basicauth_and_default_bucket_capabilities(
    app: webtest.TestApp,
) -> None:
    capabilities = app.get("/v1/").json["capabilities"]
    assert {"basicauth", "default_bucket"} <= set(capabilities)
    for name in ("basicauth", "default_bucket"):
        assert isinstance(capabilities[name]["description"], str)
        assert isinstance(capabilities[name]["url"], str)


def test_the_root_has_no_user_when_anonymous(app: webtest.TestApp) -> None:
    body = app.get("/v1/", status=200).json
    assert "user" not in body
    assert list(body)[-1] == "capabilities"


def test_the_root_describes_the_authenticated_user(app: webtest.TestApp) -> None:
    user = app.get("/v1/", headers=ALICE, status=200).json["user"]
    assert sorted(user) == ["bucket", "id", "principals"]
    assert user["id"] == userid("alice")
    assert sorted(user["principals"]) == sorted(
        [userid("alice"), "system.Everyone", "system.Authenticated"]
    )
    assert user["bucket"] == default_bucket_id(userid("alice"))


def test_the_root_user_has_no_bucket_without_the_default_bucket_plugin(make_app: Any) -> None:
    app = make_app(includes="")
    body = app.get("/v1/", headers=ALICE).json
    assert sorted(body["user"]) == ["id", "principals"]
    assert "default_bucket" not in body["capabilities"]


# Utility endpoints.


def test_the_heartbeat_reports_healthy_backends(app: webtest.TestApp) -> None:
    resp = app.get("/v1/__heartbeat__", status=200)
    assert resp.json["storage"] is True
    assert resp.json["permission"] is True
    assert all(value in (True, None) for value in resp.json.values())


def test_the_load_balancer_heartbeat_is_an_empty_object(app: webtest.TestApp) -> None:
    resp = app.get("/v1/__lbheartbeat__", status=200)
    assert resp.json == {}


def test_the_version_endpoint_serves_the_version_file(make_app: Any, tmp_path: Path) -> None:
    version = {"source": "https://example.com/kinto_clone", "version": "1.2.3", "commit": "abc"}
    path = tmp_path / "version.json"
    path.write_text(json.dumps(version))
    app = make_app(version_json_path=str(path))
    assert app.get("/v1/__version__", status=200).json == version


def test_the_version_endpoint_without_a_version_file_is_404_not_500(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kinto 26.5.0 answers 500 here (kinto-api.md §13.14, a bug); its docs say 404. We
    # follow the docs, with the errno of an unknown resource.
    monkeypatch.chdir(tmp_path)
    app = make_app(version_json_path=str(tmp_path / "absent.json"))
    resp = app.get("/v1/__version__", expect_errors=True)
    assert resp.status_int != 500
    assert_error(resp, 404, 111)


# Settings at start-up.


def test_a_kinto_prefixed_setting_is_honoured(make_app: Any) -> None:
    app = make_app(**{"kinto.batch_max_requests": 9})
    assert app.get("/v1/").json["settings"]["batch_max_requests"] == 9


def test_the_same_setting_with_and_without_prefix_and_different_values_fails_at_startup(
    make_app: Any,
) -> None:
    with pytest.raises(Exception, match="are in conflict"):
        make_app(**{"kinto.batch_max_requests": 5, "batch_max_requests": 10})


def test_the_same_setting_with_and_without_prefix_and_equal_values_is_fine(
    make_app: Any,
) -> None:
    app = make_app(**{"kinto.batch_max_requests": 5, "batch_max_requests": 5})
    assert app.get("/v1/").json["settings"]["batch_max_requests"] == 5


def test_a_prefixed_environment_variable_overrides_a_setting(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINTO_BATCH_MAX_REQUESTS", "3")
    app = make_app()
    assert app.get("/v1/").json["settings"]["batch_max_requests"] == 3


def test_an_environment_variable_beats_the_configured_value(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINTO_BATCH_MAX_REQUESTS", "3")
    app = make_app(batch_max_requests=10)
    assert app.get("/v1/").json["settings"]["batch_max_requests"] == 3


def test_an_unprefixed_environment_variable_also_applies_and_the_prefixed_one_wins(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_MAX_REQUESTS", "4")
    assert make_app().get("/v1/").json["settings"]["batch_max_requests"] == 4
    monkeypatch.setenv("KINTO_BATCH_MAX_REQUESTS", "3")
    assert make_app().get("/v1/").json["settings"]["batch_max_requests"] == 3


def test_environment_values_are_json_coerced(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KINTO_EXPLICIT_PERMISSIONS", "false")
    app = make_app()
    assert app.get("/v1/").json["settings"]["explicit_permissions"] is False


# Basic Auth identity (§7.2).


def test_the_basicauth_user_id_is_the_hmac_of_user_and_password(make_app: Any) -> None:
    app = make_app(userid_hmac_secret="s3cr3t")
    user = app.get("/v1/", headers=auth("alice", "apass")).json["user"]
    assert user["id"] == (
        "basicauth:cdb7b12dc9e237a68748f0dec51757de619fb48e88f4ffc7f8bc3464a4f89ee9"
    )
    assert user["id"] in user["principals"]


def test_the_password_is_part_of_the_identity(app: webtest.TestApp) -> None:
    first = app.get("/v1/", headers=auth("alice", "one")).json["user"]["id"]
    second = app.get("/v1/", headers=auth("alice", "two")).json["user"]["id"]
    assert first == userid("alice", "one")
    assert second == userid("alice", "two")
    assert first != second


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", ""), ("alice", "pa:ss:word"), ("élodie", "pässwörd ✓")],
    ids=["empty-password", "colons-in-password", "non-ascii"],
)
def test_unusual_credentials_authenticate_with_the_expected_id(
    app: webtest.TestApp, user: str, password: str
) -> None:
    token = f"{user}:{password}".encode()
    body = app.get("/v1/", headers=basic(token), status=200).json
    assert body["user"]["id"] == userid(user, password)


def test_an_empty_username_is_anonymous(app: webtest.TestApp) -> None:
    headers = basic(b":password")
    assert "user" not in app.get("/v1/", headers=headers, status=200).json
    resp = app.get("/v1/buckets", headers=headers, status=401)
    assert resp.json == UNAUTHORIZED_BODY


MALFORMED_AUTHORIZATION = {
    "empty": "",
    "scheme-only": "Basic",
    "scheme-and-space": "Basic ",
    "not-base64": "Basic !!!not-base64!!!",
    "no-colon": "Basic " + base64.b64encode(b"alice").decode(),
    "other-scheme": "Bearer abcdef",
    "glued-scheme": "Basicabcdef",
    "garbage": "\u00e9\u00e9\u00e9",
}


@pytest.mark.parametrize(
    "value", MALFORMED_AUTHORIZATION.values(), ids=MALFORMED_AUTHORIZATION.keys()
)
def test_a_malformed_authorization_header_is_anonymous(app: webtest.TestApp, value: str) -> None:
    headers = {"Authorization": value}
    body = app.get("/v1/", headers=headers, status=200).json
    assert "user" not in body
    resp = app.get("/v1/buckets", headers=headers, status=401)
    assert resp.json == UNAUTHORIZED_BODY
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Realm"'
    resp = app.put_json("/v1/buckets/b", {}, headers=headers, status=401)
    assert resp.json == UNAUTHORIZED_BODY


def test_credentials_that_are_not_utf8_never_cause_a_server_error(app: webtest.TestApp) -> None:
    # Whether such credentials authenticate is left open (Pyramid falls back to latin-1);
    # what matters is that they are never a 500.
    headers = basic(b"\xff\xfe:\xff")
    assert app.get("/v1/", headers=headers, status=200).json["project_name"] == "kinto"
    assert app.get("/v1/buckets", headers=headers, expect_errors=True).status_int in (200, 401)


def test_the_root_never_requires_authentication(app: webtest.TestApp) -> None:
    app.get("/v1/", status=200)
    app.get("/v1/", headers={"Authorization": "Basic !!!"}, status=200)
