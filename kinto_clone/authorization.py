"""Permission inheritance as data, and the pure functions that read it (§6.2, §6.6).

A required permission on an object is granted by a list of (level, permission) pairs,
where a level is the resource name of the object itself or of one of its parents. The
table is immutable and derived from the resource types (``resources/types.py``); plugins
never change it, they register types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kinto_clone.permission import ACL
from kinto_clone.resources.types import CORE, Inheritance
from kinto_clone.settings import principals_setting

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"

# Kinto's table for its four types, derived from them (``Topology.inheritance``, where the
# rules are written; tests/test_topology.py pins it to Kinto's). An app with plugin types
# has its own: ``registry.resource_types.inheritance``.
INHERITANCE: Inheritance = CORE.inheritance


def bound_permissions(
    resource_name: str,
    permission: str,
    uris: Mapping[str, str],
    table: Inheritance = INHERITANCE,
) -> list[tuple[str, str]]:
    """The (object URI, permission) pairs granting ``permission`` on a ``resource_name``.

    ``uris`` maps each level of the target's chain to its URI (``{"bucket": "/buckets/b",
    "collection": "/buckets/b/collections/c"}``); levels missing from it are skipped.
    ``table``: the app's (route contexts pass it, for plugin types); Kinto's by default.
    """
    return [
        (uris[level], perm) for level, perm in table[(resource_name, permission)] if level in uris
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
