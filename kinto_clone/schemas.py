"""Colander schemas of request bodies and headers.

Colander's own messages are the ones Kinto clients see (``"x" is not iterable``,
``Unrecognized keys in mapping``...), so validation errors read the same as Kinto's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import colander

from kinto_clone.errors import ValidationError, detail, invalid

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
            if principal is None or principal == "":  # Kinto: an empty string is missing
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
        check_json_patch(body)  # the operations' shape; merge.py applies them
        return
    envelope(body, permission_names, allow_null=patch)


# -- JSON-patch bodies (RFC 6902), validated as Kinto's schema does -------------------------

_PATCH_PATH = r"(/\w*)+"  # Kinto's, matched at the start only (colander.Regex)
_PATCH_OPS = ("test", "add", "remove", "replace", "move", "copy")


class _AnyValue(colander.SchemaType):
    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        return cstruct


class _PatchOperation(colander.MappingSchema):
    """One RFC 6902 operation, validated as Kinto does (same error names and messages)."""

    op = colander.SchemaNode(colander.String(), validator=colander.OneOf(_PATCH_OPS))
    path = colander.SchemaNode(colander.String(), validator=colander.Regex(_PATCH_PATH))
    from_ = colander.SchemaNode(
        colander.String(), name="from", validator=colander.Regex(_PATCH_PATH), missing=colander.drop
    )
    value = colander.SchemaNode(_AnyValue(), missing=colander.drop)

    @staticmethod
    def schema_type() -> colander.Mapping:
        return colander.Mapping(unknown="raise")


class _PatchBody(colander.SequenceSchema):
    operation = _PatchOperation()


def check_json_patch(body: Any) -> None:
    """A JSON-patch body: a list of well-formed operations (400 errno 107 otherwise, with
    Kinto's names and messages), checked before the object is looked up, as Kinto's."""
    if not isinstance(body, list):
        raise invalid("body", "", f'"{body}" is not iterable')
    try:
        _PatchBody().deserialize(body)
    except colander.Invalid as exc:
        raise ValidationError(
            [detail("body", name, description) for name, description in exc.asdict().items()]
        ) from exc
