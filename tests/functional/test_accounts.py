"""The accounts plugin (kinto-api.md §7.3, §5.3, §13.15, §13.16).

Sign-up, logging in with an account, who may read, change and delete which account,
password changes, the start-up checks and ``kinto-clone create-user``. The server runs
with ``multiauth.policies = account basicauth``, anonymous sign-up, and ``account:admin``
as administrator; bcrypt's cost is lowered to 4 so that hashing takes a millisecond.

Where we differ from Kinto on purpose: a wrong password is a 401 even with basicauth
listed (Kinto logs it in as a basicauth user, §13.15), and administrators in
``account_write_principals`` list every account (Kinto also wants them in
``account_read_principals``, §13.16).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import webtest

import kinto_clone
from kinto_clone import db, migration
from kinto_clone.cache.memory import MemoryCache
from kinto_clone.plugins.accounts import authentication, command
from kinto_clone.plugins.accounts.resource import store_account
from kinto_clone.settings import ConfigurationError
from kinto_clone.settings import load as load_settings
from tests import server
from tests.support import UNAUTHORIZED_BODY, assert_error, auth, default_bucket_id, userid

ACCOUNTS: dict[str, Any] = {
    "includes": "kinto_clone.plugins.accounts kinto_clone.plugins.default_bucket",
    "multiauth.policies": "account basicauth",
    "multiauth.policy.account.use": "kinto.plugins.accounts.AccountsPolicy",
    "account_create_principals": "system.Everyone",
    "account_write_principals": "account:admin",
    "account_bcrypt_rounds": 4,
}
MEMORY = {
    "storage_backend": "kinto_clone.storage.memory",
    "permission_backend": "kinto_clone.permission.memory",
}

ALICE = auth("alice", "alice-secret")
BOB = auth("bob", "bob-secret")
ADMIN = auth("admin", "admin-secret")
ALICE_URL = "/v1/accounts/alice"

CANNOT_READ_BODY = {"code": 401, "errno": 999, "error": "Cannot read accounts."}
MISMATCH = "data.id in body: Username and account ID do not match."


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return make_app(**ACCOUNTS)


def sign_up(app: webtest.TestApp, user: str, password: str | None = None) -> dict[str, Any]:
    password = password or f"{user}-secret"
    resp = app.put_json(f"/v1/accounts/{user}", {"data": {"password": password}}, status=201)
    body: dict[str, Any] = resp.json
    return body


def whoami(app: webtest.TestApp, headers: dict[str, str]) -> str | None:
    user = app.get("/v1/", headers=headers).json.get("user")
    return None if user is None else str(user["id"])


@pytest.fixture
def people(app: webtest.TestApp) -> webtest.TestApp:
    for user in ("alice", "bob", "admin"):
        sign_up(app, user)
    return app


# Sign-up.


def test_anonymous_sign_up_by_put_shows_the_hash_and_the_owner_acl(app: webtest.TestApp) -> None:
    body = sign_up(app, "alice")

    assert body["permissions"] == {"write": ["account:alice"]}
    assert set(body["data"]) == {"id", "password", "last_modified"}
    assert body["data"]["id"] == "alice"
    hashed = body["data"]["password"]
    assert hashed.startswith("$2b$04$")
    assert bcrypt.checkpw(b"alice-secret", hashed.encode())


def test_anonymous_sign_up_by_post(app: webtest.TestApp) -> None:
    resp = app.post_json(
        "/v1/accounts", {"data": {"id": "alice", "password": "alice-secret"}}, status=201
    )

    assert resp.json["permissions"] == {"write": ["account:alice"]}
    assert resp.json["data"]["password"].startswith("$2b$")
    assert whoami(app, ALICE) == "account:alice"


def test_the_default_cost_of_the_hash_is_kintos(make_app: Any) -> None:
    app = make_app(**{**ACCOUNTS, "account_bcrypt_rounds": None})

    assert sign_up(app, "alice")["data"]["password"].startswith("$2b$12$")


def test_a_post_without_an_id_is_a_400(app: webtest.TestApp) -> None:
    resp = app.post_json("/v1/accounts", {"data": {"password": "x"}}, status=400)

    assert_error(resp, 400, 107, "data.id in body: Required")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "data.password in body: Required"),
        ({"password": ""}, "data.password in body: Required"),
        ({"password": 123}, "data.password in body: 123 is not a string: {'password': ''}"),
    ],
)
def test_the_password_is_a_required_string(
    app: webtest.TestApp, data: dict[str, Any], message: str
) -> None:
    resp = app.put_json(ALICE_URL, {"data": data}, status=400)

    assert_error(resp, 400, 107, message)
    sign_up(app, "alice")  # nothing was stored


@pytest.mark.parametrize("account_id", ["alice@example.com", "a.b+c_d-e", "0"])
def test_account_ids_may_look_like_email_addresses(app: webtest.TestApp, account_id: str) -> None:
    sign_up(app, account_id, "secret")

    assert whoami(app, auth(account_id, "secret")) == f"account:{account_id}"


@pytest.mark.parametrize("account_id", ["-alice", "al ice", "al/ice", "alice!"])
def test_other_account_ids_are_refused(app: webtest.TestApp, account_id: str) -> None:
    resp = app.post_json("/v1/accounts", {"data": {"id": account_id, "password": "x"}}, status=400)

    assert_error(resp, 400, 107, "path: Invalid object id")


def test_sign_up_needs_account_create_principals(make_app: Any) -> None:
    app = make_app(**{**ACCOUNTS, "account_create_principals": None})

    resp = app.put_json(ALICE_URL, {"data": {"password": "x"}}, status=401)
    assert resp.json == UNAUTHORIZED_BODY
    app.post_json("/v1/accounts", {"data": {"id": "alice", "password": "x"}}, status=401)


def test_an_existing_account_is_neither_posted_nor_put_anonymously(app: webtest.TestApp) -> None:
    sign_up(app, "alice")

    app.post_json("/v1/accounts", {"data": {"id": "alice", "password": "x"}}, status=401)
    app.put_json(ALICE_URL, {"data": {"password": "x"}}, status=401)
    assert whoami(app, ALICE) == "account:alice"


def test_posting_ones_own_id_again_returns_the_account(app: webtest.TestApp) -> None:
    created = sign_up(app, "alice")["data"]

    resp = app.post_json(
        "/v1/accounts", {"data": {"id": "alice", "password": "new"}}, headers=ALICE, status=200
    )

    assert resp.json == {"permissions": {"write": ["account:alice"]}, "data": created}


def test_sign_up_permissions_are_kept_with_the_owner_added(app: webtest.TestApp) -> None:
    body = {"data": {"password": "x"}, "permissions": {"read": ["system.Authenticated"]}}

    resp = app.put_json(ALICE_URL, body, status=201)

    assert resp.json["permissions"] == {
        "read": ["system.Authenticated"],
        "write": ["account:alice"],
    }


# Logging in.


def test_an_account_logs_in_as_its_account_principal(app: webtest.TestApp) -> None:
    sign_up(app, "alice")

    user = app.get("/v1/", headers=ALICE).json["user"]

    assert user["id"] == "account:alice"
    assert set(user["principals"]) == {"account:alice", "system.Everyone", "system.Authenticated"}
    # kinto-api.md §1.3, observed on Kinto for account:alice.
    assert user["bucket"] == "73141b75-6d02-0c03-6aee-82ad1ea55d41"


def test_a_wrong_password_is_a_401_even_with_basicauth_listed(app: webtest.TestApp) -> None:
    sign_up(app, "alice")
    wrong = auth("alice", "not-her-password")

    assert whoami(app, wrong) is None
    resp = app.put_json("/v1/buckets/b", {}, headers=wrong, status=401)
    assert resp.json == UNAUTHORIZED_BODY
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Realm"'
    app.get("/v1/buckets/default", headers=wrong, status=401)


def test_a_wrong_password_after_a_cached_login_is_still_a_401(app: webtest.TestApp) -> None:
    sign_up(app, "alice")
    assert whoami(app, ALICE) == "account:alice"

    assert whoami(app, auth("alice", "guess")) is None
    assert whoami(app, ALICE) == "account:alice"


def test_a_user_name_without_account_is_left_to_basicauth(app: webtest.TestApp) -> None:
    assert whoami(app, auth("carol", "carolpassword")) == userid("carol")


def test_with_the_account_policy_alone_a_user_name_without_account_is_anonymous(
    make_app: Any,
) -> None:
    app = make_app(**{**ACCOUNTS, "multiauth.policies": "account"})

    assert whoami(app, auth("carol", "x")) is None
    app.put_json("/v1/buckets/b", {}, headers=auth("carol", "x"), status=401)
    assert "basicauth" not in app.get("/v1/").json["capabilities"]


def test_an_account_user_owns_what_they_create(app: webtest.TestApp) -> None:
    sign_up(app, "alice")

    resp = app.put_json("/v1/buckets/b", {}, headers=ALICE, status=201)
    assert resp.json["permissions"] == {"write": ["account:alice"]}
    record = app.post_json(
        "/v1/buckets/default/collections/tasks/records",
        {"data": {"title": "x"}},
        headers=ALICE,
        status=201,
    )
    assert record.json["permissions"] == {"write": ["account:alice"]}
    mine = default_bucket_id("account:alice")
    app.get(f"/v1/buckets/{mine}/collections/tasks", headers=ALICE, status=200)


def test_a_password_longer_than_bcrypt_reads_works(app: webtest.TestApp) -> None:
    long_password = "é" * 100  # 200 bytes; bcrypt reads the first 72
    sign_up(app, "alice", long_password)

    assert whoami(app, auth("alice", long_password)) == "account:alice"


def test_a_stored_value_that_is_no_bcrypt_hash_never_logs_in(app: webtest.TestApp) -> None:
    sign_up(app, "alice")
    backends = app.app.registry.backends
    with db.transaction():
        backends.storage.update("account", "", "alice", {"id": "alice", "password": "plain"})

    assert whoami(app, auth("alice", "plain")) is None


def test_a_batch_runs_as_the_account(app: webtest.TestApp) -> None:
    sign_up(app, "alice")
    body = {
        "requests": [
            {"method": "PUT", "path": "/buckets/b"},
            {"method": "GET", "path": "/accounts/alice"},
        ]
    }

    responses = app.post_json("/v1/batch", body, headers=ALICE).json["responses"]

    assert [r["status"] for r in responses] == [201, 200]
    assert responses[0]["body"]["permissions"] == {"write": ["account:alice"]}


# A user and their own account.


def test_a_user_reads_their_own_account_only(people: webtest.TestApp) -> None:
    resp = people.get(ALICE_URL, headers=ALICE, status=200)
    assert resp.json["permissions"] == {"write": ["account:alice"]}
    assert resp.json["data"]["id"] == "alice"

    people.get("/v1/accounts/bob", headers=ALICE, status=403)
    people.get("/v1/accounts/nobody", headers=ALICE, status=403)


def test_a_user_lists_their_own_account_only(people: webtest.TestApp) -> None:
    listed = people.get("/v1/accounts", headers=ALICE).json["data"]

    assert [a["id"] for a in listed] == ["alice"]
    head = people.head("/v1/accounts", headers=ALICE, status=200)
    assert head.headers["Total-Objects"] == "1"


def test_a_user_reads_an_account_shared_with_them(people: webtest.TestApp) -> None:
    people.patch_json(
        "/v1/accounts/bob", {"permissions": {"read": ["account:alice"]}}, headers=BOB, status=200
    )

    assert people.get("/v1/accounts/bob", headers=ALICE, status=200).json["permissions"] == {}
    listed = people.get("/v1/accounts", headers=ALICE).json["data"]
    assert sorted(a["id"] for a in listed) == ["alice", "bob"]


def test_a_user_cannot_write_another_account(people: webtest.TestApp) -> None:
    resp = people.put_json(
        "/v1/accounts/bob", {"data": {"password": "x"}}, headers=ALICE, status=400
    )
    assert_error(resp, 400, 107, MISMATCH)
    resp = people.put_json(
        "/v1/accounts/carol", {"data": {"password": "x"}}, headers=ALICE, status=400
    )
    assert_error(resp, 400, 107, MISMATCH)
    resp = people.post_json(
        "/v1/accounts", {"data": {"id": "carol", "password": "x"}}, headers=ALICE, status=400
    )
    assert_error(resp, 400, 107, MISMATCH)
    people.patch_json("/v1/accounts/bob", {"data": {"password": "x"}}, headers=ALICE, status=403)
    people.delete("/v1/accounts/bob", headers=ALICE, status=403)

    assert whoami(people, BOB) == "account:bob"
    people.get("/v1/accounts/carol", headers=ADMIN, status=404)


def test_a_basicauth_user_cannot_create_accounts(app: webtest.TestApp) -> None:
    carol = auth("carol", "carolpassword")

    resp = app.put_json(
        "/v1/accounts/carol", {"data": {"password": "x"}}, headers=carol, status=400
    )

    assert_error(resp, 400, 107, MISMATCH)
    assert app.get("/v1/accounts", headers=carol).json == {"data": []}


def test_a_user_changes_their_password_and_the_old_one_stops_working(
    people: webtest.TestApp,
) -> None:
    assert whoami(people, ALICE) == "account:alice"  # cached now

    resp = people.put_json(ALICE_URL, {"data": {"password": "new-secret"}}, headers=ALICE)

    assert bcrypt.checkpw(b"new-secret", resp.json["data"]["password"].encode())
    assert resp.json["permissions"] == {"write": ["account:alice"]}
    assert whoami(people, ALICE) is None
    people.get(ALICE_URL, headers=ALICE, status=401)
    assert whoami(people, auth("alice", "new-secret")) == "account:alice"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", {"data": {"password": "new-secret"}}),
        ("application/merge-patch+json", {"data": {"password": "new-secret"}}),
        (
            "application/json-patch+json",
            [{"op": "replace", "path": "/data/password", "value": "new-secret"}],
        ),
    ],
)
def test_a_password_is_changed_by_patch_in_every_format(
    people: webtest.TestApp, content_type: str, body: Any
) -> None:
    assert whoami(people, ALICE) == "account:alice"

    people.patch_json(ALICE_URL, body, headers={**ALICE, "Content-Type": content_type}, status=200)

    assert whoami(people, ALICE) is None
    assert whoami(people, auth("alice", "new-secret")) == "account:alice"


def test_a_patch_of_other_fields_keeps_the_password(people: webtest.TestApp) -> None:
    before = people.get(ALICE_URL, headers=ALICE).json["data"]["password"]

    resp = people.patch_json(ALICE_URL, {"data": {"email": "alice@example.com"}}, headers=ALICE)

    assert resp.json["data"]["password"] == before
    assert resp.json["data"]["email"] == "alice@example.com"
    assert whoami(people, ALICE) == "account:alice"


def test_putting_back_the_account_as_read_keeps_the_password(people: webtest.TestApp) -> None:
    data = people.get(ALICE_URL, headers=ALICE).json["data"]

    resp = people.put_json(ALICE_URL, {"data": {"password": data["password"]}}, headers=ALICE)

    assert resp.json["data"]["password"] == data["password"]
    assert whoami(people, ALICE) == "account:alice"


def test_a_patch_cannot_remove_the_password(people: webtest.TestApp) -> None:
    resp = people.patch_json(
        ALICE_URL,
        {"data": {"password": None}},
        headers={**ALICE, "Content-Type": "application/merge-patch+json"},
        status=400,
    )

    assert_error(resp, 400, 107, "data.password in body: Required")


def test_a_user_deletes_their_account_and_can_no_longer_log_in(people: webtest.TestApp) -> None:
    assert whoami(people, ALICE) == "account:alice"

    resp = people.delete(ALICE_URL, headers=ALICE, status=200)

    assert resp.json["data"]["id"] == "alice" and resp.json["data"]["deleted"] is True
    # No such account now: with basicauth listed, these credentials are a basicauth user.
    assert whoami(people, ALICE) == userid("alice", "alice-secret")
    people.get(ALICE_URL, headers=ADMIN, status=404)
    assert sign_up(people, "alice", "again")["permissions"] == {"write": ["account:alice"]}


def test_a_users_plural_delete_deletes_their_own_account_only(people: webtest.TestApp) -> None:
    deleted = people.delete("/v1/accounts", headers=ALICE).json["data"]

    assert [d["id"] for d in deleted] == ["alice"]
    listed = people.get("/v1/accounts", headers=ADMIN).json["data"]
    assert sorted(a["id"] for a in listed) == ["admin", "bob"]


# Anonymous callers and the list.


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_anonymous_callers_cannot_read_accounts(people: webtest.TestApp, method: str) -> None:
    resp = people.request("/v1/accounts", method=method, status=401)

    assert resp.json == CANNOT_READ_BODY
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Realm"'
    people.head("/v1/accounts", status=401)
    people.get(ALICE_URL, status=401)


# Administrators.


def test_an_admin_lists_every_account(people: webtest.TestApp) -> None:
    listed = people.get("/v1/accounts", headers=ADMIN).json["data"]

    assert sorted(a["id"] for a in listed) == ["admin", "alice", "bob"]
    assert all(a["password"].startswith("$2b$") for a in listed)


def test_an_admin_reads_changes_and_deletes_any_account(people: webtest.TestApp) -> None:
    resp = people.get(ALICE_URL, headers=ADMIN, status=200)
    assert resp.json["permissions"] == {}  # not a writer of this very object (§13.20)

    resp = people.patch_json(ALICE_URL, {"data": {"password": "reset"}}, headers=ADMIN)
    assert resp.json["permissions"] == {"write": ["account:alice"]}
    assert whoami(people, auth("alice", "reset")) == "account:alice"

    people.delete("/v1/accounts/bob", headers=ADMIN, status=200)
    assert whoami(people, BOB) == userid("bob", "bob-secret")
    resp = people.get("/v1/accounts/bob", headers=ADMIN, status=404)
    assert_error(resp, 404, 110, details={"id": "bob", "resource_name": "account"})


def test_an_admin_creates_accounts_owned_by_their_users(make_app: Any) -> None:
    # Closed sign-up: only the administrator creates accounts.
    app = make_app(**{**ACCOUNTS, "account_create_principals": None})
    with db.transaction():
        store_account(
            app.app.registry.backends, "admin", authentication.hash_password("admin-secret", 4)
        )

    resp = app.post_json(
        "/v1/accounts", {"data": {"id": "bob", "password": "bob-secret"}}, headers=ADMIN, status=201
    )
    assert resp.json["permissions"] == {"write": ["account:bob"]}
    resp = app.put_json(
        ALICE_URL, {"data": {"password": "alice-secret"}}, headers=ADMIN, status=201
    )
    assert resp.json["permissions"] == {"write": ["account:alice"]}
    assert whoami(app, ALICE) == "account:alice"
    app.put_json("/v1/accounts/carol", {"data": {"password": "x"}}, status=401)


def test_an_admin_deletes_every_account_at_once(people: webtest.TestApp) -> None:
    deleted = people.delete("/v1/accounts", headers=ADMIN).json["data"]

    assert sorted(d["id"] for d in deleted) == ["admin", "alice", "bob"]
    assert whoami(people, ALICE) == userid("alice", "alice-secret")


def test_account_read_principals_read_every_account_but_write_none(make_app: Any) -> None:
    app = make_app(**{**ACCOUNTS, "account_read_principals": "account:auditor"})
    for user in ("alice", "auditor"):
        sign_up(app, user)
    auditor = auth("auditor", "auditor-secret")

    listed = app.get("/v1/accounts", headers=auditor).json["data"]
    assert sorted(a["id"] for a in listed) == ["alice", "auditor"]
    app.get(ALICE_URL, headers=auditor, status=200)
    app.get("/v1/accounts/nobody", headers=auditor, status=404)
    app.patch_json(ALICE_URL, {"data": {"password": "x"}}, headers=auditor, status=403)
    resp = app.put_json(ALICE_URL, {"data": {"password": "x"}}, headers=auditor, status=400)
    assert_error(resp, 400, 107, MISMATCH)
    deleted = app.delete("/v1/accounts", headers=auditor).json["data"]
    assert [d["id"] for d in deleted] == ["auditor"]  # their own: they write no other
    assert whoami(app, ALICE) == "account:alice"


# The login cache.


def test_a_password_changed_elsewhere_works_at_once_and_the_old_one_until_then(
    make_app: Any,
) -> None:
    app = make_app(**ACCOUNTS)
    sign_up(app, "alice")
    assert whoami(app, ALICE) == "account:alice"
    # As another process would (create-user, another web head): no cache invalidation.
    with db.transaction():
        store_account(
            app.app.registry.backends, "alice", authentication.hash_password("changed", 4)
        )

    assert whoami(app, ALICE) == "account:alice"  # still cached
    assert whoami(app, auth("alice", "changed")) == "account:alice"  # not refused from cache
    assert whoami(app, ALICE) is None  # the cache now holds the new password


def test_without_cache_a_password_changed_elsewhere_ends_the_old_one_at_once(
    make_app: Any,
) -> None:
    app = make_app(**{**ACCOUNTS, "account_cache_ttl_seconds": 0})
    sign_up(app, "alice")
    assert whoami(app, ALICE) == "account:alice"
    with db.transaction():
        store_account(
            app.app.registry.backends, "alice", authentication.hash_password("changed", 4)
        )

    assert whoami(app, ALICE) is None


def test_cached_logins_expire_and_are_not_extended_by_use() -> None:
    now = [1000.0]
    cache = MemoryCache(clock=lambda: now[0])
    cache.set("key", "token", 30)

    now[0] += 29
    assert cache.get("key") == "token"
    now[0] += 1
    assert cache.get("key") is None
    cache.set("key", "token", 0)  # a ttl of 0: not cached at all
    assert cache.get("key") is None


def counted_password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords bcrypt-checked from now on (the check itself still runs)."""
    calls: list[str] = []
    real = authentication.check_password

    def counting(password: str, hashed: Any) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(authentication, "check_password", counting)
    return calls


@pytest.mark.parametrize(("policies", "checks"), [("account", 1), ("account basicauth", 0)])
def test_an_unknown_user_costs_a_bcrypt_check_unless_basicauth_follows(
    make_app: Any, monkeypatch: pytest.MonkeyPatch, policies: str, checks: int
) -> None:
    app = make_app(**{**ACCOUNTS, "multiauth.policies": policies})
    calls = counted_password_checks(monkeypatch)

    whoami(app, auth("nobody", "guess"))

    assert len(calls) == checks


# Settings.


def test_the_accounts_capability(app: webtest.TestApp) -> None:
    capabilities = app.get("/v1/").json["capabilities"]

    assert capabilities["accounts"] == {
        "description": "Manage user accounts.",
        "url": "https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html",
        "validation_enabled": False,
    }
    assert "basicauth" in capabilities


def test_kintos_names_of_the_plugin_and_policy_work(make_app: Any) -> None:
    app = make_app(
        **{
            **ACCOUNTS,
            "includes": "kinto.plugins.accounts",
            "multiauth.policies": "myaccounts",
            "multiauth.policy.account.use": None,
            "multiauth.policy.myaccounts.use": (
                "kinto.plugins.accounts.authentication.AccountsAuthenticationPolicy"
            ),
        }
    )
    sign_up(app, "alice")

    assert whoami(app, ALICE) == "account:alice"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"multiauth.policies": "basicauth"}, "needs the account policy"),
        ({"multiauth.policies": "basicauth account"}, "basicauth must come after"),
        ({"account_create_principals": "system.Authenticated"}, "system.Authenticated"),
        ({"account_create_principals": "account:x account:admin"}, "missing: account:x"),
        ({"account_bcrypt_rounds": 3}, "account_bcrypt_rounds"),
        ({"account_bcrypt_rounds": "many"}, "account_bcrypt_rounds"),
        ({"account_cache_ttl_seconds": -1}, "account_cache_ttl_seconds"),
    ],
)
def test_a_wrong_configuration_stops_the_server(changes: dict[str, Any], fragment: str) -> None:
    settings = {"userid_hmac_secret": "s", **MEMORY, **ACCOUNTS, **changes}

    with pytest.raises(ConfigurationError, match=fragment):
        kinto_clone.main({}, **settings)


def test_the_account_policy_needs_the_plugin() -> None:
    settings = {**MEMORY, **ACCOUNTS, "includes": ""}

    # "Unknown policy" in a process where no application included the plugin yet.
    refused = "Unknown authentication policy|needs the accounts plugin"
    with pytest.raises(ConfigurationError, match=refused):
        kinto_clone.main({}, **settings)


def test_anyone_may_sign_up_without_being_an_administrator() -> None:
    settings = {**MEMORY, **ACCOUNTS, "account_write_principals": None}

    kinto_clone.main({}, **settings).registry.kinto_clone_close()


# kinto-clone create-user.


def create_user(ini: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A session of its own: without a controlling terminal, getpass reads the (empty)
    # standard input instead of waiting on the developer's terminal.
    return server.cli(
        "create-user", "--ini", str(ini), *args, cwd=ini.parent, input="", start_new_session=True
    )


def ini_settings(**overrides: str) -> dict[str, str]:
    named = {(k if "." in k else f"kinto.{k}"): str(v) for k, v in ACCOUNTS.items()}
    return {**named, **overrides}


@pytest.fixture
def sqlite_ini(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path}/kinto.sqlite"
    migration.upgrade(url)
    settings = {**server.settings_for("sqlite", url), **ini_settings()}
    return server.write_ini(tmp_path / "kinto.ini", settings)


@pytest.fixture
def app_on(sqlite_ini: Path) -> Iterator[Callable[[], webtest.TestApp]]:
    """The application of ``sqlite_ini``, in this process."""
    from pyramid.paster import get_appsettings

    apps: list[webtest.TestApp] = []

    def make() -> webtest.TestApp:
        apps.append(webtest.TestApp(kinto_clone.main({}, **get_appsettings(str(sqlite_ini)))))
        return apps[-1]

    yield make
    for app in apps:
        app.app.registry.kinto_clone_close()


def test_create_user_creates_an_account_that_logs_in(
    sqlite_ini: Path, app_on: Callable[[], webtest.TestApp]
) -> None:
    done = create_user(sqlite_ini, "-u", "admin", "-p", "admin-secret")
    assert done.returncode == 0, done.stderr

    app = app_on()
    assert whoami(app, ADMIN) == "account:admin"
    resp = app.get("/v1/accounts/admin", headers=ADMIN)
    assert resp.json["permissions"] == {"write": ["account:admin"]}
    assert resp.json["data"]["password"].startswith("$2b$04$")
    app.put_json(ALICE_URL, {"data": {"password": "alice-secret"}}, status=201)
    listed = app.get("/v1/accounts", headers=ADMIN).json["data"]
    assert [a["id"] for a in listed] == ["alice", "admin"]


def test_create_user_replaces_the_password_of_an_account(
    sqlite_ini: Path, app_on: Callable[[], webtest.TestApp]
) -> None:
    app = app_on()
    sign_up(app, "alice", "first")
    app.patch_json(
        ALICE_URL, {"permissions": {"read": ["account:bob"]}}, headers=auth("alice", "first")
    )

    done = create_user(sqlite_ini, "--username", "alice", "--password", "second")

    assert done.returncode == 0, done.stderr
    app = app_on()  # a fresh process would not have the first password cached
    assert whoami(app, auth("alice", "second")) == "account:alice"
    assert whoami(app, auth("alice", "first")) != "account:alice"
    acl = app.get(ALICE_URL, headers=auth("alice", "second")).json["permissions"]
    assert acl == {"read": ["account:bob"], "write": ["account:alice"]}


def test_create_user_aborts_at_the_end_of_input(sqlite_ini: Path) -> None:
    done = create_user(sqlite_ini, "-u", "alice")

    assert done.returncode == 53
    assert "aborted" in done.stderr


def test_create_user_needs_the_plugin(tmp_path: Path) -> None:
    settings = {
        **server.settings_for("memory"),
        **ini_settings(**{"kinto.includes": "kinto_clone.plugins.default_bucket"}),
    }
    ini = server.write_ini(tmp_path / "kinto.ini", settings)

    done = create_user(ini, "-u", "alice", "-p", "x")

    assert done.returncode == 52
    assert "kinto_clone.plugins.accounts" in done.stderr


def test_create_user_refuses_a_readonly_server(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({**MEMORY, **ACCOUNTS, "readonly": True})

    assert command.create_user(settings, "alice", "x") == 51
    assert "readonly" in capsys.readouterr().err


def test_create_user_asks_until_the_user_name_is_valid_and_both_passwords_match(
    capsys: pytest.CaptureFixture[str],
) -> None:
    answers = iter(["alice"])
    secrets = iter(["one", "two", "", "s3cret", "s3cret"])  # an empty one is not confirmed

    username = command.ask_username("-bad", lambda _: next(answers))
    password = command.ask_password(username, None, lambda _: next(secrets))

    assert (username, password) == ("alice", "s3cret")
    err = capsys.readouterr().err
    assert "'-bad' is not a valid user name" in err
    assert err.count("do not match") == 2


def test_a_wrong_password_costs_one_bcrypt_check_whether_the_user_exists_or_not(
    make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Timing must not tell a stranger which user names have accounts: with the account
    # policy alone, an unknown user name costs the same bcrypt check as a wrong password.
    # Counted rather than timed, so that the test cannot be flaky.
    app = make_app(**{**ACCOUNTS, "multiauth.policies": "account"})
    app.put_json("/v1/accounts/alice", {"data": {"password": "right"}}, status=201)
    checks = counted_password_checks(monkeypatch)
    app.get("/v1/buckets", headers=auth("alice", "wrong"), status=401)
    assert len(checks) == 1
    app.get("/v1/buckets", headers=auth("nobody", "wrong"), status=401)
    assert len(checks) == 2
