"""The ``history.*`` settings (§10.1), read and checked once when the plugin is included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinto_clone.errors import ConfigurationError
from kinto_clone.settings import as_list

DEFAULT_TRIM_THRESHOLD = 100


def _integer(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"Setting '{name}' must be an integer")
    return value


@dataclass(frozen=True)
class HistoryOptions:
    excluded_resources: tuple[str, ...] = ()
    """URIs (bucket, collection or object) whose changes are not recorded; a bucket or a
    collection excludes everything in it."""
    excluded_user_ids: frozenset[str] = frozenset()
    """Writers whose changes are not recorded."""
    trim_max_count: int = -1
    """Keep at most this many entries per resource type per bucket; negative: no trimming."""
    trim_user_ids: tuple[str, ...] = ()
    """When given, only entries written by these users are counted and trimmed."""
    trim_threshold: int = DEFAULT_TRIM_THRESHOLD
    """Trim only once the count exceeds ``trim_max_count`` by more than this, so that a
    trim deletes a batch of entries at once rather than one entry on every write."""
    explicit_permissions: bool = True

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> HistoryOptions:
        threshold = _integer(settings, "history.auto_trim_threshold", DEFAULT_TRIM_THRESHOLD)
        if threshold < 0:
            raise ConfigurationError("Setting 'history.auto_trim_threshold' must be >= 0")
        return cls(
            excluded_resources=tuple(as_list(settings.get("history.exclude_resources"))),
            excluded_user_ids=frozenset(as_list(settings.get("history.exclude_user_ids"))),
            trim_max_count=_integer(settings, "history.auto_trim_max_count", -1),
            trim_user_ids=tuple(as_list(settings.get("history.auto_trim_user_ids"))),
            trim_threshold=threshold,
            explicit_permissions=bool(settings.get("explicit_permissions", True)),
        )

    @property
    def trims(self) -> bool:
        return self.trim_max_count >= 0

    def excludes(self, uris: list[str], user_id: str | None) -> bool:
        """Is a change of the object at ``uris[-1]`` (its chain of URIs, bucket first) by
        ``user_id`` left out of the history?"""
        if user_id is not None and user_id in self.excluded_user_ids:
            return True
        return any(uri in self.excluded_resources for uri in uris)

    def capability(self) -> dict[str, Any]:
        """What ``GET /v1/`` shows of these settings, when they are set (§1.3)."""
        extra: dict[str, Any] = {}
        if self.excluded_resources:
            extra["excluded_resources"] = [_uri_parts(uri) for uri in self.excluded_resources]
        if self.trims:
            extra["auto_trim_max_count"] = self.trim_max_count
        if self.trim_user_ids:
            extra["auto_trim_user_ids"] = list(self.trim_user_ids)
        return extra


_LEVELS = {"buckets": "bucket", "collections": "collection", "groups": "group", "records": "record"}


def _uri_parts(uri: str) -> dict[str, str]:
    """``/buckets/a/collections/b`` as Kinto shows it: ``{"bucket": "a", "collection": "b"}``."""
    parts = uri.strip("/").split("/")
    return {
        _LEVELS.get(kind, kind): name for kind, name in zip(parts[::2], parts[1::2], strict=False)
    }
