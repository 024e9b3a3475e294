"""Attachments: files on records, compatible with kinto-attachment's API and settings.

``kinto.includes = kinto_clone.plugins.attachments`` (or ``kinto_attachment``, an alias).

- ``options.py``: the ``attachment.*`` settings, per bucket and per collection.
- ``upload.py``: reading and checking a multipart upload (on disk, hashed once).
- ``store.py``: the file store interface; ``database.py`` (the default: files in the
  records' database, in the request's transaction) and ``filesystem.py`` (a folder,
  ``attachment.base_path``); ``database.py`` also holds the record-to-file links.
- ``views.py``: ``POST``/``DELETE .../records/{id}/attachment``, ``GET /attachments/{hash}``
  (``download.py``).
- Here: the change listener (a deleted record, collection or bucket takes its files with
  it), the data check (attachment metadata cannot be edited by hand) and set-up.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response

from kinto_clone.errors import ERRNO, HTTPError
from kinto_clone.events import ResourceChange
from kinto_clone.plugins.attachments.database import AttachmentLinks, DatabaseFiles
from kinto_clone.plugins.attachments.options import AttachmentOptions, Rules
from kinto_clone.plugins.attachments.store import FileActions, FileStore, Upload
from kinto_clone.resources.types import CORE
from kinto_clone.views.http import application_url
from kinto_clone.views.root import add_capability

UNLIMITED = 2**62  # no file size limit: waitress's own (max_request_body_size) applies
VERSION = "8.0.0"  # the kinto-attachment whose API this one answers like
_actions: contextvars.ContextVar[FileActions | None] = contextvars.ContextVar(
    "kinto_clone_attachment_actions", default=None
)


class Attachments:
    """The plugin's state: options, file store, links; what views and listeners call."""

    def __init__(
        self, options: AttachmentOptions, store: FileStore, links: AttachmentLinks
    ) -> None:
        self.options = options
        self.store = store
        self.links = links

    def files_for_download(self) -> DatabaseFiles:
        assert isinstance(self.store, DatabaseFiles)
        return self.store

    def base_url(self, request: Request) -> str:
        if self.options.base_url is not None:
            base = self.options.base_url
            return base if not base or base.endswith("/") else base + "/"
        return f"{application_url(request)}/v1/attachments/"

    def url(self, request: Request, name: str) -> str:
        return self.store.url(name, self.base_url(request))

    def save(self, request: Request, upload: Upload, rules: Rules, ids: dict[str, str]) -> str:
        folder = (
            rules.folder.format(bucket_id=ids["bucket_id"], collection_id=ids["collection_id"])
            if rules.folder
            else ""
        )
        return self.store.save(upload, folder, rules.randomize, current_actions())

    def link(self, request: Request, record_uri: str, name: str, rules: Rules) -> None:
        """Point the record at ``name``, releasing the file it named before."""
        previous = self.links.get(record_uri)
        self.links.set(record_uri, name)
        if previous is not None:
            self.store.release(previous, rules.keep_old_files, current_actions())

    def unlink(self, request: Request, record_uri: str, rules: Rules) -> None:
        previous = self.links.remove(record_uri)
        if previous is not None:
            self.store.release(previous, rules.keep_old_files, current_actions())

    # -- change listener and data check (events.py) --------------------------------------------

    def on_change(self, request: Request, change: ResourceChange) -> None:
        """Deleting a record, a collection or a bucket removes its files (unless
        ``keep_old_files``); so does a record write that drops the ``attachment`` field.
        Runs in the request's transaction, so links and files go with the change."""
        if request.attachment_write:
            return
        name = change.resource_name
        if name == "record":
            if change.action == "delete" or (
                change.old and change.old.get("attachment") and not change.new.get("attachment")
            ):
                self.unlink(request, change.uri, self._rules(change.uri))
        elif name in ("collection", "bucket") and change.action == "delete":
            self._unlink_under(change.uri)

    def on_flush(self, request: Request) -> None:
        """``POST /__flush__`` deletes every bucket: their files go as a bucket delete's do."""
        self._unlink_under("")

    def _unlink_under(self, uri: str) -> None:
        for record_uri, file_name in self.links.remove_under(uri):
            keep = self._rules(record_uri).keep_old_files
            self.store.release(file_name, keep, current_actions())

    def check_data(self, request: Request, context: Any, data: dict[str, Any]) -> None:
        """A record's attachment metadata changes only through the attachment endpoint."""
        if request.attachment_write or getattr(context, "resource", None) is None:
            return
        if context.resource.name != "record":
            return
        before = (context.current or {}).get("attachment")
        after = data.get("attachment")
        if before and after and before != after:
            raise HTTPError(400, ERRNO.UNDEFINED, message="Attachment metadata cannot be modified.")

    def _rules(self, record_uri: str) -> Rules:
        ids = CORE.ids_of(record_uri)
        return self.options.rules_for(ids.get("bucket_id", ""), ids.get("collection_id", ""))


def current_actions() -> FileActions:
    """The file actions of the current request (see ``file_actions_tween``)."""
    actions = _actions.get()
    if actions is None:  # outside of a request (scripts): nothing to defer
        actions = FileActions()
    return actions


def file_actions_tween(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    """Around the transaction: what a folder store must do once the transaction ended.

    A subrequest of a batch keeps its actions apart: if it fails, its new files go at
    once; if it succeeds, its actions join the batch's, which wait for the commit."""

    def tween(request: Request) -> Response:
        outer = _actions.get()
        actions = FileActions()
        token = _actions.set(actions)
        try:
            response = handler(request)
        except BaseException:
            _actions.reset(token)
            actions.finish(committed=False)
            raise
        _actions.reset(token)
        succeeded = response.status_code < 400
        if outer is not None and succeeded:
            outer.on_commit.extend(actions.on_commit)
            outer.on_rollback.extend(actions.on_rollback)
        else:
            actions.finish(committed=succeeded)
        return response

    return tween


def includeme(config: Configurator) -> None:
    from kinto_clone.plugins.attachments import views
    from kinto_clone.plugins.attachments.filesystem import FolderFiles

    registry = config.registry
    options = AttachmentOptions.from_settings(registry.settings)
    db = next(iter(registry.backends.databases.values()))
    store: FileStore = FolderFiles(options.base_path) if options.base_path else DatabaseFiles(db)
    plugin = Attachments(options, store, AttachmentLinks(db))
    registry.attachments = plugin
    registry.listeners.append(plugin.on_change)
    registry.data_checks.append(plugin.check_data)
    registry.flush_hooks.append(plugin.on_flush)
    registry.heartbeats = {**getattr(registry, "heartbeats", {}), "attachments": store}
    views.register(config, serve_files=isinstance(store, DatabaseFiles))
    if isinstance(store, FolderFiles):
        config.add_tween(
            "kinto_clone.plugins.attachments.file_actions_tween",
            over="kinto_clone.tweens.transaction_tween",
        )
    config.registry.body_limit = _body_limit(options, registry.settings)
    capability = {
        "version": VERSION,
        "base_url": _capability_base_url(options, store, registry.settings),
        "gzipped": options.rules.gzipped,
    }
    add_capability(
        config,
        "attachments",
        "Add file attachments to records",
        "https://github.com/Kinto/kinto-attachment/",
        **capability,
    )


def _capability_base_url(
    options: AttachmentOptions, store: FileStore, settings: dict[str, Any]
) -> str:
    """``attachment.extra.base_url`` or ``attachment.base_url``; without them, where the
    database store serves files (absolute with ``http_scheme`` and ``http_host``). A
    ``location`` is always absolute or relative to it (clients join the two)."""
    if options.capability_base_url is not None:
        return options.capability_base_url
    if not isinstance(store, DatabaseFiles):
        return ""
    host, scheme = settings.get("http_host"), settings.get("http_scheme")
    origin = f"{scheme or 'http'}://{host}" if host else ""
    return f"{origin}/v1/attachments/"


def _body_limit(
    options: AttachmentOptions, settings: dict[str, Any]
) -> Callable[[Request, int], int]:
    """The request body limit of uploads: the largest file allowed anywhere, plus the
    usual limit for the rest of the body (``data``, ``permissions``, the part headers).
    The file's own limit (per collection) is checked while it is read (413)."""
    sizes = [options.rules.max_size_bytes, *(r.max_size_bytes for r in options.overrides.values())]
    unlimited = any(size <= 0 for size in sizes)
    largest = max(sizes)

    def limit(request: Request, default: int) -> int:
        if request.method != "POST" or not request.path_info.endswith("/attachment"):
            return default
        return UNLIMITED if unlimited else largest + default

    return limit
