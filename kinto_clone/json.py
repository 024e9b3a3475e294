"""Fast JSON rendering (orjson), falling back to the standard library for integers that
do not fit in 64 bits, which JSON allows and clients may store."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# orjson reads integers up to 64 bits; longer ones go through the standard library, which
# keeps them exact (and refuses what would become an infinite float).
_LONG_NUMBER = re.compile(rb"\d{19,}")
_DIGITS = b"0123456789"


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("Number too big to be stored in double")
    return value


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raises ValueError (orjson.JSONDecodeError is one) on invalid input."""
    if isinstance(raw, str):
        raw = raw.encode()
    # Fewer than 19 digits in all means no long number, and deleting the digits costs a
    # fifth of the search (every object read from the database comes through here).
    if len(raw) - len(raw.translate(None, _DIGITS)) >= 19 and _LONG_NUMBER.search(raw):
        try:
            return json.loads(raw, parse_float=_finite_float, parse_constant=_refuse_constant)
        except RecursionError:  # orjson says "depth limit exceeded" for the same input
            raise ValueError("depth limit exceeded") from None
    return orjson.loads(raw)


# Bodies nest at most this many arrays and objects: deeper values would reach Python's
# recursion limit in the code that walks them (a 500 or 503), and orjson writes 254.
MAX_DEPTH = 256


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests more than ``limit`` arrays and objects (iteratively)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"Invalid JSON constant {name}")


def raw(text: str) -> Any:
    """JSON text that ``dumps`` writes as is, inside the document (the database wrote it)."""
    return orjson.Fragment(text)


def raw_list(texts: list[str]) -> list[Any]:
    """``raw`` of each text (a page: no Python call per object)."""
    return list(map(orjson.Fragment, texts))


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class JSONRenderer:
    """Pyramid renderer: ``application/json`` without charset, like Kinto."""

    def __init__(self, info: Any) -> None:
        pass

    def __call__(self, value: Any, system: dict[str, Any]) -> bytes:
        request = system.get("request")
        if request is not None:
            response = request.response
            if request.method == "HEAD":
                response.content_type = "application/json"
                return b""
            response.content_type = "application/json"
            response.charset = None
        if value is None and request is not None and request.method == "HEAD":
            return b""
        return dumps(value)


def type_rank(value: Any) -> int:
    """PostgreSQL jsonb's order of JSON types: null < string < number < boolean < array <
    object (Kinto's filters and sorting compare across types this way)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return 1
    if isinstance(value, bool):  # before int: True is an int to Python, not to JSON
        return 3
    if isinstance(value, int | float):
        return 2
    return 4 if isinstance(value, list) else 5
