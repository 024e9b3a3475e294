"""The ``kinto-clone`` command: init, migrate, start, purge-deleted, create-user,
restore, version.

Argument parsing and bootstrap only; the work is done by the modules it calls.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from kinto_clone.version import __version__

DEFAULT_INI = os.environ.get("KINTO_INI", "config/kinto.ini")

INI_TEMPLATE = """\
[app:main]
use = egg:kinto_clone
kinto.storage_backend = {storage_backend}
kinto.storage_url = {url}
kinto.permission_backend = {permission_backend}
kinto.permission_url = {url}
# Recent account logins (bcrypt is slow on purpose), in each server process.
kinto.cache_backend = kinto_clone.cache.memory
kinto.userid_hmac_secret = {secret}
kinto.includes = kinto_clone.plugins.default_bucket
kinto.bucket_create_principals = system.Authenticated
multiauth.policies = basicauth

# uvicorn in front of the application: the API and the live change streams
# (Accept: text/event-stream) on one origin. `use = egg:waitress#main` serves the API alone.
[server:main]
use = egg:kinto_clone#stream
host = {host}
port = %(http_port)s

[loggers]
keys = root, kinto_clone

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[logger_kinto_clone]
level = INFO
handlers =
qualname = kinto_clone

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s] %(message)s
"""

BACKENDS = {
    "sqlite": (
        "kinto_clone.storage.sql",
        "kinto_clone.permission.sql",
        "sqlite:///data/kinto.sqlite",
    ),
    "postgresql": (
        "kinto_clone.storage.sql",
        "kinto_clone.permission.sql",
        "postgresql://postgres@127.0.0.1:5432/kinto",
    ),
    "memory": ("kinto_clone.storage.memory", "kinto_clone.permission.memory", ""),
}


def app_settings(ini: str) -> dict[str, Any]:
    from pyramid.paster import get_appsettings

    from kinto_clone import settings

    return settings.load(get_appsettings(ini))


def cmd_init(args: argparse.Namespace) -> int:
    if os.path.exists(args.ini):
        print(f"{args.ini} already exists", file=sys.stderr)
        return 1
    storage, permission, url = BACKENDS[args.backend]
    if args.url:
        if args.backend == "memory":
            print("--url: the memory backend has no database URL", file=sys.stderr)
            return 1
        url = args.url
    os.makedirs(os.path.dirname(args.ini) or ".", exist_ok=True)
    with open(args.ini, "w", encoding="utf-8") as f:
        f.write(
            INI_TEMPLATE.format(
                storage_backend=storage,
                permission_backend=permission,
                url=url,
                secret=secrets.token_hex(32),
                host=args.host,
            )
        )
    print(f"wrote {args.ini}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from kinto_clone import migration

    settings = app_settings(args.ini)
    if settings["storage_backend"].endswith(".memory"):
        print("memory backend: nothing to migrate")
        return 0
    migration.upgrade(str(settings["storage_url"]))
    print(f"schema of {settings['storage_url']} is up to date")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from paste.deploy import loadserver
    from plaster_pastedeploy import Loader  # noqa: F401  (ensures pastedeploy is present)
    from pyramid.paster import get_app, setup_logging

    try:
        setup_logging(args.ini)
    except (ImportError, ValueError, KeyError) as exc:
        # A Kinto ini names Kinto's handler and formatter classes, which are not installed
        # here: keep serving, with our default logging.
        print(
            f"logging configuration of {args.ini} not usable ({exc}); using defaults",
            file=sys.stderr,
        )
    if not logging.getLogger().handlers:  # the ini has no [loggers]: INFO to stderr
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)-5.5s [%(name)s] %(message)s"
        )
    # waitress warns on every request while all its threads are busy: that is load, not
    # news, and logging it costs each request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = get_app(args.ini, "main", options={"http_port": str(args.port)})
    server = loadserver(
        f"config:{os.path.abspath(args.ini)}", global_conf={"http_port": str(args.port)}
    )
    # What exists now (modules, the app, its routes and statements) lives as long as the
    # process: out of the garbage collector's reach, a full collection no longer walks it
    # (~95,000 objects: 82 ms every few thousand requests, 0.9 ms frozen; 2026-12-08).
    gc.collect()
    gc.freeze()
    server(app)
    return 0


def cmd_purge_deleted(args: argparse.Namespace) -> int:
    from kinto_clone import backends, db

    if args.before is None and args.max_retained is None:
        # Dropping every tombstone would make clients that sync with _since miss deletions.
        print(
            "kinto-clone purge-deleted: error: give --max-retained and/or --before", file=sys.stderr
        )
        return 2
    loaded = backends.load(app_settings(args.ini))
    removed = 0
    with db.transaction():
        for resource in args.resources:
            removed += loaded.storage.purge_deleted(
                resource, before=args.before, max_retained=args.max_retained
            )
    print(f"removed {removed} tombstones")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    from kinto_clone.plugins.accounts.command import create_user

    return create_user(app_settings(args.ini), args.username, args.password)


def cmd_restore(args: argparse.Namespace) -> int:
    from kinto_clone.plugins.history.command import restore_command

    return restore_command(args.ini, args.uri, args.at, args.dry_run)


def cmd_flush_cache(args: argparse.Namespace) -> int:
    """Empty the cache backend the ini names, as Kinto's command does. The memory cache
    (every cache_backend here) lives in each server process: what this process empties
    is its own, so say how a running server's is emptied."""
    from kinto_clone.backends import load_cache

    settings = app_settings(args.ini)
    cache = load_cache(settings)
    if cache is None:
        print("No cache_backend is configured: nothing to flush")
        return 0
    cache.flush()
    print(
        f"Flushed {settings['cache_backend']}. It lives in each server process: "
        "POST /v1/__flush__ or a restart empties a running server's"
    )
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kinto-clone", description="Kinto-compatible server")
    sub = top.add_subparsers(dest="command", required=True)

    def add(name: str, func: Any, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--ini", default=DEFAULT_INI, help=f"ini file (default {DEFAULT_INI})")
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "write a configuration file")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="sqlite")
    p.add_argument("--url", help="database URL (sqlite:///path or postgresql://...)")
    p.add_argument("--host", default="127.0.0.1")
    add("migrate", cmd_migrate, "create or migrate the database schema")
    p = add("start", cmd_start, "serve the API and its change streams")
    p.add_argument("--port", type=int, default=8888)
    p = add(
        "purge-deleted",
        cmd_purge_deleted,
        "remove tombstones older than --before, or beyond the newest N per list",
    )
    p.add_argument("resources", nargs="+", help="resource names (record, collection, ...)")
    p.add_argument("--max-retained", type=int, default=None)
    p.add_argument("--before", type=int, default=None, help="epoch milliseconds")
    p = add(
        "create-user",
        cmd_create_user,
        "create an account, or set its password (accounts plugin); exit 51 readonly, "
        "52 plugin not included, 53 aborted",
    )
    p.add_argument("-u", "--username", help="asked for when not given")
    p.add_argument("-p", "--password", help="asked for (twice) when not given")
    p = add(
        "restore",
        cmd_restore,
        "restore a bucket, group, collection or record to its state at a point, from "
        "history (history plugin); exit 1 refused, 2 plugin not included or bad URI",
    )
    p.add_argument("uri", help="/buckets/b[/collections/c[/records/r]] or /buckets/b/groups/g")
    p.add_argument("--at", required=True, help="epoch milliseconds or an ISO 8601 date")
    p.add_argument("--dry-run", action="store_true", help="print what would change only")
    add("flush-cache", cmd_flush_cache, "empty the cache backend")
    add("version", cmd_version, "print the version")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    from sqlalchemy.exc import ArgumentError

    from kinto_clone.errors import BackendError, ConfigurationError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (BackendError, ConfigurationError, ArgumentError, OSError) as exc:
        # An operator's mistake (unreachable database, malformed URL, missing ini): one
        # line saying what went wrong, not a traceback.
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"kinto-clone {args.command}: error: {first_line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
