"""The parameters of a plural request: ``parse_list_params`` and ``parse_fields``.

Validation happens in two passes, like Kinto's: first the reserved parameters that have a
type (``_limit``, ``_since``, ``_before``, ``_to``, ``id``, ``last_modified``), whose
errors are all reported together; then the filters, ``_sort``, ``_fields`` and
``_token``, which stop at the first error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kinto_clone.errors import ValidationError, detail
from kinto_clone.resources.querying.token import keyset, read_token
from kinto_clone.resources.querying.values import (
    ID_FIELD,
    INTEGER_TEXT,
    MAX_LIMIT,
    MODIFIED_FIELD,
    as_timestamp,
    has_nul,
    int_or_none,
    invalid_value,
    is_int,
    is_timestamp,
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


Raw = str | list[str]  # a parameter's value; a list when the name is repeated


def _grouped(params: Sequence[tuple[str, str]]) -> dict[str, Raw]:
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


def _items(raw: Raw | None) -> list[str]:
    """``a,b`` is two items; a repeated parameter is one item per value, whole."""
    if raw is None:
        return []
    return raw if isinstance(raw, list) else raw.split(",")


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
class _Reserved:
    """The typed reserved parameters once the first pass accepted them."""

    limit: int | None = None
    # _since, _before, _to and last_modified when given and not empty; None is a JSON null.
    integers: dict[str, int | None] = dataclasses.field(default_factory=dict)
    # ``id`` when it is a string; None for ``id=null`` and other empty values.
    id_value: str | None = None


def _validate_reserved(values: Mapping[str, Raw], id_field_is_string: bool) -> _Reserved:
    """First pass: type-check the reserved parameters, reporting every error at once.

    An empty value (``""``, ``[]``, ``{}``, or a blank ``_limit``) counts as absent here,
    as for Kinto's schema; the second pass then refuses an empty timestamp parameter
    (``Invalid value for _since``), so that it never means "everything".
    """
    errors: list[dict[str, Any]] = []
    reserved = _Reserved()

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


def _is_known(field: str, known_fields: frozenset[str] | None) -> bool:
    """Strict schemas know root fields; dotted paths below a known root are accepted."""
    if known_fields is None:
        return True
    root = field.split(".", 1)[0]
    return root in known_fields or root in (ID_FIELD, MODIFIED_FIELD)


def _parse_filter(
    param: str,
    raw: Raw,
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

    if "\x00" in param or any("\x00" in item for item in _items(raw)) or has_nul(value):
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

    return Filter(field, value, op)


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
    for item in _items(raw):
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
    fields = tuple(f for f in _items(raw) if f)
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
    return _parse_fields_value(_grouped(params).get("_fields"), known_fields)


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
    values = _grouped(params)
    reserved = _validate_reserved(values, id_field_is_string)

    filters: list[Filter] = []
    include_deleted = False
    for param, raw in values.items():
        if param in _POLLING_PARAMS:
            if param not in reserved.integers:  # empty: no timestamp, never "everything"
                raise invalid_value(param)
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
    if isinstance(token, str) and token:  # a repeated one was refused above
        last_object, nonce = read_token(token, now_ms)
        after = keyset(last_object, sorting)

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
