"""Every difference from Kinto 26.5.0 the differential test accepts, one named entry each.

An ``Entry`` is a small predicate over one exchange (the request and both normalised
answers) and one difference. Two lists:

- ``DELIBERATE``: our documented choices. Each points at its bullet in README.md, "Where we
  differ from Kinto on purpose", and is listed in issue 10's "Keep" section.
- ``PENDING``: differences issue 10 lists as our bugs, not fixed yet; each names its
  issue-10 item. Entries tagged ``FINDINGS`` were found by this test
  and written to /work/wt/FINDINGS.md. When a fix is merged, its entry is deleted here: the
  test then checks the fix for good.

``HAZARDS`` are PENDING bugs that show no difference in the answer to the request that
causes them but leave the servers' data apart; the comparison of the sequence stops there.

A subresponse of ``/batch`` is judged as an exchange of its own (``sub_exchange``), so each
predicate is written once for plain requests and subrequests.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from tests.differential.compare import MISSING, Diff
from tests.differential.generator import NO_BODY, USERS, Step
from tests.support import auth

READS = ("GET", "HEAD")


@dataclasses.dataclass(frozen=True)
class Exchange:
    step: Step
    kinto: dict[str, Any]
    ours: dict[str, Any]

    @property
    def method(self) -> str:
        return self.step.method

    @property
    def path(self) -> str:
        return self.step.path.split("?")[0]

    def status(self) -> tuple[int, int]:
        return self.kinto.get("status", 0), self.ours.get("status", 0)

    def errno(self) -> tuple[Any, Any]:
        return _errno(self.kinto), _errno(self.ours)

    def param(self, name: str) -> str | None:
        return dict(self.step.query).get(name)

    def details_location(self, side: dict[str, Any]) -> Any:
        details = (side.get("body") or {}).get("details")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            return details[0].get("location")
        return None


def _errno(answer: dict[str, Any]) -> Any:
    body = answer.get("body")
    return body.get("errno") if isinstance(body, dict) else None


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    reason: str
    where: str  # README bullet, issue-10 item, or FINDINGS entry
    covers: Callable[[Exchange, Any], bool]  # (exchange, Diff); hazards get (exchange, None)
    ends_sequence: bool = False


def _whole(test: Callable[[Exchange], bool]) -> Callable[[Exchange, Diff], bool]:
    """A predicate on the exchange that covers every difference of it."""
    return lambda x, d: test(x)


def _conditional(x: Exchange) -> bool:
    return "If-Match" in x.step.headers or "If-None-Match" in x.step.headers


def _posted_id(x: Exchange) -> str:
    body = x.step.body
    data = body.get("data") if isinstance(body, dict) else None
    return str(data.get("id", "")) if isinstance(data, dict) else ""


DELIBERATE: list[Entry] = [
    Entry(
        "wording",
        "Our messages and descriptions are our own words; clients read errno, code, error.",
        "README: 'Our own words'",
        lambda x, d: (
            bool(d.where)
            and d.where[-1] in ("message", "description")
            and isinstance(d.kinto, str)
            and isinstance(d.ours, str)
        ),
    ),
    Entry(
        "redirect-page-wording",
        "The HTML page of a trailing-slash redirect is our own; clients follow Location.",
        "README: 'the page, text or JSON `message`'",
        lambda x, d: (
            x.status()[0] == x.status()[1]
            and 300 <= x.status()[0] < 400
            and d.where == ("body", "<text>")
        ),
    ),
    Entry(
        "project-identity",
        "We are not Kinto: our version, contribute.json and documentation links are ours.",
        "README: 'our project's identity'",
        lambda x, d: (
            x.path == "/contribute.json"
            or (x.path == "/" and d.where in (("body", "project_version"),))
            or (x.path == "/" and d.where[:2] == ("body", "capabilities") and d.where[-1] == "url")
        ),
    ),
    Entry(
        "ids-at-most-256",
        "Ids are at most 256 characters (an URI and ACL entry fits one index entry).",
        "README: 'ids are at most 256 characters'",
        _whole(
            lambda x: (
                (
                    (x.status()[1] == 400 and (x.errno()[1] == 107 or x.method == "HEAD"))
                    # under /buckets/default, Kinto creates the collection of a too long id
                    or (x.path.startswith("/buckets/default") and x.errno()[1] == 111)
                )
                and any(len(part) > 256 for part in x.path.split("/") + [_posted_id(x)])
            )
        ),
        ends_sequence=True,  # Kinto stores what we refuse (seed 487)
    ),
    Entry(
        "if-match-zero",
        'If-Match: "0" is a real precondition: no object has timestamp 0 (Kinto ignores it).',
        "README: '`If-Match: \"0\"` is a real precondition'",
        _whole(lambda x: x.step.headers.get("If-Match") == '"0"' and x.status()[1] == 412),
    ),
    Entry(
        "if-match-empty",
        "An empty If-Match is a 400 (Kinto ignores it and writes unconditionally).",
        "README: 'An empty `If-Match` is a 400 errno 107'",
        _whole(lambda x: x.step.headers.get("If-Match") == "" and x.status()[1] == 400),
    ),
    Entry(
        "json-patch-keeps-acl",
        "A JSON-patch by a writer who inherits write keeps the object's ACL (Kinto wipes it).",
        "README: 'A JSON-patch by a writer who inherits `write`'",
        lambda x, d: (
            x.method == "PATCH"
            and x.step.content_type == "application/json-patch+json"
            and d.where[:2] == ("body", "permissions")
        ),
        ends_sequence=True,
    ),
    Entry(
        "version-404",
        "GET /__version__ without a version.json is a 404 (Kinto: its own file, or a 500).",
        "README: '`GET /__version__` without a `version.json` is a 404'",
        _whole(lambda x: x.path == "/__version__" and x.status()[1] == 404),
    ),
    Entry(
        "nul-under-default-bucket",
        "A NUL in a body under /buckets/default: Kinto on PostgreSQL answers 503 and rolls "
        "back the personal bucket and collection it created on the fly; our 400 keeps them, "
        "as after any refused write (issue 10 item 3). Differential seed 371.",
        "README: 'Under `/buckets/default` Kinto's 503 also drops'",
        _whole(
            lambda x: (
                (x.path == "/buckets/default" or x.path.startswith("/buckets/default/"))
                and x.step.body is not NO_BODY
                and "\\u0000" in json.dumps(x.step.body)
                and x.status() == (503, 400)
            )
        ),
        ends_sequence=True,
    ),
    Entry(
        "nul-is-400",
        "A NUL in a body string is a 400 (Kinto on PostgreSQL: 503 from the database).",
        "README: 'Parsing a body with `\\u0000` in a string is a 400'",
        _whole(
            lambda x: (
                x.step.body is not NO_BODY
                and "\\u0000" in json.dumps(x.step.body)
                and x.status()[1] == 400
            )
        ),
    ),
]


def _kinto_crashed(x: Exchange) -> bool:
    return x.status()[0] == 500 and x.status()[1] < 500


DELIBERATE.append(
    Entry(
        "kinto-500",
        "Kinto answers some client input with a 500 (a JSON-patch body merged with batch "
        "defaults, some batches with an empty filter value); we answer it.",
        "README: 'Client input that Kinto answers with a 500'",
        _whole(_kinto_crashed),
    )
)
DELIBERATE.append(
    Entry(
        "star-bucket-in-list-url",
        "A * in the bucket id of a list URL is no glob on ours: no bucket can be named *, "
        "so an authenticated caller gets a 403, an anonymous one a 401 (Kinto globs it: 404 "
        "errno 111, seed 781); GET, HEAD and DELETE alike.",
        "README: 'Kinto treats a `*` in a bucket id of a list URL as a glob'",
        _whole(
            lambda x: (
                "*" in (x.path.split("/") + ["", "", ""])[2]
                and x.status() in ((404, 403), (404, 401))
                and (x.method == "HEAD" or x.errno() in ((111, 121), (111, 104)))
            )
        ),
    )
)
DELIBERATE.append(
    Entry(
        "star-collection-in-list-url",
        "A * in the collection id of a list URL is no glob on ours either: no collection can "
        "be named *, so a caller who may not read the bucket's collections gets a 403, an "
        "anonymous one a 401 (Kinto globs it against the collections the caller may write: "
        "404 errno 111 naming the collection, seed 3166); GET, HEAD and DELETE alike.",
        "README: 'a `*` in a collection id of a list URL'",
        _whole(
            lambda x: (
                (x.path.split("/") + ["", "", "", "", ""])[3] == "collections"
                and "*" in (x.path.split("/") + ["", "", "", "", ""])[4]
                and x.status() in ((404, 403), (404, 401))
                and (x.method == "HEAD" or x.errno() in ((111, 121), (111, 104)))
            )
        ),
    )
)
DELIBERATE.append(
    Entry(
        "empty-exclude-id-on-shared-list",
        "An empty exclude_id (exclude_id=, exclude_id=,) excludes nothing, also for a "
        "caller who sees only the objects they hold permissions on (Kinto lists, counts and "
        "deletes nothing for that caller, everything for one who may read the whole list).",
        "README: 'An empty `exclude_id` excludes nothing'",
        _whole(
            lambda x: (
                x.param("exclude_id") is not None
                and not any(str(x.param("exclude_id")).split(","))
                and x.status() == (200, 200)
            )
        ),
        ends_sequence=True,
    )
)


def _kinto_lost_same_id_collection(x: Exchange) -> bool:
    """Kinto's 404 for the collection of a record named like it, which we created (and
    then answered the write as on any existing collection: 201, 200, a 412...)."""
    kinto = x.kinto.get("body") or {}
    details = kinto.get("details") if isinstance(kinto, dict) else None
    parts = x.path.split("/")  # "", buckets, default, collections, cid, records, rid
    return (
        x.path.startswith("/buckets/default/collections/")
        and len(parts) == 7
        and parts[4] == parts[6]
        and x.status()[0] == 404
        and x.status()[1] != 404
        and isinstance(details, dict)
        and details.get("resource_name") == "collection"
        and details.get("id") == parts[4]
    )


DELIBERATE.append(
    Entry(
        "default-bucket-same-ids",
        "A record written under /buckets/default whose id equals its (not yet created) "
        "collection's is created with the collection, as any other id; Kinto 26.5.0 answers "
        "404 errno 111 for that collection (it creates it only when the ids differ).",
        "README: 'A record whose id equals its collection's'",
        _whole(_kinto_lost_same_id_collection),
        ends_sequence=True,
    )
)
DELIBERATE.append(
    Entry(
        "totals-on-get",
        "A plural GET sends Total-Records and Total-Objects, as the tutorial shows (Kinto "
        "26.5.0: on HEAD only); total_records_on_get = false turns it off.",
        "README: 'A plural `GET` sends `Total-Records` and `Total-Objects`'",
        lambda x, d: (
            x.method == "GET"
            and d.where in (("headers", "Total-Records"), ("headers", "Total-Objects"))
            and d.kinto is MISSING
            and isinstance(d.ours, str)
            and d.ours.isdigit()
        ),
    )
)


def _never_written_list_etag(x: Exchange, d: Diff) -> bool:
    """A list's timestamp that differs because nothing was written to it yet: its ETag
    and Last-Modified (a read, a plural DELETE, a 412 on a missing object of it), or a
    precondition on it that holds on one server only."""
    return (x.method in READS or x.method == "DELETE" or x.status() == (412, 412)) and (
        (
            d.where in (("headers", "ETag"), ("headers", "Last-Modified"))
            and isinstance(d.kinto, str)
            and isinstance(d.ours, str)
        )
        # The precondition held on one server only; on the other the read went on, to a
        # 400 of a filter value Kinto reads after the precondition (seed 2798).
        or (_conditional(x) and set(x.status()) in ({200, 304}, {200, 412}, {304, 400}))
    )


def _json_patch_of_permissions(x: Exchange) -> bool:
    """A JSON-patch touching ``/permissions`` that we refuse as any invalid permissions
    and Kinto applies unchecked (200), or answers 503 (a principal that is no string)."""
    media = x.step.headers.get("Content-Type") or x.step.content_type or ""
    ops = x.step.body if isinstance(x.step.body, list) else []
    return (
        x.method == "PATCH"
        and media.startswith("application/json-patch+json")
        and any(
            isinstance(op, dict) and str(op.get("path", "")).startswith("/permissions")
            for op in ops
        )
        and x.status() in ((200, 400), (503, 400))
        and x.errno()[1] == 107
        and str(x.details_location(x.ours)) == "body"
    )


DELIBERATE.append(
    Entry(
        "json-patch-permissions-validated",
        "Permissions a JSON-patch writes are validated as in any body (400 errno 107); "
        "Kinto stores them unchecked: a string as one principal per character, an "
        "unknown permission name as it is (and a list holding a number is a 503). "
        "Differential seed 1178.",
        "README: 'Permissions written by a JSON-patch are validated'",
        _whole(_json_patch_of_permissions),
    )
)


def _kinto_kept_a_deleted_group(x: Exchange, d: Diff) -> bool:
    """The caller's principals on Kinto still name a group deleted with its bucket."""
    if d.where != ("body", "user", "principals"):
        return False
    if not (isinstance(d.kinto, list) and isinstance(d.ours, list)):
        return False
    extra = set(d.kinto) - set(d.ours)
    return (
        set(d.ours) <= set(d.kinto)
        and bool(extra)
        and all(str(p).startswith("/buckets/") and "/groups/" in str(p) for p in extra)
    )


DELIBERATE.append(
    Entry(
        "deleted-bucket-forgets-its-groups",
        "A bucket's deletion forgets its groups as principals of their members (Kinto 26.5.0 "
        "keeps them: a bucket created again with the same id and an ACL naming the group "
        "grants its old members). Differential seed 3000.",
        "README: 'Deleting a bucket forgets its groups as principals'",
        _kinto_kept_a_deleted_group,
        ends_sequence=True,
    )
)


# Not ending the sequence: a precondition that holds on one server only on a write is a
# status difference on a write (the runner ends there), and the value Kinto alone shows
# takes no number (runner.compare_step), so later answers still compare.
DELIBERATE.append(
    Entry(
        "never-written-list-etag",
        "The ETag of a list never written to is its parent's creation timestamp, stored "
        "with the parent (0 for the list of buckets of a new server): reading it writes "
        "nothing. Kinto takes a fresh timestamp at the first read and stores it then; so a "
        "precondition on that list can hold on one server only, and a 412 on a missing "
        "object of it (which carries the list's timestamp) shows another one.",
        "README: 'The ETag of a list nothing was ever written to'",
        _never_written_list_etag,
    )
)


# Empty: every FINDINGS entry (F1-F23, and those of the later seeds) is fixed or DELIBERATE.
PENDING: list[Entry] = []


# Issue 10 item 3 (the personal bucket rolled back after a failed request) was one, fixed
# by 32e7c58. FINDINGS F13 (a 503 on PostgreSQL) showed in none of 500 sequences after the
# merges, so its entry is gone; FINDINGS F14 (a 405 under /buckets/default kept the
# personal bucket) is fixed too.
HAZARDS: list[Entry] = []

ENTRIES = DELIBERATE + PENDING

# DELIBERATE "never-written-list-etag" (FINDINGS F6, kept): the ETag of a list never
# written to is an older timestamp on ours (its parent's) than on Kinto (its first read's).
# Numbered, that one value would pair the two servers' later timestamps wrongly for the
# rest of the sequence, and no difference shows where both servers show it first (both
# TS#0: a later If-Match of "the latest timestamp seen" is then the bucket's on ours and
# the list's on Kinto, seed 176 when this was turned off); so the ETag of an answer
# listing nothing is not compared (client.py). It belongs to that entry: both go
# together, or neither. Where the difference does show (a 412 of a missing object of
# such a list), the runner numbers no new value there (runner.compare_step, seed 924).
EMPTY_LIST_ETAG_UNCOMPARED = True


def sub_exchange(x: Exchange, index: int) -> Exchange | None:
    """The exchange of subrequest ``index`` of a batch, or None if it is not one."""
    body = x.step.body if isinstance(x.step.body, dict) else {}
    requests = body.get("requests")
    if not isinstance(requests, list) or index >= len(requests):
        return None
    defaults = body.get("defaults") if isinstance(body.get("defaults"), dict) else {}
    request = {**defaults, **requests[index]} if isinstance(requests[index], dict) else {}
    path = str(request.get("path", "")).removeprefix("/v1")
    path, _, query = path.partition("?")
    headers = dict(request.get("headers") or {})
    user = x.step.user
    for name in USERS:  # a subrequest may carry its own credentials
        if headers.get("Authorization") == auth(name)["Authorization"]:
            user = name
    step = Step(
        method=str(request.get("method", "GET")).upper(),
        path=path,
        user=user,
        query=parse_qsl(query, keep_blank_values=True),
        headers=headers,
        body=request.get("body", NO_BODY),
        content_type="application/json",
        in_batch=True,
    )
    answers = []
    for side in (x.kinto, x.ours):
        responses = (side.get("body") or {}).get("responses")
        if not isinstance(responses, list) or index >= len(responses):
            return None
        answers.append(responses[index] if isinstance(responses[index], dict) else {})
    return Exchange(step, answers[0], answers[1])


def explain(x: Exchange, diff: Diff) -> Entry | None:
    """The entry covering ``diff``, judging a batch subresponse as its own exchange."""
    if x.path == "/batch" and diff.where[:2] == ("body", "responses") and len(diff.where) > 3:
        sub = sub_exchange(x, diff.where[2])
        if sub is not None:
            found = explain(sub, Diff(diff.where[3:], diff.kinto, diff.ours))
            if found is not None:
                return found
    for entry in ENTRIES:
        if entry.covers(x, diff):
            return entry
    return None


def hazard(x: Exchange) -> Entry | None:
    """The hazard this exchange (or one of its subrequests) runs into, if any."""
    exchanges = [x]
    if x.path == "/batch":
        count = len(((x.kinto.get("body") or {}).get("responses")) or [])
        exchanges += [s for s in (sub_exchange(x, i) for i in range(count)) if s is not None]
    for one in exchanges:
        for entry in HAZARDS:
            if entry.covers(one, None):
                return entry
    return None
