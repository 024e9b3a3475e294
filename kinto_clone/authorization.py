"""Permission inheritance as data, and the pure functions that read it (§6.2, §6.6).

A required permission on an object is granted by a list of (level, permission) pairs,
where a level is the resource name of the object itself or of one of its parents. The
table is immutable; plugins never change it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from kinto_clone.permission import ACL
from kinto_clone.settings import principals_setting

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"

# "read:attributes" is reading one bucket or collection: anyone who may create children
# in it may see its attributes.
INHERITANCE: Mapping[tuple[str, str], tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        ("bucket", "write"): (("bucket", "write"),),
        ("bucket", "read"): (("bucket", "write"), ("bucket", "read")),
        ("bucket", "read:attributes"): (
            ("bucket", "write"),
            ("bucket", "read"),
            ("bucket", "collection:create"),
            ("bucket", "group:create"),
        ),
        ("bucket", "collection:create"): (("bucket", "write"), ("bucket", "collection:create")),
        ("bucket", "group:create"): (("bucket", "write"), ("bucket", "group:create")),
        ("group", "write"): (("bucket", "write"), ("group", "write")),
        ("group", "read"): (
            ("bucket", "write"),
            ("bucket", "read"),
            ("group", "write"),
            ("group", "read"),
        ),
        ("collection", "write"): (("bucket", "write"), ("collection", "write")),
        ("collection", "read"): (
            ("bucket", "write"),
            ("bucket", "read"),
            ("collection", "write"),
            ("collection", "read"),
        ),
        ("collection", "read:attributes"): (
            ("bucket", "write"),
            ("bucket", "read"),
            ("collection", "write"),
            ("collection", "read"),
            ("collection", "record:create"),
        ),
        ("collection", "record:create"): (
            ("bucket", "write"),
            ("collection", "write"),
            ("collection", "record:create"),
        ),
        ("record", "write"): (("bucket", "write"), ("collection", "write"), ("record", "write")),
        ("record", "read"): (
            ("bucket", "write"),
            ("bucket", "read"),
            ("collection", "write"),
            ("collection", "read"),
            ("record", "write"),
            ("record", "read"),
        ),
    }
)

# The permissions that give read on a record, on whichever level they are held (a record,
# its collection, its bucket): what an access-revoked tombstone follows.
RECORD_READ_GRANTING: frozenset[str] = frozenset(p for _, p in INHERITANCE[("record", "read")])

# Permissions held directly on an object that let a caller see it in a list of its siblings.
LISTING_PERMISSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "bucket": ("write", "read", "collection:create", "group:create"),
        "collection": ("write", "read", "record:create"),
        "group": ("write", "read"),
        "record": ("write", "read"),
    }
)


def bound_permissions(
    resource_name: str, permission: str, uris: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The (object URI, permission) pairs granting ``permission`` on a ``resource_name``.

    ``uris`` maps each level of the target's chain to its URI (``{"bucket": "/buckets/b",
    "collection": "/buckets/b/collections/c"}``); levels missing from it are skipped.
    """
    return [
        (uris[level], perm)
        for level, perm in INHERITANCE[(resource_name, permission)]
        if level in uris
    ]


def holds(acls: Mapping[str, ACL], bound: Iterable[tuple[str, str]], principals: set[str]) -> bool:
    """Does one of ``principals`` hold one of the ``bound`` permissions in ``acls``?"""
    for uri, perm in bound:
        if acls.get(uri, {}).get(perm, set()) & principals:
            return True
    return False


def settings_grant(
    settings: Mapping[str, object], resource_name: str, permission: str, principals: set[str]
) -> bool:
    """Does a ``<resource>_<perm>_principals`` setting grant it (§6.6)?

    The setting is always that of the resource being accessed. ``write`` implies ``read``.
    """
    names = {permission}
    if permission.startswith("read"):
        names |= {"read", "write"}
    for name in names:
        if set(principals_setting(settings, resource_name, name)) & principals:
            return True
    return False


def lasting_principals(userid: str | None) -> frozenset[str]:
    """The principals a caller holds for good: access-revoked tombstones are recorded for
    these (a group's loss for each of its members of the moment)."""
    if userid is None:
        return frozenset({EVERYONE})
    return frozenset({userid, AUTHENTICATED, EVERYONE})


def is_writer(acl: ACL, principals: set[str]) -> bool:
    """Whether the caller may see an object's ``permissions``: a writer of that exact object."""
    return bool(acl.get("write", set()) & principals)
