"""A stateful model test: random request sequences checked against Kinto's rules (issue 6).

Hypothesis drives random sequences of requests against the server and checks every
response against a small reference model kept in this file (kinto-api.md §2-§6, §9):

- the world: bucket ``b`` owned by ``owner`` (bucket ``write``), its collection ``c``, an
  optional group ``g``, records whose ids come from a small pool (so that collisions,
  deletions and re-creations happen), users ``owner``, ``alice``, ``bob`` and anonymous;
- the requests: record PUT / PATCH / DELETE / GET / POST (with or without an id), record
  and collection permission changes, group creation, update and deletion, collection GET,
  PUT and DELETE (its records hard-deleted), record lists (GET and HEAD), ``_since`` polls
  from an ETag seen earlier, plural DELETE, If-Match (current or stale), If-None-Match
  (``*`` or the current ETag), and batches of 2-3 of these, each subrequest with its own
  user; each example starts from a random sharing (collection ACL, group, records' ACLs);
- the rules checked on every response: the status and errno (401/403/404/412/304, §5.3,
  §6.3), who may read and write what through collection, record and group ACLs (§6.2),
  exactly which live records a list returns and in which order (§6.5), exactly which
  changes a ``_since`` poll returns, tombstones included but invisible to callers who could
  only see the record through its own, now deleted, ACL (§2.4), the object bodies, the
  ``permissions`` shown only to writers of that exact object (§2.1), the creator/updater
  added to ``write`` (§2.5), strictly increasing timestamps in the list and ETag of the list
  equal to its greatest timestamp (§2.3, §3.1), batch subresponses (§9).

The model is a few sets and dicts: it predicts the response of a request from the model
state *before* it, then updates itself from the response (only server-assigned values,
ids and timestamps, are taken from the response, after being checked).

Bounded for CI: ``KINTO_CLONE_MODEL_EXAMPLES`` examples (default 25) of up to
``KINTO_CLONE_MODEL_STEPS`` steps (default 30), on SQLite and PostgreSQL (the tables are
emptied between examples). ``pytest -s`` prints how many answers of each kind were seen.
Longer runs (about 1 s per example and backend)::

    KINTO_CLONE_MODEL_EXAMPLES=2000 .venv/bin/python -m pytest -n 2 tests/reliability/test_model.py

A failure is shrunk to a minimal sequence of steps, printed as Python calls
(``KINTO_CLONE_MODEL_SHRINK=0`` skips shrinking, which can take minutes).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import webtest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import DEFAULT_SETTINGS, selected_backends
from tests.support import auth, userid

EXAMPLES = int(os.environ.get("KINTO_CLONE_MODEL_EXAMPLES", 25))
STEPS = int(os.environ.get("KINTO_CLONE_MODEL_STEPS", 30))
# Shrinking a failure to a minimal sequence can take minutes; KINTO_CLONE_MODEL_SHRINK=0
# reports the first failing sequence as found.
PHASES = [
    Phase.generate,
    *([Phase.shrink] if os.environ.get("KINTO_CLONE_MODEL_SHRINK", "1") != "0" else []),
]

EVERYONE = "system.Everyone"
AUTHENTICATED = "system.Authenticated"
USERS: tuple[str | None, ...] = ("owner", "alice", "bob", None)
IDS = {user: userid(user) for user in USERS if user is not None}
GROUP = "/buckets/b/groups/g"
BUCKET = "/buckets/b"
COLLECTION = f"{BUCKET}/collections/c"
RECORDS = f"{COLLECTION}/records"
# The record writes: under a missing collection each is a 404 errno 111 for anyone.
RECORD_WRITES = frozenset({"put", "patch", "delete", "post"})
POOL = ("r1", "r2", "r3")

STATS: Counter[str] = Counter()  # answers seen, printed at the end (pytest -s shows them)
ERRNO = {304: None, 401: 104, 403: 121, 404: 110, 412: 114}


# -- the reference model -----------------------------------------------------------------


@dataclasses.dataclass
class Record:
    data: dict[str, Any]
    last_modified: int
    deleted: bool = False
    acl: dict[str, set[str]] = dataclasses.field(default_factory=dict)

    def body(self, rid: str) -> dict[str, Any]:
        if self.deleted:
            return {"id": rid, "last_modified": self.last_modified, "deleted": True}
        return {**self.data, "id": rid, "last_modified": self.last_modified}


@dataclasses.dataclass
class Op:
    """One request: what is sent, and what the model needs to predict its answer."""

    kind: str
    user: str | None
    method: str
    path: str  # without the /v1 prefix
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    rid: str | None = None
    arg: Any = None

    def __str__(self) -> str:
        return f"{self.user or 'anonymous'} {self.method} {self.path} {self.headers} {self.body}"


@dataclasses.dataclass
class Expect:
    status: int
    check: Callable[[dict[str, str], Any], None] | None = None  # (headers, body), on success
    errno: int | None = None  # when not ERRNO[status]


def acl_lists(acl: dict[str, set[str]]) -> dict[str, list[str]]:
    return {perm: sorted(principals) for perm, principals in acl.items() if principals}


def header(headers: Any, name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


class Model:
    def __init__(self) -> None:
        self.collection_exists = True
        self.coll_acl: dict[str, set[str]] = {"write": {IDS["owner"]}}
        self.group_members: list[str] | None = None  # None: no group g
        self.group_acl: dict[str, set[str]] = {}
        self.records: dict[str, Record] = {}
        self.list_ts: int | None = None  # None: the empty list was never read
        self.seen: list[int] = []  # list ETags seen so far, for _since polls
        # Points a restore may go back to: (timestamp, the collection's state then). A
        # point is kept only while it is unambiguous: every write before it has a smaller
        # timestamp (of any list) and every write after it a greater one.
        self.points: list[tuple[int, dict[str, Any]]] = []
        self.newest = 0  # the greatest timestamp written so far, of any list

    # -- who is who, who may do what (§6.2, §6.4) --

    def principals(self, user: str | None) -> set[str]:
        if user is None:
            return {EVERYONE}
        found = {EVERYONE, AUTHENTICATED, IDS[user]}
        if self.group_members is not None and (
            IDS[user] in self.group_members or AUTHENTICATED in self.group_members
        ):
            found.add(GROUP)
        return found

    @staticmethod
    def writer(user: str | None) -> str:
        return IDS[user] if user is not None else EVERYONE

    def _coll(self, principals: set[str], *perms: str) -> bool:
        return any(self.coll_acl.get(p, set()) & principals for p in perms)

    def coll_read(self, principals: set[str]) -> bool:
        return IDS["owner"] in principals or self._coll(principals, "read", "write")

    def coll_write(self, principals: set[str]) -> bool:
        return IDS["owner"] in principals or self._coll(principals, "write")

    def coll_attributes(self, principals: set[str]) -> bool:
        return IDS["owner"] in principals or self._coll(
            principals, "read", "write", "record:create"
        )

    def may_create(self, principals: set[str]) -> bool:
        return IDS["owner"] in principals or self._coll(principals, "write", "record:create")

    @staticmethod
    def own_ace(record: Record, principals: set[str], *perms: str) -> bool:
        return any(record.acl.get(p, set()) & principals for p in perms)

    def rec_read(self, record: Record, principals: set[str]) -> bool:
        return self.coll_read(principals) or self.own_ace(record, principals, "read", "write")

    def rec_write(self, record: Record, principals: set[str]) -> bool:
        return self.coll_write(principals) or self.own_ace(record, principals, "write")

    def live(self, rid: str | None) -> Record | None:
        record = self.records.get(rid or "")
        return record if record is not None and not record.deleted else None

    # -- timestamps (§2.3) --

    def bump(self, last_modified: Any, what: str) -> None:
        assert isinstance(last_modified, int), (what, last_modified)
        if self.list_ts is not None:
            assert last_modified > self.list_ts, (
                f"{what}: timestamp {last_modified} not above the list's {self.list_ts}"
            )
        self.list_ts = last_modified
        self.written(last_modified)

    def written(self, timestamp: int) -> None:
        """A write got ``timestamp``: points at or after it are no longer unambiguous."""
        self.points = [(at, state) for at, state in self.points if at < timestamp]
        self.newest = max(self.newest, timestamp)

    def state(self) -> dict[str, Any]:
        """What a restore of the collection brings back: its ACL, its live records."""
        return {
            "acl": acl_lists(self.coll_acl),
            "records": {
                rid: (r.data, acl_lists(r.acl)) for rid, r in self.records.items() if not r.deleted
            },
        }

    def remember_point(self) -> None:
        """After a record write that is the newest write of all: a point to restore to."""
        if (
            self.collection_exists
            and self.list_ts is not None
            and self.list_ts == self.newest
            and all(at != self.list_ts for at, _ in self.points)
        ):
            self.points.append((self.list_ts, copy.deepcopy(self.state())))

    def check_list_etag(self, headers: Any) -> None:
        etag = header(headers, "ETag")
        assert etag is not None and etag.startswith('"'), headers
        value = int(etag.strip('"'))
        if self.list_ts is None:  # the first read of an empty list persists a timestamp
            assert not self.records
            self.list_ts = value
        assert value == self.list_ts, f"list ETag {value}, model {self.list_ts}"
        if self.records:  # the list timestamp is its greatest one, tombstones included
            assert value == max(r.last_modified for r in self.records.values())
        if value not in self.seen:
            self.seen.append(value)

    # -- predictions --

    def expect(self, op: Op) -> Expect:
        if not self.collection_exists and op.kind not in (
            "group_put",
            "group_delete",
            "coll_put",
            "coll_delete",
            "restore",
        ):
            # Deleted with its records and their ACLs. A write of a record under it is a
            # 404 errno 111 whoever asks, anonymous included (Kinto checks a write's missing
            # parent before authorisation); any other request passes the permission check
            # first, so only the bucket's owner learns that the collection is missing.
            if op.kind in RECORD_WRITES:
                return Expect(404, errno=111)
            if IDS["owner"] not in self.principals(op.user):
                return self.refusal(op)
            return Expect(404, errno=110 if op.kind in ("coll_perms", "coll_get") else 111)
        return getattr(self, f"expect_{op.kind}")(op)

    @staticmethod
    def refusal(op: Op) -> Expect:
        return Expect(401 if op.user is None else 403)

    def _if_match_fails(self, op: Op, current: Record | None) -> bool:
        value = op.headers.get("If-Match")
        if value is None:
            return False
        if current is None:
            return True
        return value != "*" and value != f'"{current.last_modified}"'

    def _object_check(
        self, op: Op, rid: str, principals: set[str]
    ) -> Callable[[dict[str, str], Any], None]:
        def check(headers: dict[str, str], body: Any) -> None:
            record = self.records[rid]
            assert body["data"] == record.body(rid), (str(op), body, record)
            shown = acl_lists(record.acl) if self.own_ace(record, principals, "write") else {}
            assert {k: sorted(v) for k, v in body["permissions"].items()} == shown, (
                str(op),
                body["permissions"],
                shown,
            )
            assert header(headers, "ETag") == f'"{record.last_modified}"', (str(op), headers)

        return check

    def _write(
        self, op: Op, rid: str, status: int, data: dict[str, Any] | None, acl: dict[str, set[str]]
    ) -> Expect:
        """A successful write of record ``rid``: the new data (None: tombstone) and ACL."""
        principals = self.principals(op.user)

        def check(headers: dict[str, str], body: Any) -> None:
            returned = body["data"]
            if rid not in POOL:  # a POST without id: the server picked it
                assert isinstance(returned.get("id"), str) and returned["id"] not in self.records
                real = returned["id"]
            else:
                real = rid
            self.bump(returned.get("last_modified"), str(op))
            if data is None:
                self.records[real] = Record({}, returned["last_modified"], deleted=True)
                assert returned == self.records[real].body(real), (str(op), body)
                assert "permissions" not in body, body
                assert header(headers, "ETag") == f'"{returned["last_modified"]}"'
                return
            final = {p: set(s) for p, s in acl.items() if s}
            final.setdefault("write", set()).add(self.writer(op.user))
            self.records[real] = Record(dict(data), returned["last_modified"], acl=final)
            self._object_check(op, real, principals)(headers, body)

        return Expect(status, check)

    def expect_get(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        record = self.live(op.rid)
        if record is None:
            return Expect(404) if self.coll_read(principals) else self.refusal(op)
        if not self.rec_read(record, principals):
            return self.refusal(op)
        if op.headers.get("If-None-Match") == f'"{record.last_modified}"':
            return Expect(304)
        assert op.rid is not None
        return Expect(200, self._object_check(op, op.rid, principals))

    def expect_put(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        assert op.rid is not None
        record = self.live(op.rid)
        star = op.headers.get("If-None-Match") == "*"
        if record is None or star:
            allowed = self.may_create(principals)
        else:
            allowed = self.rec_write(record, principals)
        if not allowed:
            return self.refusal(op)
        if (star and record is not None) or self._if_match_fails(op, record):
            return Expect(412)
        perms = op.body.get("permissions")
        if perms is not None:  # PUT with permissions replaces the whole ACL
            acl = {p: set(s) for p, s in perms.items()}
        else:
            acl = record.acl if record is not None else {}
        return self._write(op, op.rid, 200 if record else 201, op.body["data"], acl)

    def _writable(self, op: Op) -> Record | Expect:
        """The live record a PATCH or DELETE may write, or the error it gets instead."""
        principals = self.principals(op.user)
        assert op.rid is not None
        record = self.live(op.rid)
        if record is None:
            return Expect(404) if self.coll_read(principals) else self.refusal(op)
        if not self.rec_write(record, principals):
            return self.refusal(op)
        if self._if_match_fails(op, record):
            return Expect(412)
        return record

    def expect_patch(self, op: Op) -> Expect:
        record = self._writable(op)
        if isinstance(record, Expect):
            return record
        assert op.rid is not None
        data = {**record.data, **op.body.get("data", {})}
        acl = dict(record.acl)
        for perm, given in op.body.get("permissions", {}).items():
            if given is not None:
                acl[perm] = set(given)
            elif op.arg == "merge":
                acl.pop(perm, None)
        return self._write(op, op.rid, 200, data, acl)

    def expect_delete(self, op: Op) -> Expect:
        record = self._writable(op)
        if isinstance(record, Expect):
            return record
        assert op.rid is not None
        return self._write(op, op.rid, 200, None, {})

    def expect_post(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        rid = op.body["data"].get("id")
        record = self.live(rid)
        if record is not None:  # an existing id: 200 with it, for its readers
            if not self.rec_read(record, principals):
                return self.refusal(op)
            if op.headers.get("If-None-Match") == "*":
                return Expect(412)
            return Expect(200, self._object_check(op, rid, principals))
        if not self.may_create(principals):
            return self.refusal(op)
        data = {k: v for k, v in op.body["data"].items() if k != "id"}
        return self._write(op, rid or "<generated>", 201, data, {})

    def expect_coll_perms(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        if not self.coll_write(principals):
            return self.refusal(op)

        def check(headers: dict[str, str], body: Any) -> None:
            self.written(body["data"]["last_modified"])
            for perm, given in op.body["permissions"].items():
                self.coll_acl[perm] = set(given)
            self.coll_acl.setdefault("write", set()).add(self.writer(op.user))
            assert body["data"]["id"] == "c", body
            assert {k: sorted(v) for k, v in body["permissions"].items()} == acl_lists(
                self.coll_acl
            ), (str(op), body)

        return Expect(200, check)

    def expect_coll_get(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        if not self.coll_attributes(principals):
            return self.refusal(op)

        def check(headers: dict[str, str], body: Any) -> None:
            assert body["data"]["id"] == "c", body
            shown = acl_lists(self.coll_acl) if self._coll(principals, "write") else {}
            assert {k: sorted(v) for k, v in body["permissions"].items()} == shown, (str(op), body)

        return Expect(200, check)

    def expect_coll_delete(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        if not self.collection_exists:
            return Expect(404) if IDS["owner"] in principals else self.refusal(op)
        if not self.coll_write(principals):
            return self.refusal(op)

        def check(headers: dict[str, str], body: Any) -> None:
            # Children are hard-deleted: no tombstones, no ACLs, no list timestamp (§2.4).
            assert body["data"]["id"] == "c" and body["data"]["deleted"] is True, body
            self.written(body["data"]["last_modified"])
            self.collection_exists = False
            self.coll_acl = {}
            self.records = {}
            self.list_ts = None

        return Expect(200, check)

    def expect_coll_put(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        if self.collection_exists:
            allowed = self.coll_write(principals)
        else:
            allowed = IDS["owner"] in principals  # collection:create on the bucket
        if not allowed:
            return self.refusal(op)
        exists = self.collection_exists

        def check(headers: dict[str, str], body: Any) -> None:
            self.written(body["data"]["last_modified"])
            self.collection_exists = True
            self.coll_acl.setdefault("write", set()).add(self.writer(op.user))
            assert body["data"]["id"] == "c", body
            assert {k: sorted(v) for k, v in body["permissions"].items()} == acl_lists(
                self.coll_acl
            ), (str(op), body)

        return Expect(200 if exists else 201, check)

    def expect_group_put(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        exists = self.group_members is not None
        writes = IDS["owner"] in principals or bool(self.group_acl.get("write", set()) & principals)
        if not (writes if exists else IDS["owner"] in principals):
            return self.refusal(op)

        def check(headers: dict[str, str], body: Any) -> None:
            self.group_members = list(op.body["data"]["members"])
            if not exists:
                self.group_acl = {}
            self.group_acl.setdefault("write", set()).add(self.writer(op.user))
            assert body["data"]["members"] == self.group_members, body

        return Expect(200 if exists else 201, check)

    def expect_group_delete(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        if self.group_members is None:
            return Expect(404) if IDS["owner"] in principals else self.refusal(op)
        if not (IDS["owner"] in principals or self.group_acl.get("write", set()) & principals):
            return self.refusal(op)

        def check(headers: dict[str, str], body: Any) -> None:
            self.group_members = None
            self.group_acl = {}
            assert body["data"]["deleted"] is True, body

        return Expect(200, check)

    def _visible(self, principals: set[str], since: int | None) -> list[dict[str, Any]] | None:
        """What a list (since=None) or a ``_since`` poll shows; None: refused (§6.5)."""
        everything = self.coll_read(principals)
        readable = [
            rid
            for rid, r in self.records.items()
            if not r.deleted and (everything or self.own_ace(r, principals, "read", "write"))
        ]
        if since is None:
            shown = readable
        elif everything:  # tombstones included
            shown = [rid for rid, r in self.records.items() if r.last_modified > since]
        else:  # a deleted record's ACL is gone: its tombstone is invisible (§2.4)
            shown = [rid for rid in readable if self.records[rid].last_modified > since]
        if not everything and not readable and not self.may_create(principals):
            return None
        shown.sort(key=lambda rid: -self.records[rid].last_modified)
        return [self.records[rid].body(rid) for rid in shown]

    def expect_list(self, op: Op) -> Expect:
        visible = self._visible(self.principals(op.user), op.arg)
        if visible is None:
            return self.refusal(op)
        inm = op.headers.get("If-None-Match")
        if inm is not None and self.list_ts is not None and inm == f'"{self.list_ts}"':
            return Expect(304, lambda headers, body: self.check_list_etag(headers))

        def check(headers: dict[str, str], body: Any) -> None:
            self.check_list_etag(headers)
            if op.method == "HEAD":
                assert body == "", body
                assert header(headers, "Total-Objects") == str(len(visible)), (str(op), headers)
                return
            assert list(body) == ["data"], body  # no permissions in plural responses
            assert body["data"] == visible, (str(op), body["data"], visible)
            stamps = [obj["last_modified"] for obj in body["data"]]
            assert stamps == sorted(set(stamps), reverse=True), stamps

        return Expect(200, check)

    def expect_delete_all(self, op: Op) -> Expect:
        principals = self.principals(op.user)
        everything = self.coll_write(principals)
        targets = [
            rid
            for rid, r in self.records.items()
            if not r.deleted and (everything or self.own_ace(r, principals, "write"))
        ]
        if not targets and not everything and not self.may_create(principals):
            return self.refusal(op)

        def check(headers: dict[str, str], body: Any) -> None:
            got = body["data"]
            assert sorted(t["id"] for t in got) == sorted(targets), (str(op), got, targets)
            stamps = [t["last_modified"] for t in got]
            assert len(set(stamps)) == len(stamps), stamps
            for tombstone in sorted(got, key=lambda t: t["last_modified"]):
                self.bump(tombstone["last_modified"], str(op))
                rid = tombstone["id"]
                self.records[rid] = Record({}, tombstone["last_modified"], deleted=True)
                assert tombstone == self.records[rid].body(rid), tombstone
            if got:
                assert header(headers, "ETag") == f'"{max(stamps)}"', headers

        return Expect(200, check)

    def expect_restore(self, op: Op) -> Expect:
        """The collection and its records back to a point (history plugin, issue 13):
        afterwards the live records, their ACLs and the collection's ACL are those of
        that point, written with new timestamps."""
        principals = self.principals(op.user)
        allowed = (
            self.coll_write(principals) if self.collection_exists else IDS["owner"] in principals
        )
        if not allowed:
            return self.refusal(op)
        at, then = op.arg

        def check(headers: dict[str, str], body: Any) -> None:
            answer = body["data"]
            assert answer["at"] == at and answer["dry_run"] is False, body
            for change in answer["changes"]:
                written = change["target"]["data"]
                acl = {p: set(v) for p, v in change["target"]["permissions"].items()}
                if change["resource_name"] == "collection":
                    self.written(written["last_modified"])
                    self.collection_exists = True
                    self.coll_acl = acl
                    continue
                assert change["resource_name"] == "record", change
                self.bump(written["last_modified"], str(op))
                rid = change["id"]
                if change["action"] == "delete":
                    self.records[rid] = Record({}, written["last_modified"], deleted=True)
                else:
                    data = {k: v for k, v in written.items() if k not in ("id", "last_modified")}
                    self.records[rid] = Record(data, written["last_modified"], acl=acl)
            assert self.state() == then, (str(op), self.state(), then)

        return Expect(200, check)

    # -- checking one answer --

    def check(self, op: Op, status: int, headers: Any, body: Any) -> None:
        expected = self.expect(op)
        STATS[f"{op.kind} {op.method} -> {status}"] += 1
        assert status == expected.status, (
            f"{op}: got {status}, model expects {expected.status}: {body}"
        )
        if status >= 400:
            if op.method == "HEAD":  # no body
                return
            errno = expected.errno or ERRNO[status]
            assert body["code"] == status and body["errno"] == errno, (str(op), body)
            if (
                status == 412
                and op.rid is not None
                and self.live(op.rid) is not None
                and op.kind != "post"
            ):
                assert body["details"]["existing"] == self.records[op.rid].body(op.rid), body
            return
        if expected.check is not None:
            expected.check(headers, body)
        if status < 300 and op.method != "GET" and op.kind != "restore":
            self.remember_point()


# -- what Hypothesis draws ---------------------------------------------------------------

# Writes come mostly from the owner, so that alice, bob and anonymous have records and
# grants to meet; reads mostly from the others.
users = st.sampled_from(["owner", "owner", "owner", "alice", "alice", "bob", None])
readers = st.sampled_from(["owner", "alice", "alice", "bob", "bob", None])
record_ids = st.sampled_from(POOL)
values = st.integers(0, 9)
grantees = st.lists(
    st.sampled_from([IDS["alice"], IDS["alice"], IDS["bob"], GROUP, AUTHENTICATED, EVERYONE]),
    min_size=1,
    max_size=2,
    unique=True,
) | st.just([])
members = st.lists(
    st.sampled_from([IDS["alice"], IDS["bob"], AUTHENTICATED]), max_size=2, unique=True
)
record_perms = st.sampled_from(["read", "write"])
collection_perms = st.sampled_from(["read", "write", "record:create"])
if_match = st.sampled_from([None, None, "current", "stale", "star"])


def if_match_header(model: Model, rid: str, how: str | None) -> dict[str, str]:
    record = model.live(rid)
    if how is None:
        return {}
    if how == "star":
        return {"If-Match": "*"}
    current = record.last_modified if record else (model.list_ts or 1)
    return {"If-Match": f'"{current if how == "current" else current - 1}"'}


# Each builder: (model, drawn arguments) -> Op, so that If-Match values and ``_since``
# timestamps come from the model state when the request is built.


def build_put(
    model: Model,
    user: str | None,
    rid: str,
    value: int,
    perms: dict[str, list[str]] | None,
    how: str | None,
) -> Op:
    body: dict[str, Any] = {"data": {"v": value}}
    if perms is not None:
        body["permissions"] = perms
    headers = {"If-None-Match": "*"} if how == "create" else if_match_header(model, rid, how)
    return Op("put", user, "PUT", f"{RECORDS}/{rid}", body, headers, rid)


def build_patch(model: Model, user: str | None, rid: str, value: int, how: str | None) -> Op:
    return Op(
        "patch",
        user,
        "PATCH",
        f"{RECORDS}/{rid}",
        {"data": {"w": value}},
        if_match_header(model, rid, how),
        rid,
    )


def build_record_perms(
    model: Model,
    user: str | None,
    rid: str,
    perm: str,
    principals: list[str] | None,
    merge: bool = False,
) -> Op:
    """PATCH one permission: a list replaces it; null is ignored in ``application/json``
    and clears it in ``application/merge-patch+json`` (§2.5)."""
    headers = {"Content-Type": "application/merge-patch+json"} if merge else {}
    return Op(
        "patch",
        user,
        "PATCH",
        f"{RECORDS}/{rid}",
        {"permissions": {perm: principals}},
        headers,
        rid,
        arg="merge" if merge else None,
    )


def build_delete(model: Model, user: str | None, rid: str, how: str | None) -> Op:
    return Op(
        "delete", user, "DELETE", f"{RECORDS}/{rid}", None, if_match_header(model, rid, how), rid
    )


def build_get(model: Model, user: str | None, rid: str, not_modified: bool) -> Op:
    record = model.live(rid)
    headers = {"If-None-Match": f'"{record.last_modified}"'} if record and not_modified else {}
    return Op("get", user, "GET", f"{RECORDS}/{rid}", None, headers, rid)


def build_post(model: Model, user: str | None, rid: str | None, value: int, star: bool) -> Op:
    data: dict[str, Any] = {"v": value}
    if rid is not None:
        data["id"] = rid
    return Op(
        "post", user, "POST", RECORDS, {"data": data}, {"If-None-Match": "*"} if star else {}, rid
    )


def build_coll_perms(
    model: Model,
    user: str | None,
    perm: str | dict[str, list[str]],
    principals: list[str] | None = None,
) -> Op:
    perms = perm if isinstance(perm, dict) else {perm: principals}
    return Op("coll_perms", user, "PATCH", COLLECTION, {"permissions": perms})


def build_coll_get(model: Model, user: str | None) -> Op:
    return Op("coll_get", user, "GET", COLLECTION)


def build_list(model: Model, user: str | None, not_modified: bool, head: bool = False) -> Op:
    headers = {"If-None-Match": f'"{model.list_ts}"'} if not_modified and model.list_ts else {}
    return Op("list", user, "HEAD" if head else "GET", RECORDS, None, headers)


def build_since(model: Model, user: str | None, pick: int) -> Op:
    since = ([0, *model.seen])[pick % (len(model.seen) + 1)]
    return Op("list", user, "GET", f"{RECORDS}?_since={since}", arg=since)


def build_restore(model: Model, user: str | None, pick: int) -> Op:
    at, then = model.points[pick % len(model.points)]
    return Op(
        "restore", user, "POST", f"{COLLECTION}/restore", {"data": {"at": at}}, arg=(at, then)
    )


def build_delete_all(model: Model, user: str | None) -> Op:
    return Op("delete_all", user, "DELETE", RECORDS)


def build_coll_delete(model: Model, user: str | None) -> Op:
    return Op("coll_delete", user, "DELETE", COLLECTION)


def build_coll_put(model: Model, user: str | None) -> Op:
    return Op("coll_put", user, "PUT", COLLECTION, {"data": {}})


def build_group_put(model: Model, user: str | None, group: list[str]) -> Op:
    return Op("group_put", user, "PUT", GROUP, {"data": {"members": group}})


def build_group_delete(model: Model, user: str | None) -> Op:
    return Op("group_delete", user, "DELETE", GROUP)


record_acls = st.fixed_dictionaries({"read": grantees}, optional={"write": grantees})
put_args = st.tuples(
    users,
    record_ids,
    values,
    st.none() | record_acls,
    st.sampled_from([None, None, "current", "stale", "create"]),
)
patch_args = st.tuples(readers, record_ids, values, if_match)
record_perms_args = st.tuples(users, record_ids, record_perms, grantees | st.none())
delete_args = st.tuples(readers, record_ids, if_match)
get_args = st.tuples(readers, record_ids, st.booleans())
post_args = st.tuples(users, st.none() | record_ids, values, st.booleans())
coll_perms_args = st.tuples(users, collection_perms, grantees)
list_args = st.tuples(readers, st.booleans(), st.sampled_from([False, False, True]))
since_args = st.tuples(readers, st.integers(0, 50))

# What a batch subrequest may be: everything but group changes (a batch shares the
# caller's principals between its subrequests, as Kinto does) and plural DELETE.
batchable = st.one_of(
    st.tuples(st.just(build_put), put_args),
    st.tuples(st.just(build_patch), patch_args),
    st.tuples(st.just(build_record_perms), record_perms_args),
    st.tuples(st.just(build_delete), delete_args),
    st.tuples(st.just(build_get), get_args),
    st.tuples(st.just(build_post), post_args),
    st.tuples(st.just(build_coll_perms), coll_perms_args),
    st.tuples(st.just(build_coll_get), st.tuples(readers)),
    st.tuples(st.just(build_list), list_args),
    st.tuples(st.just(build_since), since_args),
)


# -- the state machine -------------------------------------------------------------------


def make_machine(app: webtest.TestApp, url: str) -> type[RuleBasedStateMachine]:
    from kinto_clone import migration

    class KintoModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            migration.empty_tables(url)
            self.app = app
            self.model = Model()
            owner = auth("owner")
            app.put_json(f"/v1{BUCKET}", {}, headers=owner, status=201)
            app.put_json(f"/v1{COLLECTION}", {}, headers=owner, status=201)

        def send(self, op: Op) -> None:
            headers = {**(auth(op.user) if op.user else {}), **op.headers}
            url = f"/v1{op.path}"
            if op.body is None:
                resp = self.app.request(url, method=op.method, headers=headers, expect_errors=True)
            else:
                content_type = headers.pop("Content-Type", "application/json")
                resp = getattr(self.app, f"{op.method.lower()}_json")(
                    url, op.body, headers=headers, content_type=content_type, expect_errors=True
                )
            body = resp.json if resp.body else ""
            self.model.check(op, resp.status_int, resp.headers, body)

        @initialize(
            grants=st.dictionaries(collection_perms, grantees, max_size=2),
            group=st.none() | members,
            records=st.dictionaries(record_ids, record_acls, max_size=len(POOL)),
        )
        def share(
            self,
            grants: dict[str, list[str]],
            group: list[str] | None,
            records: dict[str, dict[str, list[str]]],
        ) -> None:
            """Each example starts from a different sharing: collection ACL, group g, some
            records with their own ACLs."""
            if grants:
                self.send(build_coll_perms(self.model, "owner", grants))
            if group is not None:
                self.send(build_group_put(self.model, "owner", group))
            for rid, acl in records.items():
                self.send(build_put(self.model, "owner", rid, 0, acl, None))

        @rule(args=put_args)
        def put(self, args: tuple[Any, ...]) -> None:
            self.send(build_put(self.model, *args))

        @rule(args=patch_args)
        def patch(self, args: tuple[Any, ...]) -> None:
            self.send(build_patch(self.model, *args))

        @rule(args=record_perms_args)
        def record_perms(self, args: tuple[Any, ...]) -> None:
            self.send(build_record_perms(self.model, *args))

        @rule(args=record_perms_args)
        def record_perms_merge_patch(self, args: tuple[Any, ...]) -> None:
            self.send(build_record_perms(self.model, *args, merge=True))

        @rule(args=delete_args)
        def delete(self, args: tuple[Any, ...]) -> None:
            self.send(build_delete(self.model, *args))

        @rule(args=get_args)
        def get(self, args: tuple[Any, ...]) -> None:
            self.send(build_get(self.model, *args))

        @rule(args=post_args)
        def post(self, args: tuple[Any, ...]) -> None:
            self.send(build_post(self.model, *args))

        @rule(args=coll_perms_args)
        def collection_perms(self, args: tuple[Any, ...]) -> None:
            self.send(build_coll_perms(self.model, *args))

        @rule(user=readers)
        def collection_get(self, user: str | None) -> None:
            self.send(build_coll_get(self.model, user))

        @rule(
            user=st.sampled_from(["owner", "alice", None]),
            recreate=st.sampled_from([True, True, True, False]),
        )
        def collection_delete(self, user: str | None, recreate: bool) -> None:
            """Delete collection c (hard-deleting its records), mostly re-creating it."""
            self.send(build_coll_delete(self.model, user))
            if recreate:
                self.send(build_coll_put(self.model, "owner"))

        @rule(user=st.sampled_from(["owner", "owner", "alice", None]))
        def collection_put(self, user: str | None) -> None:
            self.send(build_coll_put(self.model, user))

        @rule(user=st.sampled_from(["owner", "owner", "alice"]), group=members)
        def group_put(self, user: str | None, group: list[str]) -> None:
            self.send(build_group_put(self.model, user, group))

        @rule(user=st.sampled_from(["owner", "owner", "bob", None]))
        def group_delete(self, user: str | None) -> None:
            self.send(build_group_delete(self.model, user))

        @rule(args=list_args)
        def list_records(self, args: tuple[Any, ...]) -> None:
            self.send(build_list(self.model, *args))

        @rule(args=since_args)
        def since(self, args: tuple[Any, ...]) -> None:
            self.send(build_since(self.model, *args))

        @rule(user=st.sampled_from(["owner", "owner", "alice", None]), pick=st.integers(0, 50))
        def restore(self, user: str | None, pick: int) -> None:
            if self.model.points:
                self.send(build_restore(self.model, user, pick))

        @rule(user=st.sampled_from(["alice", "bob", None, "owner"]))
        def delete_all(self, user: str | None) -> None:
            self.send(build_delete_all(self.model, user))

        @rule(batch_user=users, data=st.data())
        def batch(self, batch_user: str | None, data: st.DataObject) -> None:
            count = data.draw(st.integers(2, 3), label="count")
            ops: list[Op] = []
            for _ in range(count):
                builder, args = data.draw(batchable, label="subrequest")
                if batch_user is not None and args[0] is None:
                    args = (batch_user, *args[1:])  # inherited credentials: no anonymous
                ops.append(builder(self.model, *args))
            requests = []
            for op in ops:
                headers = dict(op.headers)
                if op.user != batch_user:
                    headers.update(auth(op.user) if op.user else {})
                sub: dict[str, Any] = {"method": op.method, "path": op.path}
                if headers:
                    sub["headers"] = headers
                if op.body is not None:
                    sub["body"] = op.body
                requests.append(sub)
            resp = self.app.post_json(
                "/v1/batch",
                {"requests": requests},
                headers=auth(batch_user) if batch_user else {},
                status=200,
            )
            STATS[f"batch of {len(ops)}"] += 1
            responses = resp.json["responses"]
            assert len(responses) == len(ops)
            for op, sub in zip(ops, responses, strict=True):
                assert sub["path"] == f"/v1{op.path.split('?')[0]}", sub
                self.model.check(op, sub["status"], sub["headers"], sub["body"])

    return KintoModel


@pytest.fixture(params=["sqlite", "postgresql"])
def model_backend(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The database URL of the run (the suite's ``backend`` fixture also offers memory)."""
    if request.param not in selected_backends():
        pytest.skip(f"{request.param} not in KINTO_CLONE_TEST_BACKENDS")
    from kinto_clone import migration

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/model.sqlite"
        migration.upgrade(url)
        return url
    return str(request.getfixturevalue("postgresql_url"))


def test_random_request_sequences_follow_the_model(model_backend: str) -> None:
    from kinto_clone import main

    backend = {
        "storage_backend": "kinto_clone.storage.sql",
        "storage_url": model_backend,
        "permission_backend": "kinto_clone.permission.sql",
        "permission_url": model_backend,
    }
    # With history: restores (issue 13) are among the requests.
    plugins = f"{DEFAULT_SETTINGS['includes']} kinto_clone.plugins.history"
    # The model is Kinto's rules: without access-revoked tombstones (tests of their own in
    # tests/functional/test_revocations.py), as Kinto answers.
    kinto = {"revocation_tombstones": False}
    wsgi = main({}, **{**DEFAULT_SETTINGS, **backend, **kinto, "includes": plugins})
    try:
        run_state_machine_as_test(
            make_machine(webtest.TestApp(wsgi), model_backend),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                phases=PHASES,
                print_blob=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        wsgi.registry.kinto_clone_close()
        print(f"\n{model_backend.split(':')[0]}: answers seen by kind, method and status")
        for line, count in sorted(STATS.items()):
            print(f"  {count:6d}  {line}")
        STATS.clear()
