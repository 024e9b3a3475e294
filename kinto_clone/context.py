"""The route context: what a resource URL names, its loaded chain, and who may do what.

Built by Pyramid for every resource route (``factory=RouteContext``). On the first
permission check it loads, in one query each, the objects of the URL's chain (bucket,
collection, object) and their ACLs; the permission decision and the view then reuse them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyramid.request import Request

from kinto_clone import authorization as authz
from kinto_clone import checks
from kinto_clone.errors import Forbidden, Unauthorized, invalid_id
from kinto_clone.permission import ACL
from kinto_clone.preconditions import creates
from kinto_clone.resources.types import ResourceType, Topology, object_uri
from kinto_clone.storage import ListQuery, ReadableBy

if TYPE_CHECKING:
    from kinto_clone.backends import Backends


class RouteContext:
    """What ``/buckets/b/collections/c/records[/r]`` names, loaded lazily."""

    def __init__(self, request: Request) -> None:
        self.request = request
        name, kind = request.matched_route.name.split(":")
        self.types: Topology = request.registry.resource_types
        self.resource: ResourceType = self.types[name]
        self.is_plural = kind == "plural"
        self.backends: Backends = request.registry.backends
        matchdict = request.matchdict or {}
        # (resource, parent_id, id) for each level above the resource, top first.
        self.chain: list[tuple[ResourceType, str, str]] = []
        self.uris: dict[str, str] = {}
        parent_id = ""
        for level_type in self.types.ancestors(name):
            level_id = matchdict[f"{level_type.name}_id"]
            self.chain.append((level_type, parent_id, level_id))
            parent_id = object_uri(level_type, parent_id, level_id)
            self.uris[level_type.name] = parent_id
        self.parent_id = parent_id
        self.object_id: str | None = None
        if not self.is_plural:
            # On the object's own route its syntax is one of the checks (checks.py), after
            # the permission decision; routes below an object (plugins) check it first.
            self.object_id = matchdict["id"]
            if kind != "object" and not self.resource.id_pattern.match(self.object_id):
                raise invalid_id()
            self.uris[name] = object_uri(self.resource, parent_id, self.object_id)
        self.objects: dict[str, dict[str, Any] | None] = {}
        self.acls: dict[str, ACL] = {}
        self.readable_by: ReadableBy | None = None
        self.sibling_id: str | None = None  # POST with an existing data.id
        self._loaded = False

    # -- loading ---------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        return self.uris.get(self.resource.name, "")

    def load(self, extra_id: str | None = None) -> None:
        """Fetch the chain's objects and ACLs (2 queries), once per request."""
        if self._loaded:
            return
        keys = [(t.name, p, i) for t, p, i in self.chain]
        uris = list(self.uris.values())
        if self.object_id is not None:
            if self.resource.id_pattern.match(self.object_id):
                keys.append((self.resource.name, self.parent_id, self.object_id))
            else:
                # An invalid id names nothing, and is refused only after authorisation
                # (Kinto's order); it never reaches the database (a NUL would be a 500).
                uris.remove(self.uri)
        if extra_id is not None and self.resource.id_pattern.match(extra_id):
            self.sibling_id = extra_id
            keys.append((self.resource.name, self.parent_id, extra_id))
            uris.append(object_uri(self.resource, self.parent_id, extra_id))
        userid = self.request.authenticated_userid
        users = [userid, authz.AUTHENTICATED] if userid is not None else []
        loaded = self.backends.loader.load(keys, uris, users)
        for name, parent_id, object_id in keys:
            level = (
                "sibling"
                if object_id == extra_id and name == self.resource.name and self.object_id is None
                else name
            )
            self.objects[level] = loaded.objects.get((name, parent_id, object_id))
        self.acls = loaded.acls
        principals = {authz.EVERYONE}
        if userid is not None:
            principals |= {userid, authz.AUTHENTICATED, *loaded.groups}
        # The caller's principals came with the same statement: request.principals uses them.
        self.request.known_principals = frozenset(principals)
        self._loaded = True

    @property
    def current(self) -> dict[str, Any] | None:
        """The targeted object, None when it does not exist."""
        return self.objects.get(self.resource.name)

    @property
    def sibling(self) -> dict[str, Any] | None:
        return self.objects.get("sibling")

    def acl(self, uri: str | None = None) -> ACL:
        return self.acls.get(uri or self.uri, {})

    # -- permission decision -----------------------------------------------------------------

    def permits(self, permission: str) -> bool:
        """Pyramid's permission hook: the request's checks, in Kinto's order (checks.py)."""
        return checks.run(self.request, self, permission)

    def decide(self, permission: str) -> bool:
        """Decide the view's declared permission (read, write, create) for this request."""
        self.load(
            extra_id=checks.posted_id(self.request)
            if self.is_plural and permission == "create"
            else None
        )
        principals: set[str] = self.request.principals
        method = self.request.method
        name = self.resource.name
        if self.is_plural:
            if permission == "create":
                if self.sibling is not None:
                    sibling_uri = object_uri(self.resource, self.parent_id, self.sibling_id or "")
                    return self._granted(
                        self.resource.read_permission, principals, {**self.uris, name: sibling_uri}
                    )
                return self._may_create(principals)
            if self._granted_on_parent(permission, principals):
                return True
            # Not allowed on the whole list: only the objects they hold a permission on.
            # Any permission held on an object lets its holder see it listed.
            listing = self.resource.listed_by if permission == "read" else ("write",)
            self.readable_by = ReadableBy(
                frozenset(principals), listing, self.resource.list_uri(self.parent_id)
            )
            return True
        if permission == "read":
            return self._granted(self.resource.read_permission, principals, self.uris)
        # write: PUT creates when missing; PATCH/DELETE on a missing object only need to
        # read the parent, so that such a caller gets a 404 rather than a 403.
        exists = self.current is not None
        if method == "PUT" and creates(self.request.headers, exists):
            return self._may_create(principals)
        if not exists:
            return self._parent_readable(principals)
        return self._granted("write", principals, self.uris)

    def _granted(self, permission: str, principals: set[str], uris: dict[str, str]) -> bool:
        name = self.resource.name
        if authz.settings_grant(self.request.registry.settings, name, permission, principals):
            return True
        bound = authz.bound_permissions(name, permission, uris, self.types.inheritance)
        return authz.holds(self.acls, bound, principals)

    def _may_create(self, principals: set[str]) -> bool:
        name = self.resource.name
        settings = self.request.registry.settings
        if authz.settings_grant(settings, name, "create", principals):
            return True
        if self.resource.parent is None:
            return False
        parent = self.resource.parent
        bound = authz.bound_permissions(parent, f"{name}:create", self.uris, self.types.inheritance)
        return authz.holds(self.acls, bound, principals)

    def _granted_on_parent(self, permission: str, principals: set[str]) -> bool:
        name = self.resource.name
        if authz.settings_grant(self.request.registry.settings, name, permission, principals):
            return True
        if self.resource.parent is None:
            return False
        bound = authz.bound_permissions(
            self.resource.parent, permission, self.uris, self.types.inheritance
        )
        return authz.holds(self.acls, bound, principals)

    def _parent_readable(self, principals: set[str]) -> bool:
        if self.resource.parent is None:
            return False
        bound = authz.bound_permissions(
            self.resource.parent, "read", self.uris, self.types.inheritance
        )
        return authz.holds(self.acls, bound, principals)

    def raise_401_403_if_nothing_listed(self) -> None:
        raise_401_403_if_nothing_listed(self)

    def may_create(self, principals: set[str]) -> bool:
        """Public form for the plural list rule "allowed when the caller may create"."""
        return self._may_create(principals)


def lists_nothing(ctx: Any) -> bool:
    """A caller let in to a list only for the objects they hold permissions on (§6.5),
    who holds none there and may not create either. Any route context."""
    if ctx.readable_by is None or ctx.may_create(ctx.request.principals):
        return False
    return not ctx.backends.storage.count(
        ctx.resource.name, ctx.parent_id, ListQuery(readable_by=ctx.readable_by)
    )


def raise_401_403_if_nothing_listed(ctx: Any) -> None:
    """401/403 for a caller who ``lists_nothing``."""
    if lists_nothing(ctx):
        raise Unauthorized() if ctx.request.authenticated_userid is None else Forbidden()
