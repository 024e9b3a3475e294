"""Settings: defaults, the ``kinto.`` prefix, ``KINTO_*`` environment overrides, coercion.

An ini written for Kinto works here with only its ``use = egg:kinto`` line changed:
settings keep Kinto's names, may be written with or without the ``kinto.`` prefix, and
Kinto's dotted names of backends and plugins are accepted as aliases of ours.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from kinto_clone.errors import ConfigurationError as ConfigurationError  # importable here
from kinto_clone.version import __version__

logger = logging.getLogger(__name__)


DEFAULTS: dict[str, Any] = {
    "project_name": "kinto",
    "project_version": __version__,
    "project_docs": "https://kinto.readthedocs.io/",
    "http_api_version": "1.23",
    "error_info_link": "https://github.com/Kinto/kinto/issues/",
    "storage_backend": "kinto_clone.storage.memory",
    "storage_url": "",
    "storage_pool_size": 10,
    "storage_max_overflow": 10,
    "storage_pool_timeout": 30,
    "storage_statement_timeout_ms": 30000,
    "permission_backend": "kinto_clone.permission.memory",
    "permission_url": "",
    "cache_backend": "",
    "userid_hmac_secret": "",
    # true: refuse to start with an empty userid_hmac_secret or the sample one we ship.
    "production": False,
    "default_bucket_hmac_secret": "",
    "multiauth.policies": "",
    "includes": "",
    "readonly": False,
    "batch_max_requests": 25,
    "paginate_by": None,
    "storage_max_fetch_size": 10000,
    # Total-Records / Total-Objects on a plural GET as well as HEAD (Kinto 26: HEAD only).
    "total_records_on_get": True,
    # Access-revoked tombstones in _since polls and streams (README, "Revocations";
    # Kinto has none): false records nothing, as Kinto.
    "revocation_tombstones": True,
    "explicit_permissions": True,
    "bucket_create_principals": "system.Authenticated",
    "permissions_read_principals": "system.Everyone",
    "experimental_collection_schema_validation": False,
    "experimental_permissions_endpoint": False,
    "trailing_slash_redirect_enabled": True,
    "trailing_slash_redirect_ttl_seconds": 3600,
    "version_prefix_redirect_enabled": True,
    "version_prefix_redirect_ttl_seconds": -1,
    "heartbeat_timeout_seconds": 10,
    "root_cache_expires_seconds": 86400,
    "cors_origins": "*",
    "cors_max_age_seconds": 3600,
    "backoff": None,
    "backoff_percentage": None,
    "retry_after_seconds": 3,
    "eos": None,
    "eos_message": None,
    "eos_url": None,
    "http_host": None,
    "http_scheme": None,
    "version_json_path": "version.json",
    "max_request_body_bytes": 10 * 1024 * 1024,
    "max_json_depth": 64,
}

# Kinto's dotted names, accepted so that an existing ini only changes its `use =` line.
ALIASES: dict[str, str] = {
    "kinto.core.storage.memory": "kinto_clone.storage.memory",
    "kinto.core.storage.postgresql": "kinto_clone.storage.sql",
    "kinto.core.permission.memory": "kinto_clone.permission.memory",
    "kinto.core.permission.postgresql": "kinto_clone.permission.sql",
    # Every cache of Kinto is served by the memory one: what we cache is per process.
    "kinto.core.cache.memory": "kinto_clone.cache.memory",
    "kinto.core.cache.postgresql": "kinto_clone.cache.memory",
    "kinto.core.cache.redis": "kinto_clone.cache.memory",
    "kinto.core.cache.memcached": "kinto_clone.cache.memory",
    "kinto.plugins.default_bucket": "kinto_clone.plugins.default_bucket",
    "kinto.plugins.flush": "kinto_clone.plugins.flush",
    "kinto.plugins.accounts": "kinto_clone.plugins.accounts",
    "kinto.plugins.history": "kinto_clone.plugins.history",
    "kinto.plugins.prometheus": "kinto_clone.plugins.prometheus",
    "kinto_attachment": "kinto_clone.plugins.attachments",
    # Kinto plugins we do not provide: an ini naming them still starts, with a warning.
    "kinto.plugins.admin": "",
    "kinto.plugins.openid": "",
    "kinto.plugins.statsd": "",
    "kinto.plugins.counters": "",
    "kinto.core.authentication.BasicAuthAuthenticationPolicy": "basicauth",
}

PREFIX = "kinto."
_NOT_PREFIXED = ("multiauth.",)


def native(value: Any) -> Any:
    """Coerce a string setting like Kinto: JSON if it parses, else the string stripped."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


def as_list(value: Any) -> list[str]:
    """A whitespace/comma/newline separated setting as a list of non-empty strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [v for v in re.split(r"[\s,]+", str(value)) if v]


def alias(dotted: str) -> str:
    return ALIASES.get(dotted, dotted)


def _env_names(key: str) -> list[str]:
    base = re.sub(r"[.\-]", "_", key).upper()
    return [base, "KINTO_" + base]


def load(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults < ini < environment, unprefix names, coerce values, fail fast."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = dict(DEFAULTS)
    seen: dict[str, tuple[str, Any]] = {}
    for key, value in raw.items():
        name = key[len(PREFIX) :] if key.startswith(PREFIX) else key
        if name in seen and seen[name][1] != value:
            raise ConfigurationError(f"Settings '{seen[name][0]}', '{key}' are in conflict.")
        seen[name] = (key, value)
        settings[name] = native(value)
    for name in list(settings):
        for env in _env_names(name):
            if env in environ:
                settings[name] = native(environ[env])
    for name in ("storage_backend", "permission_backend", "cache_backend"):
        settings[name] = alias(str(settings[name] or ""))
    includes = [(p, alias(p)) for p in as_list(settings["includes"])]
    for original, ours in includes:
        if not ours:
            logger.warning("%s is a Kinto plugin kinto_clone does not provide; ignored", original)
    settings["includes"] = [ours for _, ours in includes if ours]
    _validate(settings)
    return settings


# The secret of config/kinto.ini, a sample for `make serve`: every reader of this
# repository knows it, so a production server must not use it.
SAMPLE_SECRET = "4ee1f6b1d0ec1b5a2f8a2f4b3f1a9c1e5d0b6a7c8e9f0a1b2c3d4e5f6a7b8c9d"


def _validate(settings: dict[str, Any]) -> None:
    if settings["production"] is True and str(settings["userid_hmac_secret"]) in (
        "",
        SAMPLE_SECRET,
    ):
        raise ConfigurationError(
            "production = true needs a userid_hmac_secret of your own "
            "(kinto-clone init writes a random one); the sample or an empty one lets anyone "
            "compute every Basic Auth user id"
        )
    for name in ("batch_max_requests", "storage_max_fetch_size", "retry_after_seconds"):
        if not isinstance(settings[name], int) or isinstance(settings[name], bool):
            raise ConfigurationError(f"Setting '{name}' must be an integer")
    paginate_by = settings["paginate_by"]
    if paginate_by is not None and (not isinstance(paginate_by, int) or paginate_by <= 0):
        raise ConfigurationError("Setting 'paginate_by' must be a positive integer")
    for name in ("total_records_on_get", "revocation_tombstones"):
        if not isinstance(settings[name], bool):
            raise ConfigurationError(f"Setting '{name}' must be true or false")


def principals_setting(settings: Mapping[str, Any], resource: str, permission: str) -> list[str]:
    """``<resource>_<permission>_principals`` (§6.6), e.g. ``record_read_principals``."""
    return as_list(settings.get(f"{resource}_{permission}_principals"))
