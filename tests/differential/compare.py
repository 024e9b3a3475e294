"""The differences between two normalised answers, each at a path into the answer.

``differences(kinto, ours)`` lists ``Diff``s: ``where`` is a tuple such as ``("status",)``,
``("headers", "ETag")`` or ``("body", "data", "members")``; a key one side lacks has the
value ``MISSING``. Lists of different lengths are one difference at the list itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclasses.dataclass(frozen=True)
class Diff:
    where: tuple[Any, ...]
    kinto: Any
    ours: Any

    def __str__(self) -> str:
        path = ".".join(str(p) for p in self.where)
        return f"{path}: Kinto {self.kinto!r}, ours {self.ours!r}"


def differences(kinto: Any, ours: Any, where: tuple[Any, ...] = ()) -> list[Diff]:
    if isinstance(kinto, dict) and isinstance(ours, dict):
        found: list[Diff] = []
        for key in sorted(set(kinto) | set(ours), key=str):
            found += differences(kinto.get(key, MISSING), ours.get(key, MISSING), (*where, key))
        return found
    if isinstance(kinto, list) and isinstance(ours, list) and len(kinto) == len(ours):
        found = []
        for index, (k, o) in enumerate(zip(kinto, ours, strict=True)):
            found += differences(k, o, (*where, index))
        return found
    if type(kinto) is type(ours) and kinto == ours:
        return []
    return [Diff(where, kinto, ours)]
