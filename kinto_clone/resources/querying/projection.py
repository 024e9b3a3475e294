"""``_fields``: an object reduced to the fields a client asked for (§4.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kinto_clone.resources.querying.values import (
    DELETED_FIELD,
    ID_FIELD,
    MODIFIED_FIELD,
    REVOKED_FIELD,
)


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
