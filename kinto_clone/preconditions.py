"""Conditional requests: If-Match and If-None-Match (§3.2, §3.3).

Each check is named after what it raises. ``current`` is the object the request targets
(None when it does not exist); ``timestamp`` is its ``last_modified`` or, for plural
endpoints, the list timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kinto_clone.errors import NotModified, PreconditionFailed, invalid
from kinto_clone.storage import ObjectNotFoundError

_QUOTED_INT = re.compile(r'^"(\d+)"$')


def parse_condition(headers: Any, name: str) -> int | str | None:
    """``"123"`` -> 123, ``*`` -> "*", absent -> None; anything else is a 400."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if value == "*":
        return "*"
    match = _QUOTED_INT.match(value)
    # More than 30 digits is no timestamp (and past 4300 int() refuses it: a 500).
    if not match or len(match.group(1)) > 30:
        raise invalid("header", name, "The value should be integer between double quotes.")
    return int(match.group(1))


def creates(headers: Any, exists: bool) -> bool:
    """Whether a PUT creates: the object is missing, or ``If-None-Match: *`` asks for a
    creation (which then needs the create permission, and is a 412 if it exists)."""
    return not exists or headers.get("If-None-Match") == "*"


def raise_412_or_latest(
    storage: Any,
    resource_name: str,
    parent_id: str,
    object_id: str,
    headers: Any,
    loaded: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The object a write targets (PUT, PATCH, DELETE of an object), once its
    preconditions hold (else 412); with If-Match, as the last committed write left it.

    The route context loaded the object before this transaction held any lock: on
    PostgreSQL two web heads (or threads) could both check one ETag against that read and
    both write, the second overwriting the first (a lost update). So lock the list first
    (the lock every write of the list takes anyway) and read the object again: of two
    writes with the same If-Match, the second now sees the first's timestamp and gets 412.
    """
    current = loaded
    # Where write transactions are serialised (no list lock), the loaded object is current.
    if "If-Match" in headers and storage.lock_list(resource_name, parent_id):
        try:
            current = storage.get(resource_name, parent_id, object_id)
        except ObjectNotFoundError:
            current = None
    raise_412_if_object_modified(
        headers, current, lambda: storage.resource_timestamp(resource_name, parent_id)
    )
    return current


def raise_412_if_modified(
    headers: Any,
    current: dict[str, Any] | None,
    timestamp: int | None,
    *,
    plural: bool = False,
    list_timestamp: Callable[[], int] | None = None,
) -> None:
    """If-Match that does not hold, or If-None-Match: * on something that exists.

    An If-Match on an object that does not exist is a 412 that carries the timestamp of
    its list (``list_timestamp``, read only then), as Kinto's."""
    if_match = parse_condition(headers, "If-Match")
    if_none_match = parse_condition(headers, "If-None-Match")
    existing = None if plural else current
    if if_match is not None:
        if not plural and current is None:
            raise PreconditionFailed(None, list_timestamp() if list_timestamp else timestamp)
        if if_match != "*" and if_match != timestamp:
            raise PreconditionFailed(existing, timestamp)
    if if_none_match == "*" and (plural or current is not None):
        raise PreconditionFailed(existing, timestamp)


def raise_412_if_object_modified(
    headers: Any,
    current: dict[str, Any] | None,
    list_timestamp: Callable[[], int] | None = None,
) -> None:
    """``raise_412_if_modified`` for one object (None: it does not exist)."""
    last_modified = current["last_modified"] if current else None
    raise_412_if_modified(headers, current, last_modified, list_timestamp=list_timestamp)


def raise_304_if_not_modified(headers: Any, timestamp: int | None) -> None:
    """If-None-Match with the current ETag on a read."""
    if timestamp is not None and parse_condition(headers, "If-None-Match") == timestamp:
        raise NotModified(timestamp)
