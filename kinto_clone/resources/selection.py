"""Filters, sorting and keyset pages over objects held in memory, with the semantics of the
storage backends (§4): jsonb order, missing fields, ``like``, ``contains``...

For lists that are computed, not stored (the entries of ``GET /permissions``): there is no
table for a backend to query. A caller holds a bounded number of ACEs, so this stays cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kinto_clone.json import type_rank
from kinto_clone.resources.querying.token import lookup
from kinto_clone.storage import Filter, ListQuery, Op, Sort

Lookup = Callable[[str], tuple[bool, Any]]


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 in jsonb order (longer arrays and objects after shorter ones)."""
    rank_a, rank_b = type_rank(a), type_rank(b)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    if rank_a in (4, 5) and len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    if rank_a == 4:
        return next((c for x, y in zip(a, b, strict=True) if (c := compare(x, y))), 0)
    if rank_a == 5:
        keys_a, keys_b = sorted(a), sorted(b)
        if keys_a != keys_b:
            return -1 if keys_a < keys_b else 1
        return next((c for key in keys_a if (c := compare(a[key], b[key]))), 0)
    return (a > b) - (a < b) if rank_a else 0


def _lookup(entry: Mapping[str, Any]) -> Lookup:
    return functools.partial(lookup, entry)


def _like(pattern: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    pattern = pattern if "*" in pattern else f"*{pattern}*"
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def matches(entry: Mapping[str, Any], condition: Filter) -> bool:
    """Missing fields match ``not``, ``exclude``, ``gt`` and ``min`` only (§4.2)."""
    found, value = _lookup(entry)(condition.field)
    op, wanted = condition.op, condition.value
    if op is Op.HAS:
        return found == bool(wanted)
    if not found:
        return op in (Op.NOT, Op.EXCLUDE, Op.GT, Op.MIN)
    options = wanted if isinstance(wanted, list) else [wanted]
    if op in (Op.EQ, Op.IN):
        return any(compare(value, v) == 0 for v in options)
    if op in (Op.NOT, Op.EXCLUDE):
        return all(compare(value, v) != 0 for v in options)
    if op is Op.LIKE:
        return _like(wanted, value)
    if op in (Op.CONTAINS, Op.CONTAINS_ANY):
        if not isinstance(value, list):
            return False
        present = [any(compare(item, v) == 0 for item in value) for v in options]
        return any(present) if op is Op.CONTAINS_ANY else all(present)
    order = compare(value, wanted)
    return {Op.LT: order < 0, Op.MAX: order <= 0, Op.GT: order > 0, Op.MIN: order >= 0}[op]


def _order(sorting: Iterable[Sort], a: Lookup, b: Lookup) -> int:
    """Compare two entries; a missing field sorts last ascending, first descending."""
    for sort in sorting:
        (found_a, value_a), (found_b, value_b) = a(sort.field), b(sort.field)
        if found_a and found_b:
            order = compare(value_a, value_b)
        elif found_a or found_b:
            order = -1 if found_a else 1  # a missing field sorts after every value
        else:
            order = 0
        if order:
            return -order if sort.descending else order
    return 0


def select(entries: list[dict[str, Any]], query: ListQuery) -> list[dict[str, Any]]:
    """The entries matching the filters, sorted, after the keyset of ``query.after``."""
    kept = [e for e in entries if all(matches(e, f) for f in query.filters)]
    kept.sort(key=functools.cmp_to_key(lambda x, y: _order(query.sorting, _lookup(x), _lookup(y))))
    if query.after is not None:
        after = query.after

        def previous(field: str) -> tuple[bool, Any]:
            return field in after, after.get(field)

        kept = [e for e in kept if _order(query.sorting, _lookup(e), previous) > 0]
    return kept
