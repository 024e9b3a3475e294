"""Who may receive which change: the permission check of every event.

A subscriber receives a record's change when a ``GET`` of the list at that moment would
show it: the same inheritance table (``authorization.py``) as every request, applied to
the ACLs and the groups read in the round (``reader.py``), so that a group or ACL change
made mid-stream applies from the next change on. A tombstone has no ACL of its own any
more (its ACEs went with the record): like a ``_since`` poll, only readers of the
collection or bucket see it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinto_clone import authorization as authz
from kinto_clone.stream.reader import Round, bucket_uri, collection_uri

EVERYONE_ONLY = frozenset({authz.EVERYONE})


def principals_of(userid: str | None, groups: Mapping[str, set[str]]) -> frozenset[str]:
    """A caller's principals as ``security.principals`` computes them for a request."""
    if userid is None:
        return EVERYONE_ONLY
    return frozenset(
        {
            userid,
            authz.EVERYONE,
            authz.AUTHENTICATED,
            *groups.get(userid, ()),
            *groups.get(authz.AUTHENTICATED, ()),
        }
    )


class RoundPermissions:
    """The decisions of one round, cached per set of principals (subscribers of one user,
    or anonymous ones, share them)."""

    def __init__(
        self, settings: Mapping[str, Any], bucket_id: str, collection_id: str, round_: Round
    ) -> None:
        self.settings = settings
        self.round = round_
        self.uris = {
            "bucket": bucket_uri(bucket_id),
            "collection": collection_uri(bucket_id, collection_id),
        }
        self._whole_list: dict[frozenset[str], bool] = {}
        self._objects: dict[tuple[frozenset[str], str], bool] = {}

    def may_read(self, principals: frozenset[str], record_id: str) -> bool:
        whole = self._whole_list.get(principals)
        if whole is None:
            whole = self._grants(principals, "collection", self.uris)
            self._whole_list[principals] = whole
        if whole:
            return True
        key = (principals, record_id)
        found = self._objects.get(key)
        if found is None:
            uris = {**self.uris, "record": f"{self.uris['collection']}/records/{record_id}"}
            found = self._objects[key] = self._grants(principals, "record", uris)
        return found

    def _grants(self, principals: frozenset[str], level: str, uris: dict[str, str]) -> bool:
        """``level`` "collection": read granted on the whole list (the plural GET's
        ``_granted_on_parent``); "record": on that record, inherited or its own."""
        caller = set(principals)
        if authz.settings_grant(self.settings, "record", "read", caller):
            return True
        bound = authz.bound_permissions(level, "read", uris)
        return authz.holds(self.round.acls, bound, caller)
