"""Small helpers for tests: credentials, the users of the tests and their ids, Kinto's
exact error bodies, and the one error-envelope assertion."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

SECRET = "test-secret"  # DEFAULT_SETTINGS["userid_hmac_secret"] in conftest


# The exact bodies of Kinto's 403 and 401 (kinto-api.md §5.3).
FORBIDDEN_BODY = {
    "code": 403,
    "errno": 121,
    "error": "Forbidden",
    "message": "This user cannot access this resource.",
}
UNAUTHORIZED_BODY = {
    "code": 401,
    "errno": 104,
    "error": "Unauthorized",
    "message": "Please authenticate yourself to use this endpoint.",
}
# Kinto adds ``details.existing`` (the current object) to it where there is one.
PRECONDITION_FAILED_BODY = {
    "code": 412,
    "errno": 114,
    "error": "Precondition Failed",
    "message": "Resource was modified meanwhile",
}
METHOD_NOT_ALLOWED_BODY = {
    "code": 405,
    "errno": 115,
    "error": "Method Not Allowed",
    "message": "Method not allowed on this endpoint.",
}


def not_found_body(resource_name: str, object_id: str) -> dict[str, Any]:
    """Kinto's 404 of a missing object: no ``message``, only what is missing."""
    return {
        "code": 404,
        "errno": 110,
        "error": "Not Found",
        "details": {"id": object_id, "resource_name": resource_name},
    }


def auth(user: str, password: str | None = None) -> dict[str, str]:
    """Basic Auth headers; the password defaults to ``<user>password`` as in the tutorial."""
    if password is None:
        password = "password" if user == "user" else f"{user}password"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def userid(user: str, password: str | None = None, secret: str = SECRET) -> str:
    """The ``basicauth:<hex>`` principal the server derives for these credentials."""
    if password is None:
        password = "password" if user == "user" else f"{user}password"
    digest = hmac.new(secret.encode(), f"{user}:{password}".encode(), hashlib.sha256)
    return "basicauth:" + digest.hexdigest()


# The users of the tests: their Basic Auth headers and the user ids the server derives.
ALICE, BOB, CAROL = auth("alice"), auth("bob"), auth("carol")
ALICE_ID, BOB_ID, CAROL_ID = userid("alice"), userid("bob"), userid("carol")


# Alice's blog: the bucket and collection most functional tests write in (``blog`` in
# tests/functional/conftest.py).
BLOG = "/v1/buckets/blog"
ARTICLES = f"{BLOG}/collections/articles"


def create_collection(
    app: Any, collection: str = ARTICLES, headers: dict[str, str] = ALICE, **body: Any
) -> Any:
    """PUT the bucket of ``collection`` (a ``/v1/buckets/B/collections/C`` URL), then the
    collection with ``body``, as the user of ``headers``: 201 each. Returns ``app``."""
    bucket = collection.split("/collections/")[0]
    app.put_json(bucket, {}, headers=headers, status=201)
    app.put_json(collection, body, headers=headers, status=201)
    return app


def default_bucket_id(principal: str, secret: str = "") -> str:
    """Kinto's personal bucket id: HMAC-SHA256(secret, principal)[:32] as a UUID."""
    h = hmac.new(secret.encode(), principal.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def assert_error(
    resp: Any,
    code: int,
    errno: int,
    message: str | None = None,
    **expected: Any,
) -> dict[str, Any]:
    """Assert the JSON error envelope; extra keyword args must equal body keys."""
    assert resp.status_int == code, resp.body
    assert resp.content_type == "application/json"
    body = resp.json
    assert body["code"] == code
    assert body["errno"] == errno
    assert isinstance(body["error"], str) and body["error"]
    if message is not None:
        assert body.get("message") == message, body
    for key, value in expected.items():
        assert body.get(key) == value, body
    return body


def assert_invalid(
    resp: Any,
    location: str,
    name: str | None,
    description: str,
    message: str | None = None,
    code: int = 400,
) -> dict[str, Any]:
    """Assert Kinto's "Invalid parameters" error (errno 107) about one thing: one detail
    (``location``, ``name``, ``description``); the message is the description unless told."""
    detail = {"location": location, "name": name, "description": description}
    return assert_error(
        resp,
        code,
        107,
        description if message is None else message,
        error="Invalid parameters",
        details=[detail],
    )
