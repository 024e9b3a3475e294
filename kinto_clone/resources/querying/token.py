"""The ``Next-Page`` continuation token: ``encode_token`` and its reading (§4.3).

The token carries the keyset of the last object of a page (its values of the sort
fields), which the next page starts after, and a nonce that a plural DELETE consumes once.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kinto_clone.resources.querying.values import (
    MODIFIED_FIELD,
    TOKEN_NONCE_PREFIX,
    finite_float,
    has_nul,
    is_int,
    is_scalar,
    is_timestamp,
    querystring_error,
    reject_constant,
)
from kinto_clone.storage import Sort


def lookup(obj: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted path (also used by resources/selection.py)."""
    current: Any = obj
    for key in path.split("."):
        if not isinstance(current, (dict, Mapping)) or key not in current:
            return False, None
        current = current[key]
    return True, current


def keyset(last_object: Mapping[str, Any], sorting: Sequence[Sort]) -> dict[str, Any]:
    return {s.field: last_object[s.field] for s in sorting if s.field in last_object}


def encode_token(
    last_object: dict[str, Any],
    sorting: Sequence[Sort],
    offset: int,
    nonce: str | None = None,
) -> str:
    """The ``_token`` that continues after ``last_object`` (the last object of a page).

    Base64 (standard, padded) of ``{"last_object": {sort field: value}, "offset": n,
    "nonce": "pagination-token-<uuid4>"}``. Dotted sort fields are looked up in the object
    and stored under their dotted name; fields the object lacks are left out.
    """
    keyset: dict[str, Any] = {}
    for sort in sorting:
        found, value = lookup(last_object, sort.field)
        if found:
            keyset[sort.field] = value
    payload = {
        "last_object": keyset,
        "offset": offset,
        "nonce": nonce or f"{TOKEN_NONCE_PREFIX}{uuid.uuid4()}",
    }
    text = json.dumps(payload, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def read_token(token: str, now_ms: int) -> tuple[dict[str, Any], str | None, int]:
    """Validated ``(last_object, nonce, offset)`` of a token; the nonce is None if not a
    string."""
    invalid = querystring_error(None, "_token has invalid content")
    try:
        text = base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
        payload = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    except (ValueError, RecursionError):
        raise invalid from None
    if not isinstance(payload, dict):
        raise invalid
    last_object, offset = payload.get("last_object"), payload.get("offset")
    if not isinstance(last_object, dict) or not is_int(offset) or offset < 0:
        raise invalid
    for key, value in last_object.items():
        # Keyset values are compared with columns: only scalars, never NUL (PostgreSQL).
        if "\x00" in key or not is_scalar(value) or has_nul(value):
            raise invalid
    if MODIFIED_FIELD in last_object and not is_timestamp(last_object[MODIFIED_FIELD], now_ms):
        raise invalid
    nonce = payload.get("nonce")
    return last_object, nonce if isinstance(nonce, str) else None, int(offset)


def decode_token(token: str, sorting: Sequence[Sort], now_ms: int) -> dict[str, Any]:
    """The ``after`` keyset of a ``_token``, restricted to the current sort fields.

    Raises ValidationError ``querystring: _token has invalid content`` for anything that
    is not a token we could have written (§4.3).
    """
    last_object, _nonce, _offset = read_token(token, now_ms)
    return keyset(last_object, sorting)
