"""Attachments (issue 11): kinto-attachment's API, files stored with the records.

Answers were compared with Kinto 26.5.0 + kinto-attachment 8.0.0 (9.x is not on the package
registry here). Every refused write is followed by ``unchanged``: the record, its ETag,
the collection's ETag and the stored files are what they were.

The world: Alice owns bucket ``b`` and collection ``c``; Bob owns nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import webtest

from kinto_clone import db
from kinto_clone.settings import ConfigurationError
from tests.support import (
    ALICE,
    BOB,
    FORBIDDEN_BODY,
    UNAUTHORIZED_BODY,
    assert_error,
    create_collection,
    userid,
)

B = "/v1/buckets/b"
C = f"{B}/collections/c"
RECORDS = f"{C}/records"
R1 = f"{RECORDS}/r1"
PLUGIN = "kinto_clone.plugins.default_bucket kinto_attachment"
HELLO = b"hello world"
HELLO_HASH = hashlib.sha256(HELLO).hexdigest()


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return make_app(includes=PLUGIN)


def world(app: webtest.TestApp) -> webtest.TestApp:
    create_collection(app, C)
    return app


@pytest.fixture
def ready(app: webtest.TestApp) -> webtest.TestApp:
    return world(app)


def post(
    app: webtest.TestApp,
    record: str = R1,
    content: bytes = HELLO,
    filename: str = "hello.txt",
    mimetype: str = "text/plain",
    headers: dict[str, str] = ALICE,
    status: int | str = "*",
    **fields: Any,
) -> Any:
    params = [
        (name, value if isinstance(value, str) else json.dumps(value))
        for name, value in fields.items()
    ]
    params.append(("attachment", webtest.Upload(filename, content, mimetype)))
    return app.post(f"{record}/attachment", params, headers=headers, status=status)


def stored(app: webtest.TestApp) -> list[tuple[str, int, int]]:
    """``(hash, refs, bytes)`` of every file of the database store (none for a folder)."""
    store = app.app.registry.attachments.store
    if not hasattr(store, "stored"):
        return []
    with db.transaction(write=False):
        return sorted(store.stored())


def links(app: webtest.TestApp) -> int:
    with db.transaction(write=False):
        return int(app.app.registry.attachments.links.count())


def download(app: webtest.TestApp, location: str, status: int = 200, **headers: str) -> Any:
    return app.get(location.replace("http://localhost", ""), headers=headers, status=status)


def snapshot(app: webtest.TestApp, record: str = R1) -> tuple[Any, ...]:
    """Everything a refused write must leave as it was."""
    got = app.get(record, headers=ALICE, expect_errors=True)
    listing = app.get(RECORDS, headers=ALICE, expect_errors=True)
    return (
        got.status_int,
        got.body,
        got.headers.get("ETag"),
        listing.headers.get("ETag"),
        stored(app),
        links(app),
    )


# -- the API -------------------------------------------------------------------------------


def test_the_capability_names_the_plugin_its_base_url_and_gzip(app: webtest.TestApp) -> None:
    capability = app.get("/v1/").json["capabilities"]["attachments"]
    assert capability == {
        "description": "Add file attachments to records",
        "url": "https://github.com/Kinto/kinto-attachment/",
        "version": "8.0.0",
        "base_url": "/v1/attachments/",
        "gzipped": False,
    }


def test_an_upload_creates_the_record_with_the_attachment_metadata(ready: webtest.TestApp) -> None:
    resp = post(ready, status=201, data={"type": "cert"}, permissions={"read": ["system.Everyone"]})
    location = f"http://localhost/v1/attachments/{HELLO_HASH}"
    assert resp.json == {
        "filename": "hello.txt",
        "location": location,
        "hash": HELLO_HASH,
        "mimetype": "text/plain",
        "size": 11,
    }
    assert list(resp.json) == ["filename", "location", "hash", "mimetype", "size"]
    assert resp.headers["Location"] == f"http://localhost{R1}"
    record = ready.get(R1, headers=ALICE)
    assert resp.headers["ETag"] == record.headers["ETag"]
    assert record.json["data"]["type"] == "cert"
    assert record.json["data"]["attachment"] == resp.json
    assert record.json["permissions"] == {"read": ["system.Everyone"], "write": [userid("alice")]}
    assert stored(ready) == [(HELLO_HASH, 1, 11)]


def test_the_file_is_served_with_its_hash_as_etag_and_cached_for_ever(
    ready: webtest.TestApp,
) -> None:
    location = post(ready, status=201).json["location"]
    resp = download(ready, location)
    assert resp.body == HELLO
    assert resp.headers["ETag"] == f'"{HELLO_HASH}"'
    assert resp.headers["Content-Type"] == "text/plain"
    assert resp.headers["Content-Length"] == "11"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    head = ready.head(location.replace("http://localhost", ""), status=200)
    assert head.headers["Content-Length"] == "11" and head.body == b""
    download(ready, location, status=304, **{"If-None-Match": f'"{HELLO_HASH}"'})


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=2-4", 206, b"llo", "bytes 2-4/11"),
        ("bytes=6-", 206, b"world", "bytes 6-10/11"),
        ("bytes=-3", 206, b"rld", "bytes 8-10/11"),
        ("bytes=9-100", 206, b"ld", "bytes 9-10/11"),
        ("bytes=11-", 416, b"", "bytes */11"),
        ("bytes=-0", 416, b"", "bytes */11"),
        ("bytes=4-2", 200, HELLO, None),
        ("bytes=0-1,3-4", 200, HELLO, None),
        ("lines=1-2", 200, HELLO, None),
    ],
)
def test_a_byte_range_is_served_as_rfc_9110_says(
    ready: webtest.TestApp, header: str, status: int, body: bytes, content_range: str | None
) -> None:
    location = post(ready, status=201).json["location"]
    resp = download(ready, location, status=status, Range=header)
    assert resp.body == body
    assert resp.headers.get("Content-Range") == content_range


def test_a_range_with_another_if_range_gets_the_whole_file(ready: webtest.TestApp) -> None:
    location = post(ready, status=201).json["location"]
    resp = download(ready, location, Range="bytes=0-1", **{"If-Range": '"other"'})
    assert resp.body == HELLO


def test_a_large_file_is_stored_in_chunks_and_read_back_whole(ready: webtest.TestApp) -> None:
    content = bytes(range(256)) * (3 * 4096 + 7)  # about 3 MiB: four chunks
    resp = post(ready, content=content, filename="big.json", status=201)
    assert resp.json["size"] == len(content)
    assert download(ready, resp.json["location"]).body == content
    start = 1024 * 1024 - 5  # across a chunk boundary
    part = download(ready, resp.json["location"], status=206, Range=f"bytes={start}-{start + 9}")
    assert part.body == content[start : start + 10]


def test_an_unknown_or_malformed_file_name_is_a_404(ready: webtest.TestApp) -> None:
    for name in ("0" * 64, "not-a-hash", HELLO_HASH.upper()):
        assert_error(ready.get(f"/v1/attachments/{name}", status=404), 404, 111)


def test_a_second_upload_updates_the_record_and_releases_the_old_file(
    ready: webtest.TestApp,
) -> None:
    first = post(ready, status=201, data={"a": 1, "b": 1}, permissions={"read": ["x"]})
    listing_etag = ready.get(RECORDS, headers=ALICE).headers["ETag"]
    second = post(
        ready,
        content=b"again",
        filename="again.txt",
        status=200,
        data={"b": 2},
        permissions={"write": ["y"]},
    )
    record = ready.get(R1, headers=ALICE).json
    assert record["data"]["a"] == 1 and record["data"]["b"] == 2  # merged like a PATCH
    assert record["data"]["attachment"] == second.json
    assert record["permissions"] == {"read": ["x"], "write": sorted(["y", userid("alice")])}
    assert ready.get(RECORDS, headers=ALICE).headers["ETag"] != listing_etag
    download(ready, first.json["location"], status=404)
    assert stored(ready) == [(hashlib.sha256(b"again").hexdigest(), 1, 5)]


def test_records_with_the_same_file_share_one_copy(ready: webtest.TestApp) -> None:
    post(ready, R1, status=201)
    post(ready, f"{RECORDS}/r2", filename="other-name.txt", status=201)
    assert stored(ready) == [(HELLO_HASH, 2, 11)]
    ready.delete(R1, headers=ALICE, status=200)
    assert stored(ready) == [(HELLO_HASH, 1, 11)]
    ready.delete(f"{RECORDS}/r2/attachment", headers=ALICE, status=204)
    assert stored(ready) == []


def test_uploading_the_same_file_again_keeps_it(ready: webtest.TestApp) -> None:
    location = post(ready, status=201).json["location"]
    post(ready, status=200)
    assert stored(ready) == [(HELLO_HASH, 1, 11)]
    assert download(ready, location).body == HELLO


def test_deleting_the_attachment_nulls_the_field_and_removes_the_file(
    ready: webtest.TestApp,
) -> None:
    location = post(ready, status=201, data={"kept": True}).json["location"]
    before = ready.get(R1, headers=ALICE).json["data"]["last_modified"]
    resp = ready.delete(f"{R1}/attachment", headers=ALICE, status=204)
    assert resp.body == b"" and "Content-Type" not in resp.headers
    record = ready.get(R1, headers=ALICE)
    assert resp.headers["ETag"] == record.headers["ETag"]
    assert record.json["data"]["attachment"] is None and record.json["data"]["kept"] is True
    assert record.json["data"]["last_modified"] > before
    download(ready, location, status=404)
    assert stored(ready) == [] and links(ready) == 0
    ready.delete(f"{R1}/attachment", headers=ALICE, status=204)  # none left: still a write


def test_deleting_the_attachment_of_a_missing_record_is_a_404(ready: webtest.TestApp) -> None:
    resp = ready.delete(f"{RECORDS}/nope/attachment", headers=ALICE, status=404)
    assert_error(resp, 404, 110, details={"id": "nope", "resource_name": "record"})
    ready.get(f"{RECORDS}/nope", headers=ALICE, status=404)


@pytest.mark.parametrize(
    ("deleted", "left"), [(R1, 1), (RECORDS, 0), (C, 0), (f"{B}/collections", 0), (B, 0)]
)
def test_deleting_a_record_its_collection_or_bucket_removes_its_files(
    ready: webtest.TestApp, deleted: str, left: int
) -> None:
    post(ready, R1, status=201)
    second = post(ready, f"{RECORDS}/r2", content=b"second", filename="s.txt", status=201)
    ready.put_json(f"{B}/collections/d", {}, headers=ALICE)  # a sibling keeps its file
    third = post(ready, f"{B}/collections/d/records/r1", content=b"third", status=201)
    ready.delete(deleted, headers=ALICE, status=200)
    kept = [third.json["hash"]] if deleted in (R1, RECORDS, C) else []
    if left:
        kept.append(second.json["hash"])
    assert [h for h, _, _ in stored(ready)] == sorted(kept)
    assert links(ready) == len(kept)


def test_flush_removes_every_file_and_link_and_a_new_record_starts_clean(
    make_app: Any,
) -> None:
    app = world(make_app(includes=f"{PLUGIN} kinto_clone.plugins.flush"))
    location = post(app, status=201).json["location"]
    post(app, f"{RECORDS}/r2", content=b"second", filename="s.txt", status=201)

    assert app.post("/v1/__flush__", status=202).json == {}

    assert stored(app) == [] and links(app) == 0
    download(app, location, status=404)
    world(app)
    assert post(app, status=201).json["location"] != ""
    assert links(app) == 1


def test_keep_old_files_keeps_them_after_every_removal(make_app: Any) -> None:
    app = world(make_app(includes=PLUGIN, **{"attachment.keep_old_files": "true"}))
    first = post(app, status=201).json["location"]
    post(app, content=b"v2", filename="v2.txt", status=200)
    app.delete(C, headers=ALICE, status=200)
    assert download(app, first).body == HELLO
    assert links(app) == 0


def test_a_put_without_the_attachment_releases_its_file(ready: webtest.TestApp) -> None:
    post(ready, status=201)
    ready.put_json(R1, {"data": {"plain": True}}, headers=ALICE, status=200)
    assert stored(ready) == [] and links(ready) == 0


def test_attachment_metadata_cannot_be_edited_by_hand(ready: webtest.TestApp) -> None:
    post(ready, status=201)
    before = snapshot(ready)
    resp = ready.patch_json(
        R1, {"data": {"attachment": {"location": "elsewhere"}}}, headers=ALICE, status=400
    )
    assert resp.json == {
        "code": 400,
        "errno": 999,
        "error": "Bad Request",
        "message": "Attachment metadata cannot be modified.",
    }
    assert snapshot(ready) == before
    ready.patch_json(R1, {"data": {"other": 1}}, headers=ALICE, status=200)


def test_history_and_the_change_feed_see_attachment_writes(make_app: Any) -> None:
    app = world(make_app(includes=f"{PLUGIN} kinto_clone.plugins.history"))
    since = app.get(RECORDS, headers=ALICE).headers["ETag"].strip('"')
    post(app, status=201)
    app.delete(f"{R1}/attachment", headers=ALICE, status=204)
    history = app.get(f"{B}/history?resource_name=record", headers=ALICE).json["data"]
    assert [e["action"] for e in history] == ["update", "create"]
    assert history[1]["target"]["data"]["attachment"]["hash"] == HELLO_HASH
    changes = app.get(f"{RECORDS}?_since={since}", headers=ALICE).json["data"]
    assert [(r["id"], r["attachment"]) for r in changes] == [("r1", None)]


def test_if_match_applies_to_uploads_and_removals(ready: webtest.TestApp) -> None:
    etag = post(ready, status=201).headers["ETag"]
    before = snapshot(ready)
    stale = {**ALICE, "If-Match": '"1"'}
    assert_error(post(ready, content=b"x", headers=stale, status=412), 412, 114)
    assert_error(ready.delete(f"{R1}/attachment", headers=stale, status=412), 412, 114)
    assert snapshot(ready) == before
    post(ready, content=b"y", headers={**ALICE, "If-Match": etag}, status=200)


def test_a_delete_in_a_batch_removes_the_attachment(ready: webtest.TestApp) -> None:
    post(ready, status=201)
    resp = ready.post_json(
        "/v1/batch",
        {
            "requests": [
                {"method": "DELETE", "path": "/buckets/b/collections/c/records/r1/attachment"}
            ]
        },
        headers=ALICE,
        status=200,
    )
    assert resp.json["responses"][0]["status"] == 204
    assert stored(ready) == []


# -- refused writes change nothing ----------------------------------------------------------


def test_a_body_that_is_not_multipart_is_refused(ready: webtest.TestApp) -> None:
    post(ready, status=201)
    before = snapshot(ready)
    resp = ready.post_json(f"{R1}/attachment", {"data": {}}, headers=ALICE, status=400)
    assert resp.json == {
        "code": 400,
        "errno": 107,
        "error": "Bad Request",
        "message": "Content-Type should be multipart/form-data",
    }
    assert snapshot(ready) == before


@pytest.mark.parametrize(
    ("fields", "upload", "errno", "message"),
    [
        ({}, None, 109, "Attachment missing."),
        ({"data": "{bad"}, "a.txt", 109, None),
        ({"permissions": "[1"}, "a.txt", 109, None),
        ({"foo": "1"}, "a.txt", 109, "body: 'foo' not in ('data', 'permissions')"),
        ({"data": "[1]"}, "a.txt", 107, None),
        ({"data": '{"id": "other"}'}, "a.txt", 107, "Object id does not match existing object"),
        ({"permissions": '{"read": "x"}'}, "a.txt", 107, None),
        ({"permissions": '{"bogus": ["x"]}'}, "a.txt", 107, None),
        ({}, "a.exe", 107, "body: File extension is not allowed."),
        ({}, "noext", 107, "body: File extension is not allowed."),
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(
    ready: webtest.TestApp,
    fields: dict[str, str],
    upload: str | None,
    errno: int,
    message: str | None,
) -> None:
    post(ready, status=201)
    before = snapshot(ready)
    params: list[tuple[str, Any]] = list(fields.items())
    if upload is not None:
        params.append(("attachment", webtest.Upload(upload, b"new bytes", "text/plain")))
    else:
        params.append(("other", webtest.Upload("a.txt", b"new bytes", "text/plain")))
    resp = ready.post(f"{R1}/attachment", params, headers=ALICE, status=400)
    assert_error(resp, 400, errno, message)
    assert snapshot(ready) == before


def test_form_data_and_files_are_told_apart(ready: webtest.TestApp) -> None:
    post(ready, status=201)
    before = snapshot(ready)
    resp = ready.post(
        f"{R1}/attachment",
        [
            ("attachment", webtest.Upload("a.txt", b"x", "text/plain")),
            ("data", webtest.Upload("d.json", b"{}", "application/json")),
        ],
        headers=ALICE,
        status=400,
    )
    assert_error(resp, 400, 109, "body: 'data' field should be passed as form data, not files")
    resp = ready.post(
        f"{R1}/attachment",
        [
            ("attachment", webtest.Upload("a.txt", b"x", "text/plain")),
            ("attachment", webtest.Upload("b.txt", b"y", "text/plain")),
        ],
        headers=ALICE,
        status=400,
    )
    assert_error(resp, 400, 109)
    resp = ready.post(
        f"{R1}/attachment",
        [("attachment", "no file, just text")],
        headers={**ALICE, "Content-Type": "multipart/form-data; boundary=zz"},
        status=400,
    )
    assert_error(resp, 400, 109, "Attachment missing.")
    assert snapshot(ready) == before


def test_a_multipart_body_without_boundary_is_a_400(ready: webtest.TestApp) -> None:
    before = snapshot(ready)
    resp = ready.post(
        f"{R1}/attachment",
        b"garbage",
        headers={**ALICE, "Content-Type": "multipart/form-data"},
        status=400,
    )
    assert_error(resp, 400, 107)
    assert snapshot(ready) == before


def test_a_file_over_the_size_limit_is_a_413(make_app: Any) -> None:
    app = world(make_app(includes=PLUGIN, **{"attachment.max_size_bytes": "1000"}))
    post(app, status=201)
    before = snapshot(app)
    resp = post(app, content=b"x" * 1001, status=413)
    assert_error(resp, 413, 113, "File size (1001 bytes) exceeds the limit (1000 bytes).")
    assert snapshot(app) == before
    post(app, content=b"x" * 1000, status=200)


def test_an_upload_may_be_larger_than_the_json_body_limit(make_app: Any) -> None:
    app = world(make_app(includes=PLUGIN, max_request_body_bytes=1000))
    post(app, content=b"y" * 5000, status=201)
    resp = app.post_json(RECORDS, {"data": {"x": "y" * 2000}}, headers=ALICE, status=413)
    assert_error(resp, 413, 113)


@pytest.mark.parametrize(("headers", "expected"), [(BOB, FORBIDDEN_BODY), ({}, UNAUTHORIZED_BODY)])
def test_an_upload_by_whoever_may_not_write_is_refused(
    ready: webtest.TestApp, headers: dict[str, str], expected: dict[str, Any]
) -> None:
    post(ready, status=201)
    before = snapshot(ready)
    for record in (R1, f"{RECORDS}/new"):  # an update needs write, a creation record:create
        resp = post(ready, record, content=b"intruder", headers=headers, status=expected["code"])
        assert resp.json == expected
    assert_error(
        ready.delete(f"{R1}/attachment", headers=headers, status=expected["code"]),
        expected["code"],
        expected["errno"],
    )
    assert snapshot(ready) == before


def test_a_collection_writer_may_upload_and_a_record_creator_too(ready: webtest.TestApp) -> None:
    ready.patch_json(C, {"permissions": {"record:create": [userid("bob")]}}, headers=ALICE)
    post(ready, f"{RECORDS}/bobs", headers=BOB, status=201)
    post(ready, f"{RECORDS}/bobs", content=b"v2", headers=BOB, status=200)
    post(ready, status=201)
    post(ready, content=b"v2", headers=BOB, status=403)


def test_missing_parents_are_404_or_403_as_for_records(ready: webtest.TestApp) -> None:
    before = snapshot(ready)
    resp = post(ready, f"{B}/collections/nope/records/r1", status=404)
    assert_error(resp, 404, 111, details={"id": "nope", "resource_name": "collection"})
    assert (
        post(ready, "/v1/buckets/nope/collections/c/records/r1", status=403).json == FORBIDDEN_BODY
    )
    assert_error(post(ready, f"{RECORDS}/a*b", status=400), 400, 107, "path: Invalid object id")
    assert snapshot(ready) == before


def test_a_write_refused_after_the_file_was_stored_leaves_no_file(make_app: Any) -> None:
    app = world(make_app(includes=PLUGIN, experimental_collection_schema_validation=True))
    schema = {"type": "object", "required": ["title"]}
    app.put_json(C, {"data": {"schema": schema}}, headers=ALICE, status=200)
    before = snapshot(app)
    assert_error(post(app, status=400), 400, 107)
    assert snapshot(app) == before
    post(app, status=201, data={"title": "ok"})


# -- settings --------------------------------------------------------------------------------


def test_overrides_per_bucket_and_collection_take_precedence(make_app: Any) -> None:
    app = world(
        make_app(
            includes=PLUGIN,
            **{
                "attachment.extensions": "txt",
                "attachment.resources.b.extensions": "images",
                "attachment.resources.b.c.extensions": "any",
                "attachment.resources.b.other.max_size_bytes": "3",
            },
        )
    )
    app.put_json(f"{B}/collections/d", {}, headers=ALICE)
    app.put_json(f"{B}/collections/other", {}, headers=ALICE)
    post(app, filename="x.exe", status=201)
    post(app, f"{B}/collections/d/records/r", filename="x.png", status=201)
    post(app, f"{B}/collections/d/records/r", filename="x.txt", status=400)
    assert_error(
        post(app, f"{B}/collections/other/records/r", filename="x.png", status=413), 413, 113
    )


def test_mimetypes_are_replaced_by_extension(make_app: Any) -> None:
    app = world(
        make_app(
            includes=PLUGIN,
            **{"attachment.mimetypes": ".txt:text/x-custom", "attachment.extensions": "any"},
        )
    )
    assert post(app, filename="a.txt", status=201).json["mimetype"] == "text/x-custom"
    assert (
        post(app, filename="c.pem", mimetype="text/plain").json["mimetype"]
        == "application/x-pem-file"
    )
    assert post(app, filename="c.TXT", mimetype="foo/bar").json["mimetype"] == "foo/bar"


@pytest.mark.parametrize(
    "setting",
    [
        {"attachment.resources.b.colour": "red"},
        {"attachment.resources.b.c.d.keep_old_files": "true"},
        {"attachment.keep_old_files": "maybe"},
        {"attachment.max_size_bytes": "big"},
        {"attachment.mimetypes": "txt"},
    ],
)
def test_a_wrong_setting_stops_the_server_at_start_up(
    make_app: Any, setting: dict[str, str]
) -> None:
    with pytest.raises(ConfigurationError):
        make_app(includes=PLUGIN, **setting)


def test_gzipped_files_keep_the_metadata_of_the_original(make_app: Any) -> None:
    app = world(make_app(includes=PLUGIN, **{"attachment.gzipped": "true"}))
    assert app.get("/v1/").json["capabilities"]["attachments"]["gzipped"] is True
    resp = post(app, status=201)
    import gzip

    compressed = download(app, resp.json["location"]).body
    assert gzip.decompress(compressed) == HELLO
    assert resp.json["filename"] == "hello.txt.gz"
    assert resp.json["mimetype"] == "application/x-gzip"
    assert resp.json["hash"] == hashlib.sha256(compressed).hexdigest()
    assert resp.json["original"] == {
        "filename": "hello.txt",
        "hash": HELLO_HASH,
        "mimetype": "text/plain",
        "size": 11,
    }


def test_base_url_sets_locations_and_the_capability(make_app: Any) -> None:
    app = world(make_app(includes=PLUGIN, **{"attachment.base_url": "https://cdn.example/f"}))
    assert (
        app.get("/v1/").json["capabilities"]["attachments"]["base_url"] == "https://cdn.example/f/"
    )
    assert post(app, status=201).json["location"] == f"https://cdn.example/f/{HELLO_HASH}"


# -- the folder store ------------------------------------------------------------------------


def folder_app(make_app: Any, tmp_path: Path, **settings: Any) -> webtest.TestApp:
    return world(
        make_app(
            includes=PLUGIN,
            **{
                "attachment.base_path": str(tmp_path / "files"),
                "attachment.base_url": "https://files.example/",
                "attachment.folder": "{bucket_id}/{collection_id}",
                **settings,
            },
        )
    )


def files_in(tmp_path: Path) -> list[str]:
    root = tmp_path / "files"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_folder_store_writes_files_where_kinto_attachment_does(
    make_app: Any, tmp_path: Path
) -> None:
    app = folder_app(make_app, tmp_path, **{"attachment.randomize": "false"})
    resp = post(app, filename="../../my file.txt", status=201)
    assert resp.json["location"] == "https://files.example/b/c/my_file.txt"
    assert resp.json["filename"] == "../../my file.txt"
    assert files_in(tmp_path) == ["b/c/my_file.txt"]
    assert (tmp_path / "files/b/c/my_file.txt").read_bytes() == HELLO
    post(app, f"{RECORDS}/r2", filename="my file.txt", status=201)
    assert files_in(tmp_path) == ["b/c/my_file-1.txt", "b/c/my_file.txt"]
    app.get("/v1/attachments/" + HELLO_HASH, status=404)  # served by nginx, not by us


def test_the_folder_store_removes_files_only_once_committed(make_app: Any, tmp_path: Path) -> None:
    app = folder_app(make_app, tmp_path, experimental_collection_schema_validation=True)
    resp = post(app, status=201)
    name = resp.json["location"].removeprefix("https://files.example/")
    assert files_in(tmp_path) == [name] and name.endswith(".txt")
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    app.put_json(C, {"data": {"schema": schema}}, headers=ALICE)
    before = snapshot(app)
    post(app, content=b"refused", status=400, data={"title": 5})  # refused after the file
    assert files_in(tmp_path) == [name] and snapshot(app) == before
    app.delete(f"{R1}/attachment", headers=ALICE, status=204)
    assert files_in(tmp_path) == []


def test_the_folder_store_follows_deletions_of_collections(make_app: Any, tmp_path: Path) -> None:
    app = folder_app(make_app, tmp_path)
    post(app, status=201)
    post(app, f"{RECORDS}/r2", status=201)
    assert len(files_in(tmp_path)) == 2
    app.delete(C, headers=ALICE, status=200)
    assert files_in(tmp_path) == []


def test_the_heartbeat_checks_the_file_store(make_app: Any, tmp_path: Path) -> None:
    app = folder_app(make_app, tmp_path)
    assert app.get("/v1/__heartbeat__").json["attachments"] is True
    (tmp_path / "not-a-folder").write_bytes(b"")
    broken = make_app(includes=PLUGIN, **{"attachment.base_path": str(tmp_path / "not-a-folder")})
    assert broken.get("/v1/__heartbeat__", status=503).json["attachments"] is False


def test_the_default_bucket_takes_uploads_too(app: webtest.TestApp) -> None:
    post(app, "/v1/buckets/default/collections/c/records/r1", status=201)
    record = app.get("/v1/buckets/default/collections/c/records/r1", headers=ALICE).json
    assert record["data"]["attachment"]["hash"] == HELLO_HASH


def _part(name: bytes, content: bytes, filename: bytes | None = None, extra: bytes = b"") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return b"--XX\r\n" + disposition + b"\r\n" + extra + b"\r\n" + content + b"\r\n"


@pytest.mark.parametrize(
    ("body", "content_type", "errno"),
    [
        (_part(b"attachment", b"x", b"a\x00b.txt"), "multipart/form-data; boundary=XX", 107),
        (
            _part(b"attachment", b"x", b"a.txt", b"Content-Type: \xff\r\n"),
            "multipart/form-data; boundary=XX",
            107,
        ),
        (
            _part(b"attachment", b"x", b"a.txt") + _part(b"data", b'{"a": "\\u0000"}'),
            "multipart/form-data; boundary=XX",
            109,
        ),
        (
            _part(b"attachment", b"x", b"a.txt")
            + _part(b"data", b'{"a": ' * 300 + b"1" + b"}" * 300),
            "multipart/form-data; boundary=XX",
            109,
        ),
        (
            _part(b"attachment", b"x", b"a.txt") + _part(b"data", b"\xff\xfe"),
            "multipart/form-data; boundary=XX",
            109,
        ),
        (
            _part(b"attachment", b"x", b"a.txt"),
            "multipart/form-data; boundary=XX; charset=latin-1",
            107,
        ),
        (_part(b"attachment", b"x", b"a.txt"), "multipart/mixed; boundary=XX", 107),
    ],
)
def test_hostile_multipart_bodies_are_clean_400s(
    ready: webtest.TestApp, body: bytes, content_type: str, errno: int
) -> None:
    post(ready, status=201)
    before = snapshot(ready)
    resp = ready.post(
        f"{R1}/attachment",
        body + b"--XX--\r\n",
        headers={**ALICE, "Content-Type": content_type},
        status=400,
    )
    assert_error(resp, 400, errno)
    assert snapshot(ready) == before
