"""Fast JSON rendering (orjson), falling back to the standard library for integers that
do not fit in 64 bits, which JSON allows and clients may store."""

from __future__ import annotations

import json
from typing import Any

import orjson


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
