"""First pass over a plural request's querystring: its typed reserved parameters.

``_limit``, ``_since``, ``_before``, ``_to``, ``last_modified`` (integers), ``id`` and
``_token`` (strings) are type-checked together, and every error among them is reported at
once, as Kinto's schema does; ``params.py`` then reads the filters, ``_sort``, ``_fields``
and ``_token``, stopping at the first error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinto_clone.errors import ValidationError, detail
from kinto_clone.resources.querying.values import (
    ID_FIELD,
    INTEGER_TEXT,
    MAX_LIMIT,
    MODIFIED_FIELD,
    Raw,
    int_or_none,
    is_int,
    native_value,
)


class _NotANumber(ValueError):
    def __init__(self, shown: str) -> None:
        super().__init__(shown)
        self.description = f'"{shown}" is not a number'


def _schema_integer(raw: str) -> int | None:
    """An integer parameter, read as Kinto's schema reads it: a JSON number (a fraction is
    truncated: ``1.5`` is 1, ``1e3`` is 1000) or a string of digits (``"123"``); ``null``
    is None. Booleans, other strings and non-finite numbers raise _NotANumber.
    """
    value = native_value(raw)
    if value is None or is_int(value):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        number = int_or_none(value)
        if number is not None:
            return number
    # Kinto quotes the string it was given (``"1.5"`` for ``_since="1.5"``), else the raw text.
    raise _NotANumber(value if isinstance(value, str) else raw)


def _is_empty(raw: str) -> bool:
    return native_value(raw) in ("", [], {})


def _bounds_error(name: str, value: int) -> dict[str, Any] | None:
    if value < 0:
        return detail("querystring", name, f"{value} is less than minimum value 0")
    if name == "_limit" and value > MAX_LIMIT:
        return detail("querystring", name, f"{value} is greater than maximum value {MAX_LIMIT}")
    return None


@dataclass
class Reserved:
    """The typed reserved parameters once the first pass accepted them."""

    limit: int | None = None
    # _since, _before, _to and last_modified when given and not empty; None is a JSON null.
    integers: dict[str, int | None] = dataclasses.field(default_factory=dict)
    # ``id`` when it is a string; None for ``id=null`` and other empty values.
    id_value: str | None = None


def validate_reserved(values: Mapping[str, Raw], id_field_is_string: bool) -> Reserved:
    """First pass: type-check the reserved parameters, reporting every error at once.

    An empty value (``""``, ``[]``, ``{}``, or a blank ``_limit``) counts as absent here,
    as for Kinto's schema; the second pass then refuses an empty timestamp parameter
    (``Invalid value for _since``), so that it never means "everything".
    """
    errors: list[dict[str, Any]] = []
    reserved = Reserved()

    for name in _TYPED:
        raw = values.get(name)
        if isinstance(raw, list):
            errors.append(detail("querystring", name, f'"{raw!r}" is not a number'))
            continue
        if raw is None or _is_empty(raw) or (name == "_limit" and not raw.strip()):
            continue
        try:
            number = _schema_integer(raw)
        except _NotANumber as exc:
            errors.append(detail("querystring", name, exc.description))
            continue
        error = None if number is None else _bounds_error(name, number)
        if error is not None:
            errors.append(error)
        elif name == "_limit":
            reserved.limit = number
        else:
            reserved.integers[name] = number

    for name in ("_token", ID_FIELD) if id_field_is_string else ("_token",):
        raw = values.get(name)
        if isinstance(raw, list):
            description = f"{raw!r} is not a string: {{'{name}': ''}}"
            errors.append(detail("querystring", name, description))

    raw_id = values.get(ID_FIELD)
    if id_field_is_string and isinstance(raw_id, str):
        value = native_value(raw_id)
        if isinstance(value, str):
            reserved.id_value = value
        elif value:  # an empty or false value is no id at all: it matches nothing
            # Kinto's schema library words it so, dict repr included (§4.1).
            description = f"{value} is not a string: {{'id': ''}}"
            errors.append(detail("querystring", ID_FIELD, description))

    if errors:
        raise ValidationError(errors)
    return reserved


_TYPED = ("_limit", "_since", "_before", "_to", MODIFIED_FIELD)
