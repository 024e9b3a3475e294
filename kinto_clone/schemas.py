"""Colander schemas of request bodies and headers.

Colander's own messages are the ones Kinto clients see (``"x" is not iterable``,
``Unrecognized keys in mapping``...), so validation errors read the same as Kinto's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import colander

from kinto_clone.errors import ValidationError, detail

# A principal must fit in a PostgreSQL index entry with its object's URI (see types.py).
MAX_PRINCIPAL_LENGTH = 1024


def deserialize(schema: colander.SchemaNode, value: Any, location: str = "body") -> Any:
    """Validate ``value``; colander's errors become one 400 with a detail each."""
    try:
        return schema.deserialize(value)
    except colander.Invalid as exc:
        details = []
        for name, description in exc.asdict().items():
            details.append(detail(location, name, description))
        raise ValidationError(details) from exc


def unknown_permission(name: str, allowed: Iterable[str]) -> ValidationError:
    return ValidationError(
        [detail("body", "permissions", f'"{name}" is not one of {", ".join(allowed)}')]
    )


def validate_permissions(
    value: Any, allowed: Iterable[str], *, allow_null: bool = False
) -> dict[str, list[str] | None]:
    """``permissions`` of a body: known names, each a list of strings.

    A null value is no permission at all, as for Kinto's schema: it is dropped (whatever
    its name) unless ``allow_null`` (a merge-patch, where it removes a known permission).
    """
    allowed = tuple(allowed)
    if not isinstance(value, dict):
        raise ValidationError(
            [
                detail(
                    "body",
                    "permissions",
                    f'"{value}" is not a mapping type: Does not implement dict-like functionality.',
                )
            ]
        )
    result: dict[str, list[str] | None] = {}
    for perm, principals in value.items():
        if principals is None:
            if allow_null and perm in allowed:
                result[perm] = None
            continue
        if perm not in allowed:
            raise unknown_permission(perm, allowed)
        name = f"permissions.{perm}"
        if not isinstance(principals, list):
            raise ValidationError([detail("body", name, f'"{principals}" is not iterable')])
        for i, principal in enumerate(principals):
            if principal is None:
                raise ValidationError([detail("body", f"{name}.{i}", "Required")])
            if not isinstance(principal, str):
                raise ValidationError(
                    [detail("body", f"{name}.{i}", f"{principal!r} is not a string: {{'': ''}}")]
                )
            if len(principal) > MAX_PRINCIPAL_LENGTH:
                raise ValidationError(
                    [
                        detail(
                            "body",
                            f"{name}.{i}",
                            f"Longer than maximum length {MAX_PRINCIPAL_LENGTH}",
                        )
                    ]
                )
        result[perm] = list(dict.fromkeys(principals))
    return result


def envelope(
    body: Any, permission_names: Iterable[str], *, allow_null: bool = False
) -> tuple[dict[str, Any] | None, dict[str, list[str] | None] | None]:
    """Split and check ``{"data", "permissions"}``; unknown top-level keys are refused."""
    if not isinstance(body, dict):
        raise ValidationError(
            [
                detail(
                    "body",
                    "",
                    f'"{body}" is not a mapping type: Does not implement dict-like functionality.',
                )
            ]
        )
    unknown = {k: v for k, v in body.items() if k not in ("data", "permissions")}
    if unknown:
        raise ValidationError([detail("body", "", f'Unrecognized keys in mapping: "{unknown}"')])
    data = body.get("data")
    if "data" in body and not isinstance(data, dict):
        raise ValidationError(
            [
                detail(
                    "body",
                    "data",
                    f'"{data}" is not a mapping type: Does not implement dict-like functionality.',
                )
            ]
        )
    permissions = None
    if "permissions" in body:
        permissions = validate_permissions(
            body["permissions"], permission_names, allow_null=allow_null
        )
    return data, permissions


def check_body_shape(
    body: Any, permission_names: Iterable[str], *, patch: bool = False, json_patch: bool = False
) -> None:
    """A write's body before anything is looked up: a JSON object (a JSON-patch: an array)
    with a valid envelope. A body that is neither an object nor an array is refused the
    way Kinto words it."""
    if not isinstance(body, (dict, list)):
        raise ValidationError(
            [
                detail("body", "", "Should be a JSON object or an array"),
                detail("body", "", "Required"),
            ]
        )
    if json_patch:
        return  # its operations are checked against the object (merge.py)
    envelope(body, permission_names, allow_null=patch)
