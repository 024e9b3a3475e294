"""Random request sequences for the differential test, from a seed, knowing nothing of answers.

A sequence is a list of ``Step``s. It is generated up front from ``random.Random(seed)``,
so a seed names a sequence exactly and a failure can be replayed. Values only a server
knows are placeholders, resolved by each server's own client from its own earlier answers
(``runner.Client.resolve``):

- ``{ts:K}``: the K-th latest timestamp that server has shown (ETags, ``last_modified``);
- ``{etag}`` (If-Match / If-None-Match): the last timestamp seen of the step's own object;
- ``{id:K}``: the K-th latest server-generated id it has shown;
- the path ``{next}``: that server's last ``Next-Page`` URL.

What is covered: buckets, groups, collections and records, plural and single, every method
(the ones a resource does not have too), JSON merge and JSON-patch PATCH bodies, ACLs with
three users, a group, ``system.Everyone`` and ``system.Authenticated``, anonymous callers,
``_since``/``_before``/``_to``/``_sort``/filters/``_fields``/``_limit``/``Next-Page``,
If-Match and If-None-Match, ``/batch``, the personal bucket (``/buckets/default``, and the
same bucket by its id), ``/permissions``, the root and heartbeat URLs, and bad input of
every kind: bad ids, bad JSON, wrong or missing Content-Type, bad and empty querystring
values, bad ACLs, bad headers.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from tests.support import default_bucket_id, userid

USERS = ("alice", "bob", "carol")
# The personal bucket ids as Kinto derives them, with the shared HMAC secret.
PERSONAL = {user: default_bucket_id(userid(user), "test-secret") for user in USERS}

NO_BODY = object()  # a step without a body (``body=None`` is the JSON ``null``)


@dataclasses.dataclass
class Step:
    """One request: ``path`` is relative to ``/v1``; ``user`` None is anonymous."""

    method: str
    path: str
    user: str | None = "alice"
    query: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: Any = NO_BODY
    raw: str | None = None  # a body sent as this text instead of JSON
    content_type: str | None = "application/json"
    in_batch: bool = False  # a subrequest of /batch (judged in allowed.sub_exchange)

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query)
        who = self.user or "anonymous"
        line = f"{self.method} {self.path}{'?' + query if query else ''} as {who}"
        for name, value in self.headers.items():
            line += f"\n    {name}: {value}"
        if self.body is not NO_BODY or self.raw is not None:
            line += f"\n    Content-Type: {self.content_type}"
            line += f"\n    body: {self.raw if self.raw is not None else self.body!r}"
        return line


def principals(rnd: random.Random) -> list[Any]:
    pool: list[Any] = [
        "system.Everyone",
        "system.Authenticated",
        userid("alice"),
        userid("bob"),
        userid("carol"),
        "/buckets/b1/groups/g1",
    ]
    return rnd.sample(pool, rnd.randint(0, 3))


BAD_PERMISSIONS: list[Any] = [
    {"read": "system.Everyone"},
    {"read": [1]},
    {"bogus": ["system.Everyone"]},
    {"read": None},
    {"collection:create": None},
    {"read": [""]},
    "read",
    None,
]
BAD_IDS = ["a$", "*", "be*", "b e", "é", "__files__", "beer'", "x" * 300, "-a", "a.b"]
BAD_JSON = ["{", '{"data": ', "[1,", "nul", '{"data": {"n": 1}}}', "\x00", ""]


class Generator:
    """``sequence(seed, steps)``: a reproducible list of ``steps`` random steps."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def sequence(self, steps: int) -> list[Step]:
        # Most sequences start from a bucket and a collection of alice's, so that the random
        # steps mostly meet objects that exist; the shrinker removes them when not needed.
        prologue = []
        if self.rnd.random() < 0.85:
            prologue += [
                self.world("/buckets/b1", {}),
                self.world("/buckets/b1/collections/c1", {}),
            ]
        prologue += [self.create_world() for _ in range(self.rnd.randint(0, 4))]
        return (prologue + [self.step() for _ in range(steps)])[:steps]

    # -- names ---------------------------------------------------------------------------
    def user(self) -> str | None:
        return self.rnd.choice(["alice", "alice", "bob", "carol", None])

    def bucket(self) -> str:
        r = self.rnd.random()
        if r < 0.6:
            return "b1"
        if r < 0.75:
            return "default"
        if r < 0.82:
            return PERSONAL[self.rnd.choice(USERS)]
        if r < 0.92:
            return "b2"
        return self.rnd.choice(BAD_IDS)

    def name(self, pool: tuple[str, ...], bad: float = 0.05) -> str:
        r = self.rnd.random()
        if r < bad:
            return self.rnd.choice(BAD_IDS)
        if r < bad + 0.1:
            return f"{{id:{self.rnd.randint(0, 2)}}}"
        return self.rnd.choice(pool)

    def path(self, kind: str) -> str:
        b = f"/buckets/{self.bucket()}"
        if kind == "buckets":
            return "/buckets"
        if kind == "bucket":
            return b
        if kind == "groups":
            return f"{b}/groups"
        if kind == "group":
            return f"{b}/groups/{self.name(('g1', 'g2'))}"
        c = f"{b}/collections/{self.name(('c1', 'c1', 'c2'))}"
        if kind == "collections":
            return f"{b}/collections"
        if kind == "collection":
            return c
        if kind == "records":
            return f"{c}/records"
        return f"{c}/records/{self.name(('r1', 'r2', 'r3'))}"

    # -- bodies --------------------------------------------------------------------------
    def data(self, kind: str) -> dict[str, Any]:
        if kind in ("group", "groups"):
            data: dict[str, Any] = {}
            if self.rnd.random() < 0.8:
                data["members"] = principals(self.rnd)
        else:
            data = {}
            for field in self.rnd.sample(["n", "s", "tag", "o"], self.rnd.randint(0, 3)):
                data[field] = self.value(field)
        if self.rnd.random() < 0.15:
            data["id"] = self.rnd.choice(["r1", "c1", "g1", "b1", "other", *BAD_IDS[:4]])
        if self.rnd.random() < 0.05:
            data["last_modified"] = self.rnd.choice([1, "x", "{ts:0}"])
        return data

    def value(self, field: str) -> Any:
        if field == "n":
            return self.rnd.choice([0, 1, 2, 3, -1, 2.5, None, "2"])
        if field == "s":
            return self.rnd.choice(["a", "b", "ab", "", "A", "é", "a\u0000"])
        if field == "tag":
            return self.rnd.sample(["x", "y", "z"], self.rnd.randint(0, 2))
        return {"k": self.rnd.choice([1, "v", None])}

    def permissions(self, kind: str) -> Any:
        if self.rnd.random() < 0.1:
            return self.rnd.choice(BAD_PERMISSIONS)
        names = {
            "bucket": ["read", "write", "collection:create", "group:create"],
            "collection": ["read", "write", "record:create"],
        }.get(kind.rstrip("s"), ["read", "write"])
        return {p: principals(self.rnd) for p in self.rnd.sample(names, self.rnd.randint(1, 2))}

    def body(self, kind: str, step: Step) -> None:
        r = self.rnd.random()
        if r < 0.06:
            step.raw = self.rnd.choice(BAD_JSON)
        elif r < 0.1:
            step.body = self.rnd.choice([None, [], [1], "x", {"data": "x"}, {"data": None}])
        else:
            body: dict[str, Any] = {}
            if self.rnd.random() < 0.9:
                body["data"] = self.data(kind)
            if self.rnd.random() < 0.35:
                body["permissions"] = self.permissions(kind)
            step.body = body
        r = self.rnd.random()
        if r < 0.04:
            step.content_type = self.rnd.choice(["text/plain", "application/x-www-form-urlencoded"])
        elif r < 0.07:
            step.content_type = None

    def json_patch(self, step: Step) -> None:
        ops = []
        for _ in range(self.rnd.randint(1, 3)):
            op = self.rnd.choice(["add", "replace", "remove", "test", "move", "bad"])
            target = self.rnd.choice(
                [
                    "/data/n",
                    "/data/s",
                    "/data/tag/0",
                    "/data/tag/-",
                    "/permissions/read/0",
                    "/permissions/write/-",
                    "/data/id",
                    "/permissions/read",
                    "/nope",
                    "data",
                ]
            )
            item: dict[str, Any] = {"op": op, "path": target}
            if op in ("add", "replace", "test"):
                item["value"] = self.rnd.choice(
                    [1, "a", ["x"], "system.Everyone", userid("bob"), None]
                )
            if op == "move":
                item["from"] = "/data/s"
            ops.append(item)
        step.body = ops
        step.content_type = "application/json-patch+json"

    # -- querystrings and headers --------------------------------------------------------
    def query(self, plural: bool) -> list[tuple[str, str]]:
        if self.rnd.random() < 0.5:
            return []
        out: list[tuple[str, str]] = []
        for _ in range(self.rnd.randint(1, 3)):
            if plural:
                out.append(self.rnd.choice(self.list_params()))
            else:
                out.append(self.rnd.choice([("_fields", "n"), ("_fields", "s,n"), ("x", "1")]))
        return out

    def list_params(self) -> list[tuple[str, str]]:
        ts = f"{{ts:{self.rnd.randint(0, 3)}}}"
        good = [
            ("_since", ts),
            ("_before", ts),
            ("_to", ts),
            ("last_modified", ts),
            ("gt_last_modified", ts),
            ("_sort", "n"),
            ("_sort", "-n,s"),
            ("_sort", "-last_modified"),
            ("_sort", "id"),
            ("_fields", "n"),
            ("_fields", "s,tag"),
            ("_limit", "1"),
            ("_limit", "2"),
            ("n", "1"),
            ("gt_n", "0"),
            ("min_n", "1"),
            ("max_n", "2"),
            ("lt_n", "3"),
            ("not_n", "1"),
            ("in_n", "1,2"),
            ("exclude_n", "1"),
            ("like_s", "a"),
            ("like_s", "*b"),
            ("has_s", "true"),
            ("has_n", "false"),
            ("contains_tag", "x"),
            ("contains_any_tag", "x,y"),
            ("s", "a"),
            ("id", "r1"),
            ("in_id", "r1,r2"),
            ("eq_s", "a"),
            ("o.k", "1"),
        ]
        bad = [
            ("_since", "abc"),
            ("_before", ""),
            ("_since", ""),
            ("_to", ""),
            ("last_modified", ""),
            ("id", ""),
            ("_limit", "-1"),
            ("_limit", "abc"),
            ("_limit", "1.5"),
            ("_limit", ""),
            ("_sort", ""),
            ("_fields", ""),
            ("_token", "abc"),
            ("_token", ""),
            ("gt_n", ""),
            ("in_n", ""),
            ("n", ""),
            ("exclude_id", ""),
            ("like_s", ""),
            ("not_n", ""),
            ("min_n", ""),
            ("_since", "1.5"),
            ("has_s", "maybe"),
            ("_sort", "a$"),
            ("_fields", "a$"),
            ("_bogus", "1"),
        ]
        return good if self.rnd.random() < 0.75 else bad

    def preconditions(self, step: Step, write: bool) -> None:
        r = self.rnd.random()
        if r < 0.15:
            step.headers["If-Match"] = self.rnd.choice(
                ['"{etag}"', '"{etag}"', '"{ts:1}"', '"123"', "*", "abc", '"0"', ""]
            )
        elif r < 0.25:
            step.headers["If-None-Match"] = self.rnd.choice(['"{etag}"', "*", "abc", '"{ts:0}"'])

    # -- steps ---------------------------------------------------------------------------
    def world(self, path: str, data: dict[str, Any]) -> Step:
        body: dict[str, Any] = {"data": data}
        if self.rnd.random() < 0.5:
            body["permissions"] = {
                self.rnd.choice(["read", "write"]): principals(self.rnd) or ["system.Everyone"]
            }
        return Step("PUT", path, user="alice", body=body)

    def create_world(self) -> Step:
        kind = self.rnd.choice(["bucket", "collection", "collection", "group", "record", "record"])
        step = Step("PUT", self.path(kind), user="alice")
        body: dict[str, Any] = {"data": self.data(kind) if kind != "bucket" else {}}
        if self.rnd.random() < 0.5:
            body["permissions"] = {"read": principals(self.rnd)}
        body["data"].pop("id", None)
        body["data"].pop("last_modified", None)
        step.body = body
        return step

    def step(self) -> Step:
        r = self.rnd.random()
        if r < 0.08:
            return self.batch()
        if r < 0.12:
            return self.misc()
        if r < 0.16:
            return Step("GET", "{next}", user=self.user())
        kind = self.rnd.choice(
            [
                "buckets",
                "bucket",
                "groups",
                "group",
                "collections",
                "collection",
                "records",
                "records",
                "record",
                "record",
                "record",
            ]
        )
        return self.on(kind)

    def on(self, kind: str) -> Step:
        plural = kind.endswith("s")
        methods = ["GET", "GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"]
        if not plural:
            methods += ["PUT", "PUT", "PATCH", "GET", "DELETE"]
        method = self.rnd.choice(methods)
        step = Step(method, self.path(kind), user=self.user())
        if self.rnd.random() < 0.03:
            step.path += "/"  # the trailing-slash redirect
        step.query = self.query(plural or method in ("GET", "HEAD") and self.rnd.random() < 0.2)
        if method in ("POST", "PUT", "PATCH"):
            if method == "PATCH" and not plural and self.rnd.random() < 0.25:
                self.json_patch(step)
            else:
                self.body(kind, step)
                if method == "PATCH" and self.rnd.random() < 0.2:
                    step.content_type = "application/merge-patch+json"
        self.preconditions(step, method not in ("GET", "HEAD"))
        return step

    def misc(self) -> Step:
        user = self.user()
        choice = self.rnd.choice(
            [
                ("GET", "/"),
                ("GET", "/__heartbeat__"),
                ("GET", "/__lbheartbeat__"),
                ("GET", "/permissions"),
                ("HEAD", "/permissions"),
                ("GET", "/batch"),
                ("GET", "/nowhere"),
                ("GET", "/buckets/default"),
                ("DELETE", "/buckets"),
                ("GET", "/__version__"),
                ("GET", "/contribute.json"),
            ]
        )
        step = Step(choice[0], choice[1], user=user)
        if choice[1] == "/permissions":
            step.query = self.rnd.choice(
                [
                    [],
                    [("resource_name", "record")],
                    [("bucket_id", "b1")],
                    [("_limit", "1")],
                    [("_sort", "id")],
                    [("_since", "1")],
                ]
            )
        return step

    def batch(self) -> Step:
        requests = []
        for _ in range(self.rnd.randint(1, 4)):
            sub = self.on(self.rnd.choice(["records", "record", "record", "collection", "group"]))
            item: dict[str, Any] = {"method": sub.method, "path": sub.path}
            if sub.query:
                item["path"] += "?" + "&".join(f"{k}={v}" for k, v in sub.query)
            if sub.body is not NO_BODY and sub.raw is None:
                item["body"] = sub.body
            if sub.headers and "{etag}" not in str(sub.headers):
                item["headers"] = sub.headers
            if sub.user != "alice" and self.rnd.random() < 0.3:
                from tests.support import auth

                item.setdefault("headers", {}).update(auth(sub.user) if sub.user else {})
            requests.append(item)
        body: dict[str, Any] = {"requests": requests}
        if self.rnd.random() < 0.3:
            body["defaults"] = self.rnd.choice(
                [
                    {"method": "PUT"},
                    {"body": {"data": {"n": 1}}},
                    {"path": "/buckets/b1"},
                    {"bogus": 1},
                ]
            )
        if self.rnd.random() < 0.05:
            body = self.rnd.choice([{"requests": []}, {"requests": "x"}, {}, {"requests": [{}]}])
        step = Step("POST", "/batch", user=self.user(), body=body)
        return step
