"""Accounts on a live server, driven with the official client ``kinto_http`` (§7.3).

A user signs up anonymously, logs in with the account, creates a bucket, a collection and
records as ``account:<name>``, changes their password, and is refused with the old one.
The server is started by its CLI from an ini enabling the accounts plugin
(``multiauth.policies = account basicauth``), one per backend for the whole module;
each test uses user names of its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from kinto_http import Client, KintoException

TIMEOUT = 10
ACCOUNTS = {
    "kinto.includes": "kinto_clone.plugins.accounts kinto_clone.plugins.default_bucket",
    "multiauth.policies": "account basicauth",
    "multiauth.policy.account.use": "kinto.plugins.accounts.AccountsPolicy",
    "kinto.account_create_principals": "system.Everyone",
    "kinto.account_write_principals": "account:admin",
    "kinto.account_bcrypt_rounds": "4",
}


LIVE_SERVER_SETTINGS = ACCOUNTS


@pytest.fixture
def accounts_server(shared_live_server: str) -> str:
    """Base URL of a live server with accounts, on ``backend`` (tests/e2e/conftest.py)."""
    return shared_live_server


def client(url: str, user: str | None = None, password: str | None = None) -> Client:
    auth = (user, password) if user is not None else None
    return Client(server_url=url, auth=auth, timeout=TIMEOUT)


def sign_up(url: str, user: str, password: str) -> dict[str, Any]:
    body, _ = client(url).session.request("put", f"/accounts/{user}", data={"password": password})
    result: dict[str, Any] = body
    return result


def status_of(excinfo: pytest.ExceptionInfo[KintoException]) -> int:
    status: int = excinfo.value.response.status_code
    return status


def test_a_new_account_logs_in_and_creates_data(accounts_server: str) -> None:
    created = sign_up(accounts_server, "alice", "alice-secret")
    assert created["permissions"] == {"write": ["account:alice"]}
    assert created["data"]["password"].startswith("$2b$04$")

    alice = client(accounts_server, "alice", "alice-secret")
    assert alice.server_info()["user"]["id"] == "account:alice"
    assert "accounts" in alice.server_info()["capabilities"]

    bucket = alice.create_bucket(id="alice-bucket")
    assert bucket["permissions"]["write"] == ["account:alice"]
    alice.create_collection(id="tasks", bucket="alice-bucket")
    alice.create_record(
        data={"title": "write a test"}, id="t1", collection="tasks", bucket="alice-bucket"
    )
    records = alice.get_records(collection="tasks", bucket="alice-bucket")
    assert [r["title"] for r in records] == ["write a test"]
    # The personal bucket of an account user.
    alice.create_record(data={"n": 1}, collection="notes", bucket="default")
    assert len(alice.get_records(collection="notes", bucket="default")) == 1


def test_a_wrong_password_is_refused(accounts_server: str) -> None:
    sign_up(accounts_server, "bob", "bob-secret")
    intruder = client(accounts_server, "bob", "guess")

    assert "user" not in intruder.server_info()
    with pytest.raises(KintoException) as excinfo:
        intruder.create_bucket(id="bob-bucket")
    assert status_of(excinfo) == 401


def test_a_changed_password_replaces_the_old_one(accounts_server: str) -> None:
    sign_up(accounts_server, "carol", "first")
    carol = client(accounts_server, "carol", "first")
    assert carol.server_info()["user"]["id"] == "account:carol"

    carol.session.request("patch", "/accounts/carol", data={"password": "second"})

    with pytest.raises(KintoException) as excinfo:
        carol.get_bucket(id="carol-bucket")
    assert status_of(excinfo) == 401
    carol = client(accounts_server, "carol", "second")
    assert carol.create_bucket(id="carol-bucket")["data"]["id"] == "carol-bucket"


def test_users_cannot_read_each_others_accounts(accounts_server: str) -> None:
    sign_up(accounts_server, "dave", "dave-secret")
    sign_up(accounts_server, "erin", "erin-secret")
    dave = client(accounts_server, "dave", "dave-secret")

    body, _ = dave.session.request("get", "/accounts")
    assert [a["id"] for a in body["data"]] == ["dave"]
    with pytest.raises(KintoException) as excinfo:
        dave.session.request("get", "/accounts/erin")
    assert status_of(excinfo) == 403
