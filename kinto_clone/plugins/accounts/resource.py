"""What an account is: its resource type, its data, its owner (§7.3, §1.1).

Accounts are objects of the resource ``account``, all in one list (parent ``""``), so
that their URIs follow the convention of every object (``/accounts/<id>``, see
``resources/types.object_uri``), an administrator can list them all, and a user's view of
the list is filtered by ACL like any other list. Kinto gives each account a list of its
own (parent id = the account id) and special-cases both; the storage layout is not part
of the HTTP API.

An account's data is ``{"password": <bcrypt hash>, ...}``: the password is hashed when
written and shown hashed, like Kinto. Its owner ``account:<id>`` always holds ``write`` on
it, whoever created it (the owner, an administrator, or anonymous sign-up).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import colander

from kinto_clone.backends import Backends
from kinto_clone.errors import ValidationError, detail, invalid
from kinto_clone.resources import objects
from kinto_clone.resources.types import ResourceType, object_uri

ACCOUNT_ID = re.compile(r"^[a-zA-Z0-9][+.@a-zA-Z0-9_-]{0,255}\Z")  # as ID_PATTERN
ACCOUNT_PARENT = ""
PRINCIPAL_PREFIX = "account:"


class _AccountData(colander.MappingSchema):
    # Colander's own messages, as Kinto's: "Required", "123 is not a string: {...}".
    password = colander.SchemaNode(colander.String())


def validate_account(data: dict[str, Any]) -> None:
    """``password`` is a non-empty string; any other field is kept as it is."""
    try:
        _AccountData(unknown="preserve").deserialize(data)
    except colander.Invalid as exc:
        raise ValidationError(
            [
                detail("body", f"data.{name}", description)
                for name, description in exc.asdict().items()
            ]
        ) from exc


def _posted_id_required() -> str:
    """Accounts are named by their user: a POST must give ``data.id``."""
    raise invalid("body", "data.id", "Required")


ACCOUNT = ResourceType(
    "account",
    "accounts",
    None,
    generate_id=_posted_id_required,
    validate=validate_account,
    id_pattern=ACCOUNT_ID,
)


def account_uri(account_id: str) -> str:
    return object_uri(ACCOUNT, ACCOUNT_PARENT, account_id)


def owner(account_id: str) -> str:
    """The principal of the account's user."""
    return PRINCIPAL_PREFIX + account_id


def username_of(userid: str | None) -> str | None:
    """``alice`` for ``account:alice``; None for anonymous and other policies' users."""
    if userid is None or not userid.startswith(PRINCIPAL_PREFIX):
        return None
    return userid[len(PRINCIPAL_PREFIX) :]


def with_hashed_password(
    data: dict[str, Any], current: dict[str, Any] | None, hash_password: Callable[[str], str]
) -> dict[str, Any]:
    """The data to store: validated, with the password hashed.

    A password equal to the stored hash is the stored hash (a PATCH that does not touch
    it, a PUT of the account as read): hashing it again would make the hash the password.
    """
    validate_account(data)
    password = data["password"]
    if current is not None and password == current.get("password"):
        return dict(data)
    return {**data, "password": hash_password(password)}


def get_account(backends: Backends, account_id: str) -> dict[str, Any] | None:
    key = (ACCOUNT.name, ACCOUNT_PARENT, account_id)
    return backends.storage.get_many([key]).get(key)


def store_account(backends: Backends, account_id: str, password_hash: str) -> dict[str, Any]:
    """Create the account, or replace its data by just this password (``create-user``).

    Its owner is added to its ``write`` ACL; other ACEs are kept.
    """
    uri = account_uri(account_id)
    current = get_account(backends, account_id)
    acl = backends.permission.get_objects_permissions([uri]).get(uri, {})
    stored, _ = objects.replace(
        backends,
        ACCOUNT,
        ACCOUNT_PARENT,
        account_id,
        current,
        acl,
        {"password": password_hash},
        None,
        owner(account_id),
    )
    return stored
