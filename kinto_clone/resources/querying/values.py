"""The values of a querystring: its parameters grouped by name (``grouped``), JSON
values, integers, timestamps, and its 400 errors.

Shared by both passes (``reserved.py``, ``params.py``) and the pagination token
(``token.py``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, TypeGuard

from kinto_clone.errors import ValidationError, detail
from kinto_clone.json import too_deep

ID_FIELD = "id"
MODIFIED_FIELD = "last_modified"
DELETED_FIELD = "deleted"
REVOKED_FIELD = "revoked"  # marks an access-revoked tombstone (README, "Revocations")

MAX_LIMIT = 2**63
# Filter timestamps may run ahead of the server clock by at most a day (§2.3).
TIMESTAMP_HORIZON_MS = 24 * 60 * 60 * 1000
TOKEN_NONCE_PREFIX = "pagination-token-"
MAX_FILTER_DEPTH = 128

INTEGER_TEXT = re.compile(r"-?[0-9]+", re.ASCII)


def native_value(raw: str) -> Any:
    """The JSON value of ``raw`` (``1``, ``true``, ``null``, ``"3"``, ``[1,2]``), else ``raw``.

    Non-finite numbers (``NaN``, ``Infinity``, ``1e400``) are not JSON: they stay strings,
    and so do values nested deeper than ``MAX_FILTER_DEPTH`` (the SQL of a filter walks them).
    """
    if JSON_INTEGER.fullmatch(raw):  # the common case (``_limit=100``, ``_since=...``)
        return int(raw)
    try:
        value = _DECODER.decode(raw)
    except (ValueError, RecursionError):
        return raw
    return raw if too_deep(value, MAX_FILTER_DEPTH) else value


def reject_constant(name: str) -> Any:
    raise ValueError(name)


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


# A short integer as JSON writes it (no leading zero, no sign but "-"; longer ones take
# the decoder's path and its limits), and the decoder of the rest (built once:
# ``json.loads`` with arguments builds one per call).
JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,17})", re.ASCII)
_DECODER = json.JSONDecoder(parse_constant=reject_constant, parse_float=finite_float)


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


def is_timestamp(value: Any, now_ms: int) -> bool:
    return is_int(value) and 0 <= value < now_ms + TIMESTAMP_HORIZON_MS


def as_timestamp(value: Any, now_ms: int) -> int | None:
    """``value`` as a filter timestamp (int or ETag-style quoted int), None if invalid.

    A fraction is truncated (``lt_last_modified=1.5`` is ``< 1``), as Kinto does."""
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
        value = int_or_none(value)
    elif isinstance(value, float):
        value = int(value)
    return value if is_timestamp(value, now_ms) else None


def int_or_none(text: str) -> int | None:
    """``int(text)``, None past Python's 4300 digits (a ValueError, else a 500)."""
    try:
        return int(text)
    except ValueError:
        return None


def querystring_error(name: str | None, description: str) -> ValidationError:
    return ValidationError([detail("querystring", name, description)])


def invalid_value(param: str) -> ValidationError:
    return querystring_error(param, f"Invalid value for {param}")


Raw = str | list[str]  # a parameter's value; a list when the name is repeated


def grouped(params: Sequence[tuple[str, str]]) -> dict[str, Raw]:
    """Names stripped; a name given more than once is the list of its values, as Kinto's
    schema reads it (never one of them: a plural DELETE would run on it). Each reader
    says what such a list means: a 400 for a number or a string (``_since``, ``_token``,
    ``id``), whole names for ``_fields`` and ``_sort``, a list value for a filter."""
    values: dict[str, Raw] = {}
    for name, value in params:
        name = name.strip()
        if name not in values:
            values[name] = value
        else:
            previous = values[name]
            values[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return values


def items(raw: Raw | None) -> list[str]:
    """``a,b`` is two items; a repeated parameter is one item per value, whole."""
    if raw is None:
        return []
    return raw if isinstance(raw, list) else raw.split(",")
