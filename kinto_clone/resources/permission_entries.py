"""What a caller may do, object by object: the entries of ``GET /permissions`` (§6.7).

One entry per object URI on which one of the caller's principals holds an ACE (one query,
``Permission.get_accessible_objects``), plus what ``<resource>_<perm>_principals``
settings grant them: ``<type>:create`` on the root ``/`` for top-level types, and
permissions on every bucket, or every object of a level below the buckets (every
collection, every group). Each entry lists the permissions held plus those they imply on
the same object, read from the app's inheritance table (bucket ``write`` gives ``read``,
``read:attributes``, ``collection:create``, ``group:create``; children are not listed).
URIs of no type of the app, or of objects only the server writes (history entries), are
skipped.

The entries are not stored anywhere: filters, sorting (default ``uri`` descending),
pagination and ``_fields`` are applied in memory (``selection.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kinto_clone.resources import querying, selection
from kinto_clone.resources.types import BUCKET, Inheritance, Topology, object_uri
from kinto_clone.settings import principals_setting
from kinto_clone.storage import ListQuery, Sort

if TYPE_CHECKING:
    from kinto_clone.backends import Backends

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
ROOT = "root"
_SETTING_NAME = re.compile(r"(\w+?)_(create|read|write)_principals")

Entry = dict[str, Any]


@dataclass(frozen=True)
class Page:
    entries: list[Entry]  # projected on ``_fields``
    total: int  # every entry matching the filters
    next_token: str | None


def timestamp(backends: Backends) -> int:
    """As Kinto's: the timestamp of a list of its own that nothing writes, taken at the
    first read (after a flush); only informational, so no 304 or 412 is derived from it."""
    return backends.storage.start_list(TIMESTAMP_LIST, "")


def implied(table: Inheritance, resource_name: str, permission: str) -> frozenset[str]:
    """``permission`` and what it grants on the same object, read from the table."""
    granted = {permission}
    for (name, perm), granters in table.items():
        if name == resource_name and (resource_name, permission) in granters:
            granted.add(perm)
    return frozenset(granted)


def settings_grants(
    settings: Mapping[str, Any], types: Topology, principals: set[str]
) -> dict[str, set[str]]:
    """``{level: permissions}`` granted to ``principals`` by settings on every object of a
    level: ``{"root": {"bucket:create"}, "bucket": {"write"}, "collection": {"read"}}``."""
    grants: dict[str, set[str]] = {}
    for key in settings:
        match = _SETTING_NAME.fullmatch(key)
        if match is None or match.group(1) not in types or types[match.group(1)].server_written:
            continue
        resource_name, permission = match.groups()
        if not set(principals_setting(settings, resource_name, permission)) & principals:
            continue
        if permission == "create":
            level = types[resource_name].parent or ROOT
            resource_name, permission = level, f"{resource_name}:create"
        grants.setdefault(resource_name, set()).add(permission)
    return grants


def _add_settings_grants(
    backends: Backends,
    types: Topology,
    grants: dict[str, set[str]],
    held: dict[str, set[str]],
) -> None:
    if ROOT in grants:
        held.setdefault("/", set()).update(grants[ROOT])
    buckets = types[BUCKET.name]
    children = [child for child in buckets.children if child.name in grants]
    if buckets.name not in grants and not children:
        return
    everything = ListQuery(limit=None)
    found, _ = backends.storage.list_objects(buckets.name, "", everything)
    for bucket in found:
        bucket_uri = object_uri(buckets, "", bucket["id"])
        if buckets.name in grants:
            held.setdefault(bucket_uri, set()).update(grants[buckets.name])
        # One query per bucket and kind; only for principals that settings make
        # administrators of every collection or group, so rarely and for few callers.
        for child in children:
            objects, _ = backends.storage.list_objects(child.name, bucket_uri, everything)
            for obj in objects:
                uri = object_uri(child, bucket_uri, obj["id"])
                held.setdefault(uri, set()).update(grants[child.name])


def _entry(types: Topology, uri: str, held: set[str]) -> Entry | None:
    if uri == "/":
        return {"uri": uri, "resource_name": ROOT, "permissions": sorted(held)}
    parsed = types.parse_uri(uri)
    if parsed is None or parsed[0].server_written:
        return None
    resource, _, object_id = parsed
    table = types.inheritance
    permissions = set().union(*(implied(table, resource.name, perm) for perm in held))
    ids = types.ids_of(uri)
    own = ids.pop(f"{resource.name}_id")
    # As in event payloads: bucket_id, record_id...
    return {
        "uri": uri,
        "resource_name": resource.name,
        "permissions": sorted(permissions),
        **ids,
        "id": object_id,
        f"{resource.name}_id": own,
    }


def entries_of(
    backends: Backends, types: Topology, settings: Mapping[str, Any], principals: set[str]
) -> list[Entry]:
    held = backends.permission.get_accessible_objects(principals)
    _add_settings_grants(backends, types, settings_grants(settings, types, principals), held)
    entries = (_entry(types, uri, perms) for uri, perms in held.items())
    return [entry for entry in entries if entry is not None]


def parse_params(
    params: list[tuple[str, str]], now: int, settings: Mapping[str, Any]
) -> querying.ParsedList:
    """The querystring, with ``last_modified`` ignored: entries have no timestamp."""
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


def page_of(entries: list[Entry], parsed: querying.ParsedList) -> Page:
    """The page the query asks for, its total and the token of the next one."""
    selected = selection.select(entries, parsed.query)
    page = selected[: parsed.limit]
    token = None
    if len(selected) > parsed.limit:
        token = querying.encode_token(page[-1], parsed.query.sorting, len(page))
    if parsed.fields is not None:
        page = [querying.project_fields(entry, parsed.fields) for entry in page]
    return Page(page, len(selected), token)
