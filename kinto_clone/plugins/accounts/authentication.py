"""Logging in with an account: bcrypt hashes, a cache of recent logins, the policy (§7.3).

``Authorization: Basic <user:password>`` names the account ``user``; the password is
checked against the bcrypt hash stored in it, and the caller becomes ``account:<user>``.

Where we differ from Kinto, on purpose:
- A wrong password for an existing account makes the request anonymous and stops there
  (``CredentialsRejected``): with ``account basicauth`` Kinto logs the same credentials in
  as a basicauth user instead (§13.15), so a mistyped or old password "works".
- A cached login is only trusted for the same password. Any other password goes to the
  database and bcrypt: guessing stays as slow as bcrypt makes it, and a password changed
  by another process works at once (Kinto answers "wrong" from its cache).
- A cache entry lives ``account_cache_ttl_seconds`` from the check that made it; a hit
  does not extend it, so a login that another process made stale (password changed or
  account deleted there) ends within that time even for a busy client.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import bcrypt
from pyramid.request import Request

from kinto_clone.backends import Backends
from kinto_clone.cache import Cache
from kinto_clone.errors import ConfigurationError
from kinto_clone.plugins.accounts.options import PLUGIN, AccountsOptions
from kinto_clone.plugins.accounts.resource import ACCOUNT_ID, get_account, owner
from kinto_clone.security import CredentialsRejected, Identity, basic_credentials

# bcrypt reads at most 72 bytes of a password. bcrypt 4 (which Kinto used to make its
# hashes) silently ignored the rest; bcrypt 5 refuses such passwords. Truncating keeps
# long passwords usable and Kinto's hashes valid.
BCRYPT_MAX_BYTES = 72


def _secret_bytes(password: str) -> bytes:
    return password.encode("utf-8")[:BCRYPT_MAX_BYTES]


def hash_password(password: str, rounds: int) -> str:
    """A ``$2b$<rounds>$...`` hash, as stored in the account's ``password`` field."""
    return bcrypt.hashpw(_secret_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: Any) -> bool:
    """Constant time for a given hash; False for anything that is not a bcrypt hash."""
    if not isinstance(hashed, str):
        return False
    try:
        return bcrypt.checkpw(_secret_bytes(password), hashed.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False


def _hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


class Passwords:
    """Hashing and checking account passwords; one per application (``registry``).

    Recent successful logins are kept in ``cache`` (the cache backend, else a memory
    cache of the plugin's own), for ``account_cache_ttl_seconds``. Neither user names nor
    passwords are kept there: the key is an HMAC of the user name under
    ``userid_hmac_secret``, the value an HMAC of the password under that key.
    """

    def __init__(self, options: AccountsOptions, cache: Cache) -> None:
        self.options = options
        self.cache = cache
        # Checked against when there is no such account, so that the answer takes as
        # long as for a wrong password (see AccountsPolicy).
        self._dummy_hash = hash_password(secrets.token_urlsafe(16), options.bcrypt_rounds)

    def hash(self, password: str) -> str:
        return hash_password(password, self.options.bcrypt_rounds)

    def cache_key(self, username: str) -> str:
        return _hmac_hex(self.options.secret, f"accounts:{username}:verified")

    def forget(self, username: str) -> None:
        """Drop a cached login: the account changed or is gone."""
        self.cache.delete(self.cache_key(username))

    def forget_all(self) -> None:
        """Drop every cached login: every account is gone (``__flush__``)."""
        self.cache.flush()

    def verify(self, backends: Backends, username: str, password: str) -> bool | None:
        """True if the password is the account's, False if not, None without an account."""
        key = self.cache_key(username)
        token = _hmac_hex(key, password)
        cached = self.cache.get(key)
        if cached is not None and hmac.compare_digest(cached, token):
            return True
        account = get_account(backends, username) if ACCOUNT_ID.match(username) else None
        if account is None:
            if not self.options.basicauth_follows:
                check_password(password, self._dummy_hash)
            return None
        if not check_password(password, account.get("password")):
            return False
        self.cache.set(key, token, self.options.cache_ttl_seconds)
        return True


class AccountsPolicy:
    """The ``account`` authentication policy (``kinto.plugins.accounts.AccountsPolicy``).

    Credentials of no account are left to the next policy (``basicauth``), as in Kinto.
    Without such a policy, looking up a user name that has no account costs a dummy
    bcrypt check, so that timing does not tell which accounts exist. With basicauth
    after us the response tells it anyway (the caller is logged in as a basicauth user),
    and a bcrypt check on every basicauth request would be a heavy price for nothing.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        # POLICY_FACTORIES outlives an application: another one may have registered us.
        if PLUGIN not in settings.get("includes", ()):
            raise ConfigurationError(
                f"The account policy needs the accounts plugin in kinto.includes ({PLUGIN})"
            )
        self.settings = settings

    def __call__(self, request: Request) -> Identity | None:
        credentials = basic_credentials(request)
        if credentials is None:
            return None
        username, password = credentials
        passwords: Passwords = request.registry.account_passwords
        verified = passwords.verify(request.registry.backends, username, password)
        if verified is None:
            return None
        if not verified:
            raise CredentialsRejected(username)
        return Identity(owner(username), "account")


# Kinto's other name of the policy class.
AccountsAuthenticationPolicy = AccountsPolicy
