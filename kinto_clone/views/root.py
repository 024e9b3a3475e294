"""Utility endpoints: the API root, heartbeats, version (§1.3)."""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import hashlib
import json
import os
import time
from typing import Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from kinto_clone import db
from kinto_clone.errors import ERRNO, HTTPError
from kinto_clone.views.http import application_url

root = Service(name="root", path="/", description="Server information")
heartbeat = Service(name="heartbeat", path="/__heartbeat__")
lbheartbeat = Service(name="lbheartbeat", path="/__lbheartbeat__")
version = Service(name="version", path="/__version__")

PUBLIC_SETTINGS = ("batch_max_requests", "readonly", "explicit_permissions")


@root.get(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def get_root(request: Request) -> dict[str, Any]:
    settings = request.registry.settings
    body: dict[str, Any] = {
        "project_name": settings["project_name"],
        "project_version": settings["project_version"],
        "http_api_version": settings["http_api_version"],
        "project_docs": settings["project_docs"],
        "url": f"{application_url(request)}/v1/",
    }
    body["config"] = _config_info()
    if settings.get("eos"):
        body["eos"] = settings["eos"]
    body["settings"] = {name: settings[name] for name in PUBLIC_SETTINGS}
    userid = request.authenticated_userid
    if userid is not None:
        user: dict[str, Any] = {"id": userid, "principals": sorted(request.principals)}
        bucket_id = getattr(request.registry, "default_bucket_id", None)
        if bucket_id is not None:
            user["bucket"] = bucket_id(request.registry.settings, userid)
        body["user"] = user
    body["capabilities"] = request.registry.capabilities
    if settings["readonly"]:
        request.response.cache_expires(settings["root_cache_expires_seconds"])
    return body


@functools.cache
def _config_info() -> dict[str, str] | None:
    """The ini in use (``KINTO_INI``, else ``config/kinto.ini``): path, sha256, mtime."""
    path = os.environ.get("KINTO_INI", "config/kinto.ini")
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    modified = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.UTC)
    return {"path": path, "hash": digest, "modified": modified.isoformat()}


def _check(backend: Any) -> bool:
    with db.transaction(write=False):
        return bool(backend.heartbeat())


@heartbeat.get(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def get_heartbeat(request: Request) -> dict[str, Any]:
    backends = request.registry.backends
    checks = {
        "storage": backends.storage,
        "permission": backends.permission,
        **({"cache": backends.cache} if backends.cache is not None else {}),
        # plugins' (attachments), the stream's hub (stream/)
        **getattr(request.registry, "heartbeats", {}),
    }
    if request.in_batch:
        # A subrequest of /batch: the batch holds the databases, which a check on another
        # thread would wait for (the memory backend's one connection) until the timeout.
        results = {name: _safe_check(backend) for name, backend in checks.items()}
    else:
        results = _checked_in_threads(checks, request.registry.settings)
    if not all(results.values()):
        request.response.status_int = 503
    return results


def _safe_check(backend: Any) -> bool:
    try:
        return _check(backend)
    except Exception:
        return False


def _checked_in_threads(checks: dict[str, Any], settings: dict[str, Any]) -> dict[str, bool]:
    """Each check on a thread of its own, all answered by ``heartbeat_timeout_seconds``."""
    timeout = settings["heartbeat_timeout_seconds"]
    results: dict[str, bool] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(checks))
    try:
        futures = {name: pool.submit(_check, backend) for name, backend in checks.items()}
        deadline = time.monotonic() + timeout
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:
                results[name] = False
    finally:
        # Answer at the deadline: a check stuck on a hung database finishes (or times out
        # on its own) in the background; `with pool:` would wait for it.
        pool.shutdown(wait=False)
    return results


@lbheartbeat.get(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def get_lbheartbeat(request: Request) -> dict[str, Any]:
    return {}


@version.get(permission=NO_PERMISSION_REQUIRED, renderer="kinto_json")
def get_version(request: Request) -> Any:
    """The version.json file. Kinto answers 500 when it is missing; a missing file is a
    404 here (Kinto's own docs say so)."""
    path = request.registry.settings["version_json_path"]
    if not os.path.exists(path):
        raise HTTPError(
            404,
            ERRNO.MISSING_RESOURCE,
            message="The resource you are looking for could not be found.",
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def add_capability(
    config: Configurator, name: str, description: str, url: str, **extra: Any
) -> None:
    """Advertise a feature in ``GET /v1/`` under ``capabilities`` (§1.3)."""
    config.registry.capabilities[name] = {"description": description, "url": url, **extra}


def includeme(config: Configurator) -> None:
    for service in (root, heartbeat, lbheartbeat, version):
        config.add_cornice_service(service)
