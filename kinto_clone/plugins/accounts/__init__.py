"""User accounts (§7.3): sign-up, bcrypt passwords, ``account:<user>`` principals.

Enabled with::

    kinto.includes = kinto_clone.plugins.accounts     (or kinto.plugins.accounts)
    multiauth.policies = account                      (or: account basicauth)
    multiauth.policy.account.use = kinto.plugins.accounts.AccountsPolicy
    kinto.account_create_principals = system.Everyone (who may sign up)
    kinto.account_write_principals = account:admin    (administrators)

- ``options.py``: the settings, and the start-up checks (ConfigurationError).
- ``resource.py``: the ``account`` resource type, password hashing on write, ownership.
- ``authentication.py``: the ``account`` policy, bcrypt checks and the login cache.
- ``context.py``: who may read, create, change and list which accounts.
- ``views.py``: ``/accounts`` and ``/accounts/{id}``.
- ``command.py``: ``kinto-clone create-user``.
"""

from __future__ import annotations

from pyramid.config import Configurator

from kinto_clone import security
from kinto_clone.cache.memory import MemoryCache
from kinto_clone.plugins.accounts import options
from kinto_clone.plugins.accounts.authentication import (
    AccountsAuthenticationPolicy,
    AccountsPolicy,
    Passwords,
)
from kinto_clone.views.root import add_capability


def includeme(config: Configurator) -> None:
    checked = options.check(config.registry.settings)
    cache = config.registry.backends.cache or MemoryCache()
    config.registry.account_passwords = Passwords(checked, cache)
    # The security policy is built after the plugins (kinto_clone/__init__.py).
    security.POLICY_FACTORIES[options.POLICY] = AccountsPolicy
    config.include("kinto_clone.plugins.accounts.views")
    add_capability(
        config,
        "accounts",
        "Manage user accounts.",
        "https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html",
        validation_enabled=False,
    )


__all__ = ["AccountsAuthenticationPolicy", "AccountsPolicy", "includeme"]
