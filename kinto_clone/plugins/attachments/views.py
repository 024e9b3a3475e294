"""The attachment endpoints.

- ``POST .../records/{id}/attachment`` (multipart): store the file, create or update the
  record with its ``attachment`` metadata; 201 (created) or 200 with the metadata.
- ``DELETE .../records/{id}/attachment``: remove the file, set ``attachment`` to null; 204.
- ``GET|HEAD /attachments/{hash}`` (database store only): the file, public like the files
  kinto-attachment leaves to nginx, with ``ETag`` (the hash), ``Range`` and caching for ever.

Both writes are record writes like any other: If-Match, the record's and the collection's
timestamps, JSON schemas, history and the change feed apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cornice import Service
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED

from kinto_clone.errors import invalid
from kinto_clone.events import check_data
from kinto_clone.plugins.attachments import download, openapi, upload
from kinto_clone.plugins.attachments.context import AttachmentContext
from kinto_clone.resources import objects
from kinto_clone.schemas import envelope
from kinto_clone.storage import UnicityError
from kinto_clone.views import steps
from kinto_clone.views.http import application_url, set_timestamp_headers
from kinto_clone.views.openapi import describe

if TYPE_CHECKING:
    from kinto_clone.plugins.attachments import Attachments

FILE_PATH = "/attachments/{hash}"


def _plugin(request: Request) -> Attachments:
    plugin: Attachments = request.registry.attachments
    return plugin


def post_attachment(request: Request) -> Any:
    ctx: AttachmentContext = request.context
    plugin = _plugin(request)
    ids = request.matchdict
    rules = plugin.options.rules_for(ids["bucket_id"], ids["collection_id"])
    posted = upload.parse(request, rules)
    data, permissions = envelope(posted.body, ctx.resource.permissions)
    if data is not None and "id" in data and data["id"] != ctx.object_id:
        raise invalid("body", "id", "Object id does not match existing object")
    steps.require_parents(ctx)
    current = steps.latest_or_412(request, ctx, ctx.current)
    name = plugin.save(request, posted.upload, rules, ids)
    metadata = {
        "filename": posted.upload.filename,
        "location": plugin.url(request, name),
        "hash": posted.upload.hash,
        "mimetype": posted.upload.mimetype,
        "size": posted.upload.size,
    }
    if posted.original is not None:
        metadata["original"] = posted.original
    plugin.link(request, ctx.uri, name, rules)
    base = {k: v for k, v in (current or {}).items() if k not in ("id", "last_modified")}
    new_data = {**base, **(data or {}), "attachment": metadata}
    obj, created = _write(request, ctx, current, new_data, permissions or {})
    request.response.status_int = 201 if created else 200
    set_timestamp_headers(request.response, obj["last_modified"])
    request.response.headers["Location"] = f"{application_url(request)}/v1{ctx.uri}"
    return metadata


def delete_attachment(request: Request) -> Any:
    ctx: AttachmentContext = request.context
    plugin = _plugin(request)
    current = steps.latest_or_412(request, ctx, steps.existing(ctx))
    ids = request.matchdict
    plugin.unlink(
        request, ctx.uri, plugin.options.rules_for(ids["bucket_id"], ids["collection_id"])
    )
    base = {k: v for k, v in current.items() if k not in ("id", "last_modified")}
    obj, _ = _write(request, ctx, current, {**base, "attachment": None}, {})
    response = Response(status=204)
    set_timestamp_headers(response, obj["last_modified"])
    del response.content_type
    return response


def _write(
    request: Request,
    ctx: AttachmentContext,
    current: dict[str, Any] | None,
    data: dict[str, Any],
    permissions: dict[str, Any],
) -> tuple[dict[str, Any], bool]:
    """Create or update the record as a PATCH would; its change event is sent."""
    request.attachment_write = True
    check_data(request, ctx, data)
    backends = request.registry.backends
    writer = steps.writer(request)
    if current is None:
        try:
            obj, acl = objects.create(
                backends,
                ctx.resource,
                ctx.parent_id,
                ctx.object_id or "",
                data,
                permissions,
                writer,
            )
            steps.changed(request, ctx, "create", None, obj, acl)
            return obj, True
        except UnicityError as exc:  # created by a concurrent request meanwhile
            current = exc.existing
    changes = {perm: list(principals or []) for perm, principals in permissions.items()}
    obj, acl = objects.patch(
        backends, ctx.resource, ctx.parent_id, current, ctx.acl(), data, changes, writer
    )
    steps.changed(request, ctx, "update", current, obj, acl)
    return obj, False


def get_file(request: Request) -> Response:
    return download.respond(
        request, _plugin(request).files_for_download(), request.matchdict["hash"]
    )


def register(config: Configurator, serve_files: bool) -> None:
    settings = config.registry.settings
    attachment = Service(
        name="record:attachment",
        path=config.registry.resource_types.path("record") + "/{id}/attachment",
        factory=AttachmentContext,
    )
    if not settings["readonly"]:
        attachment.add_view("POST", post_attachment, permission="write", renderer="kinto_json")
        attachment.add_view("DELETE", delete_attachment, permission="write", renderer="kinto_json")
    config.add_cornice_service(attachment)
    describe(config, "record:attachment", openapi.ATTACHMENT)
    if serve_files:
        # Deliberately public: like kinto-attachment's files behind nginx, a file is read
        # by whoever has its URL (its hash, shown to those who may read the record).
        files = Service(name="attachment_file", path=FILE_PATH)
        files.add_view("GET", get_file, permission=NO_PERMISSION_REQUIRED)  # and HEAD
        config.add_cornice_service(files)
        describe(config, "attachment_file", openapi.FILE)
