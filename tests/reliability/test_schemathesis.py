"""Property-based API tests: Schemathesis drives every operation of our own ``/v1/__api__``.

In-process against the WSGI app (no server), bounded so that ``make test`` runs it on every
CI run: ``KINTO_CLONE_SCHEMATHESIS_EXAMPLES`` examples per operation (default 15),
deterministic (``derandomize``). Set it higher for a longer local hunt.

Each generated request runs against a small world (a bucket, a collection, a group, a
record, all Alice's); the generated path ids are replaced, often, by those existing ids and
the request is sent as the owner, as a stranger or anonymously, so that authorised paths
and not only 400/403 answers are exercised. Cases are positive (valid per the document) and
negative (invalid on purpose). Checks: no 5xx, the status is documented, the Content-Type is
the documented one, and the body conforms to the documented schema.

Memory and SQLite only: the SQL is the same on PostgreSQL, and the bound is on time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
import webtest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import auth

MAX_EXAMPLES = int(os.environ.get("KINTO_CLONE_SCHEMATHESIS_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
SCHEMA_PATH = "/v1/__api__"

# What the generated path parameters are replaced with (None: keep the generated one).
KNOWN_IDS: dict[str, list[str | None]] = {
    "bucket_id": [None, "b", "b", "b", "default"],
    "collection_id": [None, "c", "c", "c"],
    "id": [None, "r", "r", "b", "c", "g", "new-one"],
}
CALLERS = [auth("alice"), auth("alice"), auth("alice"), auth("bob"), {}]


def _wsgi(make_app: Callable[..., webtest.TestApp]) -> Any:
    app = make_app()
    alice = auth("alice")
    app.put_json("/v1/buckets/b", {}, headers=alice)
    app.put_json("/v1/buckets/b/collections/c", {}, headers=alice)
    app.put_json("/v1/buckets/b/groups/g", {"data": {"members": ["x"]}}, headers=alice)
    app.put_json(
        "/v1/buckets/b/collections/c/records/r", {"data": {"title": "t", "n": 1}}, headers=alice
    )
    app.get("/v1/buckets/default", headers=alice)  # creates Alice's personal bucket
    return app.app


def _operation_labels() -> list[str]:
    """Every operation of the document, read once at collection from a memory app."""
    from kinto_clone import main
    from tests.conftest import DEFAULT_SETTINGS

    wsgi = main(
        {},
        **{
            **DEFAULT_SETTINGS,
            "storage_backend": "kinto_clone.storage.memory",
            "permission_backend": "kinto_clone.permission.memory",
        },
    )
    try:
        schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, wsgi)
        return [result.ok().label for result in schema.get_all_operations()]
    finally:
        wsgi.registry.kinto_clone_close()


OPERATIONS = _operation_labels()


def test_every_route_is_in_the_document():
    # If the document lost its routes, the parametrized test below would prove nothing.
    assert len(OPERATIONS) >= 40
    assert "PATCH /buckets/{bucket_id}/collections/{collection_id}/records/{id}" in OPERATIONS
    assert "POST /batch" in OPERATIONS


@pytest.mark.parametrize("label", OPERATIONS)
def test_operation_conforms_to_the_document(backend, make_app, label):
    wsgi = _wsgi(make_app)
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, wsgi)
    [operation] = [
        result.ok() for result in schema.get_all_operations() if result.ok().label == label
    ]
    replacements = st.fixed_dictionaries(
        {name: st.sampled_from(ids) for name, ids in KNOWN_IDS.items()}
    )

    # Positive cases (valid per the document) and negative ones (invalid on purpose): both
    # must be answered without a 5xx and as documented. An operation without parameters
    # has no negative case; hypothesis then draws the positive ones only.
    cases = st.one_of(
        operation.as_strategy(), operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)
    )

    @SETTINGS
    @given(case=cases, ids=replacements, caller=st.sampled_from(CALLERS))
    def run(case: Any, ids: dict[str, str | None], caller: dict[str, str]) -> None:
        for name, value in ids.items():
            if value is not None and case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
        if not caller and case.headers:
            case.headers.pop("Authorization", None)
        case.call_and_validate(headers=caller or None, checks=CHECKS)

    run()
