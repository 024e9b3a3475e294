"""The SQL of attachments: record-to-file links, and the database file store.

``AttachmentLinks``: one row per record with an attachment, naming its file. Deleting a
record, a collection or a bucket removes the links under its URI, whichever store holds
the files.

``DatabaseFiles``: files in the records' database, content-addressed by sha256 and split
in chunks of ``CHUNK_SIZE`` bytes, so that neither an upload nor a download holds a whole
file in memory. Writes run in the request's transaction: a failed request leaves no
file, a committed one has all of it. ``refs`` counts the links to a file; the statement
that changes it locks the file's row, so of two transactions, one releasing the last link
and one adding a link, the second waits and then sees the row gone (and stores the file
again) or still there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kinto_clone.db import Database, db_errors, transaction, translate_errors
from kinto_clone.plugins.attachments.store import FileActions, FileStore, Upload
from kinto_clone.tables import attachment_chunks, attachment_files, attachment_links

CHUNK_SIZE = 1024 * 1024


def _after(prefix: str) -> str:
    """The smallest string greater than every ``prefix + "/..."``: ``"0"`` follows ``"/"``."""
    return prefix + "0"


class AttachmentLinks:
    """Which file each record's ``attachment`` field names."""

    def __init__(self, db: Database) -> None:
        self.db = db
        links = attachment_links.c
        dialect = pg_dialect if db.dialect == "postgresql" else sqlite_dialect
        self._get = select(links.location).where(links.record_uri == "")
        self._add = dialect.insert(attachment_links).values(record_uri="", location="")
        self._add = self._add.on_conflict_do_update(
            index_elements=[links.record_uri], set_={"location": self._add.excluded.location}
        )
        self._remove = (
            delete(attachment_links).where(links.record_uri == "").returning(links.location)
        )

    @db_errors
    def get(self, record_uri: str) -> str | None:
        return self.db.execute(self._get, {"record_uri_1": record_uri}).scalar()

    @db_errors
    def set(self, record_uri: str, location: str) -> None:
        self.db.execute(self._add, {"record_uri": record_uri, "location": location})

    @db_errors
    def remove(self, record_uri: str) -> str | None:
        """Drop the link of one record; the name of its file, if it had one."""
        return self.db.execute(self._remove, {"record_uri_1": record_uri}).scalar()

    @db_errors
    def remove_under(self, uri: str) -> list[tuple[str, str]]:
        """Drop the links of every record under a bucket or collection URI; their
        ``(record URI, file name)``."""
        links = attachment_links.c
        prefix = uri + "/"
        statement = (
            delete(attachment_links)
            .where(links.record_uri >= prefix, links.record_uri < _after(uri))
            .returning(links.record_uri, links.location)
        )
        return [(row[0], row[1]) for row in self.db.execute(statement)]

    @db_errors
    def count(self) -> int:
        return int(self.db.execute(select(func.count()).select_from(attachment_links)).scalar())


@dataclass(frozen=True)
class StoredFile:
    hash: str
    size: int
    mimetype: str


class DatabaseFiles(FileStore):
    """Files in ``attachment_files`` and ``attachment_chunks``; the name is the hash."""

    def __init__(self, db: Database) -> None:
        self.db = db
        files, chunks = attachment_files.c, attachment_chunks.c
        dialect = pg_dialect if db.dialect == "postgresql" else sqlite_dialect
        self._link = update(attachment_files).where(files.hash == "").values(refs=files.refs + 1)
        self._new = (
            dialect.insert(attachment_files)
            .values(hash="", size=0, mimetype="", refs=1)
            .on_conflict_do_nothing()
            .returning(files.hash)
        )
        self._chunk = insert(attachment_chunks).values(hash="", seq=0, content=b"")
        self._unlink = (
            update(attachment_files)
            .where(files.hash == "")
            .values(refs=files.refs - 1)
            .returning(files.refs)
        )
        self._drop_chunks = delete(attachment_chunks).where(chunks.hash == "")
        self._drop_file = delete(attachment_files).where(files.hash == "")
        self._stat = select(files.size, files.mimetype).where(files.hash == "")
        self._read = select(chunks.content).where(chunks.hash == "", chunks.seq == 0)

    @db_errors
    def save(self, upload: Upload, folder: str, randomize: bool, actions: FileActions) -> str:
        if self.db.execute(self._link, {"hash_1": upload.hash}).rowcount:
            return upload.hash  # stored already: one more record shares it
        created = self.db.execute(
            self._new, {"hash": upload.hash, "size": upload.size, "mimetype": upload.mimetype}
        ).scalar()
        if created is None:  # a concurrent upload committed it meanwhile
            self.db.execute(self._link, {"hash_1": upload.hash})
            return upload.hash
        upload.file.seek(0)
        for seq, block in enumerate(iter(lambda: upload.file.read(CHUNK_SIZE), b"")):
            self.db.execute(self._chunk, {"hash": upload.hash, "seq": seq, "content": block})
        return upload.hash

    @db_errors
    def release(self, name: str, keep: bool, actions: FileActions) -> None:
        refs = self.db.execute(self._unlink, {"hash_1": name}).scalar()
        if refs is not None and refs <= 0 and not keep:
            self.db.execute(self._drop_chunks, {"hash_1": name})
            self.db.execute(self._drop_file, {"hash_1": name})

    def url(self, name: str, base_url: str) -> str:
        return base_url + name

    def heartbeat(self) -> bool:
        return self.db.ping()

    # -- reading (downloads), each in a short transaction of its own --------------------------

    def stat(self, name: str) -> StoredFile | None:
        with transaction(write=False), translate_errors():
            row = self.db.execute(self._stat, {"hash_1": name}).first()
        return None if row is None else StoredFile(name, int(row.size), row.mimetype)

    def read(self, name: str, start: int, end: int) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of a file, a chunk per transaction: a download
        holds no connection while the client reads, and a stored file never changes."""
        seq = start // CHUNK_SIZE
        offset = start - seq * CHUNK_SIZE
        remaining = end - start
        while remaining > 0:
            with transaction(write=False), translate_errors():
                content = self.db.execute(self._read, {"hash_1": name, "seq_1": seq}).scalar()
            if content is None:  # removed while being read: the response is cut short
                raise FileVanished(name)
            block = bytes(content[offset : offset + remaining])
            yield block
            remaining -= len(block)
            offset = 0
            seq += 1

    @db_errors
    def stored(self) -> list[tuple[str, int, int]]:
        """``(hash, refs, bytes in chunks)`` of every stored file (checks and tests)."""
        files, chunks = attachment_files.c, attachment_chunks.c
        total = (
            select(func.coalesce(func.sum(func.length(chunks.content)), 0))
            .where(chunks.hash == files.hash)
            .scalar_subquery()
        )
        rows = self.db.execute(select(files.hash, files.refs, total))
        return [(row[0], int(row[1]), int(row[2])) for row in rows]


class FileVanished(Exception):
    """A file was deleted while a download read it."""
