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


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("Number too big to be stored in double")
    return value


def loads(raw: bytes | str) -> Any:
    """Parse JSON; raises ValueError (orjson.JSONDecodeError is one) on invalid input."""
    if isinstance(raw, str):
        raw = raw.encode()
    if _LONG_NUMBER.search(raw):
        return json.loads(raw, parse_float=_finite_float,
                          parse_constant=_refuse_constant)
    return orjson.loads(raw)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"Invalid JSON constant {name}")


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
