"""The settings of the accounts plugin, checked once at start-up (§7.3).

The server refuses to start (ConfigurationError) when:
- no policy of ``multiauth.policies`` is the account policy
  (``multiauth.policy.<name>.use = kinto.plugins.accounts.AccountsPolicy``);
- ``basicauth`` comes before it: basicauth accepts any credentials, so the account policy
  would never be asked;
- a principal of ``account_create_principals`` other than ``system.Everyone`` is not in
  ``account_write_principals``: a user who may create accounts but not write them could
  only create their own, which they must already have to be authenticated;
- ``account_bcrypt_rounds`` is not an integer from 4 to 31 (bcrypt's range), or
  ``account_cache_ttl_seconds`` is not a number >= 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinto_clone.authorization import EVERYONE
from kinto_clone.errors import ConfigurationError
from kinto_clone.security import policy_kind
from kinto_clone.settings import as_list, principals_setting

PLUGIN = "kinto_clone.plugins.accounts"
POLICY = "account"  # the key of the account policy in security.POLICY_FACTORIES
DEFAULT_BCRYPT_ROUNDS = 12  # Kinto's cost
DEFAULT_CACHE_TTL_SECONDS = 30


@dataclass(frozen=True)
class AccountsOptions:
    bcrypt_rounds: int
    cache_ttl_seconds: float
    secret: str  # userid_hmac_secret: the key of the verification cache
    # Whether basicauth is asked after the account policy: an unknown user name is then
    # a basicauth login (see AccountsPolicy).
    basicauth_follows: bool

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AccountsOptions:
        return cls(
            bcrypt_rounds=bcrypt_rounds(settings),
            cache_ttl_seconds=_cache_ttl(settings),
            secret=str(settings.get("userid_hmac_secret") or ""),
            basicauth_follows=_policy_order(settings),
        )


def bcrypt_rounds(settings: Mapping[str, Any]) -> int:
    """``account_bcrypt_rounds`` (12): the cost of every hash (also used by create-user)."""
    rounds = settings.get("account_bcrypt_rounds", DEFAULT_BCRYPT_ROUNDS)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or not 4 <= rounds <= 31:
        raise ConfigurationError(
            f"Setting 'account_bcrypt_rounds' must be an integer from 4 to 31, not {rounds!r}"
        )
    return rounds


def _cache_ttl(settings: Mapping[str, Any]) -> float:
    ttl = settings.get("account_cache_ttl_seconds", DEFAULT_CACHE_TTL_SECONDS)
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl < 0:
        raise ConfigurationError(
            f"Setting 'account_cache_ttl_seconds' must be a number >= 0, not {ttl!r}"
        )
    return float(ttl)


def _policy_order(settings: Mapping[str, Any]) -> bool:
    """Check the policy list; return whether basicauth comes after the account policy."""
    kinds = [
        policy_kind(dict(settings), name) for name in as_list(settings.get("multiauth.policies"))
    ]
    if POLICY not in kinds:
        raise ConfigurationError(
            "The accounts plugin needs the account policy in 'multiauth.policies', e.g. "
            "'multiauth.policies = account' with "
            "'multiauth.policy.account.use = kinto.plugins.accounts.AccountsPolicy'"
        )
    account_at = kinds.index(POLICY)
    if "basicauth" in kinds[:account_at]:
        raise ConfigurationError(
            "In 'multiauth.policies', basicauth must come after the account policy: it "
            "accepts any credentials, so the account policy would never be asked"
        )
    return "basicauth" in kinds[account_at:]


def check_principals(settings: Mapping[str, Any]) -> None:
    creators = set(principals_setting(settings, "account", "create")) - {EVERYONE}
    missing = creators - set(principals_setting(settings, "account", "write"))
    if missing:
        raise ConfigurationError(
            "Every principal of 'account_create_principals' but system.Everyone must also "
            f"be in 'account_write_principals'; missing: {', '.join(sorted(missing))}"
        )


def check(settings: Mapping[str, Any]) -> AccountsOptions:
    """Every start-up check; the options when they pass."""
    check_principals(settings)
    return AccountsOptions.from_settings(settings)
