"""Identity and principals: a Pyramid 2 security policy (§6.4, §7).

``multiauth.policies`` lists the authentication policies in order; the first that
recognises the request's credentials wins. ``basicauth`` accepts any Basic credentials
and derives a stable user id from them. Authentication never fails a request by itself:
unrecognised credentials make the request anonymous, and a 401 comes only when a
permission check then fails. The one exception: a policy that recognises the credentials
as its own and finds them wrong (an account's password) raises ``CredentialsRejected``, and
no later policy gets to accept them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyramid.authorization import ALL_PERMISSIONS  # noqa: F401  (re-exported for views)
from pyramid.request import Request
from pyramid.security import Allowed, Denied

from kinto_clone.authorization import AUTHENTICATED, EVERYONE
from kinto_clone.body import check_accept
from kinto_clone.errors import ConfigurationError
from kinto_clone.settings import as_list


@dataclass(frozen=True)
class Identity:
    userid: str  # prefixed: "basicauth:<hex>", "account:alice"
    policy: str
    extra: dict[str, Any] = field(default_factory=dict)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(username, password)`` from ``Authorization: Basic``; None if absent or malformed."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        return None
    return username, password


def basicauth_userid(secret: str, username: str, password: str) -> str:
    """Hex HMAC-SHA256 of ``user:password`` keyed with ``userid_hmac_secret`` (§7.2)."""
    message = f"{username}:{password}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


AuthPolicy = Callable[[Request], Identity | None]


def basicauth_policy(settings: dict[str, Any]) -> AuthPolicy:
    secret = str(settings["userid_hmac_secret"])

    def authenticate(request: Request) -> Identity | None:
        credentials = basic_credentials(request)
        if credentials is None:
            return None
        return Identity("basicauth:" + basicauth_userid(secret, *credentials), "basicauth")

    return authenticate


class CredentialsRejected(Exception):
    """Raised by a policy when the credentials are for it and wrong (an existing account,
    a bad password): the request is anonymous and the later policies are not asked.
    Otherwise ``account basicauth`` would log a wrong password in as a basicauth user,
    as Kinto does (§13.15)."""


# Policy factories by the dotted name given in ``multiauth.policy.<name>.use``;
# plugins (accounts) register theirs here at include time.
POLICY_FACTORIES: dict[str, Callable[[dict[str, Any]], AuthPolicy]] = {
    "basicauth": basicauth_policy,
}

# Kinto's dotted names of the policies (and ours), as keys of POLICY_FACTORIES.
POLICY_ALIASES: dict[str, str] = {
    "kinto.core.authentication.BasicAuthAuthenticationPolicy": "basicauth",
    "kinto.plugins.accounts.AccountsPolicy": "account",
    "kinto.plugins.accounts.AccountsAuthenticationPolicy": "account",
    "kinto.plugins.accounts.authentication.AccountsAuthenticationPolicy": "account",
    "kinto_clone.plugins.accounts.AccountsPolicy": "account",
}


def policy_kind(settings: dict[str, Any], name: str) -> str:
    """The POLICY_FACTORIES key of the policy listed as ``name`` in ``multiauth.policies``."""
    use = str(settings.get(f"multiauth.policy.{name}.use", name))
    return POLICY_ALIASES.get(use, use)


class SecurityPolicy:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.policies: list[AuthPolicy] = []
        for name in as_list(settings.get("multiauth.policies")):
            kind = policy_kind(settings, name)
            if kind not in POLICY_FACTORIES:
                raise ConfigurationError(f"Unknown authentication policy {name!r} ({kind})")
            self.policies.append(POLICY_FACTORIES[kind](settings))

    def identity(self, request: Request) -> Identity | None:
        if request.identity_known:
            return request.known_identity
        found = None
        for policy in self.policies:
            try:
                found = policy(request)
            except CredentialsRejected:
                found = None
                break
            if found is not None:
                break
        request.identity_known, request.known_identity = True, found
        return found

    def authenticated_userid(self, request: Request) -> str | None:
        identity = self.identity(request)
        return identity.userid if identity else None

    def permits(self, request: Request, context: Any, permission: str) -> Allowed | Denied:
        # A view that declares a permission is a resource endpoint (the utility ones are
        # public): as Kinto's, it answers JSON only and says so first, before any other
        # check (406); unknown URLs, redirects and utility endpoints do not negotiate.
        check_accept(request)
        permits = getattr(context, "permits", None)
        if permits is None:
            return Denied("no context")
        if permits(permission):
            return Allowed("granted")
        return Denied("not granted")

    def remember(self, request: Request, userid: str, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        return [("WWW-Authenticate", 'Basic realm="Realm"')]


def principals(request: Request) -> set[str]:
    """Every principal of the caller: user id, system ones, and group URIs (one query)."""
    shared = request.known_principals  # came with the route's load, or from /batch
    if shared is not None:
        return set(shared)
    userid = request.authenticated_userid
    if userid is None:
        return {EVERYONE}
    groups = request.registry.backends.permission.get_user_principals([userid, AUTHENTICATED])
    return {userid, EVERYONE, AUTHENTICATED, *groups}


def includeme(config: Any) -> None:
    config.set_security_policy(SecurityPolicy(config.registry.settings))
