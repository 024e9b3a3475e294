"""One server's side of the differential test: send steps, normalise answers.

Each server gets its own ``Client``. The client resolves a step's placeholders from what
*that* server answered before (``generator`` explains them) and normalises its answers so
that two servers that behave alike give equal ones:

- timestamps (13-digit numbers in ``last_modified``, ETags, pagination tokens, texts)
  become ``TS#n`` and server-generated UUIDs ``ID#n``, numbered by first appearance on
  that server; ``Last-Modified`` becomes ``DATE(ETag)`` when it is the ETag's date;
- a part of an answer whose difference an entry of ``allowed.py`` explains numbers no new
  value (``renormalise``): a value one server shows there only (the fresh ETag of a
  list Kinto never wrote, seed 924) would otherwise take a number and shift every later
  one on that server alone;
- ``Next-Page`` loses the server's host and port, its ``_token`` is decoded;
- only the headers clients read are kept (``HEADERS``); bodies are parsed JSON.

Whatever differs after that is a difference between the servers, to be explained by an
entry of ``allowed.py`` or reported.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from tests.differential import allowed
from tests.differential.generator import NO_BODY, Step
from tests.support import auth

HEADERS = (
    "ETag",
    "Last-Modified",
    "Next-Page",
    "Total-Records",
    "Total-Objects",
    "Location",
    "Content-Type",
    "Retry-After",
    "Alert",
    "Backoff",
    "Cache-Control",
    "Expires",
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"(?<![0-9])1[0-9]{12}(?![0-9])")
PLACEHOLDER = re.compile(r"\{(ts|id):(\d+)\}")
TIMEOUT_SECONDS = 30.0


def sort_acls(value: Any) -> Any:
    """ACLs (``permissions``) and a caller's ``principals`` (``GET /``) are sets: Kinto
    lists them in a Python set's order, which depends on the set (FINDINGS F5: not a
    difference); ours sorts them."""
    if isinstance(value, list):
        return [sort_acls(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: sort_acls(v) for k, v in value.items()}
    for key in ("permissions", "principals"):
        listed = out.get(key)
        if isinstance(listed, list) and all(isinstance(p, str) for p in listed):
            out[key] = sorted(listed)
    acl = out.get("permissions")
    if isinstance(acl, dict):
        out["permissions"] = {
            k: sorted(v) if isinstance(v, list) and all(isinstance(p, str) for p in v) else v
            for k, v in acl.items()
        }
    return out


def list_of(path: str) -> str:
    """The list an answer at ``path`` belongs to: the path itself for a list
    (``/buckets/b1/collections``), its parent for an object (``/buckets/b1``)."""
    parts = path.split("?")[0].removeprefix("/v1").strip("/").split("/")
    return "/" + "/".join(parts if len(parts) % 2 else parts[:-1])


def _empty_list(status: int, headers: Any, body: Any, method: str) -> bool:
    """An answer listing no object (a GET or plural DELETE, or a HEAD counting none)."""
    if status != 200:
        return False
    if isinstance(body, dict) and body.get("data") == []:
        return True
    return method == "HEAD" and headers.get("Total-Records") == "0"


def _posts_id(body: Any) -> bool:
    data = body.get("data") if isinstance(body, dict) else None
    return isinstance(data, dict) and "id" in data


class _Session(requests.Session):
    def get_redirect_target(self, resp: requests.Response) -> str | None:
        # requests decodes Location as UTF-8 even when not following it; a Location with a
        # Latin-1 byte (a redirect of a non-ASCII path) is still an answer to compare.
        try:
            return super().get_redirect_target(resp)
        except UnicodeDecodeError:
            return None


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.host = base_url.removesuffix("/v1")
        self.session = _Session()
        self.reset()

    def reset(self) -> None:
        """Forget everything seen: a new sequence starts on an emptied server."""
        self.timestamps: dict[int, int] = {}
        self.ids: dict[str, int] = {}
        self.generated: set[str] = set()  # ids the server chose (POST without an id)
        self.etags: dict[str, int] = {}
        self.next_page: str | None = None
        self.steps = 0  # steps sent since the last reset
        self.scope = ""  # the list the answer being normalised belongs to
        # number -> (step, list) where a timestamp first showed: see runner.collision()
        self.first_seen: dict[int, tuple[int, str]] = {}
        # Paths of the answer being normalised (as ``compare.Diff.where``) where no new
        # value is numbered, and whether the value being normalised is under one of them.
        self.unnumbered: set[tuple[Any, ...]] = set()
        self.frozen = False
        self.last: tuple[dict[str, Any], tuple[Any, ...]] | None = None  # see renormalise

    _STATE = ("timestamps", "ids", "generated", "etags", "next_page", "first_seen")

    def flush(self) -> None:
        resp = self.session.post(f"{self.base_url}/__flush__", timeout=TIMEOUT_SECONDS)
        assert resp.status_code in (200, 202), (self.base_url, resp.status_code, resp.text)
        self.reset()

    # -- placeholders ---------------------------------------------------------------------
    def _latest(self, seen: dict[Any, int], k: int, default: Any) -> Any:
        if not seen:
            return default
        ordered = sorted(seen, key=seen.__getitem__)
        return ordered[-1 - (k % len(ordered))]

    def resolve(self, text: str, path: str = "") -> str:
        def one(match: re.Match[str]) -> str:
            kind, k = match.group(1), int(match.group(2))
            if kind == "ts":
                return str(self._latest(self.timestamps, k, 1500000000000))
            return str(self._latest(self.ids, k, "unknown-id"))

        if "{etag}" in text:
            known = self.etags.get(path) or self._latest(self.timestamps, 0, 1500000000000)
            text = text.replace("{etag}", str(known))
        return PLACEHOLDER.sub(one, text)

    def resolve_json(self, value: Any) -> Any:
        if isinstance(value, str):
            resolved = self.resolve(value)
            if resolved != value and resolved.isdigit() and PLACEHOLDER.fullmatch(value):
                return int(resolved)
            return resolved
        if isinstance(value, list):
            return [self.resolve_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve_json(v) for k, v in value.items()}
        return value

    # -- sending --------------------------------------------------------------------------
    def send(self, step: Step) -> dict[str, Any]:
        """Send ``step``; return its normalised answer."""
        self.steps += 1
        if step.path == "{next}":
            path, query = self.next_page or "/buckets", []
        else:
            path = self.resolve(step.path)
            query = [(k, self.resolve(v)) for k, v in step.query]
        self.path = path  # as sent, placeholders resolved (allowed.py judges it)
        headers = {name: self.resolve(value, path) for name, value in step.headers.items()}
        if step.user:
            headers.update(auth(step.user))
        data: bytes | None = None
        self.sent: Any = NO_BODY
        if step.raw is not None:
            data = step.raw.encode()
        elif step.body is not NO_BODY:
            self.sent = self.resolve_json(step.body)
            data = json.dumps(self.sent).encode()
        if data is not None and step.content_type:
            headers["Content-Type"] = step.content_type
        resp = self.session.request(
            step.method,
            self.base_url + path,
            params=query,
            headers=headers,
            data=data,
            allow_redirects=False,
            timeout=TIMEOUT_SECONDS,
        )
        raw = (resp.status_code, resp.headers, resp.content, path, step.method)
        self.last = ({name: copy.copy(getattr(self, name)) for name in self._STATE}, raw)
        return self.normalise(*raw)

    def renormalise(self, unnumbered: set[tuple[Any, ...]]) -> dict[str, Any]:
        """The last answer normalised again as if its parts at ``unnumbered`` (paths as
        ``compare.Diff.where``) were not shown: a value there keeps the number it already
        has, a new one is ``TS#new`` / ``ID#new`` and takes no number."""
        assert self.last is not None
        state, raw = self.last
        for name, value in state.items():
            setattr(self, name, copy.copy(value))
        self.unnumbered = unnumbered
        try:
            return self.normalise(*raw)
        finally:
            self.unnumbered = set()

    # -- normalising ----------------------------------------------------------------------
    def value(self, value: Any, where: tuple[Any, ...] = ()) -> Any:
        if self.unnumbered and not self.frozen and self._under_unnumbered(where):
            self.frozen = True
            try:
                return self.value(value, where)
            finally:
                self.frozen = False
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, int):
            if 10**12 <= value < 2 * 10**12:
                return f"TS#{self._timestamp(value)}"
            return value
        if isinstance(value, str):
            if value in self.generated:
                return f"ID#{self._number(self.ids, value)}"
            if "/" in value:
                path, mark, query = value.partition("?")  # a Location's querystring too
                value = (
                    "/".join(
                        f"ID#{self._number(self.ids, p)}" if p in self.generated else p
                        for p in path.replace(self.host, "<host>").split("/")
                    )
                    + mark
                    + query
                )
            value = UUID.sub(lambda m: f"ID#{self._number(self.ids, m.group(0))}", value)
            return TIMESTAMP.sub(lambda m: f"TS#{self._timestamp(int(m.group(0)))}", value)
        if isinstance(value, list):
            return [self.value(v, (*where, i)) for i, v in enumerate(value)]
        return {k: self.value(value[k], (*where, k)) for k in sorted(value)}

    def _under_unnumbered(self, where: tuple[Any, ...]) -> bool:
        return any(where[:n] in self.unnumbered for n in range(len(where) + 1))

    def _timestamp(self, value: int) -> int | str:
        number = self._number(self.timestamps, value)
        if isinstance(number, int):
            self.first_seen.setdefault(number, (self.steps, self.scope))
        return number

    def _number(self, seen: dict[Any, int], value: Any) -> int | str:
        if value not in seen:
            if self.frozen:
                return "new"
            seen[value] = len(seen)
        return seen[value]

    def headers(
        self, raw: Any, empty_list: bool = False, where: tuple[Any, ...] = ("headers",)
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        etag_ts = None
        etag = raw.get("ETag")
        if etag is not None and etag.strip('"').isdigit():
            etag_ts = int(etag.strip('"'))
        for name in HEADERS:
            value = raw.get(name)
            if value is None:
                continue
            if name == "Last-Modified":
                stamp = email.utils.formatdate(etag_ts / 1000, usegmt=True) if etag_ts else None
                out[name] = "DATE(ETag)" if value == stamp else f"DATE({value})"
            elif name == "Expires":
                out[name] = "present"
            elif name == "Next-Page":
                out[name] = self.next_page_value(value, (*where, name))
            elif name == "Location":
                out[name] = self.value(value.replace(self.base_url, "<base>"), (*where, name))
            elif name == "Content-Type":
                out[name] = value.replace(" ", "").lower()
            elif name == "ETag" and empty_list and allowed.EMPTY_LIST_ETAG_UNCOMPARED:
                out[name] = "TS(of an empty list)"  # not numbered: see allowed.py (F6)
            else:
                out[name] = self.value(value, (*where, name))
        return out

    def next_page_value(self, url: str, where: tuple[Any, ...] = ()) -> Any:
        parts = urlsplit(url)
        query: dict[str, Any] = {}
        for key, val in parse_qsl(parts.query, keep_blank_values=True):
            if key == "_token":
                try:
                    query[key] = json.loads(base64.urlsafe_b64decode(val + "=" * (-len(val) % 4)))
                except ValueError:
                    query[key] = "<undecodable token>"
            else:
                query[key] = val
        return {"path": parts.path, "query": self.value(query, (*where, "query"))}

    def body(self, content: bytes) -> Any:
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError:
            return {"<text>": content.decode(errors="replace")[:200]}

    def normalise(
        self, status: int, raw_headers: Any, content: bytes, path: str, method: str
    ) -> dict[str, Any]:
        body = self.body(content)
        self.scope = list_of(path)
        self.remember(status, raw_headers, body, path, method, _posts_id(self.sent))
        empty = _empty_list(status, raw_headers, body, method)
        answer = {"status": status, "headers": self.headers(raw_headers, empty)}
        if isinstance(body, dict) and isinstance(body.get("responses"), list) and path == "/batch":
            requests = self.sent.get("requests") if isinstance(self.sent, dict) else None
            requests = requests if isinstance(requests, list) else []
            subs = []
            for index, sub in enumerate(body["responses"]):
                request = requests[index] if index < len(requests) else {}
                request = request if isinstance(request, dict) else {}
                subs.append(self.subresponse(sub, request, ("body", "responses", index)))
            body = {**body, "responses": subs}
        answer["body"] = self.value(sort_acls(body), ("body",))
        return answer

    def subresponse(self, sub: Any, request: dict[str, Any], where: tuple[Any, ...]) -> Any:
        if not isinstance(sub, dict):
            return sub
        headers = sub.get("headers") or {}
        self.scope = list_of(str(sub.get("path", "")))
        defaults = self.sent.get("defaults") if isinstance(self.sent.get("defaults"), dict) else {}
        merged = {**defaults, **request}
        method = str(merged.get("method", "")).upper()
        self.remember(
            sub.get("status", 0),
            headers,
            sub.get("body"),
            sub.get("path", ""),
            method,
            _posts_id(merged.get("body")),
        )
        headers = requests.structures.CaseInsensitiveDict(headers)
        empty = _empty_list(sub.get("status", 0), headers, sub.get("body"), method)
        return {**sort_acls(sub), "headers": self.headers(headers, empty, (*where, "headers"))}

    def remember(
        self, status: int, headers: Any, body: Any, path: str, method: str, posted_id: bool
    ) -> None:
        """Keep what later placeholders refer to: the Next-Page URL, objects' timestamps."""
        path = path.split("?")[0].removeprefix("/v1")
        if headers.get("Next-Page"):
            self.next_page = headers["Next-Page"].split("/v1", 1)[1]
        data = body.get("data") if isinstance(body, dict) else None
        if method == "POST" and status == 201 and isinstance(data, dict) and not posted_id:
            self.generated.add(str(data.get("id")))
            self._number(self.ids, str(data.get("id")))
        if status < 300 and isinstance(data, dict) and "last_modified" in data:
            target = path if method != "POST" else f"{path}/{data.get('id')}"
            if isinstance(data["last_modified"], int):
                self.etags[target] = data["last_modified"]
