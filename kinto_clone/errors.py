"""Every exception of the server, the errno table, and the ONE function that builds an
error body.

Every error a client can see is raised as an :class:`HTTPError` (or a subclass) somewhere
below the views, and turned into a response only in ``views/errors.py``. The backends'
exceptions (:class:`StorageError` and its subclasses) and :class:`ConfigurationError` live
here too, so that every layer imports its errors from the bottom of the house instead of
from the layer that happens to raise them (``db.py`` from ``storage``, for one).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from http import HTTPStatus
from typing import Any


class ConfigurationError(Exception):
    """A setting is wrong; the server refuses to start."""


class StorageError(Exception):
    """Base of every storage exception; backends raise nothing else."""


class BackendError(StorageError):
    """The database failed (down, timeout, refused a value). Becomes 503 errno 201."""

    def __init__(self, message: str = "", original: BaseException | None = None) -> None:
        super().__init__(message or repr(original))
        self.original = original


class ObjectNotFoundError(StorageError):
    """No live object with that id in that list."""


class UnicityError(StorageError):
    """A live object already has that id; ``existing`` is it."""

    def __init__(self, existing: dict[str, Any]) -> None:
        super().__init__(existing.get("id"))
        self.existing = existing


class ERRNO(IntEnum):
    """Kinto's errno numbers (``kinto-api.md`` §5.2)."""

    MISSING_AUTH_TOKEN = 104
    INVALID_AUTH_TOKEN = 105
    BADJSON = 106
    INVALID_PARAMETERS = 107
    MISSING_PARAMETERS = 108
    INVALID_POSTED_DATA = 109
    INVALID_RESOURCE_ID = 110
    MISSING_RESOURCE = 111
    MISSING_CONTENT_LENGTH = 112
    REQUEST_TOO_LARGE = 113
    MODIFIED_MEANWHILE = 114
    METHOD_NOT_ALLOWED = 115
    VERSION_NOT_AVAILABLE = 116
    CLIENT_REACHED_CAPACITY = 117
    FORBIDDEN = 121
    CONSTRAINT_VIOLATED = 122
    BACKEND = 201
    SERVICE_DEPRECATED = 202
    UNDEFINED = 999


def error_body(
    code: int,
    errno: int,
    *,
    error: str | None = None,
    message: str | None = None,
    info: str | None = None,
    details: Any = None,
) -> dict[str, Any]:
    """The error envelope ``{code, errno, error, message?, info?, details?}``.

    ``error`` defaults to the HTTP reason phrase; keys whose value is None are omitted.
    """
    body: dict[str, Any] = {
        "code": code,
        "errno": int(errno),
        "error": error or HTTPStatus(code).phrase,
    }
    if message is not None:
        body["message"] = message
    if info is not None:
        body["info"] = info
    if details is not None:
        body["details"] = details
    return body


class HTTPError(Exception):
    """An error that becomes an HTTP response with the standard envelope."""

    def __init__(
        self,
        code: int,
        errno: int,
        *,
        error: str | None = None,
        message: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or error or str(code))
        self.code = code
        self.errno = errno
        self.error = error
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def body(self, info: str | None = None) -> dict[str, Any]:
        return error_body(
            self.code,
            self.errno,
            error=self.error,
            message=self.message,
            info=info,
            details=self.details,
        )


def detail(location: str, name: str | None, description: str) -> dict[str, Any]:
    """One entry of a validation error's ``details`` list."""
    return {"location": location, "name": name, "description": description}


class ValidationError(HTTPError):
    """400 errno 107 "Invalid parameters", with Kinto's message heuristic (§5.1).

    ``details`` are sorted by name, as Kinto lists them (``""`` < ``If-Match`` <
    ``_since`` < ``data`` < ``permissions``); ``found`` keeps them in the order they were
    found, for whoever reports only the first one."""

    def __init__(self, details: list[dict[str, Any]], code: int = 400) -> None:
        self.found = list(details)
        details = sorted(details, key=lambda d: d["name"] or "")
        super().__init__(
            code,
            ERRNO.INVALID_PARAMETERS,
            error="Invalid parameters",
            message=validation_message(details[0]),
            details=details,
        )


def validation_message(first: dict[str, Any]) -> str:
    name, location, description = first["name"], first["location"], first["description"]
    if name is not None and name in description:  # "" is in every description
        return description
    if name is not None:
        return f"{name} in {location}: {description}"
    return f"{location}: {description}"


def gathered(*checks: Callable[[], object]) -> None:
    """Run every check; if some raised a ValidationError, raise one listing all their
    details. Kinto reports every fault of a request's headers, querystring and body in
    one 400 (F8), where a check of ours stops at its own first."""
    found: list[dict[str, Any]] = []
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            found += exc.found
    if found:
        raise ValidationError(found)


def invalid(location: str, name: str | None, description: str) -> ValidationError:
    """Shorthand for a validation error with a single detail."""
    return ValidationError([detail(location, name, description)])


def invalid_id() -> ValidationError:
    return invalid("path", None, "Invalid object id")


class NotFound(HTTPError):
    """404 for an object (errno 110) or a missing parent (errno 111)."""

    def __init__(self, resource_name: str, object_id: str, *, parent: bool = False) -> None:
        super().__init__(
            404,
            ERRNO.MISSING_RESOURCE if parent else ERRNO.INVALID_RESOURCE_ID,
            details={"id": object_id, "resource_name": resource_name},
        )


class UnknownURL(HTTPError):
    def __init__(self) -> None:
        super().__init__(
            404,
            ERRNO.MISSING_RESOURCE,
            message="The resource you are looking for could not be found.",
        )


class Unauthorized(HTTPError):
    def __init__(self) -> None:
        super().__init__(
            401,
            ERRNO.MISSING_AUTH_TOKEN,
            message="Please authenticate yourself to use this endpoint.",
        )


class Forbidden(HTTPError):
    def __init__(self) -> None:
        super().__init__(403, ERRNO.FORBIDDEN, message="This user cannot access this resource.")


class MethodNotAllowed(HTTPError):
    def __init__(self, allowed: list[str] | None = None) -> None:
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        super().__init__(
            405,
            ERRNO.METHOD_NOT_ALLOWED,
            message="Method not allowed on this endpoint.",
            headers=headers,
        )


class PreconditionFailed(HTTPError):
    """412 errno 114; ``details.existing`` carries the current object when there is one."""

    def __init__(self, existing: dict[str, Any] | None, timestamp: int | None) -> None:
        super().__init__(
            412,
            ERRNO.MODIFIED_MEANWHILE,
            message="Resource was modified meanwhile",
            details={"existing": existing} if existing is not None else None,
        )
        self.timestamp = timestamp


class NotModified(Exception):
    """304: raised by ``raise_304_if_not_modified``; carries the current timestamp."""

    def __init__(self, timestamp: int) -> None:
        super().__init__(timestamp)
        self.timestamp = timestamp


class ServiceUnavailable(HTTPError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            503,
            ERRNO.BACKEND,
            message=message
            or "Service temporary unavailable due to overloading or maintenance, "
            "please retry later.",
        )


class Gone(HTTPError):
    def __init__(self) -> None:
        super().__init__(
            410,
            ERRNO.SERVICE_DEPRECATED,
            message="The service you are trying to connect no longer exists at this location.",
        )


class RequestTooLarge(HTTPError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            ERRNO.REQUEST_TOO_LARGE,
            message=f"Request body is larger than {limit} bytes.",
        )
