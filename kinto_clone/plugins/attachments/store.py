"""The file store interface: where the bytes of attachments live.

Two stores: ``database.DatabaseFiles`` (the default: bytes in the records' database,
written in the request's transaction) and ``filesystem.FolderFiles`` (a folder served by
nginx or a CDN, as kinto-attachment does). A third (S3...) implements the same four
methods. Stores never see the request; the view hands them an ``Upload`` (the file, on
disk, already hashed) and a ``FileActions`` for what must wait for the transaction's end.
"""

from __future__ import annotations

import abc
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO


@dataclass(frozen=True)
class Upload:
    """A received file: its bytes on disk (``file``, at position 0) and what they are."""

    file: BinaryIO
    filename: str
    mimetype: str
    size: int
    hash: str  # sha256, hex


@dataclass
class FileActions:
    """What a store does once the request's transaction is over: a folder cannot take
    part in the database transaction, so new files are removed if it rolls back and
    replaced ones only once it committed."""

    on_commit: list[Callable[[], None]] = field(default_factory=list)
    on_rollback: list[Callable[[], None]] = field(default_factory=list)

    def finish(self, committed: bool) -> None:
        for action in self.on_commit if committed else self.on_rollback:
            with contextlib.suppress(OSError):
                action()


class FileStore(abc.ABC):
    """Contract of a file store. ``name`` is the store's own name for a stored file,
    kept in ``attachment_links.location``."""

    @abc.abstractmethod
    def save(self, upload: Upload, folder: str, randomize: bool, actions: FileActions) -> str:
        """Store the upload; returns its name. Runs inside the request's transaction."""

    @abc.abstractmethod
    def release(self, name: str, keep: bool, actions: FileActions) -> None:
        """The link of one record to ``name`` is gone: remove the file when nothing else
        needs it, unless ``keep`` (``keep_old_files``)."""

    @abc.abstractmethod
    def url(self, name: str, base_url: str) -> str:
        """The public URL of a stored file, ``base_url`` being the store's base URL."""

    @abc.abstractmethod
    def heartbeat(self) -> bool:
        """True when the store can be written."""

    def describe(self) -> dict[str, Any]:
        """Extra facts for ``GET /v1/`` (none by default)."""
        return {}


def remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
