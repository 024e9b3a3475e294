"""Reading an upload: the multipart body, its ``attachment`` file and its form fields.

WebOb parses the body (``request.POST``) with file parts spooled to temporary files, so a
10 MB upload is on disk, never in memory; it is then read once in blocks to hash it (and,
with ``gzipped``, to compress it into another temporary file). Every check that can
refuse the upload runs here, before anything is written.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from pyramid.request import Request

from kinto_clone import json
from kinto_clone.errors import ERRNO, HTTPError, invalid
from kinto_clone.plugins.attachments.options import Rules
from kinto_clone.plugins.attachments.store import Upload

FILE_FIELD = "attachment"
FORM_FIELDS = ("data", "permissions")
BLOCK = 1024 * 1024
MIMETYPE = re.compile(r"^[\w.+-]+/[\w.+-]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Posted:
    upload: Upload
    original: dict[str, Any] | None  # the file as sent, when it is stored gzipped
    body: dict[str, Any]  # {"data": ..., "permissions": ...} as sent


def _bad_request(errno: int, message: str) -> HTTPError:
    return HTTPError(400, errno, message=message)


class FileTooLarge(HTTPError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            413,
            ERRNO.REQUEST_TOO_LARGE,
            message=f"File size ({size} bytes) exceeds the limit ({limit} bytes).",
            details=[
                {
                    "location": "body",
                    "name": FILE_FIELD,
                    "description": f"larger than {limit} bytes",
                }
            ],
        )


def parse(request: Request, rules: Rules) -> Posted:
    """The validated upload; raises the error of the first thing wrong with it."""
    if request.content_type != "multipart/form-data":
        raise _bad_request(ERRNO.INVALID_PARAMETERS, "Content-Type should be multipart/form-data")
    try:
        fields = request.POST
    # WebOb refuses a charset other than UTF-8 with a DeprecationWarning.
    except (ValueError, UnicodeDecodeError, DeprecationWarning) as exc:
        raise _bad_request(ERRNO.INVALID_PARAMETERS, f"Invalid multipart body: {exc}") from exc
    parts = fields.getall(FILE_FIELD)
    if not parts:
        raise _bad_request(ERRNO.INVALID_POSTED_DATA, "Attachment missing.")
    if len(parts) > 1:
        raise _bad_request(
            ERRNO.INVALID_POSTED_DATA,
            f"body: only one '{FILE_FIELD}' part may be sent, not {len(parts)}",
        )
    part = parts[0]
    if not hasattr(part, "file") or not getattr(part, "filename", None):
        raise invalid("body", None, "Filename is required.")
    body = _form_fields(fields)
    filename = str(part.filename)
    if _CONTROL.search(filename):
        raise invalid("body", FILE_FIELD, "Invalid character in the filename")
    extension = os.path.splitext(filename)[1]
    if rules.extensions and extension.lstrip(".").lower() not in rules.extensions:
        raise invalid("body", None, "File extension is not allowed.")
    sent_type = part.type or "application/octet-stream"
    if not MIMETYPE.match(sent_type):
        raise invalid("body", FILE_FIELD, f"Invalid Content-Type of the file: {sent_type!r}")
    mimetype = rules.mimetypes.get(extension) or sent_type
    size, digest = _measure(part.file, rules.max_size_bytes)
    upload = Upload(part.file, filename, mimetype, size, digest)
    if not rules.gzipped:
        return Posted(upload, None, body)
    original = {"filename": filename, "hash": digest, "mimetype": mimetype, "size": size}
    return Posted(_gzipped(upload), original, body)


def _form_fields(fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if name == FILE_FIELD:
            continue
        if name not in FORM_FIELDS:
            raise _bad_request(
                ERRNO.INVALID_POSTED_DATA, f"body: '{name}' not in ('data', 'permissions')"
            )
        if not isinstance(value, str):
            raise _bad_request(
                ERRNO.INVALID_POSTED_DATA,
                f"body: '{name}' field should be passed as form data, not files",
            )
        if name in body:
            raise _bad_request(ERRNO.INVALID_POSTED_DATA, f"body: '{name}' is sent twice")
        try:
            # As for JSON bodies (views/body.py): no NUL (PostgreSQL refuses it in JSONB),
            # no nesting deeper than the limit.
            if "\\u0000" in value:
                raise ValueError("Invalid character 0x00")
            body[name] = json.loads(value)
            if json.too_deep(body[name]):
                raise ValueError(f"depth limit exceeded ({json.MAX_DEPTH} levels)")
        except ValueError as exc:
            raise _bad_request(
                ERRNO.INVALID_POSTED_DATA, f"body: {name} is not valid JSON ({exc})"
            ) from exc
    return body


def _measure(file: IO[bytes], limit: int) -> tuple[int, str]:
    """Size and sha256 of a file, read in blocks; 413 as soon as it passes ``limit``."""
    file.seek(0)
    digest = hashlib.sha256()
    size = 0
    for block in iter(lambda: file.read(BLOCK), b""):
        size += len(block)
        if 0 < limit < size:
            file.seek(0, os.SEEK_END)
            raise FileTooLarge(file.tell(), limit)
        digest.update(block)
    file.seek(0)
    return size, digest.hexdigest()


def _gzipped(upload: Upload) -> Upload:
    """The upload compressed into a temporary file (deleted when closed)."""
    compressed = tempfile.TemporaryFile()
    upload.file.seek(0)
    # mtime=0: the same file always compresses to the same bytes, hence the same hash.
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as out:
        for block in iter(lambda: upload.file.read(BLOCK), b""):
            out.write(block)
    size, digest = _measure(compressed, 0)
    return Upload(compressed, upload.filename + ".gz", "application/x-gzip", size, digest)
