"""``GET/HEAD /v1/permissions``: what the caller may do, object by object (§6.7).

Registered only when ``experimental_permissions_endpoint`` is true (else the URL is a
404); readable by ``permissions_read_principals`` (default ``system.Everyone``).

One entry per object URI on which one of the caller's principals holds an ACE (one query,
``Permission.get_accessible_objects``), plus what ``<resource>_<perm>_principals``
settings grant them: ``bucket:create`` on the root ``/``, and permissions on every bucket,
or every collection or group of every bucket. Each entry lists the permissions held plus
those they imply on the same object (bucket ``write`` gives ``read``,
``read:attributes``, ``collection:create``, ``group:create``; children are not listed).
URIs that name no object route (history entries) are skipped.

The entries are not stored anywhere: filters, sorting (default ``uri`` descending),
pagination and ``_fields`` are applied here in Python, with the semantics of the storage
backends (§4). A caller holds a bounded number of ACEs, so this stays cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.settings import asbool

from kinto_clone.authorization import INHERITANCE, settings_grant
from kinto_clone.json import type_rank
from kinto_clone.resources import querying
from kinto_clone.settings import principals_setting
from kinto_clone.storage import Filter, ListQuery, Op, Sort
from kinto_clone.views.http import (
    expose,
    next_page_url,
    now_ms,
    set_cache_headers,
    set_timestamp_headers,
)
from kinto_clone.views.root import add_capability

SETTING = "experimental_permissions_endpoint"

# The strict schema of an entry: any other filter, sort or _fields name is a 400.
FIELDS = frozenset(
    {
        "uri",
        "resource_name",
        "permissions",
        "id",
        "bucket_id",
        "collection_id",
        "group_id",
        "record_id",
        "account_id",
    }
)
DEFAULT_SORT = Sort("uri", descending=True)
TIMESTAMP_LIST = "permissions"  # the list whose timestamp is the ETag, as Kinto names it

# Where a ``<resource>_create_principals`` setting grants ``<resource>:create``.
CREATED_IN = {
    "bucket": "root",
    "account": "root",
    "collection": "bucket",
    "group": "bucket",
    "record": "collection",
}
_SETTING_NAME = re.compile(r"(\w+?)_(create|read|write)_principals")

Entry = dict[str, Any]


class PermissionsContext:
    """The route context: ``read`` is granted by ``permissions_read_principals``."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def permits(self, permission: str) -> bool:
        return settings_grant(
            self.request.registry.settings, "permissions", permission, self.request.principals
        )


# -- the caller's entries ------------------------------------------------------------------


@functools.cache
def implied(resource_name: str, permission: str) -> frozenset[str]:
    """``permission`` and what it grants on the same object, read from the inheritance
    table (``write`` implies ``read`` also where the table has no row, accounts)."""
    granted = {permission, "read"} if permission == "write" else {permission}
    for (name, perm), granters in INHERITANCE.items():
        if name == resource_name and (resource_name, permission) in granters:
            granted.add(perm)
    return frozenset(granted)


def settings_grants(settings: Mapping[str, Any], principals: set[str]) -> dict[str, set[str]]:
    """``{level: permissions}`` granted to ``principals`` by settings on every object of a
    level: ``{"root": {"bucket:create"}, "bucket": {"write"}, "collection": {"read"}}``."""
    grants: dict[str, set[str]] = {}
    for key in settings:
        match = _SETTING_NAME.fullmatch(key)
        if match is None or match.group(1) not in CREATED_IN:
            continue
        resource_name, permission = match.groups()
        if not set(principals_setting(settings, resource_name, permission)) & principals:
            continue
        if permission == "create":
            resource_name, permission = CREATED_IN[resource_name], f"{resource_name}:create"
        grants.setdefault(resource_name, set()).add(permission)
    return grants


def _add_settings_grants(request: Request, held: dict[str, set[str]]) -> None:
    grants = settings_grants(request.registry.settings, request.principals)
    if "root" in grants:
        held.setdefault("/", set()).update(grants["root"])
    children = [name for name in ("collection", "group") if name in grants]
    if "bucket" not in grants and not children:
        return
    storage = request.registry.backends.storage
    everything = ListQuery(limit=None)
    buckets, _ = storage.list_objects("bucket", "", everything)
    for bucket in buckets:
        bucket_uri = f"/buckets/{bucket['id']}"
        if "bucket" in grants:
            held.setdefault(bucket_uri, set()).update(grants["bucket"])
        # One query per bucket and kind; only for principals that settings make
        # administrators of every collection or group, so rarely and for few callers.
        for name in children:
            objects, _ = storage.list_objects(name, bucket_uri, everything)
            for obj in objects:
                held.setdefault(f"{bucket_uri}/{name}s/{obj['id']}", set()).update(grants[name])


def _object_routes(request: Request) -> list[tuple[str, Any]]:
    """``(resource name, route)`` of every object route (``bucket:object``, ...)."""
    mapper = request.registry.getUtility(IRoutesMapper)
    return [
        (route.name.split(":")[0], route)
        for route in mapper.get_routes()
        if route.name.endswith(":object")
    ]


def _entry(routes: list[tuple[str, Any]], uri: str, held: set[str]) -> Entry | None:
    if uri == "/":
        return {"uri": uri, "resource_name": "root", "permissions": sorted(held)}
    for name, route in routes:
        matchdict = route.match(f"/v1{uri}")
        if matchdict is not None:
            permissions = set().union(*(implied(name, perm) for perm in held))
            entry = {
                "uri": uri,
                "resource_name": name,
                "permissions": sorted(permissions),
                **matchdict,
            }
            if "id" in matchdict:  # as in event payloads: bucket_id, record_id...
                entry[f"{name}_id"] = matchdict["id"]
            return entry
    return None


def entries_of(request: Request) -> list[Entry]:
    held = request.registry.backends.permission.get_accessible_objects(request.principals)
    _add_settings_grants(request, held)
    routes = _object_routes(request)
    entries = (_entry(routes, uri, perms) for uri, perms in held.items())
    return [entry for entry in entries if entry is not None]


# -- filters, sorting and pages over entries (the storage backends' semantics, §4) --------


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 in jsonb order (longer arrays and objects after shorter ones)."""
    rank_a, rank_b = type_rank(a), type_rank(b)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    if rank_a in (4, 5) and len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    if rank_a == 4:
        return next((c for x, y in zip(a, b, strict=True) if (c := compare(x, y))), 0)
    if rank_a == 5:
        keys_a, keys_b = sorted(a), sorted(b)
        if keys_a != keys_b:
            return -1 if keys_a < keys_b else 1
        return next((c for key in keys_a if (c := compare(a[key], b[key]))), 0)
    return (a > b) - (a < b) if rank_a else 0


Lookup = Callable[[str], tuple[bool, Any]]


def _lookup(entry: Mapping[str, Any]) -> Lookup:
    def find(path: str) -> tuple[bool, Any]:
        current: Any = entry
        for key in path.split("."):
            if not isinstance(current, Mapping) or key not in current:
                return False, None
            current = current[key]
        return True, current

    return find


def _like(pattern: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    pattern = pattern if "*" in pattern else f"*{pattern}*"
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def matches(entry: Mapping[str, Any], condition: Filter) -> bool:
    """Missing fields match ``not``, ``exclude``, ``gt`` and ``min`` only (§4.2)."""
    found, value = _lookup(entry)(condition.field)
    op, wanted = condition.op, condition.value
    if op is Op.HAS:
        return found == bool(wanted)
    if not found:
        return op in (Op.NOT, Op.EXCLUDE, Op.GT, Op.MIN)
    options = wanted if isinstance(wanted, list) else [wanted]
    if op in (Op.EQ, Op.IN):
        return any(compare(value, v) == 0 for v in options)
    if op in (Op.NOT, Op.EXCLUDE):
        return all(compare(value, v) != 0 for v in options)
    if op is Op.LIKE:
        return _like(wanted, value)
    if op in (Op.CONTAINS, Op.CONTAINS_ANY):
        if not isinstance(value, list):
            return False
        present = [any(compare(item, v) == 0 for item in value) for v in options]
        return any(present) if op is Op.CONTAINS_ANY else all(present)
    order = compare(value, wanted)
    return {Op.LT: order < 0, Op.MAX: order <= 0, Op.GT: order > 0, Op.MIN: order >= 0}[op]


def _order(sorting: Iterable[Sort], a: Lookup, b: Lookup) -> int:
    """Compare two entries; a missing field sorts last ascending, first descending."""
    for sort in sorting:
        (found_a, value_a), (found_b, value_b) = a(sort.field), b(sort.field)
        if found_a and found_b:
            order = compare(value_a, value_b)
        elif found_a or found_b:
            order = -1 if found_a else 1  # a missing field sorts after every value
        else:
            order = 0
        if order:
            return -order if sort.descending else order
    return 0


def select(entries: list[Entry], query: ListQuery) -> list[Entry]:
    """The entries matching the filters, sorted, after the keyset of ``query.after``."""
    kept = [e for e in entries if all(matches(e, f) for f in query.filters)]
    kept.sort(key=functools.cmp_to_key(lambda x, y: _order(query.sorting, _lookup(x), _lookup(y))))
    if query.after is not None:
        after = query.after

        def previous(field: str) -> tuple[bool, Any]:
            return field in after, after.get(field)

        kept = [e for e in kept if _order(query.sorting, _lookup(e), previous) > 0]
    return kept


def _parse(request: Request) -> querying.ParsedList:
    """The querystring, with ``last_modified`` ignored: entries have no timestamp."""
    settings = request.registry.settings
    params, now = list(request.GET.items()), now_ms()
    parsed = querying.parse_list_params(
        params,
        now_ms=now,
        paginate_by=settings["paginate_by"],
        max_fetch_size=settings["storage_max_fetch_size"],
        known_fields=FIELDS,
    )
    filters = tuple(f for f in parsed.query.filters if f.field != querying.MODIFIED_FIELD)
    sorting = [s for s in parsed.query.sorting if s.field != querying.MODIFIED_FIELD]
    if not any(s.field == DEFAULT_SORT.field for s in sorting):
        sorting.append(DEFAULT_SORT)  # unique: it makes the pagination keyset exact
    after = None
    if parsed.query.after is not None:  # the token's keyset, read for our sort fields
        token = {name.strip(): value for name, value in params}["_token"]
        after = querying.decode_token(token, sorting, now)
    query = ListQuery(filters=filters, sorting=tuple(sorting), after=after)
    return querying.ParsedList(
        query=query, fields=parsed.fields, deprecated_to=False, limit=parsed.limit
    )


# -- the view ------------------------------------------------------------------------------

permissions = Service(
    name="permissions",
    path="/permissions",
    factory=PermissionsContext,
    description="What the caller may do, object by object",
)


@permissions.get(permission="read", renderer="kinto_json")
def list_permissions(request: Request) -> Any:
    parsed = _parse(request)
    selected = select(entries_of(request), parsed.query)
    expose(
        request,
        "Next-Page",
        "Total-Objects",
        "Total-Records",
        "Cache-Control",
        "ETag",
        "Last-Modified",
    )
    set_cache_headers(request, None)
    # As Kinto's: the timestamp of a list of its own that nothing writes, taken at the
    # first read (after a flush); only informational, so no 304 or 412 is derived from it.
    set_timestamp_headers(
        request.response, request.registry.backends.storage.resource_timestamp(TIMESTAMP_LIST, "")
    )
    if request.method == "HEAD":
        headers = request.response.headers
        headers["Total-Objects"] = headers["Total-Records"] = str(len(selected))
        request.response.content_type, request.response.charset = "application/json", None
        return request.response
    page = selected[: parsed.limit]
    if len(selected) > parsed.limit:
        token = querying.encode_token(page[-1], parsed.query.sorting, len(page))
        request.response.headers["Next-Page"] = next_page_url(request, parsed.limit, token)
    if parsed.fields is not None:
        page = [querying.project_fields(entry, parsed.fields) for entry in page]
    return {"data": page}


def includeme(config: Configurator) -> None:
    """Include inside the ``/v1`` route prefix; a no-op unless the setting is true."""
    if asbool(config.registry.settings.get(SETTING)):
        add_permissions_endpoint(config)


def add_permissions_endpoint(config: Configurator) -> None:
    """Also for plugins that bring the endpoint with them (Kinto's admin plugin does)."""
    if "permissions_endpoint" in config.registry.capabilities:
        return  # enabled by the setting and by such a plugin
    config.add_cornice_service(permissions)
    add_capability(
        config,
        "permissions_endpoint",
        "GET /permissions lists what the caller may do, object by object.",
        "https://kinto.readthedocs.io/en/latest/configuration/settings.html"
        "#activating-the-permissions-endpoint",
    )
