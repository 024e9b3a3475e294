"""Random request sequences get the same answers from the real Kinto 26.5.0 and from us.

Each sequence (``generator.py``) is sent to both servers, emptied first; the normalised
answers (``client.py``) must be equal, except for the named differences of
``allowed.py``. A new difference fails with a minimal replay: the sequence shrunk to the
fewest steps that still show it, each request printed with both answers.

Bounded for CI: ``KINTO_CLONE_DIFF_SEQUENCES`` sequences (default 40) of
``KINTO_CLONE_DIFF_STEPS`` steps (default 30) per backend, seeds from
``KINTO_CLONE_DIFF_SEED`` on (default 0, so CI compares the same sequences every run),
stopping early after ``KINTO_CLONE_DIFF_SECONDS`` (default 120) per backend.
``make differential`` runs many more from a random seed. A difference that does not show
again when its sequence is replayed twice (the two servers' clocks meet the sequence at
other moments) is printed but does not fail the run, unless more than 5% of the
sequences do that.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.differential import allowed, runner
from tests.differential.client import Client
from tests.differential.compare import Diff, differences
from tests.differential.generator import Generator, Step
from tests.support import userid

SEQUENCES = int(os.environ.get("KINTO_CLONE_DIFF_SEQUENCES", "40"))
STEPS = int(os.environ.get("KINTO_CLONE_DIFF_STEPS", "30"))
FIRST_SEED = int(os.environ.get("KINTO_CLONE_DIFF_SEED", "0"))
SECONDS = float(os.environ.get("KINTO_CLONE_DIFF_SECONDS", "120"))
SHRINK_SECONDS = 120.0
REPLAYS = 2
FLAKY_SHARE = 0.05


def test_random_sequences_get_the_same_answers_from_kinto_and_from_us(
    kinto_url: str,
    ours_url: str,
    ours_backend: str,
    record_property: pytest.RecordProperty,
) -> None:
    kinto, ours = Client(kinto_url), Client(ours_url)
    started = time.monotonic()
    sequences = compared = 0
    ended: Counter[str] = Counter()
    covered: Counter[str] = Counter()
    unreproduced: list[str] = []
    for seed in range(FIRST_SEED, FIRST_SEED + SEQUENCES):
        if time.monotonic() - started > SECONDS:
            break
        steps = Generator(seed).sequence(STEPS)
        outcome = runner.run(kinto, ours, steps)
        sequences += 1
        compared += outcome.compared
        covered.update(outcome.covered)
        if outcome.ended_by:
            ended[outcome.ended_by] += 1
        if outcome.failure is None:
            continue
        where = outcome.diffs[0].where
        again = [runner.run(kinto, ours, steps) for _ in range(REPLAYS)]
        if not any(a.failure is not None and a.diffs[0].where == where for a in again):
            unreproduced.append(f"seed {seed}: {outcome.diffs[0]} (not shown again)")
            continue
        small = runner.shrink(kinto, ours, steps, SHRINK_SECONDS)
        summary = (
            f"{ours_backend}: before it, seeds {FIRST_SEED}-{seed - 1} passed: "
            f"{sequences - 1} sequences, {compared - outcome.compared} steps compared"
        )
        record_property("differential", summary)
        pytest.fail(
            f"seed {seed} ({ours_backend}): a difference no entry of "
            f"tests/differential/allowed.py explains; replay of {len(small)} step(s):\n"
            + runner.replay(kinto, ours, small)
            + f"\n(run again: KINTO_CLONE_DIFF_SEED={seed} KINTO_CLONE_DIFF_SEQUENCES=1)\n"
            + summary
        )
    seconds = time.monotonic() - started
    summary = (
        f"{ours_backend}: {sequences} sequences x up to {STEPS} steps (seeds {FIRST_SEED}-"
        f"{FIRST_SEED + sequences - 1}), {compared} steps compared in {seconds:.0f} s; "
        f"{sum(ended.values())} ended early ({dict(ended.most_common())}); "
        f"differences allowed: {dict(covered.most_common())}; "
        f"not reproduced: {unreproduced or 'none'}"
    )
    record_property("differential", summary)
    print(summary)
    assert sequences > 0
    assert len(unreproduced) <= max(1, int(FLAKY_SHARE * sequences)), unreproduced


# Each deliberate difference, shown against the real Kinto by a sequence written for it:
# the difference appears, and the entry of the allow-list is what explains it.
_R1 = "/buckets/b1/collections/c1/records/r1"
_WORLD = [
    Step("PUT", "/buckets/b1", body={"data": {}, "permissions": {"write": [userid("bob")]}}),
    Step("PUT", "/buckets/b1/collections/c1", body={"data": {}}),
    Step("PUT", _R1, body={"data": {"s": "a"}, "permissions": {"read": [userid("carol")]}}),
]
DELIBERATE_CASES = {
    "wording": [Step("PUT", _R1, raw="{")],
    "redirect-page-wording": [Step("GET", "/buckets/b1/")],
    "project-identity": [Step("GET", "/contribute.json")],
    "ids-at-most-256": [Step("PUT", "/buckets/" + "x" * 300, body={"data": {}})],
    "if-match-zero": [Step("PUT", _R1, headers={"If-Match": '"0"'}, body={"data": {}})],
    "if-match-empty": [Step("PUT", _R1, headers={"If-Match": ""}, body={"data": {}})],
    "json-patch-keeps-acl": [
        Step(
            "PATCH",
            _R1,
            user="bob",
            body=[{"op": "add", "path": "/data/n", "value": 1}],
            content_type="application/json-patch+json",
        )
    ],
    "version-404": [Step("GET", "/__version__")],
    "deleted-bucket-forgets-its-groups": [
        Step("PUT", "/buckets/b1/groups/g1", body={"data": {"members": [userid("carol")]}}),
        Step("DELETE", "/buckets/b1"),
        Step("GET", "/", user="carol"),
    ],
    "json-patch-permissions-validated": [
        Step(
            "PATCH",
            "/buckets/b1",
            body=[{"op": "replace", "path": "/permissions/read", "value": "ab"}],
            content_type="application/json-patch+json",
        )
    ],
    "totals-on-get": [Step("GET", "/buckets/b1/collections/c1/records")],
    "star-bucket-in-list-url": [Step("GET", "/buckets/*/collections")],
    "star-collection-in-list-url": [
        Step(
            "PUT",
            "/buckets/b1/collections/c2",
            body={"permissions": {"write": ["system.Everyone"]}},
        ),
        Step("GET", "/buckets/b1/collections/*/records", user="carol"),
    ],
    "empty-exclude-id-on-shared-list": [
        Step("GET", "/buckets/b1/collections/c1/records", user="carol", query=[("exclude_id", "")])
    ],
    "default-bucket-same-ids": [
        Step("PUT", "/buckets/default/collections/same/records/same", body={"data": {}})
    ],
    "nul-is-400": [Step("PUT", _R1, body={"data": {"s": "a\x00b"}})],
    "nul-under-default-bucket": [
        Step("PUT", "/buckets/default/collections/c1/records/r1", body={"data": {"s": "a\x00"}})
    ],
    # The groups of a new bucket: ours has the bucket's timestamp (the newest seen, ts:0).
    "never-written-list-etag": [
        Step("PUT", "/buckets/b3", body={"data": {}}),
        Step("GET", "/buckets/b3/groups", headers={"If-Match": '"{ts:0}"'}),
    ],
    "kinto-500": [
        Step(
            "POST",
            "/batch",
            body={
                "defaults": {"body": {"data": {"n": 1}}},
                "requests": [{"method": "PATCH", "path": _R1, "body": [{"op": "remove"}]}],
            },
        )
    ],
}


def test_each_deliberate_difference_shows_against_kinto_and_is_explained_by_its_entry(
    kinto_url: str, ours_url: str
) -> None:
    kinto, ours = Client(kinto_url), Client(ours_url)
    problems = []
    for name, case in sorted(DELIBERATE_CASES.items()):
        steps = _WORLD + case
        outcome = runner.run(kinto, ours, steps)
        if outcome.failure is not None or outcome.compared != len(steps):
            problems.append(f"{name}: {runner.replay(kinto, ours, steps)}")
        elif outcome.covered[name] == 0:
            problems.append(f"{name} did not show: {runner.replay(kinto, ours, steps)}")
    assert not problems, "\n\n".join(problems)


def test_every_deliberate_entry_has_a_case_and_a_readme_bullet() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Where we differ from Kinto on purpose", 1)[1].split("\n## ", 1)[0]
    names = [entry.name for entry in allowed.DELIBERATE]
    assert sorted(names) == sorted(DELIBERATE_CASES)
    for entry in allowed.DELIBERATE:
        assert entry.where.startswith("README: '"), entry
        assert entry.where.removeprefix("README: '").rstrip("'") in section, entry.where
    all_names = [e.name for e in allowed.ENTRIES + allowed.HAZARDS]
    assert len(all_names) == len(set(all_names))
    for entry in allowed.PENDING + allowed.HAZARDS:
        assert entry.where.startswith(("issue 10 item", "FINDINGS F")), entry


def test_a_difference_no_entry_explains_is_reported_and_a_documented_one_is_not() -> None:
    answer = {"status": 200, "headers": {"ETag": '"TS#0"'}, "body": {"data": {"id": "b1"}}}
    crashed = {"status": 500, "headers": {}, "body": {"code": 500, "errno": 999}}
    step = Step("GET", "/buckets/b1")
    diffs = differences(answer, crashed)
    assert ("status",) in [d.where for d in diffs]
    assert all(allowed.explain(allowed.Exchange(step, answer, crashed), d) is None for d in diffs)
    zero = Step("PUT", "/buckets/b1", headers={"If-Match": '"0"'}, body={"data": {}})
    refused = {"status": 412, "headers": {}, "body": {"code": 412, "errno": 114}}
    exchange = allowed.Exchange(zero, answer, refused)
    entries = {allowed.explain(exchange, d).name for d in differences(answer, refused)}
    assert entries == {"if-match-zero"}


def test_a_millisecond_two_lists_share_on_one_server_only_is_a_collision_not_a_difference() -> None:
    kinto, ours = Client("http://kinto/v1"), Client("http://ours/v1")
    for side in (kinto, ours):  # step 1 wrote the personal bucket: TS#0 in /buckets
        side.steps, side.scope = 1, "/buckets"
        side.value(1500000000000)
    # Step 2 lists its empty collections: ours in the bucket's millisecond, Kinto one later.
    kinto.steps = ours.steps = 2
    kinto.scope = ours.scope = "/buckets/b1/collections"
    assert (kinto.value(1500000000001), ours.value(1500000000000)) == ("TS#1", "TS#0")
    assert runner.collision(kinto, ours, Diff(("headers", "ETag"), '"TS#1"', '"TS#0"'))
    # The same list showing an earlier number of its own is still a difference.
    ours.first_seen[0] = (1, "/buckets/b1/collections")
    assert not runner.collision(kinto, ours, Diff(("headers", "ETag"), '"TS#1"', '"TS#0"'))
    assert not runner.collision(kinto, ours, Diff(("status",), 200, 201))


class _Scripted:
    """A session answering each request with the next of ``answers`` (a flush: 202)."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]]) -> None:
        self.answers = answers

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        status, headers, body = (202, {}, {}) if url.endswith("/__flush__") else self.answers.pop(0)
        resp = requests.Response()
        resp.status_code, resp._content = status, json.dumps(body).encode()
        resp.headers = requests.structures.CaseInsensitiveDict(
            {"Content-Type": "application/json", **headers}
        )
        return resp


def _batch(etag_412: int, record: int) -> tuple[int, dict[str, str], Any]:
    def sub(status: int, path: str, etag: int | None, body: Any) -> dict[str, Any]:
        headers = {"ETag": f'"{etag}"'} if etag else {}
        return {"status": status, "path": path, "headers": headers, "body": body}

    refused = {"code": 412, "errno": 114, "error": "Precondition Failed", "message": "m"}
    created = {"data": {"id": "r1", "last_modified": record}}
    return (
        200,
        {},
        {
            "responses": [
                sub(412, "/v1/buckets/b1/groups/g1", etag_412, refused),
                sub(201, "/v1/buckets/b1/collections/c1/records", record, created),
            ]
        },
    )


def test_a_value_only_one_server_shows_in_an_explained_difference_shifts_no_later_number() -> None:
    # Seed 924: a 412 on a missing group of a bucket whose groups were never written shows
    # the list's timestamp: Kinto a fresh one (1500000000005), ours the bucket's.
    bucket = (
        201,
        {"ETag": '"1500000000000"'},
        {"data": {"id": "b1", "last_modified": 1500000000000}},
    )
    kinto, ours = Client("http://kinto/v1"), Client("http://ours/v1")
    kinto.session = _Scripted([bucket, _batch(1500000000005, 1500000000007)])  # type: ignore[assignment]
    ours.session = _Scripted([bucket, _batch(1500000000000, 1500000000003)])  # type: ignore[assignment]
    batch = {
        "requests": [
            {"method": "PUT", "path": "/buckets/b1/groups/g1", "headers": {"If-Match": "*"}},
            {"method": "POST", "path": "/buckets/b1/collections/c1/records"},
        ],
        "defaults": {"body": {"data": {}}},
    }
    steps = [Step("PUT", "/buckets/b1", body={"data": {}}), Step("POST", "/batch", body=batch)]
    outcome = runner.run(kinto, ours, steps)
    assert outcome.failure is None, [str(d) for d in outcome.diffs]
    assert outcome.compared == 2 and outcome.ended_by is None
    assert outcome.covered == {"never-written-list-etag": 1}
    k, o = (side["body"]["responses"] for side in outcome.answers[1])
    assert (k[0]["headers"]["ETag"], o[0]["headers"]["ETag"]) == ('"TS#new"', '"TS#0"')
    assert k[1] == o[1] and o[1]["body"]["data"]["last_modified"] == "TS#1"


def test_an_exchange_is_judged_on_the_path_as_sent_with_its_placeholders_resolved() -> None:
    # Seed 1516: with no server-made id yet, {id:2} and {id:0} both name "unknown-id": a
    # record named like its collection under /buckets/default (default-bucket-same-ids).
    lost = {"code": 404, "errno": 111, "error": "Not Found"}
    lost["details"] = {"id": "unknown-id", "resource_name": "collection"}
    created = {"data": {"id": "unknown-id", "last_modified": 1500000000000}}
    kinto, ours = Client("http://kinto/v1"), Client("http://ours/v1")
    kinto.session = _Scripted([(404, {}, lost)])  # type: ignore[assignment]
    ours.session = _Scripted([(201, {"ETag": '"1500000000000"'}, created)])  # type: ignore[assignment]
    path = "/buckets/default/collections/{id:2}/records/{id:0}"
    outcome = runner.run(kinto, ours, [Step("PUT", path, body={"data": {}})])
    assert outcome.failure is None, [str(d) for d in outcome.diffs]
    assert outcome.ended_by == "default-bucket-same-ids"


def test_a_nul_in_a_write_of_the_personal_bucket_itself_is_its_entry() -> None:
    # Seed 2198: PATCH /buckets/default (no slash after it) is under the alias too.
    step = Step("PATCH", "/buckets/default", body={"data": {"s": "a\x00"}})
    kinto = {"status": 503, "headers": {}, "body": {"code": 503, "errno": 201}}
    ours = {"status": 400, "headers": {}, "body": {"code": 400, "errno": 107}}
    exchange = allowed.Exchange(step, kinto, ours)
    entries = {allowed.explain(exchange, d).name for d in differences(kinto, ours)}
    assert entries == {"nul-under-default-bucket"}


def test_a_precondition_on_a_never_written_list_that_holds_on_one_server_only_is_its_entry() -> (
    None
):
    # Seed 2798: ours 304 (the list has its bucket's timestamp), Kinto goes on to a 400 of
    # a repeated like_ filter, which it reads after the precondition.
    step = Step(
        "GET",
        "/buckets/default/groups",
        query=[("like_s", "*b"), ("like_s", "a")],
        headers={"If-None-Match": '"{ts:0}"'},
    )
    kinto = {"status": 400, "headers": {}, "body": {"code": 400, "errno": 107}}
    ours = {"status": 304, "headers": {"ETag": '"TS#1"'}, "body": None}
    exchange = allowed.Exchange(step, kinto, ours)
    entries = {allowed.explain(exchange, d).name for d in differences(kinto, ours)}
    assert entries == {"never-written-list-etag"}
