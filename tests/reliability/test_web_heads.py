"""Two web heads on one PostgreSQL database behind nginx (config/nginx.conf), under
concurrent load from several users.

- No lost update: counter-style increments with If-Match from several threads through
  nginx (so landing on either head); a 412 means "re-read and retry". The final counter
  equals the number of acknowledged increments.
- If-Match conflicts are detected across heads: the same ETag sent to head 1 and head 2
  directly, at the same moment: exactly one wins, the other gets 412. (Both used to win:
  the ETag was checked against a read made before the list was locked; see ``_latest``
  in kinto_clone/views/resources.py. This test needs no nginx.)
- ``_since`` polled alternately from either head, while several users create, patch and
  delete, sees every acknowledged change exactly once: no version twice, none missing,
  and the last version of every record is the last one acknowledged.

Every thread is bounded in operations and in time; every request has a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.conftest import Session, behind_nginx, nginx_binary, web_heads
from tests.support import auth

THREAD_SECONDS = 45.0  # a bound, not a duration: no worker thread runs longer
JOIN_SECONDS = THREAD_SECONDS + 2 * 15.0  # plus a request timeout or two


@dataclass
class Deployment:
    nginx: str  # http://127.0.0.1:PORT/v1 through nginx
    heads: list[str]  # each web head directly


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """Two web heads on one freshly migrated PostgreSQL database: (workdir, base URLs)."""
    workdir = tmp_path_factory.mktemp("web-heads")
    with web_heads(workdir, "web_heads") as urls:
        yield workdir, urls


@pytest.fixture(scope="module")
def deployment(heads: tuple[Path, list[str]]) -> Iterator[Deployment]:
    """The two heads behind nginx, configured by config/nginx.conf."""
    nginx_binary()  # skip (or fail on CI) without nginx
    workdir, urls = heads
    with behind_nginx(workdir, urls) as nginx_url:
        yield Deployment(nginx=nginx_url, heads=urls)


def users(count: int) -> list[dict[str, str]]:
    return [auth(f"user{i}") for i in range(count)]


def shared_collection(base: str, bucket: str, collection: str) -> str:
    """A bucket every authenticated user may write in; return the records URL."""
    with Session() as s:
        s.headers.update(users(1)[0])
        r = s.put(
            f"{base}/buckets/{bucket}", json={"permissions": {"write": ["system.Authenticated"]}}
        )
        assert r.status_code in (200, 201), r.text
        r = s.put(f"{base}/buckets/{bucket}/collections/{collection}")
        assert r.status_code in (200, 201), r.text
    return f"{base}/buckets/{bucket}/collections/{collection}/records"


def run_threads(targets: list[threading.Thread]) -> None:
    for t in targets:
        t.start()
    for t in targets:
        t.join(JOIN_SECONDS)
        assert not t.is_alive(), f"{t.name} did not finish within {JOIN_SECONDS} s"


def test_nginx_spreads_load_and_links_back_through_itself(deployment: Deployment) -> None:
    records = shared_collection(deployment.nginx, "spread", "items")
    upstreams = set()
    with Session() as s:
        s.headers.update(users(1)[0])
        for i in range(6):
            r = s.post(records, json={"data": {"i": i}})
            assert r.status_code == 201, r.text
            upstreams.add(r.headers["X-Upstream"])
        page = s.get(records, params={"_limit": 2})
        assert page.status_code == 200
        # Host is passed on: the pagination link leads back through nginx.
        assert page.headers["Next-Page"].startswith(deployment.nginx + "/"), page.headers
        root = s.get(deployment.nginx + "/").json()
        assert root["url"] == deployment.nginx + "/"
    assert len(upstreams) == 2, f"nginx used only {upstreams}"


def test_no_lost_update_with_if_match_through_nginx(deployment: Deployment) -> None:
    records = shared_collection(deployment.nginx, "counter", "counters")
    threads_count, increments_each = 6, 15
    with Session() as s:
        s.headers.update(users(1)[0])
        r = s.put(f"{records}/c", json={"data": {"count": 0}})
        assert r.status_code == 201, r.text

    succeeded = [0] * threads_count
    conflicts = [0] * threads_count
    errors: list[str] = []
    heads_used: set[str] = set()
    deadline = time.monotonic() + THREAD_SECONDS

    def worker(index: int, headers: dict[str, str]) -> None:
        with Session() as s:
            s.headers.update(headers)
            while succeeded[index] < increments_each and time.monotonic() < deadline:
                current = s.get(f"{records}/c")
                if current.status_code != 200:
                    errors.append(f"GET {current.status_code} {current.text}")
                    return
                count = current.json()["data"]["count"]
                r = s.patch(
                    f"{records}/c",
                    json={"data": {"count": count + 1}},
                    headers={"If-Match": current.headers["ETag"]},
                )
                heads_used.add(r.headers.get("X-Upstream", "?"))
                if r.status_code == 200:
                    succeeded[index] += 1
                elif r.status_code == 412:
                    conflicts[index] += 1
                else:
                    errors.append(f"PATCH {r.status_code} {r.text}")
                    return

    run_threads(
        [
            threading.Thread(target=worker, args=(i, h), name=f"counter-{i}")
            for i, h in enumerate(users(threads_count))
        ]
    )
    assert not errors, errors[:5]
    with Session() as s:
        s.headers.update(users(1)[0])
        final = s.get(f"{records}/c").json()["data"]["count"]
    total = sum(succeeded)
    print(
        f"\ncounter: {total} acknowledged increments, {sum(conflicts)} 412 retries, "
        f"heads {sorted(heads_used)}"
    )
    assert final == total
    assert total == threads_count * increments_each, "the time budget ran out"
    assert sum(conflicts) > 0, "no concurrent conflict happened: the test proved nothing"
    assert len(heads_used) == 2


def test_if_match_conflict_across_heads_exactly_one_wins(
    heads: tuple[Path, list[str]],
) -> None:
    # Straight to the heads: this one needs no nginx.
    urls = heads[1]
    records = shared_collection(urls[0], "conflicts", "items")
    head_records = [records.replace(urls[0], head) for head in urls]
    alice, bob = users(2)
    rounds = 20
    with Session() as s:
        s.headers.update(alice)
        r = s.put(f"{records}/x", json={"data": {"round": -1, "by": None}})
        assert r.status_code == 201, r.text
        etag = r.headers["ETag"]

    outcomes: list[list[tuple[int, int]]] = [[], []]  # per head: (status, round)
    barrier = threading.Barrier(2, timeout=15)
    shared = {"etag": etag}

    def contender(index: int, headers: dict[str, str]) -> None:
        with Session() as s:
            s.headers.update(headers)
            for n in range(rounds):
                barrier.wait()
                r = s.patch(
                    f"{head_records[index]}/x",
                    json={"data": {"round": n, "by": index}},
                    headers={"If-Match": shared["etag"]},
                )
                outcomes[index].append((r.status_code, n))
                if r.status_code == 200:
                    shared["etag"] = r.headers["ETag"]
                barrier.wait()  # both answered; the winner's ETag is the next round's

    run_threads(
        [
            threading.Thread(target=contender, args=(i, h), name=f"contender-{i}")
            for i, h in enumerate((alice, bob))
        ]
    )
    wins = [0, 0]
    for n in range(rounds):
        statuses = sorted(outcomes[i][n][0] for i in (0, 1))
        assert statuses == [200, 412], f"round {n}: {statuses}"
        wins[[outcomes[i][n][0] for i in (0, 1)].index(200)] += 1
    print(f"\ncross-head If-Match: {rounds} rounds, wins per head {wins}")
    with Session() as s:
        s.headers.update(alice)
        final = s.get(f"{records}/x").json()["data"]
    assert final["round"] == rounds - 1


@dataclass
class Poll:
    seen: list[tuple[str, int, bool]] = field(default_factory=list)  # (id, lm, deleted)
    polls: int = 0
    pages: int = 0


def poll_once(
    s: Session, records: str, since: int | None, poll: Poll, errors: list[str]
) -> int | None:
    """One sync: GET ?_since, following Next-Page; return the next ``_since`` (the ETag of
    the first page), or None on an error."""
    params = {"_limit": "3"}
    if since is not None:
        params["_since"] = str(since)
    r = s.get(records, params=params)
    if r.status_code != 200:
        errors.append(f"poll {r.status_code} {r.text}")
        return None
    next_since = int(r.headers["ETag"].strip('"'))
    in_this_poll: set[str] = set()
    while True:
        poll.pages += 1
        for record in r.json()["data"]:
            if record["id"] in in_this_poll:
                errors.append(f"{record['id']} twice in one poll")
            in_this_poll.add(record["id"])
            if since is not None and record["last_modified"] <= since:
                errors.append(f"{record} not newer than _since={since}")
            poll.seen.append((record["id"], record["last_modified"], bool(record.get("deleted"))))
        next_page = r.headers.get("Next-Page")
        if not next_page:
            break
        r = s.get(next_page)
        if r.status_code != 200:
            errors.append(f"next page {r.status_code} {r.text}")
            return None
    poll.polls += 1
    return next_since


def test_since_from_either_head_sees_every_change_exactly_once(
    deployment: Deployment,
) -> None:
    records = shared_collection(deployment.nginx, "sync", "items")
    head_records = [records.replace(deployment.nginx, head) for head in deployment.heads]
    writers, ops_each = 4, 60
    acked: list[tuple[str, int, bool]] = []  # (id, last_modified, deleted), every ack
    acked_lock = threading.Lock()
    errors: list[str] = []
    writing = threading.Event()
    writing.set()
    deadline = time.monotonic() + THREAD_SECONDS

    def writer(index: int, headers: dict[str, str]) -> None:
        live: list[str] = []
        with Session() as s:
            s.headers.update(headers)
            for n in range(ops_each):
                if time.monotonic() > deadline:
                    return
                if n % 4 in (0, 2) or not live:  # half creates, a quarter patches,
                    r = s.post(records, json={"data": {"writer": index, "n": n}})
                    expected = 201
                elif n % 4 == 1:  # a quarter deletes: records stay
                    r = s.patch(f"{records}/{live[-1]}", json={"data": {"n": n}})
                    expected = 200
                else:
                    r = s.delete(f"{records}/{live.pop(0)}")
                    expected = 200
                if r.status_code != expected:
                    errors.append(f"writer {index}: {r.status_code} {r.text}")
                    return
                data = r.json()["data"]
                if expected == 201:
                    live.append(data["id"])
                with acked_lock:
                    acked.append((data["id"], data["last_modified"], bool(data.get("deleted"))))

    poll = Poll()

    def poller() -> None:
        since: int | None = None
        turn = 0
        with Session() as s:
            s.headers.update(users(1)[0])
            while writing.is_set():
                if time.monotonic() > deadline + 5:
                    errors.append("poller: time budget exceeded")
                    return
                result = poll_once(s, head_records[turn % 2], since, poll, errors)
                if result is None:
                    return
                since, turn = result, turn + 1
                time.sleep(0.02)
            # The writers are done: drain until a poll on each head brings nothing new.
            empty_in_a_row = 0
            while empty_in_a_row < 2:
                before = len(poll.seen)
                result = poll_once(s, head_records[turn % 2], since, poll, errors)
                if result is None:
                    return
                since, turn = result, turn + 1
                empty_in_a_row = empty_in_a_row + 1 if len(poll.seen) == before else 0

    poll_thread = threading.Thread(target=poller, name="poller")
    poll_thread.start()
    run_threads(
        [
            threading.Thread(target=writer, args=(i, h), name=f"writer-{i}")
            for i, h in enumerate(users(writers))
        ]
    )
    writing.clear()
    poll_thread.join(JOIN_SECONDS)
    assert not poll_thread.is_alive(), "the poller did not finish"
    assert not errors, errors[:5]

    seen_versions = [(rid, lm) for rid, lm, _ in poll.seen]
    duplicates = {v for v in seen_versions if seen_versions.count(v) > 1}
    assert not duplicates, f"seen more than once: {sorted(duplicates)[:5]}"
    acked_versions = {(rid, lm): deleted for rid, lm, deleted in acked}
    assert len(acked_versions) == len(acked), "two acknowledged writes got one timestamp"
    unknown = [v for v in poll.seen if (v[0], v[1]) not in acked_versions]
    assert not unknown, f"seen but never acknowledged: {unknown[:5]}"
    # What was seen of each record is in order, and ends with its last acknowledged write.
    last_acked: dict[str, tuple[int, bool]] = {}
    for rid, lm, deleted in sorted(acked, key=lambda a: a[1]):
        last_acked[rid] = (lm, deleted)
    last_seen: dict[str, tuple[int, bool]] = {}
    for rid, lm, deleted in poll.seen:
        assert rid not in last_seen or last_seen[rid][0] < lm, f"{rid} went back in time"
        last_seen[rid] = (lm, deleted)
    missing = {rid: v for rid, v in last_acked.items() if last_seen.get(rid) != v}
    assert not missing, f"last acknowledged change not seen: {list(missing.items())[:5]}"
    # A client starting from nothing, on each head, pages through exactly the live ones.
    live = {rid: lm for rid, (lm, deleted) in last_acked.items() if not deleted}
    for head in head_records:
        fresh = Poll()
        with Session() as s:
            s.headers.update(users(1)[0])
            assert poll_once(s, head, None, fresh, errors) is not None, errors
        assert not errors, errors[:5]
        assert {rid: lm for rid, lm, _ in fresh.seen} == live
        assert len(fresh.seen) == len(live) and fresh.pages > 1
    print(
        f"\n_since: {len(acked)} acknowledged writes on {len(last_acked)} records, "
        f"{poll.polls} polls ({poll.pages} pages) alternating heads, "
        f"{len(poll.seen)} versions seen, 0 duplicates, 0 missing"
    )
    assert len(acked) == writers * ops_each, "the time budget ran out"
    assert poll.polls > 4, "too few polls to interleave with the writes"
