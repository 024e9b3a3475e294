"""The querystring of plural endpoints, as pure functions (``kinto-api.md`` §4).

``parse_list_params`` turns ``request.GET.items()`` into a :class:`ListQuery` (filters,
sorting, limit, keyset of the previous page) plus what the view needs for its headers.
``parse_fields`` and ``project_fields`` serve ``_fields``; ``encode_token`` and
``decode_token`` are the two halves of the ``Next-Page`` continuation token.

Nothing here sees a request or a database: the caller passes the clock (``now_ms``) and
the settings, which keeps every rule testable with plain tables of cases.

Validation happens in two passes, like Kinto's: first the reserved parameters that have a
type (``_limit``, ``_since``, ``_before``, ``_to``, ``id``, ``last_modified``), whose
errors are all reported together; then the filters, ``_sort``, ``_fields`` and
``_token``, which stop at the first error.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from kinto_clone.errors import ValidationError, detail
from kinto_clone.json import too_deep
from kinto_clone.storage import Filter, ListQuery, Op, Sort

ID_FIELD = "id"
MODIFIED_FIELD = "last_modified"
DELETED_FIELD = "deleted"
REVOKED_FIELD = "revoked"  # marks an access-revoked tombstone (README, "Revocations")

MAX_LIMIT = 2**63
# Filter timestamps may run ahead of the server clock by at most a day (§2.3).
TIMESTAMP_HORIZON_MS = 24 * 60 * 60 * 1000
TOKEN_NONCE_PREFIX = "pagination-token-"
MAX_FILTER_DEPTH = 128

DEFAULT_SORTING: tuple[Sort, ...] = (Sort(MODIFIED_FIELD, descending=True),)

# Used with fullmatch: ``$`` alone would also accept a trailing newline.
_OPERATOR_PARAM = re.compile(
    r"(lt|min|max|not|eq|gt|in|exclude|like|has|contains_any|contains)_([\w.]+)"
)
_SORT_ITEM = re.compile(r"[-+]?[\w.]+")
_INTEGER_TEXT = re.compile(r"-?[0-9]+", re.ASCII)

# ``_since`` means "newer than", ``_before`` and its deprecated alias ``_to`` "older than".
_POLLING_PARAMS = {"_since": Op.GT, "_before": Op.LT, "_to": Op.LT}
_LIST_OPS = frozenset({Op.IN, Op.EXCLUDE})
_ARRAY_OPS = frozenset({Op.CONTAINS, Op.CONTAINS_ANY})
_SCALAR_ID_OPS = frozenset({Op.EQ, Op.NOT, Op.LT, Op.GT, Op.MIN, Op.MAX})


@dataclass(frozen=True)
class ParsedList:
    """What a plural GET/HEAD/DELETE asks for, once its querystring is validated."""

    query: ListQuery
    """filters, sorting, effective limit, ``after`` (decoded token), include_deleted;
    ``readable_by`` is left None for the caller."""
    fields: tuple[str, ...] | None
    """``_fields``, None when absent or empty."""
    deprecated_to: bool
    """``_to`` was used: the caller adds the deprecation ``Alert`` header."""
    limit: int
    """Effective page size: ``_limit=`` of the ``Next-Page`` URL. The caller fetches one
    more object than this to know whether there is a next page."""
    token_nonce: str | None = None
    """The nonce of ``_token`` (plural DELETE consumes it once), None without a token."""


# ---------------------------------------------------------------------------------------
# Values


def native_value(raw: str) -> Any:
    """The JSON value of ``raw`` (``1``, ``true``, ``null``, ``"3"``, ``[1,2]``), else ``raw``.

    Non-finite numbers (``NaN``, ``Infinity``, ``1e400``) are not JSON: they stay strings,
    and so do values nested deeper than ``MAX_FILTER_DEPTH`` (the SQL of a filter walks them).
    """
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return raw
    return raw if too_deep(value, MAX_FILTER_DEPTH) else value


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def _is_timestamp(value: Any, now_ms: int) -> bool:
    return _is_int(value) and 0 <= value < now_ms + TIMESTAMP_HORIZON_MS


def _as_timestamp(value: Any, now_ms: int) -> int | None:
    """``value`` as a filter timestamp (int or ETag-style quoted int), None if invalid.

    A fraction is truncated (``lt_last_modified=1.5`` is ``< 1``), as Kinto does."""
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        value = _int_or_none(value)
    elif isinstance(value, float):
        value = int(value)
    return value if _is_timestamp(value, now_ms) else None


def _int_or_none(text: str) -> int | None:
    """``int(text)``, None past Python's 4300 digits (a ValueError, else a 500)."""
    try:
        return int(text)
    except ValueError:
        return None


def _querystring_error(name: str | None, description: str) -> ValidationError:
    return ValidationError([detail("querystring", name, description)])


def _invalid_value(param: str) -> ValidationError:
    return _querystring_error(param, f"Invalid value for {param}")


# ---------------------------------------------------------------------------------------
# Parameters


def _repeated_typed(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Typed parameters given more than once: ``_since=1&_since=2`` is a list to Kinto's
    schema, so no number (a 400, never one of the values: a plural DELETE runs on it)."""
    seen: dict[str, list[str]] = {}
    for name, value in params:
        if name.strip() in _TYPED:
            seen.setdefault(name.strip(), []).append(value)
    return {name: values for name, values in seen.items() if len(values) > 1}


def _last_values(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Names stripped; a repeated name keeps its first position and its last value."""
    values: dict[str, str] = {}
    for name, value in params:
        values[name.strip()] = value
    return values


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
    if value is None or _is_int(value):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = _int_or_none(value)
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
class _Reserved:
    """The typed reserved parameters once the first pass accepted them."""

    limit: int | None = None
    # _since, _before, _to and last_modified when given and not empty; None is a JSON null.
    integers: dict[str, int | None] = dataclasses.field(default_factory=dict)
    # ``id`` when it is a string; None for ``id=null`` and other empty values.
    id_value: str | None = None


def _validate_reserved(
    values: Mapping[str, str],
    id_field_is_string: bool,
    repeated: Mapping[str, list[str]] | None = None,
) -> _Reserved:
    """First pass: type-check the reserved parameters, reporting every error at once.

    An empty value (``""``, ``[]``, ``{}``, or a blank ``_limit``) counts as absent here,
    as for Kinto's schema; the second pass then refuses an empty timestamp parameter
    (``Invalid value for _since``), so that it never means "everything".
    """
    errors: list[dict[str, Any]] = []
    reserved = _Reserved()

    for name in _TYPED:
        if repeated and name in repeated:
            errors.append(detail("querystring", name, f'"{repeated[name]!r}" is not a number'))
            continue
        raw = values.get(name)
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

    if id_field_is_string and ID_FIELD in values:
        value = native_value(values[ID_FIELD])
        if isinstance(value, str):
            reserved.id_value = value
        elif value:  # an empty or false value is no id at all: it matches nothing
            # Kinto's schema library words it so, dict repr included (§4.1).
            # Kinto's schema library words it so, dict repr included (§4.1).
            description = f"{value} is not a string: {{'id': ''}}"
            errors.append(detail("querystring", ID_FIELD, description))

    if errors:
        raise ValidationError(errors)
    return reserved


_TYPED = ("_limit", "_since", "_before", "_to", MODIFIED_FIELD)


def _is_known(field: str, known_fields: frozenset[str] | None) -> bool:
    """Strict schemas know root fields; dotted paths below a known root are accepted."""
    if known_fields is None:
        return True
    root = field.split(".", 1)[0]
    return root in known_fields or root in (ID_FIELD, MODIFIED_FIELD)


def _parse_filter(
    param: str,
    raw: str,
    reserved: _Reserved,
    *,
    now_ms: int,
    known_fields: frozenset[str] | None,
    id_field_is_string: bool,
) -> Filter:
    """One ``[<op>_]<field>=<value>`` parameter as a Filter."""
    match = _OPERATOR_PARAM.fullmatch(param)
    op, field = (Op(match.group(1)), match.group(2)) if match else (Op.EQ, param)

    if not _is_known(field, known_fields):
        raise _querystring_error(param, f"Unknown filter field '{param}'")

    # Reserved names typed by the first pass. ``id=`` filters on the empty id (which no
    # object has) and ``id=null`` (or ``0``, ``[]``) matches nothing; an empty or null
    # ``last_modified`` is no timestamp.
    if param == ID_FIELD and id_field_is_string:
        if reserved.id_value is None:
            return Filter(ID_FIELD, [], Op.IN)
        value: Any = reserved.id_value
    elif param == MODIFIED_FIELD:
        if reserved.integers.get(MODIFIED_FIELD) is None:
            raise _invalid_value(param)
        value = reserved.integers[MODIFIED_FIELD]
    elif op in _LIST_OPS:
        value = [native_value(item) for item in raw.split(",")]
    elif op in _ARRAY_OPS:
        value = native_value(raw)
        if not isinstance(value, list):
            value = [value]
    else:
        value = native_value(raw)

    if "\x00" in param or "\x00" in raw or _has_nul(value):
        raise _querystring_error(param, "Invalid character 0x00")

    if field in (ID_FIELD, MODIFIED_FIELD) and op in _ARRAY_OPS:
        raise _querystring_error(param, f"Field '{field}' is not an array")

    if field == ID_FIELD and id_field_is_string:
        # Ids are strings: a number would never match, and backends compare ids as text.
        if op in _LIST_OPS and not all(isinstance(v, str) for v in value):
            raise _invalid_value(param)
        if op in _SCALAR_ID_OPS and not isinstance(value, str):
            raise _invalid_value(param)

    if field == MODIFIED_FIELD:
        if op in _LIST_OPS:
            if not all(_is_timestamp(v, now_ms) for v in value):
                raise _invalid_value(param)
        else:
            value = _as_timestamp(value, now_ms)
            if value is None:
                raise _invalid_value(param)

    if op is Op.LIKE and not isinstance(value, str):
        raise _invalid_value(param)

    return Filter(field, value, op)


def _polling_filter(param: str, value: int | None, now_ms: int) -> Filter:
    if value is None:
        # `_since=null` is accepted and matches nothing (§4.2, §13.8). Kinto compares with
        # SQL NULL, which no row satisfies; a JSON-ordered backend would read `> null` as
        # "everything" (null sorts first), so we say "nothing" the way every backend
        # agrees on: `last_modified IN ()`.
        return Filter(MODIFIED_FIELD, [], Op.IN)
    if not _is_timestamp(value, now_ms):
        raise _invalid_value(param)
    return Filter(MODIFIED_FIELD, value, _POLLING_PARAMS[param])


def _parse_sorting(raw: str | None, known_fields: frozenset[str] | None) -> tuple[Sort, ...]:
    """``_sort=f1,-f2,+f3``; malformed items are dropped, ``-last_modified`` breaks ties."""
    sorting: list[Sort] = []
    for item in (raw or "").split(","):
        if not _SORT_ITEM.fullmatch(item):
            continue
        descending = item.startswith("-")
        field = item[1:] if item[0] in "+-" else item
        if not _is_known(field, known_fields):
            raise _querystring_error("_sort", f"Unknown sort field '{field}'")
        sorting.append(Sort(field, descending))
    if not any(s.field == MODIFIED_FIELD for s in sorting):
        # A unique-per-list tie-breaker makes the keyset of the pagination token exact.
        sorting.extend(DEFAULT_SORTING)
    return tuple(sorting)


def _parse_fields_value(
    raw: str | None, known_fields: frozenset[str] | None
) -> tuple[str, ...] | None:
    fields = tuple(f for f in (raw or "").split(",") if f)
    if not fields:
        return None
    unknown = list(dict.fromkeys(f for f in fields if not _is_known(f, known_fields)))
    if unknown:
        description = f"Fields {','.join(unknown)} do not exist"
        raise _querystring_error("Invalid _fields parameter", description)
    return fields


def parse_fields(
    params: Sequence[tuple[str, str]], known_fields: frozenset[str] | None = None
) -> tuple[str, ...] | None:
    """``_fields`` of an object GET: the requested names, None when absent or empty."""
    return _parse_fields_value(_last_values(params).get("_fields"), known_fields)


def parse_list_params(
    params: Sequence[tuple[str, str]],
    *,
    now_ms: int,
    paginate_by: int | None,
    max_fetch_size: int,
    known_fields: frozenset[str] | None = None,
    id_field_is_string: bool = True,
) -> ParsedList:
    """Validate the querystring of a plural request and build its ListQuery.

    ``params`` are ``request.GET.items()``: a repeated name keeps its last value.
    ``known_fields`` makes the schema strict (history, permissions): unknown filter, sort
    and ``_fields`` names are rejected; None accepts any name. ``id_field_is_string=False``
    lifts the "ids are strings" checks. Raises ValidationError (400 errno 107).
    """
    values = _last_values(params)
    reserved = _validate_reserved(values, id_field_is_string, _repeated_typed(params))

    filters: list[Filter] = []
    include_deleted = False
    for param, raw in values.items():
        if param in _POLLING_PARAMS:
            if param not in reserved.integers:  # empty: no timestamp, never "everything"
                raise _invalid_value(param)
            filters.append(_polling_filter(param, reserved.integers[param], now_ms))
        elif param.startswith("_"):
            continue
        else:
            parsed = _parse_filter(
                param,
                raw,
                reserved,
                now_ms=now_ms,
                known_fields=known_fields,
                id_field_is_string=id_field_is_string,
            )
            filters.append(parsed)
        # Filtering on timestamps is how clients sync: they must see deletions (§2.4).
        include_deleted = include_deleted or filters[-1].field == MODIFIED_FIELD

    sorting = _parse_sorting(values.get("_sort"), known_fields)
    fields = _parse_fields_value(values.get("_fields"), known_fields)

    limit = effective_limit(reserved.limit, paginate_by, max_fetch_size)

    after: dict[str, Any] | None = None
    nonce: str | None = None
    token = values.get("_token")
    if token:
        last_object, nonce = _read_token(token, now_ms)
        after = _keyset(last_object, sorting)

    query = ListQuery(
        filters=tuple(filters),
        sorting=sorting,
        limit=limit,
        after=after,
        include_deleted=include_deleted,
    )
    return ParsedList(
        query=query,
        fields=fields,
        deprecated_to="_to" in reserved.integers,
        limit=limit,
        token_nonce=nonce,
    )


def effective_limit(requested: int | None, paginate_by: int | None, max_fetch_size: int) -> int:
    """``min(_limit or paginate_by or max_fetch_size, paginate_by, max_fetch_size)``.

    ``_limit=0`` and a zero ``paginate_by`` both mean "not set".
    """
    candidates = [requested or paginate_by or max_fetch_size, max_fetch_size]
    if paginate_by:
        candidates.append(paginate_by)
    return min(candidates)


# ---------------------------------------------------------------------------------------
# Pagination token


def _lookup(obj: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted path."""
    current: Any = obj
    for key in path.split("."):
        if not isinstance(current, Mapping) or key not in current:
            return False, None
        current = current[key]
    return True, current


def _keyset(last_object: Mapping[str, Any], sorting: Sequence[Sort]) -> dict[str, Any]:
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
        found, value = _lookup(last_object, sort.field)
        if found:
            keyset[sort.field] = value
    payload = {
        "last_object": keyset,
        "offset": offset,
        "nonce": nonce or f"{TOKEN_NONCE_PREFIX}{uuid.uuid4()}",
    }
    text = json.dumps(payload, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _read_token(token: str, now_ms: int) -> tuple[dict[str, Any], str | None]:
    """Validated ``(last_object, nonce)`` of a token; the nonce is None if not a string."""
    invalid = _querystring_error(None, "_token has invalid content")
    try:
        text = base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
        payload = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise invalid from None
    if not isinstance(payload, dict):
        raise invalid
    last_object, offset = payload.get("last_object"), payload.get("offset")
    if not isinstance(last_object, dict) or not _is_int(offset) or offset < 0:
        raise invalid
    for key, value in last_object.items():
        # Keyset values are compared with columns: only scalars, never NUL (PostgreSQL).
        if "\x00" in key or not _is_scalar(value) or _has_nul(value):
            raise invalid
    if MODIFIED_FIELD in last_object and not _is_timestamp(last_object[MODIFIED_FIELD], now_ms):
        raise invalid
    nonce = payload.get("nonce")
    return last_object, nonce if isinstance(nonce, str) else None


def decode_token(token: str, sorting: Sequence[Sort], now_ms: int) -> dict[str, Any]:
    """The ``after`` keyset of a ``_token``, restricted to the current sort fields.

    Raises ValidationError ``querystring: _token has invalid content`` for anything that
    is not a token we could have written (§4.3).
    """
    last_object, _nonce = _read_token(token, now_ms)
    return _keyset(last_object, sorting)


# ---------------------------------------------------------------------------------------
# _fields


def _is_tombstone(obj: Mapping[str, Any]) -> bool:
    return obj.get(DELETED_FIELD) is True and set(obj) <= {
        ID_FIELD,
        MODIFIED_FIELD,
        DELETED_FIELD,
        REVOKED_FIELD,
    }


def _copy_path(source: Mapping[str, Any], target: dict[str, Any], path: Sequence[str]) -> None:
    """Copy ``source[path]`` into ``target``, building fresh dicts along the way.

    ``target`` only ever holds dicts we created or whole values of ``source``; we never
    write inside the latter, so the source object is not mutated.
    """
    head, rest = path[0], path[1:]
    if head not in source:
        return
    value = source[head]
    if not rest:
        target[head] = value
        return
    existing = target.get(head)
    if existing is value or not isinstance(value, Mapping):
        return  # the whole value is already there, or there is nothing below
    branch: dict[str, Any] = existing if isinstance(existing, dict) else {}
    _copy_path(value, branch, rest)
    if branch:
        target[head] = branch


def project_fields(obj: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``obj`` reduced to ``id``, ``last_modified`` and ``fields`` (dotted: nested).

    ``author.name`` gives ``{"author": {"name": ...}}``; a missing field is left out;
    tombstones keep their ``deleted`` (and ``revoked``) marker.
    """
    projected = {k: obj[k] for k in (ID_FIELD, MODIFIED_FIELD) if k in obj}
    if _is_tombstone(obj):
        projected[DELETED_FIELD] = True
        if obj.get(REVOKED_FIELD):  # an access-revoked one (resources/revocations.py)
            projected[REVOKED_FIELD] = True
    for field in fields:
        _copy_path(obj, projected, field.split("."))
    return projected
