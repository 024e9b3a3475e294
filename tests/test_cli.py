"""The ``kinto-clone`` command (``python -m kinto_clone``), run as an operator runs it.

Every test starts the command in its own process, with the environment of
``tests/server.py`` (no stray ``KINTO_*`` variables). The tombstone purge is checked on a
SQLite database filled through the application itself, read back through the API.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest

import kinto_clone
from kinto_clone import migration
from tests import postgres, server
from tests.conftest import selected_backends
from tests.server import cli
from tests.support import ALICE, BOB

COMMANDS = ("init", "migrate", "start", "purge-deleted", "version")
BUCKET = "/v1/buckets/b"


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def app_section(ini: Path) -> dict[str, str]:
    # Raw: the [server:main] section holds a paste-deploy `%(http_port)s` placeholder.
    parser = configparser.RawConfigParser()
    parser.read(ini)
    return dict(parser["app:main"])


def assert_short_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A non-zero exit with a line or two for the operator, not a Python traceback."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, done.stderr
    for fragment in fragments:
        assert fragment.lower() in done.stderr.lower(), done.stderr


# -- init ---------------------------------------------------------------------------------


def test_init_writes_a_sqlite_ini_that_the_server_reads(tmp_path: Path) -> None:
    ini = tmp_path / "k.ini"
    ok(cli("init", "--ini", str(ini), "--backend", "sqlite", cwd=tmp_path))

    settings = app_section(ini)
    assert settings["use"] == "egg:kinto_clone"
    assert settings["kinto.storage_backend"] == "kinto_clone.storage.sql"
    assert settings["kinto.permission_backend"] == "kinto_clone.permission.sql"
    assert settings["kinto.storage_url"].startswith("sqlite:///")
    assert settings["kinto.permission_url"] == settings["kinto.storage_url"]
    assert re.fullmatch(r"[0-9a-f]{64}", settings["kinto.userid_hmac_secret"])
    # The paste-deploy file loads: the same path `start` takes.
    from kinto_clone.__main__ import app_settings

    assert app_settings(str(ini))["storage_backend"] == "kinto_clone.storage.sql"


def test_init_gives_each_new_ini_its_own_secret(tmp_path: Path) -> None:
    first, second = tmp_path / "a.ini", tmp_path / "b.ini"
    ok(cli("init", "--ini", str(first), "--backend", "sqlite", cwd=tmp_path))
    ok(cli("init", "--ini", str(second), "--backend", "sqlite", cwd=tmp_path))

    secrets = {app_section(ini)["kinto.userid_hmac_secret"] for ini in (first, second)}
    assert len(secrets) == 2


def test_init_refuses_to_overwrite_an_existing_ini(tmp_path: Path) -> None:
    ini = tmp_path / "k.ini"
    ini.write_text("# an operator's hand-tuned configuration\n")

    done = cli("init", "--ini", str(ini), "--backend", "sqlite", cwd=tmp_path)

    assert_short_error(done, "exists")
    assert ini.read_text() == "# an operator's hand-tuned configuration\n"


def test_init_for_postgresql_writes_the_given_url(tmp_path: Path) -> None:
    ini = tmp_path / "k.ini"
    url = "postgresql://kinto:secret@db.example:5433/kinto"
    ok(cli("init", "--ini", str(ini), "--backend", "postgresql", "--url", url, cwd=tmp_path))

    settings = app_section(ini)
    assert settings["kinto.storage_backend"] == "kinto_clone.storage.sql"
    assert settings["kinto.storage_url"] == url
    assert settings["kinto.permission_url"] == url


def test_init_for_sqlite_writes_the_given_url(tmp_path: Path) -> None:
    ini = tmp_path / "k.ini"
    url = f"sqlite:///{tmp_path}/elsewhere.sqlite"
    ok(cli("init", "--ini", str(ini), "--backend", "sqlite", "--url", url, cwd=tmp_path))

    assert app_section(ini)["kinto.storage_url"] == url


def test_init_creates_the_folder_of_the_ini(tmp_path: Path) -> None:
    ini = tmp_path / "config" / "kinto.ini"
    ok(cli("init", "--ini", str(ini), "--backend", "memory", cwd=tmp_path))

    assert app_section(ini)["kinto.storage_backend"] == "kinto_clone.storage.memory"


# -- migrate ------------------------------------------------------------------------------


def test_migrate_creates_the_schema_of_a_new_sqlite_database(tmp_path: Path) -> None:
    ok(cli("init", "--ini", "k.ini", "--backend", "sqlite", cwd=tmp_path))
    # The ini's default URL is relative: it names a file under the working directory.
    url = f"sqlite:///{tmp_path}/data/kinto.sqlite"
    assert not (tmp_path / "data" / "kinto.sqlite").exists()

    ok(cli("migrate", "--ini", "k.ini", cwd=tmp_path))

    assert migration.check_schema(url)


def test_migrate_twice_keeps_the_schema_and_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kinto.sqlite"
    ini = tmp_path / "k.ini"
    ok(cli("init", "--ini", str(ini), "--backend", "sqlite", "--url", url, cwd=tmp_path))
    ok(cli("migrate", "--ini", str(ini), cwd=tmp_path))
    with app_for(ini) as app:
        app.put_json(BUCKET, {"data": {"kept": True}}, headers=ALICE, status=201)

    again = ok(cli("migrate", "--ini", str(ini), cwd=tmp_path))

    assert "up to date" in again.stdout
    assert migration.check_schema(url)
    with app_for(ini) as app:
        assert app.get(BUCKET, headers=ALICE).json["data"]["kept"] is True


@pytest.fixture
def empty_postgresql_url() -> Iterator[str]:
    if "postgresql" not in selected_backends():
        pytest.skip("PostgreSQL deselected by KINTO_CLONE_TEST_BACKENDS")
    maintenance = postgres.required_server_url()
    name = f"kinto_clone_cli_{os.getpid()}"
    url = postgres.create_database(maintenance, name)
    yield url
    postgres.drop_database(maintenance, name)


def test_migrate_creates_the_schema_of_a_new_postgresql_database(
    tmp_path: Path, empty_postgresql_url: str
) -> None:
    ini = tmp_path / "k.ini"
    ok(
        cli(
            "init",
            "--ini",
            str(ini),
            "--backend",
            "postgresql",
            "--url",
            empty_postgresql_url,
            cwd=tmp_path,
        )
    )
    assert not migration.check_schema(empty_postgresql_url)

    ok(cli("migrate", "--ini", str(ini), cwd=tmp_path))
    ok(cli("migrate", "--ini", str(ini), cwd=tmp_path))

    assert migration.check_schema(empty_postgresql_url)


def test_migrate_of_the_memory_backend_has_nothing_to_do(tmp_path: Path) -> None:
    ok(cli("init", "--ini", "k.ini", "--backend", "memory", cwd=tmp_path))

    done = ok(cli("migrate", "--ini", "k.ini", cwd=tmp_path))

    assert "nothing to migrate" in done.stdout


BAD_URLS = {
    "closed port": ("postgresql://postgres@127.0.0.1:1/kinto", "refused"),
    "unknown dialect": ("nonsense://somewhere/kinto", "nonsense"),
}


@pytest.mark.parametrize("url, says", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_migrate_with_a_bad_database_url_fails_with_a_short_error(
    tmp_path: Path, url: str, says: str
) -> None:
    server.write_ini(tmp_path / "k.ini", server.settings_for("postgresql", url))

    done = cli("migrate", "--ini", "k.ini", cwd=tmp_path)

    assert_short_error(done, says)


def test_migrate_with_a_missing_ini_fails_with_a_short_error(tmp_path: Path) -> None:
    done = cli("migrate", "--ini", "missing.ini", cwd=tmp_path)

    assert_short_error(done, "missing.ini")


# -- version and help ---------------------------------------------------------------------


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    done = ok(cli("version", cwd=tmp_path))

    assert done.stdout.strip() == kinto_clone.__version__


def test_help_lists_every_command(tmp_path: Path) -> None:
    done = ok(cli("--help", cwd=tmp_path))

    for command in COMMANDS:
        assert command in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    done = ok(cli(command, "--help", cwd=tmp_path))

    assert done.stdout.startswith(f"usage: kinto-clone {command}")
    assert "--ini" in done.stdout


def test_a_command_is_required(tmp_path: Path) -> None:
    done = cli(cwd=tmp_path)

    assert done.returncode != 0
    assert "usage: kinto-clone" in done.stderr


# -- purge-deleted ------------------------------------------------------------------------


@contextlib.contextmanager
def app_for(ini: Path) -> Iterator[webtest.TestApp]:
    """A WebTest app on the database of ``ini`` (an ini written by ``init``)."""
    from pyramid.paster import get_appsettings

    wsgi = kinto_clone.main({}, **get_appsettings(str(ini)))
    try:
        yield webtest.TestApp(wsgi)
    finally:
        wsgi.registry.kinto_clone_close()


def records_url(collection: str) -> str:
    return f"{BUCKET}/collections/{collection}/records"


def changes_since(app: webtest.TestApp, collection: str, since: int = 0) -> dict[str, Any]:
    """``{id: last_modified, or "deleted" for a tombstone}`` of ``_since`` ``since``."""
    body = app.get(f"{records_url(collection)}?_since={since}", headers=ALICE).json
    return {r["id"]: "deleted" if r.get("deleted") else r["last_modified"] for r in body["data"]}


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[Path, dict[str, dict[str, int]]]]:
    """A migrated SQLite database, filled through the app: collection ``c`` has live
    ``r4`` and tombstones ``r0``..``r3`` (deleted in that order), collection ``d`` has
    live ``s2`` and tombstones ``s0``, ``s1``; the bucket has the tombstone of collection
    ``gone``. Yields the ini and each tombstone's deletion timestamp."""
    ini = tmp_path / "k.ini"
    url = f"sqlite:///{tmp_path}/kinto.sqlite"
    ok(cli("init", "--ini", str(ini), "--backend", "sqlite", "--url", url, cwd=tmp_path))
    ok(cli("migrate", "--ini", str(ini), cwd=tmp_path))
    deleted: dict[str, dict[str, int]] = {"c": {}, "d": {}}
    with app_for(ini) as app:
        app.put_json(BUCKET, {}, headers=ALICE, status=201)
        for collection, prefix, count in (("c", "r", 5), ("d", "s", 3)):
            # A list's timestamps may run a few ms ahead of the clock (each write takes
            # at least the previous one + 1): let the clock pass them, so that every
            # tombstone of d is younger than every one of c.
            time.sleep(0.05)
            app.put_json(f"{BUCKET}/collections/{collection}", {}, headers=ALICE, status=201)
            for i in range(count):
                url_i = f"{records_url(collection)}/{prefix}{i}"
                app.put_json(url_i, {"data": {"i": i}}, headers=ALICE, status=201)
            for i in range(count - 1):
                url_i = f"{records_url(collection)}/{prefix}{i}"
                tombstone = app.delete(url_i, headers=ALICE).json["data"]
                deleted[collection][tombstone["id"]] = tombstone["last_modified"]
        app.put_json(f"{BUCKET}/collections/gone", {}, headers=ALICE, status=201)
        app.delete(f"{BUCKET}/collections/gone", headers=ALICE, status=200)
    yield ini, deleted


def collection_tombstones(app: webtest.TestApp) -> list[str]:
    body = app.get(f"{BUCKET}/collections?_since=0", headers=ALICE).json
    return [c["id"] for c in body["data"] if c.get("deleted")]


def expected_after_purge(
    deleted: dict[str, dict[str, int]],
    *,
    before: int | None = None,
    max_retained: int | None = None,
) -> dict[str, set[str]]:
    """The tombstones of each collection that a purge with these limits must keep."""
    kept: dict[str, set[str]] = {}
    for collection, tombstones in deleted.items():
        newest_first = sorted(tombstones, key=tombstones.__getitem__, reverse=True)
        kept[collection] = {
            record_id
            for position, record_id in enumerate(newest_first, start=1)
            if (before is not None and tombstones[record_id] >= before)
            or (max_retained is not None and position <= max_retained)
        }
    return kept


def tombstones_of(changes: dict[str, Any]) -> set[str]:
    return {record_id for record_id, value in changes.items() if value == "deleted"}


def test_purge_deleted_keeps_only_the_newest_tombstones_of_each_list(
    tmp_path: Path, filled: tuple[Path, dict[str, dict[str, int]]]
) -> None:
    ini, deleted = filled
    with app_for(ini) as app:
        live_before = app.get(records_url("c"), headers=ALICE).json["data"]

    done = ok(
        cli("purge-deleted", "record", "--max-retained", "1", "--ini", str(ini), cwd=tmp_path)
    )

    assert "removed 4 tombstones" in done.stdout  # r0, r1, r2 and s0
    with app_for(ini) as app:
        c, d = changes_since(app, "c"), changes_since(app, "d")
        assert c == {"r3": "deleted", "r4": live_before[0]["last_modified"]}
        assert tombstones_of(d) == {"s1"} and "s2" in d
        # A client that synced before the last deletion still learns about it.
        assert changes_since(app, "c", deleted["c"]["r3"] - 1) == {"r3": "deleted"}
        assert app.get(records_url("c"), headers=ALICE).json["data"] == live_before
        # Only the resource named was purged.
        assert collection_tombstones(app) == ["gone"]


def test_purge_deleted_before_a_timestamp_keeps_the_later_tombstones(
    tmp_path: Path, filled: tuple[Path, dict[str, dict[str, int]]]
) -> None:
    ini, deleted = filled
    cutoff = deleted["c"]["r2"]  # tombstones strictly older than r2's go
    kept = expected_after_purge(deleted, before=cutoff)
    assert kept["c"] == {"r2", "r3"}

    done = ok(
        cli("purge-deleted", "record", "--before", str(cutoff), "--ini", str(ini), cwd=tmp_path)
    )

    removed = sum(len(t) for t in deleted.values()) - sum(len(k) for k in kept.values())
    assert f"removed {removed} tombstones" in done.stdout
    with app_for(ini) as app:
        for collection in ("c", "d"):
            assert tombstones_of(changes_since(app, collection)) == kept[collection]
        # A client that synced just before r2's deletion still learns about r2 and r3.
        assert changes_since(app, "c", cutoff - 1) == {"r2": "deleted", "r3": "deleted"}
        assert collection_tombstones(app) == ["gone"]


def test_purge_deleted_with_both_limits_removes_only_what_both_allow(
    tmp_path: Path, filled: tuple[Path, dict[str, dict[str, int]]]
) -> None:
    ini, deleted = filled
    cutoff = deleted["c"]["r2"]
    # A tombstone goes when it is beyond the newest one of its list *and* older than r2's.
    kept = {
        collection: expected_after_purge(deleted, before=cutoff)[collection]
        | expected_after_purge(deleted, max_retained=1)[collection]
        for collection in deleted
    }
    assert kept["c"] == {"r2", "r3"} and "s0" in kept["d"]

    done = ok(
        cli(
            "purge-deleted",
            "record",
            "--max-retained",
            "1",
            "--before",
            str(cutoff),
            "--ini",
            str(ini),
            cwd=tmp_path,
        )
    )

    removed = sum(len(t) for t in deleted.values()) - sum(len(k) for k in kept.values())
    assert f"removed {removed} tombstones" in done.stdout
    with app_for(ini) as app:
        for collection in ("c", "d"):
            assert tombstones_of(changes_since(app, collection)) == kept[collection]


def test_purge_deleted_of_several_resources_leaves_live_objects_alone(
    tmp_path: Path, filled: tuple[Path, dict[str, dict[str, int]]]
) -> None:
    ini, _ = filled
    with app_for(ini) as app:
        live_before = app.get(records_url("c"), headers=ALICE).json["data"]

    done = ok(
        cli(
            "purge-deleted",
            "record",
            "collection",
            "--max-retained",
            "0",
            "--ini",
            str(ini),
            cwd=tmp_path,
        )
    )

    assert "removed 7 tombstones" in done.stdout  # 4 in c, 2 in d, the collection
    with app_for(ini) as app:
        assert app.get(records_url("c"), headers=ALICE).json["data"] == live_before
        assert set(changes_since(app, "c")) == {"r4"}
        assert collection_tombstones(app) == []


def test_purge_deleted_on_an_unreachable_database_fails_with_a_short_error(
    tmp_path: Path,
) -> None:
    url = "postgresql://postgres@127.0.0.1:1/kinto"
    server.write_ini(tmp_path / "k.ini", server.settings_for("postgresql", url))

    done = cli("purge-deleted", "record", "--max-retained", "1", "--ini", "k.ini", cwd=tmp_path)

    assert_short_error(done, "refused")


def test_purge_deleted_without_a_limit_refuses_to_drop_every_tombstone(tmp_path: Path) -> None:
    ini = tmp_path / "kinto.ini"
    ok(
        cli(
            "init",
            "--ini",
            str(ini),
            "--backend",
            "sqlite",
            "--url",
            f"sqlite:///{tmp_path}/k.sqlite",
            cwd=tmp_path,
        )
    )
    result = cli("purge-deleted", "record", "--ini", str(ini), cwd=tmp_path)
    assert result.returncode == 2
    assert "give --max-retained and/or --before" in result.stderr


def test_flush_cache_flushes_the_configured_cache_backend(tmp_path: Path) -> None:
    ini = tmp_path / "kinto.ini"
    ok(cli("init", "--ini", str(ini), "--backend", "memory", cwd=tmp_path))
    assert "kinto.cache_backend = kinto_clone.cache.memory" in ini.read_text()
    done = ok(cli("flush-cache", "--ini", str(ini), cwd=tmp_path))
    assert "Flushed kinto_clone.cache.memory" in done.stdout
    ini.write_text(ini.read_text().replace("kinto.cache_backend", "# kinto.cache_backend"))
    done = ok(cli("flush-cache", "--ini", str(ini), cwd=tmp_path))
    assert "No cache_backend is configured" in done.stdout


def test_flush_cache_with_a_missing_ini_fails_with_a_short_error(tmp_path: Path) -> None:
    assert_short_error(cli("flush-cache", "--ini", str(tmp_path / "nope.ini"), cwd=tmp_path))


def test_purge_deleted_forgets_the_revocations_older_than_the_cutoff(tmp_path: Path) -> None:
    ini = tmp_path / "k.ini"
    url = f"sqlite:///{tmp_path}/kinto.sqlite"
    ok(cli("init", "--ini", str(ini), "--backend", "sqlite", "--url", url, cwd=tmp_path))
    ok(cli("migrate", "--ini", str(ini), cwd=tmp_path))
    bob = BOB
    records = records_url("c")
    with app_for(ini) as app:
        bob_id = app.get("/v1/", headers=bob).json["user"]["id"]
        app.put_json(BUCKET, {}, headers=ALICE, status=201)
        app.put_json(f"{BUCKET}/collections/c", {}, headers=ALICE, status=201)
        for rid in ("old", "new"):
            app.put_json(f"{records}/{rid}", {"permissions": {"read": [bob_id]}}, headers=ALICE)
        since = int(app.get(records, headers=bob).headers["ETag"].strip('"'))
        for rid in ("old", "new"):
            app.patch_json(f"{records}/{rid}", {"permissions": {"read": []}}, headers=ALICE)
        cutoff = app.get(f"{records}?_since={since}", headers=bob).json["data"][0]["last_modified"]

    ok(cli("purge-deleted", "record", "--before", str(cutoff), "--ini", str(ini), cwd=tmp_path))

    with app_for(ini) as app:  # the revocation of "old" went, the newer one stays
        shown = app.get(f"{records}?_since={since}", headers=bob).json["data"]
        assert [(o["id"], o["last_modified"]) for o in shown] == [("new", cutoff)]
