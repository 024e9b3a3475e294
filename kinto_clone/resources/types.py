"""The resource tree: one ``ResourceType`` record per level, and the ``Topology`` of an app.

This module is the one source of the tree (§1.1, §2.2, §2.7, §6.2). A record declares
what is particular to one level: its name and plural (hence its URL path and URIs), its
parent, the permissions its ACL may hold, how its ids look and are generated, how its
data is validated, and hooks where its writes differ (a group's members). A ``Topology``
binds the records of an app together and derives everything else from them: children,
ancestors, route paths, URIs and their parsing, each level's ``<child>:create``
permission, and the permission inheritance table. Adding a resource type is one record
and one registration (``views/resources.register_resource``; README "Adding a resource
type"). Everything generic (CRUD, cascades, timestamps) lives in ``objects.py``.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jsonschema

from kinto_clone.errors import ValidationError, detail, gathered, invalid
from kinto_clone.resources import revocations
from kinto_clone.schemas import not_a_mapping, principal_fault

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

# At most 256 characters (Kinto sets no bound): a URL's ids and the principals of an ACL
# must fit in one PostgreSQL index entry (2.7 kB), else the write is a 503. ``\Z``, not
# ``$``, which would accept a trailing newline.
MAX_ID_LENGTH = 256
ID_PATTERN = re.compile(rf"^[a-zA-Z0-9][a-zA-Z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}\Z")
KINTO_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*\Z")  # Kinto's syntax, any length


def only_too_long(object_id: str) -> bool:
    """An id of Kinto's syntax that is only too long for us: it names nothing we store,
    and where Kinto goes on with it (a parent of the URL) it is merely missing."""
    return len(object_id) > MAX_ID_LENGTH and KINTO_ID_PATTERN.match(object_id) is not None


_FIRST = string.ascii_letters + string.digits
_REST = _FIRST + "_-"


def short_id() -> str:
    """8 characters: like Kinto's generated bucket, collection and group ids."""
    return secrets.choice(_FIRST) + "".join(secrets.choice(_REST) for _ in range(7))


def uuid_id() -> str:
    return str(uuid.uuid4())


def _check_json_schema(data: dict[str, Any], field: str) -> None:
    """A JSON schema in the data, worded as Kinto's: the last key of the faulty part of
    the schema, glued to the validator's message (``type1 is not valid under...``)."""
    value = data[field]
    name = f"data.{field}"
    if not isinstance(value, dict):
        raise ValidationError([not_a_mapping(name, value)])
    try:
        jsonschema.Draft7Validator.check_schema(value)
    except jsonschema.SchemaError as exc:
        where = str(exc.path[-1]) if exc.path else ""
        raise ValidationError([detail("body", name, f"{where}{exc.message}")]) from exc


def validate_bucket(data: dict[str, Any]) -> None:
    fields = ("collection:schema", "group:schema", "record:schema")
    gathered(*(partial(_check_json_schema, data, field) for field in fields if field in data))


def validate_collection(data: dict[str, Any]) -> None:
    def cache_expires() -> None:
        """An integer, stored as one: Kinto's schema turns a number, a boolean or a string
        of an integer into it (``1.5`` -> 1, ``" 4 "`` -> 4) and drops a null."""
        expires = data.get("cache_expires")
        if expires is None:
            del data["cache_expires"]
            return
        try:
            if not isinstance(expires, (int, float, str)):
                raise TypeError(expires)
            data["cache_expires"] = int(expires)
        except (TypeError, ValueError, OverflowError):
            raise invalid("body", "data.cache_expires", f'"{expires}" is not a number') from None

    checks = [partial(_check_json_schema, data, "schema")] if "schema" in data else []
    gathered(*checks, *([cache_expires] if "cache_expires" in data else []))


def validate_group(data: dict[str, Any]) -> None:
    members = data.setdefault("members", [])
    if not isinstance(members, list):
        raise ValidationError([detail("body", "data.members", f'"{members}" is not iterable')])
    faults = []
    for i, member in enumerate(members):
        name = f"data.members.{i}"
        fault = principal_fault(name, member)
        if fault is None and (member == "system.Everyone" or member.startswith("/buckets/")):
            fault = detail("body", name, f"'{member}' is not a valid user ID.")
        if fault is not None:
            faults.append(fault)
    if faults:
        raise ValidationError(faults)


def no_validation(data: dict[str, Any]) -> None:
    return None


WriteHook = Callable[["Backends", str, "dict[str, Any] | None", "dict[str, Any]"], None]
"""``(backends, uri, old, new)``: after an object of the type was written (old None: created)."""
DeleteHook = Callable[["Backends", str], None]
"""``(backends, uri)``: an object of the type was deleted, itself or with its parent."""


@dataclass(frozen=True)
class ResourceType:
    """One level of the resource tree, as declared; ``Topology.add`` binds it.

    ``permissions`` are those its ACL may hold besides its children's ``<child>:create``,
    which the topology adds (as it fills ``children``): declare neither. A type whose
    objects only the server writes (``server_written``, history entries) has no routes,
    no create permission on its parent and no entry in ``GET /permissions``.
    """

    name: str
    plural: str
    parent: str | None
    generate_id: Callable[[], str] = short_id
    validate: Callable[[dict[str, Any]], None] = no_validation
    id_pattern: re.Pattern[str] = ID_PATTERN
    permissions: tuple[str, ...] = ("read", "write")
    on_write: WriteHook | None = None
    on_delete: DeleteHook | None = None
    server_written: bool = False
    children: tuple[ResourceType, ...] = ()  # bound by the topology

    def validate_merged(self, data: dict[str, Any]) -> None:
        """``validate`` on the data a PATCH merged: as Kinto's, the first fault alone,
        named within the data (``members.0``, not the body's ``data.members.0``)."""
        try:
            self.validate(data)
        except ValidationError as exc:
            first = exc.found[0]
            name = first["name"]
            if isinstance(name, str):
                name = name.removeprefix("data.")
            raise ValidationError([{**first, "name": name}]) from exc

    @property
    def child_create_permissions(self) -> tuple[str, ...]:
        return tuple(p for p in self.permissions if p.endswith(":create"))

    @property
    def read_permission(self) -> str:
        """What reading one object needs: ``read:attributes`` where creating children
        there lets one see it (buckets, collections), else ``read``."""
        return "read:attributes" if self.child_create_permissions else "read"

    @property
    def listed_by(self) -> tuple[str, ...]:
        """The permissions that show an object to its holder in a list read by a caller
        who may not read the whole list: any permission held on the object (§6.5)."""
        return self.permissions

    @property
    def deletes_reach_hooks(self) -> bool:
        """Whether deleting an object of this type runs a delete hook (its own or a
        descendant's): only then are its descendants listed before the cascade."""
        return self.on_delete is not None or any(c.deletes_reach_hooks for c in self.children)

    def list_uri(self, parent_id: str) -> str:
        """``/buckets/b/collections`` from ``"/buckets/b"``: an object's URI is this plus
        ``/<id>``."""
        return f"{parent_id}/{self.plural}"


def object_uri(resource: ResourceType, parent_id: str, object_id: str) -> str:
    """``/buckets/b/collections/c`` from ``("collection", "/buckets/b", "c")``."""
    return f"{resource.list_uri(parent_id)}/{object_id}"


Inheritance = Mapping[tuple[str, str], tuple[tuple[str, str], ...]]


class Topology(Mapping[str, ResourceType]):
    """The resource types of an app by name, bound: each with its ``children`` and its
    children's create permissions. Built at start-up (``registry.resource_types``)."""

    def __init__(self, *declared: ResourceType) -> None:
        self._declared: dict[str, ResourceType] = {}
        self._bound: dict[str, ResourceType] = {}
        # parent type's name (None: the top) -> plural -> type: the steps of a URI
        self._by_plural: dict[str | None, dict[str, ResourceType]] = {}
        self._inheritance: Inheritance | None = None
        for resource in declared:
            self.add(resource)

    def add(self, resource: ResourceType) -> ResourceType:
        """Register a declared type under its (registered) parent; the bound type."""
        if resource.name in self._declared:
            raise ValueError(f"Resource type {resource.name!r} is registered twice")
        if resource.parent is not None and resource.parent not in self._declared:
            raise ValueError(f"{resource.name!r}: unknown parent {resource.parent!r}")
        siblings = [r for r in self._declared.values() if r.parent == resource.parent]
        if any(r.plural == resource.plural for r in siblings):
            raise ValueError(f"{resource.name!r}: its URIs would be another type's")
        self._declared[resource.name] = resource
        self._bind()
        return self._bound[resource.name]

    def _bind(self) -> None:
        bound: dict[str, ResourceType] = {}

        def bind(name: str) -> ResourceType:
            if name not in bound:
                declared = self._declared[name]
                kids = sorted(n for n, r in self._declared.items() if r.parent == name)
                children = tuple(bind(kid) for kid in kids)
                creates = tuple(f"{c.name}:create" for c in children if not c.server_written)
                bound[name] = replace(
                    declared, permissions=declared.permissions + creates, children=children
                )
            return bound[name]

        self._bound = {name: bind(name) for name in self._declared}
        self._by_plural = {}
        for resource in self._bound.values():
            self._by_plural.setdefault(resource.parent, {})[resource.plural] = resource
        self._inheritance = None

    def declared(self) -> tuple[ResourceType, ...]:
        """The records as registered, in order: what another app's topology starts from."""
        return tuple(self._declared.values())

    def __getitem__(self, name: str) -> ResourceType:
        return self._bound[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._bound)

    def __len__(self) -> int:
        return len(self._bound)

    # -- the tree ---------------------------------------------------------------------------

    def ancestors(self, name: str) -> tuple[ResourceType, ...]:
        """The levels above ``name``, top first: ``record`` -> bucket, collection."""
        parent = self._bound[name].parent
        return () if parent is None else (*self.ancestors(parent), self._bound[parent])

    def path(self, name: str) -> str:
        """The plural route: ``/buckets/{bucket_id}/collections/{collection_id}/records``;
        the object route adds ``/{id}``."""
        parts = [f"/{level.plural}/{{{level.name}_id}}" for level in self.ancestors(name)]
        return "".join(parts) + f"/{self._bound[name].plural}"

    def _levels(self, uri: str) -> list[tuple[ResourceType, str]] | None:
        """Each level of an object's URI, top first: ``(type, its object URI)``; None for
        a URI that names no object of these types. One pass over the URI's segments."""
        parts = uri.strip("/").split("/")
        if len(parts) % 2 or not uri.startswith("/"):
            return None
        levels: list[tuple[ResourceType, str]] = []
        parent: str | None = None
        for i in range(0, len(parts), 2):
            level = self._by_plural.get(parent, {}).get(parts[i])
            if level is None:
                return None
            levels.append((level, "/" + "/".join(parts[: i + 2])))
            parent = level.name
        return levels

    def parse_uri(self, uri: str) -> tuple[ResourceType, str, str] | None:
        """``/buckets/b/collections/c`` -> ``(collection type, "/buckets/b", "c")``; None
        for a URI that names no object of these types."""
        levels = self._levels(uri)
        if levels is None:
            return None
        level, own_uri = levels[-1]
        parent_id, _, object_id = own_uri.rpartition(f"/{level.plural}/")
        return level, parent_id, object_id

    def chain_uris(self, uri: str) -> dict[str, str]:
        """``/buckets/b/collections/c`` -> ``{"bucket": "/buckets/b", "collection":
        "/buckets/b/collections/c"}``: each level of an object's URI (empty if unknown)."""
        return {level.name: level_uri for level, level_uri in self._levels(uri) or ()}

    def ids_of(self, uri: str) -> dict[str, str]:
        """``/buckets/b/collections/c/records/r`` -> bucket_id, collection_id, record_id:
        the ids of events, history entries and ``GET /permissions`` entries."""
        return {
            f"{level.name}_id": level_uri.rsplit("/", 1)[1]
            for level, level_uri in self._levels(uri) or ()
        }

    # -- what each level grants (§6.2) -------------------------------------------------------

    @property
    def inheritance(self) -> Inheritance:
        """``{(type, permission): ((level, permission), ...)}``: which permissions, on the
        object or on one of its ancestors, grant each permission of each type.

        Kinto's rules: ``write`` on any level of the chain grants everything below it;
        ``read`` on any level grants reading below it; ``<child>:create`` is granted by
        itself and by ``write`` above; where a type has children, being allowed to create
        one of them also grants reading the object's attributes (``read:attributes``).
        """
        if self._inheritance is None:
            table: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
            for name, resource in self._bound.items():
                chain = [level.name for level in self.ancestors(name)] + [name]
                writes = tuple((level, "write") for level in chain)
                reads = tuple(
                    pair for level in chain for pair in ((level, "write"), (level, "read"))
                )
                table[(name, "write")] = writes
                table[(name, "read")] = reads
                creates = resource.child_create_permissions
                if creates:
                    table[(name, "read:attributes")] = reads + tuple((name, c) for c in creates)
                for create in creates:
                    table[(name, create)] = (*writes, (name, create))
            self._inheritance = MappingProxyType(table)
        return self._inheritance


# -- the four types of Kinto's tree -----------------------------------------------------------


def sync_members(
    backends: Backends, group_uri: str, old: dict[str, Any] | None, new: dict[str, Any]
) -> None:
    """A group's members are principals of its users (``permission`` backend)."""
    old_set, new_set = set((old or {}).get("members") or ()), set(new.get("members") or ())
    left = old_set - new_set
    revocations.group_left(backends, CORE, group_uri, left)
    for member in left:
        backends.permission.remove_user_principal(member, group_uri)
    for member in new_set - old_set:
        backends.permission.add_user_principal(member, group_uri)


def forget_principal(backends: Backends, group_uri: str) -> None:
    """A deleted group is nobody's principal any more: its members lose what it granted."""
    revocations.group_left(backends, CORE, group_uri, None)
    backends.permission.remove_principal(group_uri)


BUCKET = ResourceType("bucket", "buckets", None, validate=validate_bucket)
GROUP = ResourceType(
    "group",
    "groups",
    "bucket",
    validate=validate_group,
    on_write=sync_members,
    on_delete=forget_principal,
)
COLLECTION = ResourceType("collection", "collections", "bucket", validate=validate_collection)
RECORD = ResourceType("record", "records", "collection", generate_id=uuid_id)

# Kinto's tree, as every app starts (``views/resources.py`` registers it); plugins add to
# their app's copy. Code that works on these four only (history, attachments) reads it.
CORE = Topology(BUCKET, GROUP, COLLECTION, RECORD)
