"""PostgreSQL goes away under load, twice (a clean stop, then a crash), and comes back.

A web head (a real ``kinto_clone start`` process) serves several users writing and reading
on a PostgreSQL cluster of this test's own (never the machine's shared server: it is
stopped and started here). While the database is down:

- every request answers 503 errno 201 with ``Retry-After`` (Kinto's "backend failure"),
  each well within a client's patience: nothing hangs;
- ``GET /__heartbeat__`` answers 503 and names the failed backends.

When PostgreSQL is back, the same server process serves again by itself within seconds
(no restart), every write it acknowledged before, during or after is there, and the
heartbeat is green again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests import postgres, server
from tests.reliability.conftest import Cluster, Session, port_is_closed
from tests.support import auth

ANSWER_WITHIN_SECONDS = 10.0  # every answer, outage or not (db.py connects within 5 s)
RECOVER_WITHIN_SECONDS = 15.0  # from PostgreSQL accepting connections to a served write
HEALTHY_SECONDS = 2.0
OUTAGE_SECONDS = 3.0
LOAD_THREADS = 4
LOAD_DEADLINE_SECONDS = 90.0  # the load threads stop by then whatever happens


@dataclass
class Outcome:
    sent: float
    done: float
    method: str
    status: int  # 0: no answer (exception)
    body: dict[str, object] | None
    retry_after: str | None
    error: str = ""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    own = Cluster()
    try:
        own.start()
        yield own
    finally:
        own.destroy()


@pytest.fixture
def head(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[object, str]]:
    db_url = postgres.create_database(cluster.url, "kinto")
    settings = {
        **server.settings_for("postgresql", db_url),
        "kinto.heartbeat_timeout_seconds": "3",
    }
    with server.running(server.migrated_ini(tmp_path, settings), tmp_path, "head") as started:
        yield started


def call(s: Session, method: str, url: str, **kwargs: object) -> Outcome:
    sent = time.monotonic()
    try:
        r = s.request(method, url, timeout=ANSWER_WITHIN_SECONDS + 5, **kwargs)
    except requests.RequestException as exc:
        return Outcome(sent, time.monotonic(), method, 0, None, None, repr(exc))
    try:
        body = r.json()
    except ValueError:
        body = {"unparsable": r.text[:200]}
    return Outcome(
        sent, time.monotonic(), method, r.status_code, body, r.headers.get("Retry-After")
    )


def test_postgresql_outage_gives_503_then_recovers_without_restart(
    cluster: Cluster, head: tuple[object, str]
) -> None:
    process, base = head
    records = f"{base}/buckets/outage/collections/items/records"
    with Session() as s:
        s.headers.update(auth("owner"))
        assert s.put(
            f"{base}/buckets/outage", json={"permissions": {"write": ["system.Authenticated"]}}
        ).ok
        assert s.put(f"{base}/buckets/outage/collections/items").ok

    outcomes: list[Outcome] = []
    acknowledged: list[str] = []
    stop = threading.Event()
    load_deadline = time.monotonic() + LOAD_DEADLINE_SECONDS

    def load(index: int) -> None:
        with Session() as s:
            s.headers.update(auth(f"user{index}"))
            n = 0
            while not stop.is_set() and time.monotonic() < load_deadline:
                n += 1
                if n % 3 == 0:
                    o = call(s, "GET", records, params={"_limit": "5"})
                elif n % 3 == 1:
                    o = call(s, "POST", records, json={"data": {"user": index, "n": n}})
                    if o.status == 201 and o.body is not None:
                        acknowledged.append(o.body["data"]["id"])  # type: ignore[index]
                else:
                    o = call(s, "GET", f"{base}/buckets/outage/collections/items")
                outcomes.append(o)
                time.sleep(0.01)

    threads = [
        threading.Thread(target=load, args=(i,), name=f"load-{i}") for i in range(LOAD_THREADS)
    ]
    for t in threads:
        t.start()

    windows: list[tuple[float, float]] = []  # (database surely down, surely back)
    up: list[tuple[float, float]] = []  # database surely up and the server serving
    serving_since = 0.0
    heartbeats: list[tuple[int, object, float]] = []
    recoveries: list[float] = []
    try:
        time.sleep(HEALTHY_SECONDS)
        for mode in ("fast", "immediate"):
            up.append((serving_since, time.monotonic()))
            cluster.stop(mode)
            assert port_is_closed(cluster.port)
            down = time.monotonic()
            time.sleep(OUTAGE_SECONDS / 2)
            with Session() as probe:
                hb = call(probe, "GET", f"{base}/__heartbeat__")
            heartbeats.append((hb.status, hb.body, hb.done - hb.sent))
            time.sleep(OUTAGE_SECONDS / 2)
            back = time.monotonic()
            cluster.start()
            windows.append((down, back))
            # Served again by the same process, no restart: a write goes through.
            started = time.monotonic()
            with Session() as s:
                s.headers.update(auth("prober"))
                while time.monotonic() - started < RECOVER_WITHIN_SECONDS:
                    if call(s, "POST", records, json={"data": {"probe": mode}}).status == 201:
                        break
                    time.sleep(0.1)
                else:
                    pytest.fail(
                        f"not served {RECOVER_WITHIN_SECONDS} s after PostgreSQL "
                        f"came back ({mode} stop)"
                    )
            serving_since = time.monotonic()
            recoveries.append(serving_since - started)
            time.sleep(HEALTHY_SECONDS)
        up.append((serving_since, float("inf")))
    finally:
        stop.set()
        for t in threads:
            t.join(ANSWER_WITHIN_SECONDS + 10)
    assert not any(t.is_alive() for t in threads), "a load thread hung"
    assert process.poll() is None, "the server process died"  # type: ignore[attr-defined]

    # Nothing hangs, nothing but success or 503 errno 201 with Retry-After.
    no_answer = [o for o in outcomes if o.status == 0]
    assert not no_answer, f"requests without an answer: {[o.error for o in no_answer[:3]]}"
    slowest = max(o.done - o.sent for o in outcomes)
    assert slowest < ANSWER_WITHIN_SECONDS, f"an answer took {slowest:.1f} s"
    unexpected = [o for o in outcomes if o.status not in (200, 201, 503)]
    assert not unexpected, [(o.method, o.status, o.body) for o in unexpected[:3]]
    failures = [o for o in outcomes if o.status == 503]
    for o in failures:
        assert o.body is not None and o.body.get("errno") == 201, o.body
        assert o.body.get("code") == 503, o.body
        assert o.retry_after is not None and int(o.retry_after) > 0
    # Sent and answered while the database was surely down: all 503, and there were some.
    during = [o for o in outcomes if any(d <= o.sent and o.done <= b for d, b in windows)]
    assert during and all(o.status == 503 for o in during), sorted({o.status for o in during})
    # Sent and answered while it was surely up (before a stop, or once a probe had been
    # served again): all successful, no lingering failure from a stale connection pool.
    healthy = [o for o in outcomes if any(lo <= o.sent and o.done <= hi for lo, hi in up)]
    assert healthy and all(o.status in (200, 201) for o in healthy), [
        (o.status, o.body) for o in healthy if o.status not in (200, 201)
    ][:3]

    # The heartbeat told which backends failed, in time.
    for status, body, seconds in heartbeats:
        assert status == 503, body
        assert body == {"storage": False, "permission": False}, body
        assert seconds < ANSWER_WITHIN_SECONDS
    with Session() as s:
        r = s.get(f"{base}/__heartbeat__")
        assert r.status_code == 200 and r.json() == {"storage": True, "permission": True}
        # Every acknowledged write survived the clean stop and the crash.
        s.headers.update(auth("owner"))
        stored: set[str] = set()
        url: str | None = records
        params: dict[str, str] | None = {"_limit": "500"}
        while url:
            page = s.get(url, params=params)
            assert page.status_code == 200, page.text
            stored.update(obj["id"] for obj in page.json()["data"])
            url, params = page.headers.get("Next-Page"), None
    lost = set(acknowledged) - stored
    assert not lost, f"{len(lost)} acknowledged records lost"
    print(
        f"\noutage: {len(outcomes)} requests, {len(failures)} answered 503 errno 201 "
        f"({len(during)} sent during the 2 outages, all 503), slowest answer "
        f"{slowest:.2f} s, served again {', '.join(f'{r:.2f}' for r in recoveries)} s "
        f"after PostgreSQL came back (fast stop, crash), {len(acknowledged)} acknowledged "
        f"writes all kept"
    )
