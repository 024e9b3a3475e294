"""Colander schemas of request bodies and headers.

Colander's own messages are the ones Kinto clients see (``"x" is not iterable``,
``Unrecognized keys in mapping``...), so validation errors read the same as Kinto's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import colander

from kinto_clone.errors import ValidationError, detail, gathered, invalid

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


def not_a_mapping(name: str, value: Any) -> dict[str, Any]:
    description = f'"{value}" is not a mapping type: Does not implement dict-like functionality.'
    return detail("body", name, description)


def principal_fault(name: str, principal: Any) -> dict[str, Any] | None:
    """What is wrong with one principal (of an ACL or a group's members), if anything."""
    if principal is None or principal == "":  # Kinto: an empty string is missing
        return detail("body", name, "Required")
    if not isinstance(principal, str):
        return detail("body", name, f"{principal!r} is not a string: {{'': ''}}")
    if len(principal) > MAX_PRINCIPAL_LENGTH:
        return detail("body", name, f"Longer than maximum length {MAX_PRINCIPAL_LENGTH}")
    return None


def principal_faults(name: str, principals: list[Any]) -> list[dict[str, Any]]:
    """A fault per bad principal of a list, each named by its index (``name.i``)."""
    faults = (principal_fault(f"{name}.{i}", p) for i, p in enumerate(principals))
    return [fault for fault in faults if fault is not None]


def validate_permissions(
    value: Any, allowed: Iterable[str], *, allow_null: bool = False
) -> dict[str, list[str] | None]:
    """``permissions`` of a body: known names, each a list of strings.

    A null value is no permission at all, as for Kinto's schema: it is dropped (whatever
    its name) unless ``allow_null`` (a merge-patch, where it removes a known permission).
    As Kinto's: not a mapping, or an unknown name (the first), is the one fault; else
    every bad list and principal is listed.
    """
    allowed = tuple(allowed)
    if not isinstance(value, dict):
        raise ValidationError([not_a_mapping("permissions", value)])
    for perm, principals in value.items():
        if principals is not None and perm not in allowed:
            raise unknown_permission(perm, allowed)
    result: dict[str, list[str] | None] = {}
    faults: list[dict[str, Any]] = []
    for perm, principals in value.items():
        if principals is None:
            if allow_null and perm in allowed:
                result[perm] = None
            continue
        name = f"permissions.{perm}"
        if not isinstance(principals, list):
            faults.append(detail("body", name, f'"{principals}" is not iterable'))
            continue
        bad = principal_faults(name, principals)
        faults += bad
        if not bad:
            result[perm] = list(dict.fromkeys(principals))
    if faults:
        raise ValidationError(faults)
    return result


def envelope(
    body: Any,
    permission_names: Iterable[str],
    *,
    allow_null: bool = False,
    validate_data: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any] | None, dict[str, list[str] | None] | None]:
    """Split and check ``{"data", "permissions"}``; unknown top-level keys are refused.

    A body that is no mapping, or has unknown keys, is the one fault of the body; else the
    faults of ``data`` (its type, then ``validate_data`` on a copy of it) and of
    ``permissions`` are listed together, as Kinto's schema does."""
    if not isinstance(body, dict):
        raise ValidationError([not_a_mapping("", body)])
    unknown = {k: v for k, v in body.items() if k not in ("data", "permissions")}
    if unknown:
        raise ValidationError([detail("body", "", f'Unrecognized keys in mapping: "{unknown}"')])
    data = body.get("data")
    permissions = None

    def check_data() -> None:
        if "data" in body and not isinstance(data, dict):
            raise ValidationError([not_a_mapping("data", data)])
        if validate_data is not None and isinstance(data, dict):
            validate_data(dict(data))  # a copy: validators complete the data

    def check_permissions() -> None:
        nonlocal permissions
        if "permissions" in body:
            permissions = validate_permissions(
                body["permissions"], permission_names, allow_null=allow_null
            )

    gathered(check_data, check_permissions)
    return data, permissions


def check_json_document(body: Any) -> None:
    """A write's body is a JSON object or an array (a JSON-patch); anything else is refused
    alone, before the headers are read, the way Kinto words it."""
    if not isinstance(body, (dict, list)):
        raise ValidationError(
            [
                detail("body", "", "Should be a JSON object or an array"),
                detail("body", "", "Required"),
            ]
        )


def check_body_shape(
    body: Any,
    permission_names: Iterable[str],
    *,
    patch: bool = False,
    json_patch: bool = False,
    validate_data: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """A write's body before anything is looked up: a JSON object (a JSON-patch: an array)
    with a valid envelope and, given ``validate_data``, valid data; every fault listed."""
    check_json_document(body)
    if json_patch:
        check_json_patch(body)  # the operations' shape; merge.py applies them
        return
    envelope(body, permission_names, allow_null=patch, validate_data=validate_data)


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
