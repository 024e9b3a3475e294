"""The folder file store (``attachment.base_path``), as kinto-attachment keeps files.

A file is written under a temporary name in its destination folder, flushed to disk, then
renamed: a crash leaves no half file under a final name (only, at worst, a ``.part`` file,
which nothing links to). The folder cannot take part in the database transaction, so a
new file is removed if the transaction rolls back, and a released one only once it has
committed (``FileActions``).
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
from urllib.parse import quote

from kinto_clone.plugins.attachments.store import FileActions, FileStore, Upload, remove_quietly

PART_SUFFIX = ".part"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_filename(filename: str) -> str:
    """An ASCII name without path separators (``../a b.txt`` -> ``a_b.txt``)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    base = os.path.basename(ascii_name.replace("\\", "/"))
    cleaned = _UNSAFE.sub("", "_".join(base.split())).strip("._")
    return cleaned or "file"


class FolderFiles(FileStore):
    def __init__(self, base_path: str) -> None:
        self.base_path = os.path.abspath(base_path)

    def _path(self, name: str) -> str:
        path = os.path.abspath(os.path.join(self.base_path, name))
        if not path.startswith(self.base_path + os.sep):  # a folder setting like "../x"
            raise ValueError(f"{name!r} is outside of {self.base_path}")
        return path

    def save(self, upload: Upload, folder: str, randomize: bool, actions: FileActions) -> str:
        filename = safe_filename(upload.filename)
        if randomize:
            filename = str(uuid.uuid4()) + os.path.splitext(filename)[1].lower()
        destination = self._path(os.path.join(folder, "x"))[:-1]
        os.makedirs(destination, exist_ok=True)
        temporary = os.path.join(destination, f".{uuid.uuid4()}{PART_SUFFIX}")
        upload.file.seek(0)
        with open(temporary, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        name, path = self._free_name(folder, filename)
        try:
            os.link(temporary, path)  # fails if the name was taken meanwhile: never overwrites
        finally:
            remove_quietly(temporary)
        actions.on_rollback.append(lambda: remove_quietly(path))
        return name

    def _free_name(self, folder: str, filename: str) -> tuple[str, str]:
        stem, ext = os.path.splitext(filename)
        candidate, counter = filename, 0
        while True:
            name = os.path.join(folder, candidate) if folder else candidate
            path = self._path(name)
            if not os.path.exists(path):
                return name, path
            counter += 1
            candidate = f"{stem}-{counter}{ext}"

    def release(self, name: str, keep: bool, actions: FileActions) -> None:
        if not keep:
            path = self._path(name)
            actions.on_commit.append(lambda: remove_quietly(path))

    def url(self, name: str, base_url: str) -> str:
        return base_url + quote(name)

    def heartbeat(self) -> bool:
        probe = os.path.join(self.base_path, f".heartbeat-{uuid.uuid4()}{PART_SUFFIX}")
        try:
            os.makedirs(self.base_path, exist_ok=True)
            with open(probe, "wb") as out:
                out.write(b"{}")
            os.remove(probe)
        except OSError:
            return False
        return True
