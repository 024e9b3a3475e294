"""Filters, sorting and keyset pagination on object fields, for both SQL dialects.

A field is ``id`` or ``last_modified`` (columns) or a dotted path into ``data``. Each
dialect reads a data field its own way (``JSONBField``: jsonb operators on PostgreSQL;
``SQLiteField``: JSON1 functions) behind one small interface, ``Field``; the operators'
semantics (§4.2), the sort order (§4.3) and the keyset conditions are written once, on
top of it, in ``filter_condition``, ``order_by`` and ``after_condition``.

The order is PostgreSQL's jsonb order, which Kinto exposes:
null < string < number < boolean < array < object, a missing field after everything
(ascending; first when descending). Booleans are never equal to numbers.
"""

from __future__ import annotations

import abc
import functools
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from kinto_clone.db import in_values
from kinto_clone.json import type_rank
from kinto_clone.storage import Filter, Op, Sort
from kinto_clone.tables import objects

Condition = ColumnElement[bool]

# Type instances, built once: a type given as a class is instantiated for each expression,
# and each new instance computes its cache key again (a sort on a data field built 9 per
# request; bench/instructions.py "sorted").
_JSONB, _TEXT = JSONB(), sa.Text()

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _like_pattern(value: str) -> str:
    """``*`` is the only wildcard; ``%`` and ``_`` are literal (Kinto leaves them active,
    which makes ``like_id=a_b`` also match ``axb``). No ``*`` at all means "contains"."""
    if "*" not in value:
        value = f"*{value}*"
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


class Field(abc.ABC):
    """How one sortable, filterable field reads in SQL. Conditions other than ``present``
    are only meaningful where the field is present (they may be NULL elsewhere)."""

    present: Condition

    @abc.abstractmethod
    def equals_any(self, values: Sequence[Any]) -> Condition: ...

    @abc.abstractmethod
    def compare(self, op: str, value: Any) -> Condition: ...

    @abc.abstractmethod
    def like(self, pattern: str) -> Condition: ...

    @abc.abstractmethod
    def contains(self, values: Sequence[Any], *, any_: bool) -> Condition: ...

    @abc.abstractmethod
    def order_by(self, descending: bool) -> list[ColumnElement[Any]]: ...


class ColumnField(Field):
    """``id`` (a string) or ``last_modified`` (a number): always present."""

    def __init__(self, column: sa.Column[Any], rank: int) -> None:
        self.column = column
        self.rank = rank
        self.present = sa.true()

    def _fits(self, value: Any) -> bool:
        return type_rank(value) == self.rank

    def equals_any(self, values: Sequence[Any]) -> Condition:
        fitting = [v for v in values if self._fits(v)]
        return in_values(self.column, fitting) if fitting else sa.false()

    def compare(self, op: str, value: Any) -> Condition:
        if not self._fits(value):  # JSON ordering decides without looking at the rows
            return sa.true() if _COMPARE[op](self.rank, type_rank(value)) else sa.false()
        return _COMPARE[op](self.column, value)

    def like(self, pattern: str) -> Condition:
        return self.column.ilike(pattern, escape="\\") if self.rank == 1 else sa.false()

    def contains(self, values: Sequence[Any], *, any_: bool) -> Condition:
        return sa.false()

    def order_by(self, descending: bool) -> list[ColumnElement[Any]]:
        return [self.column.desc() if descending else self.column.asc()]


class JSONBField(Field):
    """PostgreSQL: ``data -> 'a' -> 'b'`` compared to jsonb values; jsonb ordering is
    exactly the JSON ordering above, and a missing path is SQL NULL."""

    def __init__(self, keys: Sequence[str]) -> None:
        # Explicit "->" rather than SQLAlchemy's jsonb subscript (data['a']), which reads
        # data['a']['0'] as an array index where "->" and SQLite's path see a missing key.
        parent: ColumnElement[Any] = sa.type_coerce(objects.c.data, _JSONB)
        for key in keys[:-1]:
            parent = parent.op("->", return_type=_JSONB)(sa.literal(key, _TEXT))
        last = sa.literal(keys[-1], _TEXT)
        self.expr: ColumnElement[Any] = parent.op("->", return_type=_JSONB)(last)
        self.text: ColumnElement[str] = parent.op("->>", return_type=_TEXT)(last)
        self.present = self.expr.is_not(None)

    def equals_any(self, values: Sequence[Any]) -> Condition:
        # Plain jsonb equality, exact like SQLite's (1 = 1.0, true != 1, "1" != 1).
        # Containment (`data @> {"a": v}`) would only pay off with a GIN index, and is
        # partial for objects.
        if not values:
            return sa.false()
        if len(values) == 1:
            return self.expr.op("=", is_comparison=True)(_jsonb(values[0]))
        return self.expr.in_([_jsonb(v) for v in values])

    def compare(self, op: str, value: Any) -> Condition:
        return self.expr.op(op, is_comparison=True)(_jsonb(value))

    def like(self, pattern: str) -> Condition:
        return sa.and_(
            sa.func.jsonb_typeof(self.expr) == "string",
            self.text.ilike(pattern, escape="\\"),
        )

    def contains(self, values: Sequence[Any], *, any_: bool) -> Condition:
        # A non-array never contains an array, so `@>` alone rejects non-array fields.
        contains = self.expr.op("@>", is_comparison=True)
        if not any_:
            return contains(_jsonb(list(values)))
        return sa.or_(sa.false(), *(contains(_jsonb([v])) for v in values))

    def order_by(self, descending: bool) -> list[ColumnElement[Any]]:
        return [self.expr.desc().nulls_first() if descending else self.expr.asc().nulls_last()]


def _jsonb(value: Any) -> ColumnElement[Any]:
    return sa.literal(value, _JSONB)


_SQLITE_RANKS = {
    "null": 0,
    "text": 1,
    "integer": 2,
    "real": 2,
    "true": 3,
    "false": 3,
    "array": 4,
    "object": 5,
}


def _sqlite_equals_any(
    json_type: ColumnElement[Any], value: ColumnElement[Any], values: Sequence[Any]
) -> Condition:
    """``(type, value)`` as SQLite's JSON1 reports them, equal to one of ``values``:
    grouped by JSON type so that a boolean never equals a number (true is 1 to SQLite)."""
    nulls = [v for v in values if v is None]
    bools = {"true" if v else "false" for v in values if isinstance(v, bool)}
    numbers = [_sqlite_number(v) for v in values if type_rank(v) == 2]
    strings = [v for v in values if isinstance(v, str)]
    containers = [_sqlite_json(v) for v in values if type_rank(v) >= 4]
    parts: list[Condition] = []
    if nulls:
        parts.append(json_type == "null")
    if bools:
        parts.append(json_type.in_(sorted(bools)))
    if numbers:
        parts.append(sa.and_(json_type.in_(("integer", "real")), value.in_(numbers)))
    if strings:
        parts.append(sa.and_(json_type == "text", value.in_(strings)))
    if containers:
        parts.append(sa.and_(json_type.in_(("array", "object")), value.in_(containers)))
    return sa.or_(sa.false(), *parts)


def _sqlite_json(value: Any) -> ColumnElement[Any]:
    """A list or dict as SQLite writes it (minified text), to compare with json_extract."""
    return sa.func.json(orjson.dumps(value).decode())


def _sqlite_number(value: Any) -> Any:
    """An integer beyond 64 bits as the float json_extract reads it (SQLite cannot bind
    it: an OverflowError, a 500); beyond the doubles, an infinity, as json_extract too."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)  # json_extract reads true/false as 1/0
    return _sqlite_json(value) if type_rank(value) >= 4 else _sqlite_number(value)


class SQLiteField(Field):
    """SQLite: ``json_type`` gives the JSON type (NULL when missing), ``json_extract`` the
    value; the type rank is emulated with a CASE so that cross-type comparisons and
    sorting follow PostgreSQL. Arrays and objects compare as their JSON text (PostgreSQL
    compares them structurally): exact for equality of the same text, approximate order."""

    def __init__(self, keys: Sequence[str]) -> None:
        path = "$" + "".join(f'."{key}"' for key in keys)
        self.path = path
        self.json_type = sa.func.json_type(objects.c.data, path)
        self.value = sa.func.json_extract(objects.c.data, path)
        self.rank = sa.case(_SQLITE_RANKS, value=self.json_type)
        self.present = self.json_type.is_not(None)

    def equals_any(self, values: Sequence[Any]) -> Condition:
        return _sqlite_equals_any(self.json_type, self.value, values)

    def compare(self, op: str, value: Any) -> Condition:
        rank = type_rank(value)
        if value is None:  # every null is equal: the rank decides alone
            return _COMPARE[op](self.rank, rank)
        strict = _COMPARE[op[0]]
        return sa.or_(
            strict(self.rank, rank),
            sa.and_(self.rank == rank, _COMPARE[op](self.value, _sqlite_value(value))),
        )

    def like(self, pattern: str) -> Condition:
        return sa.and_(self.json_type == "text", self.value.ilike(pattern, escape="\\"))

    def contains(self, values: Sequence[Any], *, any_: bool) -> Condition:
        def has_element(wanted: Sequence[Any]) -> Condition:
            items = sa.func.json_each(objects.c.data, self.path).table_valued("type", "value")
            match = _sqlite_equals_any(items.c.type, items.c.value, wanted)
            return sa.select(sa.literal(1)).select_from(items).where(match).exists()

        if any_:
            return (
                sa.and_(self.json_type == "array", has_element(values)) if values else (sa.false())
            )
        return sa.and_(self.json_type == "array", *(has_element([v]) for v in values))

    def order_by(self, descending: bool) -> list[ColumnElement[Any]]:
        if descending:
            return [self.rank.desc().nulls_first(), self.value.desc()]
        return [self.rank.asc().nulls_last(), self.value.asc()]


def _operator_condition(field: Field, op: Op, value: Any) -> Condition:
    """Kinto's semantics on missing fields: ``not``, ``exclude``, ``gt``, ``min`` match
    them (a missing field sorts after everything), the other operators do not."""
    absent = sa.not_(field.present)
    if op is Op.EQ:
        return field.equals_any([value])
    if op is Op.NOT:
        return sa.or_(absent, sa.not_(field.equals_any([value])))
    if op is Op.IN:
        return field.equals_any(_as_list(value))
    if op is Op.EXCLUDE:
        return sa.or_(absent, sa.not_(field.equals_any(_as_list(value))))
    if op in (Op.LT, Op.MAX):
        return field.compare("<" if op is Op.LT else "<=", value)
    if op in (Op.GT, Op.MIN):
        return sa.or_(absent, field.compare(">" if op is Op.GT else ">=", value))
    if op is Op.LIKE:
        return field.like(_like_pattern(value)) if isinstance(value, str) else sa.false()
    if op is Op.HAS:
        return field.present if value else absent
    if op in (Op.CONTAINS, Op.CONTAINS_ANY):
        return field.contains(_as_list(value), any_=op is Op.CONTAINS_ANY)
    raise ValueError(f"unknown filter operator {op!r}")


@functools.lru_cache(maxsize=1024)
def field(name: str, *, postgresql: bool) -> Field:
    """The field named ``name``. Cached: SQL expressions are immutable, and building the
    SQLite type-rank CASE for every statement would cost more than running it."""
    if name == "id":
        return ColumnField(objects.c.id, rank=1)
    if name == "last_modified":
        return ColumnField(objects.c.last_modified, rank=2)
    keys = name.split(".")
    return JSONBField(keys) if postgresql else SQLiteField(keys)


def filter_condition(filter_: Filter, *, postgresql: bool) -> Condition:
    return _operator_condition(
        field(filter_.field, postgresql=postgresql), filter_.op, filter_.value
    )


def order_by(sorting: Iterable[Sort], *, postgresql: bool) -> list[ColumnElement[Any]]:
    return [
        clause
        for sort in sorting
        for clause in field(sort.field, postgresql=postgresql).order_by(sort.descending)
    ]


def after_condition(
    sorting: Sequence[Sort], after: dict[str, Any], *, postgresql: bool
) -> Condition:
    """Keyset pagination: objects strictly after ``after`` in the sort order, i.e.
    ``OR_k (s_1 = v_1 AND ... AND s_k-1 = v_k-1 AND s_k beyond v_k)``. A key absent from
    ``after`` means that object lacked the field: missing sorts last ascending (nothing is
    beyond it) and first descending (every present value is beyond it)."""
    branches: list[Condition] = []
    equal_so_far: list[Condition] = []
    for sort in sorting:
        f = field(sort.field, postgresql=postgresql)
        known = sort.field in after
        value = after.get(sort.field)
        if not known:
            beyond = f.present if sort.descending else sa.false()
        elif sort.descending:
            beyond = f.compare("<", value)
        else:
            beyond = sa.or_(f.compare(">", value), sa.not_(f.present))
        branches.append(sa.and_(*equal_so_far, beyond))
        equal_so_far.append(f.equals_any([value]) if known else sa.not_(f.present))
    return sa.or_(sa.false(), *branches)
