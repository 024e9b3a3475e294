"""The four resources of the tree, as small immutable records (§1.1, §2.2, §2.7).

Everything generic (CRUD, permissions, timestamps) lives in ``objects.py``; what differs
between buckets, collections, groups and records is here: names, parent, permissions,
ids and the validation of their special fields.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from kinto_clone.errors import ValidationError, detail
from kinto_clone.schemas import MAX_PRINCIPAL_LENGTH

# At most 256 characters (Kinto sets no bound): a URL's ids and the principals of an ACL
# must fit in one PostgreSQL index entry (2.7 kB), else the write is a 503. ``\Z``, not
# ``$``, which would accept a trailing newline.
MAX_ID_LENGTH = 256
ID_PATTERN = re.compile(rf"^[a-zA-Z0-9][a-zA-Z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}\Z")
_FIRST = string.ascii_letters + string.digits
_REST = _FIRST + "_-"


def short_id() -> str:
    """8 characters: like Kinto's generated bucket, collection and group ids."""
    return secrets.choice(_FIRST) + "".join(secrets.choice(_REST) for _ in range(7))


def uuid_id() -> str:
    return str(uuid.uuid4())


def _check_json_schema(data: dict[str, Any], field: str) -> None:
    value = data[field]
    if not isinstance(value, dict):
        raise ValidationError(
            [detail("body", f"data.{field}", f"{value!r} is not of type 'object'")]
        )
    try:
        jsonschema.Draft7Validator.check_schema(value)
    except jsonschema.SchemaError as exc:
        raise ValidationError([detail("body", f"data.{field}", exc.message)]) from exc


def validate_bucket(data: dict[str, Any]) -> None:
    for field in ("collection:schema", "group:schema", "record:schema"):
        if field in data:
            _check_json_schema(data, field)


def validate_collection(data: dict[str, Any]) -> None:
    if "schema" in data:
        _check_json_schema(data, "schema")
    expires = data.get("cache_expires")
    if "cache_expires" in data and (not isinstance(expires, int) or isinstance(expires, bool)):
        raise ValidationError([detail("body", "cache_expires", f'"{expires}" is not a number')])


def validate_group(data: dict[str, Any]) -> None:
    members = data.setdefault("members", [])
    if not isinstance(members, list):
        raise ValidationError([detail("body", "data.members", f'"{members}" is not iterable')])
    for i, member in enumerate(members):
        name = f"data.members.{i}"
        if not isinstance(member, str):
            raise ValidationError([detail("body", name, f"{member!r} is not a string")])
        if len(member) > MAX_PRINCIPAL_LENGTH:
            raise ValidationError(
                [detail("body", name, f"Longer than maximum length {MAX_PRINCIPAL_LENGTH}")]
            )
        if member == "system.Everyone" or member.startswith("/buckets/"):
            raise ValidationError([detail("body", name, f"'{member}' is not a valid user ID.")])


def no_validation(data: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class ResourceType:
    name: str
    plural: str
    parent: str | None
    permissions: tuple[str, ...]
    generate_id: Callable[[], str]
    validate: Callable[[dict[str, Any]], None]
    id_pattern: re.Pattern[str] = ID_PATTERN

    @property
    def child_create_permissions(self) -> tuple[str, ...]:
        return tuple(p for p in self.permissions if p.endswith(":create"))

    def list_uri(self, parent_id: str) -> str:
        """``/buckets/b/collections`` from ``"/buckets/b"``: an object's URI is this plus
        ``/<id>``."""
        return f"{parent_id}/{self.plural}"


BUCKET = ResourceType(
    "bucket",
    "buckets",
    None,
    ("read", "write", "collection:create", "group:create"),
    short_id,
    validate_bucket,
)
GROUP = ResourceType("group", "groups", "bucket", ("read", "write"), short_id, validate_group)
COLLECTION = ResourceType(
    "collection",
    "collections",
    "bucket",
    ("read", "write", "record:create"),
    short_id,
    validate_collection,
)
RECORD = ResourceType("record", "records", "collection", ("read", "write"), uuid_id, no_validation)

RESOURCES: dict[str, ResourceType] = {r.name: r for r in (BUCKET, GROUP, COLLECTION, RECORD)}
CHILDREN: dict[str, tuple[str, ...]] = {
    "bucket": ("group", "collection"),
    "collection": ("record",),
}


def object_uri(resource: ResourceType, parent_id: str, object_id: str) -> str:
    """``/buckets/b/collections/c`` from ``("collection", "/buckets/b", "c")``."""
    return f"{resource.list_uri(parent_id)}/{object_id}"
