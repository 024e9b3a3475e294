"""The route context of ``/accounts`` and ``/accounts/{id}``: who may do what (§7.3).

It offers what the generic resource views read from ``context.RouteContext`` (resource,
parent_id, object_id, current, sibling, acl(), readable_by, may_create()...), so that the
account endpoints reuse them, and decides permissions by these rules:

- Administrators act on every account: ``account_write_principals`` for every method,
  ``account_read_principals`` (or write) for reading and listing. Kinto also wants admins
  in ``account_read_principals`` to list all accounts (§13.16); here write implies read,
  as everywhere else.
- Creating (sign-up by PUT or POST) is allowed by ``account_create_principals`` and to
  administrators.
- Anyone else is governed by the account's ACL (its owner holds ``write``). An
  authenticated user who is not an administrator writes only their own account: a PUT
  or POST naming another id is a 400 (``raise_400_if_foreign``) when they may create
  accounts at all (as Kinto answers), and a PATCH or DELETE of another id is refused.
- Listing: administrators see all; a user sees what their ACL lets them read (their own
  account); anonymous callers get Kinto's own 401 ``Cannot read accounts.``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyramid.request import Request

from kinto_clone import checks
from kinto_clone.authorization import settings_grant
from kinto_clone.context import raise_401_403_if_nothing_listed
from kinto_clone.errors import ERRNO, HTTPError, invalid
from kinto_clone.permission import ACL
from kinto_clone.plugins.accounts.resource import (
    ACCOUNT,
    ACCOUNT_PARENT,
    account_uri,
    owner,
)
from kinto_clone.preconditions import creates
from kinto_clone.storage import ReadableBy

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

# A permission held on an account that grants the one asked for (§6.2).
GRANTED_BY = {"read": ("read", "write"), "write": ("write",)}


class CannotReadAccounts(HTTPError):
    """Anonymous listing: Kinto's exact answer, errno 999 and no message (§5.3)."""

    def __init__(self) -> None:
        super().__init__(401, ERRNO.UNDEFINED, error="Cannot read accounts.")


class AccountContext:
    """What ``/accounts[/{id}]`` names, loaded on the first permission check."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.resource = ACCOUNT
        self.backends: Backends = request.registry.backends
        self.is_plural = request.matched_route.name == "account:plural"
        self.chain: list[Any] = []  # accounts have no parent objects
        self.parent_id = ACCOUNT_PARENT
        self.uris: dict[str, str] = {}
        self.object_id: str | None = None
        if not self.is_plural:
            # Its syntax is one of the checks (checks.py), after the permission decision.
            self.object_id = request.matchdict["id"]
            self.uris[ACCOUNT.name] = account_uri(self.object_id)
        self.objects: dict[str, dict[str, Any] | None] = {}
        self.acls: dict[str, ACL] = {}
        self.readable_by: ReadableBy | None = None
        self.sibling_id: str | None = None  # POST with data.id
        self._loaded = False

    # -- loading ---------------------------------------------------------------------------

    def load(self, posted_id: str | None = None) -> None:
        """Fetch the account (or the POSTed one) and its ACL, once per request."""
        if self._loaded:
            return
        target = self.object_id
        if target is None and posted_id is not None and ACCOUNT.id_pattern.match(posted_id):
            self.sibling_id = target = posted_id
        # An invalid id names nothing and never reaches the database (a NUL would be a
        # 500); it is refused after authorisation, in Kinto's order.
        if target is not None and ACCOUNT.id_pattern.match(target):
            key = (ACCOUNT.name, ACCOUNT_PARENT, target)
            found = self.backends.storage.get_many([key]).get(key)
            self.objects["account" if self.object_id else "sibling"] = found
            uri = account_uri(target)
            self.acls = self.backends.permission.get_objects_permissions([uri])
        self._loaded = True

    @property
    def current(self) -> dict[str, Any] | None:
        return self.objects.get("account")

    @property
    def sibling(self) -> dict[str, Any] | None:
        return self.objects.get("sibling")

    def acl(self, uri: str | None = None) -> ACL:
        return self.acls.get(uri or self.uris.get(ACCOUNT.name, ""), {})

    # -- permission decision -----------------------------------------------------------------

    def permits(self, permission: str) -> bool:
        """Pyramid's permission hook: the request's checks, in Kinto's order (checks.py)."""
        return checks.run(self.request, self, permission)

    def decide(self, permission: str, principals: set[str] | None = None) -> bool:
        """Decide the view's declared permission (read, write, create)."""
        if principals is None:
            principals = set(self.request.principals)
        if self.is_plural:
            if permission == "create":
                return self._may_post(principals)
            return self._may_list(permission, principals)
        self.load()
        assert self.object_id is not None
        if permission == "read":
            return self._granted("read", principals, self.object_id)
        return self._may_write(principals, self.object_id)

    def _may_post(self, principals: set[str]) -> bool:
        posted_id = checks.posted_id(self.request)
        self.load(posted_id)
        if self.is_foreign(posted_id, principals):
            return self.may_create(principals)  # the view answers 400
        if self.sibling is not None:  # POST of an existing id: it is read (§6.3)
            return self._granted("read", principals, self.sibling_id or "")
        return self.may_create(principals)

    def _may_list(self, permission: str, principals: set[str]) -> bool:
        if self._admin(permission, principals):
            return True
        if self.request.authenticated_userid is None:
            raise CannotReadAccounts()
        self.readable_by = ReadableBy(
            frozenset(principals), GRANTED_BY[permission], ACCOUNT.list_uri(ACCOUNT_PARENT)
        )
        return True

    def _may_write(self, principals: set[str], account_id: str) -> bool:
        method = self.request.method
        if self.is_foreign(account_id, principals):
            return method == "PUT" and self.may_create(principals)  # the view answers 400
        exists = self.current is not None
        if method == "PUT" and creates(self.request.headers, exists):
            return self.may_create(principals)
        if not exists:  # readers learn that it is missing (404), others get 401/403
            return self._granted("read", principals, account_id)
        return self._granted("write", principals, account_id)

    def _admin(self, permission: str, principals: set[str]) -> bool:
        settings = self.request.registry.settings
        return settings_grant(settings, ACCOUNT.name, permission, principals)

    def _granted(self, permission: str, principals: set[str], account_id: str) -> bool:
        if self._admin(permission, principals):
            return True
        acl = self.acls.get(account_uri(account_id), {})
        return any(acl.get(held, set()) & principals for held in GRANTED_BY[permission])

    def raise_401_403_if_nothing_listed(self) -> None:
        raise_401_403_if_nothing_listed(self)

    def may_create(self, principals: set[str]) -> bool:
        """``account_create_principals``, or an administrator."""
        return self._admin("create", principals) or self._admin("write", principals)

    def is_foreign(self, account_id: str | None, principals: set[str]) -> bool:
        """Is this an authenticated user, not an administrator, naming another account?"""
        userid = self.request.authenticated_userid
        if userid is None or self._admin("write", principals):
            return False
        return account_id is None or userid != owner(account_id)

    def raise_400_if_foreign(self, account_id: str | None) -> None:
        if self.is_foreign(account_id, set(self.request.principals)):
            raise invalid("body", "data.id", "Username and account ID do not match.")
