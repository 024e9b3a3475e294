"""The parameters of a plural request: ``parse_list_params`` and ``parse_fields``.

Validation happens in two passes, like Kinto's: first the reserved parameters that have a
type (``_limit``, ``_since``, ``_before``, ``_to``, ``id``, ``last_modified``), whose
errors are all reported together (``reserved.py``); then, here, the filters, ``_sort``,
``_fields`` and ``_token``, which stop at the first error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kinto_clone.errors import ValidationError
from kinto_clone.resources.querying.reserved import Reserved, validate_reserved
from kinto_clone.resources.querying.token import keyset, read_token
from kinto_clone.resources.querying.values import (
    ID_FIELD,
    MODIFIED_FIELD,
    Raw,
    as_timestamp,
    grouped,
    has_nul,
    invalid_value,
    is_timestamp,
    items,
    native_value,
    querystring_error,
)
from kinto_clone.storage import Filter, ListQuery, Op, Sort

DEFAULT_SORTING: tuple[Sort, ...] = (Sort(MODIFIED_FIELD, descending=True),)

# Used with fullmatch: ``$`` alone would also accept a trailing newline.
_OPERATOR_PARAM = re.compile(
    r"(lt|min|max|not|eq|gt|in|exclude|like|has|contains_any|contains)_([\w.]+)"
)
_SORT_ITEM = re.compile(r"[-+]?[\w.]+")

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


def _is_known(field: str, known_fields: frozenset[str] | None) -> bool:
    """Strict schemas know root fields; dotted paths below a known root are accepted."""
    if known_fields is None:
        return True
    root = field.split(".", 1)[0]
    return root in known_fields or root in (ID_FIELD, MODIFIED_FIELD)


def _parse_filter(
    param: str,
    raw: Raw,
    reserved: Reserved,
    *,
    now_ms: int,
    known_fields: frozenset[str] | None,
    id_field_is_string: bool,
) -> Filter:
    """One ``[<op>_]<field>=<value>`` parameter as a Filter."""
    match = _OPERATOR_PARAM.fullmatch(param)
    op, field = (Op(match.group(1)), match.group(2)) if match else (Op.EQ, param)

    if not _is_known(field, known_fields):
        raise querystring_error(param, f"Unknown filter field '{param}'")

    # Reserved names typed by the first pass. ``id=`` filters on the empty id (which no
    # object has) and ``id=null`` (or ``0``, ``[]``) matches nothing; an empty or null
    # ``last_modified`` is no timestamp.
    if param == ID_FIELD and id_field_is_string:
        if reserved.id_value is None:
            return Filter(ID_FIELD, [], Op.IN)
        value: Any = reserved.id_value
    elif param == MODIFIED_FIELD:
        if reserved.integers.get(MODIFIED_FIELD) is None:
            raise invalid_value(param)
        value = reserved.integers[MODIFIED_FIELD]
    elif isinstance(raw, list):
        value = _repeated_filter_value(param, op, raw)
    elif op in _LIST_OPS:
        value = [native_value(item) for item in raw.split(",")]
    elif op in _ARRAY_OPS:
        value = native_value(raw)
        if not isinstance(value, list):
            value = [value]
    else:
        value = native_value(raw)

    value = _checked_value(
        param, raw, field, op, value, now_ms=now_ms, id_field_is_string=id_field_is_string
    )
    return Filter(field, value, op)


def _checked_value(
    param: str,
    raw: Raw,
    field: str,
    op: Op,
    value: Any,
    *,
    now_ms: int,
    id_field_is_string: bool,
) -> Any:
    """The value of a filter once refused when invalid for its field and operator (a
    ``last_modified`` becomes an integer timestamp)."""
    if "\x00" in param or any("\x00" in item for item in items(raw)) or has_nul(value):
        raise querystring_error(param, "Invalid character 0x00")

    if field in (ID_FIELD, MODIFIED_FIELD) and op in _ARRAY_OPS:
        raise querystring_error(param, f"Field '{field}' is not an array")

    if field == ID_FIELD and id_field_is_string:
        # Ids are strings: a number would never match, and backends compare ids as text.
        if op in _LIST_OPS and not all(isinstance(v, str) for v in value):
            raise invalid_value(param)
        if op in _SCALAR_ID_OPS and not isinstance(value, str):
            raise invalid_value(param)

    if field == MODIFIED_FIELD:
        if op in _LIST_OPS:
            if not all(is_timestamp(v, now_ms) for v in value):
                raise invalid_value(param)
        else:
            value = as_timestamp(value, now_ms)
            if value is None:
                raise invalid_value(param)

    if op is Op.LIKE and not isinstance(value, str):
        raise invalid_value(param)

    return value


def _repeated_filter_value(param: str, op: Op, raw: list[str]) -> Any:
    """A filter given more than once, read as Kinto reads the list: ``in``/``exclude``
    take each value whole (``in_n=1&in_n=2,3``: 1 or "2,3"); ``has`` is true; ``like``
    is a 400; every other operator compares with the list of the values as sent
    (``s=a&s=b`` matches ``["a", "b"]``, ``n=1&n=2`` no number)."""
    if op in _LIST_OPS:
        return [native_value(item) for item in raw]
    if op is Op.HAS:
        return True
    if op is Op.LIKE:
        raise invalid_value(param)
    return list(raw)


def _polling_filter(param: str, value: int | None, now_ms: int) -> Filter:
    if value is None:
        # `_since=null` is accepted and matches nothing (§4.2, §13.8). Kinto compares with
        # SQL NULL, which no row satisfies; a JSON-ordered backend would read `> null` as
        # "everything" (null sorts first), so we say "nothing" the way every backend
        # agrees on: `last_modified IN ()`.
        return Filter(MODIFIED_FIELD, [], Op.IN)
    if not is_timestamp(value, now_ms):
        raise invalid_value(param)
    return Filter(MODIFIED_FIELD, value, _POLLING_PARAMS[param])


def _parse_sorting(raw: Raw | None, known_fields: frozenset[str] | None) -> tuple[Sort, ...]:
    """``_sort=f1,-f2,+f3``; malformed items are dropped, ``-last_modified`` breaks ties."""
    sorting: list[Sort] = []
    for item in items(raw):
        if not _SORT_ITEM.fullmatch(item):
            continue
        descending = item.startswith("-")
        field = item[1:] if item[0] in "+-" else item
        if not _is_known(field, known_fields):
            raise querystring_error("_sort", f"Unknown sort field '{field}'")
        sorting.append(Sort(field, descending))
    if not any(s.field == MODIFIED_FIELD for s in sorting):
        # A unique-per-list tie-breaker makes the keyset of the pagination token exact.
        sorting.extend(DEFAULT_SORTING)
    return tuple(sorting)


def _parse_fields_value(
    raw: Raw | None, known_fields: frozenset[str] | None
) -> tuple[str, ...] | None:
    fields = tuple(f for f in items(raw) if f)
    if not fields:
        return None
    unknown = list(dict.fromkeys(f for f in fields if not _is_known(f, known_fields)))
    if unknown:
        description = f"Fields {','.join(unknown)} do not exist"
        raise querystring_error("Invalid _fields parameter", description)
    return fields


def parse_fields(
    params: Sequence[tuple[str, str]], known_fields: frozenset[str] | None = None
) -> tuple[str, ...] | None:
    """``_fields`` of an object GET: the requested names, None when absent or empty."""
    return _parse_fields_value(grouped(params).get("_fields"), known_fields)


def _parse_filters(
    values: Mapping[str, Raw],
    reserved: Reserved,
    now_ms: int,
    known_fields: frozenset[str] | None,
    id_field_is_string: bool,
) -> tuple[Filter, ...]:
    """Second pass: the polling parameters and the filters, in the querystring's order
    (names starting with ``_`` are no filters)."""
    filters: list[Filter] = []
    for param, raw in values.items():
        if param in _POLLING_PARAMS:
            if param not in reserved.integers:  # empty: no timestamp, never "everything"
                raise invalid_value(param)
            filters.append(_polling_filter(param, reserved.integers[param], now_ms))
        elif not param.startswith("_"):
            parsed = _parse_filter(
                param,
                raw,
                reserved,
                now_ms=now_ms,
                known_fields=known_fields,
                id_field_is_string=id_field_is_string,
            )
            filters.append(parsed)
    return tuple(filters)


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

    ``params`` are ``request.GET.items()``: a repeated name is the list of its values.
    ``known_fields`` makes the schema strict (history, permissions): unknown filter, sort
    and ``_fields`` names are rejected; None accepts any name. ``id_field_is_string=False``
    lifts the "ids are strings" checks. Raises ValidationError (400 errno 107).
    """
    values = grouped(params)
    reserved = validate_reserved(values, id_field_is_string)
    try:
        return _parse_values(
            values, reserved, now_ms, paginate_by, max_fetch_size, known_fields, id_field_is_string
        )
    except ValidationError as exc:
        raise UnusableValue(exc.details or []) from exc


def check_reserved(params: Sequence[tuple[str, str]], id_field_is_string: bool = True) -> None:
    """The first pass of ``parse_list_params`` alone: the types of the reserved
    parameters, each bad one listed (checked with the request's headers and body)."""
    validate_reserved(grouped(params), id_field_is_string)


class UnusableValue(ValidationError):
    """A parameter of the right type whose value cannot be used (a filter's value, an
    empty ``_since``, ``_token``): Kinto finds it after the list's preconditions, so a 412
    or 304 comes first; a type error (the first pass) comes before them."""


def _parse_values(
    values: Mapping[str, Raw],
    reserved: Reserved,
    now_ms: int,
    paginate_by: int | None,
    max_fetch_size: int,
    known_fields: frozenset[str] | None,
    id_field_is_string: bool,
) -> ParsedList:
    """The second pass: filters, sorting, fields, limit and token."""
    filters = _parse_filters(values, reserved, now_ms, known_fields, id_field_is_string)
    # Filtering on timestamps is how clients sync: they must see deletions (§2.4).
    include_deleted = any(f.field == MODIFIED_FIELD for f in filters)

    sorting = _parse_sorting(values.get("_sort"), known_fields)
    fields = _parse_fields_value(values.get("_fields"), known_fields)

    limit = effective_limit(reserved.limit, paginate_by, max_fetch_size)

    after: dict[str, Any] | None = None
    nonce: str | None = None
    token = values.get("_token")
    if isinstance(token, str) and token:  # a repeated one was refused above
        last_object, nonce = read_token(token, now_ms)
        after = keyset(last_object, sorting)

    query = ListQuery(
        filters=filters,
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
