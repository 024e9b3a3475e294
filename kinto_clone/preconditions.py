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


def latest_for_write(
    storage: Any,
    resource_name: str,
    parent_id: str,
    object_id: str,
    headers: Any,
    loaded: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The targeted object as the last committed write left it, for a write with If-Match.

    The route context loaded the object before this transaction held any lock: on
    PostgreSQL two web heads (or threads) could both check one ETag against that read and
    both write, the second overwriting the first (a lost update). So lock the list first
    (the lock every write of the list takes anyway) and read the object again: of two
    writes with the same If-Match, the second now sees the first's timestamp and gets 412.
    """
    if "If-Match" not in headers:
        return loaded
    if not storage.lock_list(resource_name, parent_id):
        return loaded  # write transactions are serialised: the loaded object is current
    try:
        return storage.get(resource_name, parent_id, object_id)
    except ObjectNotFoundError:
        return None


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


def raise_304_if_not_modified(headers: Any, timestamp: int | None) -> None:
    """If-None-Match with the current ETag on a read."""
    if timestamp is not None and parse_condition(headers, "If-None-Match") == timestamp:
        raise NotModified(timestamp)
