"""The ``attachment.*`` settings, with kinto-attachment's names, read once at start-up.

Global values (``attachment.keep_old_files = true``) may be overridden per bucket or per
collection: ``attachment.resources.<bid>.<name>`` and
``attachment.resources.<bid>.<cid>.<name>``; the collection's wins over the bucket's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kinto_clone.settings import ConfigurationError

PREFIX = "attachment."
OVERRIDES = PREFIX + "resources."
DEFAULT_MAX_SIZE = 64 * 1024 * 1024

# Groups of file extensions a setting may name (``images+pdf``), as kinto-attachment has.
_DOCUMENTS = ("pdf", "rtf", "odf", "ods", "gnumeric", "abw", "doc", "docx", "xls", "xlsx")
_TEXT = ("txt",)
_IMAGES = ("jpg", "jpe", "jpeg", "png", "gif", "svg", "bmp", "tiff")
_DATA = ("csv", "ini", "json", "plist", "xml", "yaml", "yml")
EXTENSION_GROUPS: dict[str, tuple[str, ...]] = {
    "documents": _DOCUMENTS,
    "text": _TEXT,
    "images": _IMAGES,
    "audio": ("wav", "mp3", "aac", "ogg", "oga", "flac"),
    "video": ("mpeg", "3gp", "avi", "divx", "dvr", "flv", "mp4", "wmv"),
    "data": _DATA,
    "scripts": ("js", "php", "pl", "py", "rb", "sh"),
    "archives": ("gz", "bz2", "zip", "tar", "tgz", "txz", "7z"),
    "executables": ("so", "exe", "dll"),
    "default": _DOCUMENTS + _TEXT + _IMAGES + _DATA,
    "any": (),
}
# Mimetypes that replace whatever the client sent, by extension (``attachment.mimetypes``
# adds to them: ``.ext:type;.ext:type``).
DEFAULT_MIMETYPES = {".pem": "application/x-pem-file", ".geojson": "application/geojson"}


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ConfigurationError(f"Setting '{name}' must be true or false, not {value!r}")


def _integer(name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"Setting '{name}' must be an integer, not {value!r}")
    return value


def extensions_of(name: str, value: Any) -> frozenset[str]:
    """``"images+pdf"`` -> the allowed extensions; empty: any."""
    allowed: set[str] = set()
    for part in str(value).split("+"):
        part = part.strip()
        if part in EXTENSION_GROUPS:
            allowed.update(EXTENSION_GROUPS[part])
        elif part:
            allowed.update(ext.lower().lstrip(".") for ext in part.split())
        else:
            raise ConfigurationError(f"Setting '{name}' has an empty group: {value!r}")
    return frozenset(allowed)


def mimetypes_of(name: str, value: Any) -> dict[str, str]:
    """``".pem:application/x-pem-file;.txt:text/plain"`` -> {".pem": ..., ".txt": ...}."""
    found = dict(DEFAULT_MIMETYPES)
    for pair in str(value or "").split(";"):
        if not pair.strip():
            continue
        ext, sep, mimetype = pair.partition(":")
        if not sep or not ext.strip() or not mimetype.strip():
            raise ConfigurationError(f"Setting '{name}': {pair!r} is not '.ext:type'")
        found["." + ext.strip().lstrip(".")] = mimetype.strip()
    return found


@dataclass(frozen=True)
class Rules:
    """What applies to the uploads of one collection."""

    keep_old_files: bool = False
    randomize: bool = True  # filesystem store: a uuid rather than the (cleaned) filename
    gzipped: bool = False
    max_size_bytes: int = DEFAULT_MAX_SIZE  # <= 0: no limit, as in kinto-attachment
    extensions: frozenset[str] = frozenset(EXTENSION_GROUPS["default"])
    mimetypes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MIMETYPES))
    folder: str = ""  # filesystem store: "{bucket_id}/{collection_id}"


# Each setting's reader: (its full name, for errors; the raw value) -> the typed value.
_READERS: dict[str, Callable[[str, Any], Any]] = {
    "keep_old_files": _boolean,
    "randomize": _boolean,
    "gzipped": _boolean,
    "max_size_bytes": _integer,
    "extensions": extensions_of,
    "mimetypes": mimetypes_of,
    "folder": lambda name, value: str(value),
}


def _apply(rules: Rules, values: Mapping[str, tuple[str, Any]]) -> Rules:
    return dataclasses.replace(
        rules, **{key: _READERS[key](name, value) for key, (name, value) in values.items()}
    )


@dataclass(frozen=True)
class AttachmentOptions:
    base_url: str | None  # None: our own download URL
    capability_base_url: str | None
    base_path: str | None  # set: the filesystem store, else the database
    rules: Rules
    overrides: Mapping[str, Rules]  # "/buckets/b" or "/buckets/b/collections/c"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AttachmentOptions:
        common: dict[str, tuple[str, Any]] = {}
        per_resource: dict[str, dict[str, tuple[str, Any]]] = {}
        for name, value in settings.items():
            if not name.startswith(PREFIX):
                continue
            if name.startswith(OVERRIDES):
                parts = name[len(OVERRIDES) :].split(".")
                if len(parts) not in (2, 3) or parts[-1] not in _READERS:
                    raise ConfigurationError(
                        f"Setting '{name}' is not {OVERRIDES}<bid>[.<cid>].<{'|'.join(_READERS)}>"
                    )
                uri = f"/buckets/{parts[0]}" + (
                    f"/collections/{parts[1]}" if len(parts) == 3 else ""
                )
                per_resource.setdefault(uri, {})[parts[-1]] = (name, value)
            elif name[len(PREFIX) :] in _READERS:
                common[name[len(PREFIX) :]] = (name, value)
        rules = _apply(Rules(), common)
        overrides: dict[str, Rules] = {}
        for uri in sorted(per_resource, key=len):  # buckets first, collections inherit
            inherited = overrides.get(uri.split("/collections/")[0], rules)
            overrides[uri] = _apply(inherited, per_resource[uri])
        base_url = settings.get(PREFIX + "base_url")
        extra = settings.get(PREFIX + "extra.base_url", base_url)
        base_path = settings.get(PREFIX + "base_path")
        return cls(
            base_url=None if base_url is None else str(base_url),
            capability_base_url=None if extra is None else _slashed(str(extra)),
            base_path=str(base_path) if base_path else None,
            rules=rules,
            overrides=overrides,
        )

    def rules_for(self, bucket_id: str, collection_id: str) -> Rules:
        bucket = f"/buckets/{bucket_id}"
        collection = f"{bucket}/collections/{collection_id}"
        return self.overrides.get(collection) or self.overrides.get(bucket) or self.rules


def _slashed(url: str) -> str:
    return url if not url or url.endswith("/") else url + "/"
