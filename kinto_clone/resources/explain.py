"""Why a principal holds (or not) each permission on an object (issue 13).

Computed from what requests use to decide (``authorization.py``): the inheritance table
``INHERITANCE``, ``bound_permissions`` (which ACEs grant a permission on an object) and
the ``<resource>_<permission>_principals`` settings, as ``settings_grant`` reads them. For
each permission of the object's rows in the table, plus ``create`` (creating the object at
its URL, as a PUT of a missing object needs):

- ``granted``: whether the principals hold it;
- ``because``: every ACE among ``acls`` that grants it to one of them (which object,
  which permission, which principal, and when it is inherited, through which step), each
  principal's origin (the user, ``system.*``, the group they are a member of), and every
  setting that grants it;
- ``granted_by``: what would grant it: the ACEs (object, permission) and the settings.

``readers`` lists who can read the object and why (only shown to its writers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinto_clone import authorization as authz
from kinto_clone.permission import ACL
from kinto_clone.resources.types import CORE
from kinto_clone.settings import principals_setting

CREATE = "create"


def rows(resource_name: str) -> list[str]:
    """The permissions explained for a resource: its rows of the inheritance table."""
    found = [perm for name, perm in authz.INHERITANCE if name == resource_name]
    return [*found, CREATE]


def setting_names(resource_name: str, permission: str) -> list[str]:
    """The settings ``settings_grant`` consults: ``read`` ones include ``write``."""
    names = [permission]
    if permission.startswith("read"):
        names += [n for n in ("read", "write") if n != permission]
    return [f"{resource_name}_{name}_principals" for name in names]


def granters(resource_name: str, permission: str, uris: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (object URI, permission) pairs whose ACEs grant ``permission``."""
    if permission != CREATE:
        return authz.bound_permissions(resource_name, permission, uris)
    parent = CORE[resource_name].parent
    if parent is None:
        return []  # buckets: only the setting
    return authz.bound_permissions(parent, f"{resource_name}:create", uris)


def _origin(principal: str, user: str | None, groups: Mapping[str, str]) -> dict[str, Any]:
    if principal == authz.EVERYONE:
        return {"principal": principal, "as": "everyone, authenticated or not"}
    if principal == authz.AUTHENTICATED:
        return {"principal": principal, "as": "every authenticated user"}
    if principal in groups:
        return {"principal": principal, "as": "member of this group", "member": groups[principal]}
    return {"principal": principal, "as": "this user" if principal == user else "principal"}


def _step(resource_name: str, permission: str, level: str, level_permission: str) -> str:
    if level == resource_name and level_permission == permission:
        return f"{permission} on this {resource_name}"
    if level == resource_name:
        return f"{level_permission} on this {resource_name} grants {permission}"
    if permission == CREATE:
        return f"{level_permission} on its {level} grants creating it"
    return f"{level_permission} on its {level} grants {permission} on the {resource_name}"


def explain(
    settings: Mapping[str, Any],
    resource_name: str,
    uris: Mapping[str, str],
    acls: Mapping[str, ACL],
    principals: set[str],
    user: str | None,
    groups: Mapping[str, str],
) -> dict[str, Any]:
    """``{permission: {granted, because, granted_by}}`` for ``principals``; ``groups``
    maps the group URIs among them to the member principal that makes them theirs."""
    levels = {uri: level for level, uri in uris.items()}
    answer: dict[str, Any] = {}
    for permission in rows(resource_name):
        because: list[dict[str, Any]] = []
        pairs = granters(resource_name, permission, uris)
        for uri, perm in pairs:
            for principal in sorted(acls.get(uri, {}).get(perm, set()) & principals):
                because.append(
                    {
                        "ace": {"uri": uri, "permission": perm, "principal": principal},
                        "step": _step(resource_name, permission, levels[uri], perm),
                        **_origin(principal, user, groups),
                    }
                )
        names = setting_names(resource_name, permission)
        for name in names:
            for principal in sorted(set(principals_setting(settings, *_split(name))) & principals):
                because.append({"setting": name, **_origin(principal, user, groups)})
        answer[permission] = {
            "granted": bool(because),
            "because": because,
            "granted_by": {
                "aces": [{"uri": u, "permission": p} for u, p in pairs],
                "settings": names,
            },
        }
    return answer


def _split(setting: str) -> tuple[str, str]:
    """``record_read_principals`` -> ``("record", "read")``."""
    resource, permission, _ = setting.rsplit("_", 2)
    return resource, permission


def readers(
    settings: Mapping[str, Any],
    resource_name: str,
    uris: Mapping[str, str],
    acls: Mapping[str, ACL],
) -> dict[str, list[dict[str, Any]]]:
    """``{principal: [why]}`` for every principal an ACE or a setting lets read it."""
    permission = CORE[resource_name].read_permission
    levels = {uri: level for level, uri in uris.items()}
    found: dict[str, list[dict[str, Any]]] = {}
    for uri, perm in authz.bound_permissions(resource_name, permission, uris):
        for principal in sorted(acls.get(uri, {}).get(perm, set())):
            found.setdefault(principal, []).append(
                {
                    "ace": {"uri": uri, "permission": perm, "principal": principal},
                    "step": _step(resource_name, permission, levels[uri], perm),
                }
            )
    for name in setting_names(resource_name, permission):
        for principal in principals_setting(settings, *_split(name)):
            found.setdefault(principal, []).append({"setting": name})
    return dict(sorted(found.items()))
