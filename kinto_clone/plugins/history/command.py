"""``kinto-clone restore <uri> --at <timestamp|ISO date> [--dry-run] --ini FILE``.

The restore of ``POST {uri}/restore``, run by an operator: no permission check, the
writes' history entries name no user (``user_id`` null) and say ``"by": "command line"``.
Prints the answer the endpoint would give (JSON). Exit codes: 0 done, 1 refused (the
error is printed: unknown object, a point older than history, bad timestamp), 2 the
history plugin is not included or the URI names no restorable object.
"""

from __future__ import annotations

import sys
from typing import Any

from kinto_clone import db, json
from kinto_clone.errors import HTTPError
from kinto_clone.plugins.history import operations
from kinto_clone.plugins.history.restore import Target, parse_uri
from kinto_clone.resources.types import CORE, ID_PATTERN
from kinto_clone.views.http import now_ms

EXIT_REFUSED = 1
EXIT_UNUSABLE = 2


def parse_target(uri: str) -> Target | None:
    """``/v1/buckets/b/collections/c`` (the ``/v1`` is optional) -> its Target."""
    uri = "/" + uri.strip().strip("/")
    if uri.startswith("/v1/"):
        uri = uri[3:]
    parts = uri.strip("/").split("/")
    shapes = (
        ["buckets"],
        ["buckets", "groups"],
        ["buckets", "collections"],
        ["buckets", "collections", "records"],
    )
    if (
        len(parts) % 2
        or parts[::2] not in shapes
        or not all(ID_PATTERN.match(p) for p in parts[1::2])
    ):
        return None
    name = parse_uri(uri)[0]
    return Target(name, uri, children=bool(CORE[name].children))


def restore_command(ini: str, uri: str, at: str, dry_run: bool) -> int:
    from pyramid.paster import bootstrap

    target = parse_target(uri)
    if target is None:
        print(
            f"kinto-clone restore: error: {uri!r} names no bucket, group, collection or record",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    env: dict[str, Any] = bootstrap(ini)
    registry = env["registry"]
    try:
        options = getattr(registry, "history_options", None)
        if options is None:
            print(
                "kinto-clone restore: error: the history plugin is not included (kinto.includes)",
                file=sys.stderr,
            )
            return EXIT_UNUSABLE
        try:
            with db.transaction():
                point = operations.parse_at(at, now_ms(), location="argument", name="--at")
                answer, _ = operations.restore(
                    env["request"],
                    options,
                    target,
                    point,
                    dry_run=dry_run,
                    author={"user_id": None, "by": "command line"},
                )
        except HTTPError as exc:
            print(f"kinto-clone restore: error: {exc.message or exc.error}", file=sys.stderr)
            for item in exc.details if isinstance(exc.details, list) else ():
                print(
                    f"  {item.get('uri', item.get('name'))}: {item['description']}", file=sys.stderr
                )
            return EXIT_REFUSED
        print(json.dumps({"data": answer}).decode())
        return 0
    finally:
        env["closer"]()
        registry.kinto_clone_close()
