"""Which fields differ between two versions of an object, as dotted paths.

Shared by the 412 that helps merging (``merge412.py``) and the restore plans
(``restore.py``): ``{"a": {"b": 1}, "c": [1]}`` against ``{"a": {"b": 2}, "c": [1]}``
is ``["a.b"]``. Objects are compared key by key down to their leaves; anything else
(lists, numbers, strings) is compared as a whole, so a changed list is named once.
"""

from __future__ import annotations

from typing import Any

MANAGED = frozenset({"id", "last_modified"})


def changed_paths(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Sorted dotted paths of the fields added, removed or changed from ``old`` to
    ``new``; at the top level, ``id`` and ``last_modified`` are left out."""
    paths: list[str] = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in MANAGED:
            continue
        path = f"{prefix}{key}"
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if isinstance(before, dict) and isinstance(after, dict):
            paths += changed_paths(before, after, prefix=f"{path}.")
        elif not _same(before, after):
            paths.append(path)
    return paths


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: ``true`` is not ``1`` (Python says it is), ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return type(a) is type(b) and a == b if isinstance(a, list | dict) else bool(a == b)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
