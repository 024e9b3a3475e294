"""Workloads W1-W7. Each one: an optional pre-check (answers are right, or the endpoint is
missing: n/a), then timed load windows, then its correctness checks.

A workload function gets (dataset, duration) and returns a Sample; `problems` it appends
to end up in the verdict column.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from data import ALICE, BOB, PREFIX, DataSet, NotAvailable, coll_path, expect, record_data, rid
from load import Sample, run_threads, run_wrk

MAX_RATE = 3000  # count bound: requests per second of window, far above what we see


@dataclass
class Workload:
    key: str
    label: str
    unit: str  # what throughput counts
    run: Callable[[DataSet, float], Sample]
    precheck: Callable[[DataSet], None] | None = None
    check: Callable[[DataSet], list[str]] | None = None
    needs: str | None = None  # collection that must be loaded
    wrk: bool = False
    problems: list[str] = field(default_factory=list)


def wrk_workload(
    path: str, *, method: str = "GET", body: str | None = None, auth: str = ALICE, clients: int = 16
) -> Callable[[DataSet, float], Sample]:
    def run(ds: DataSet, duration: float) -> Sample:
        return run_wrk(
            ds.server.base_url + path,
            method=method,
            body=body,
            auth=auth,
            connections=clients,
            duration=duration,
            max_requests=int(duration * MAX_RATE),
        )

    return run


# --- W1: create -----------------------------------------------------------------------


def w1(clients: int, base: int = 0) -> Workload:
    state: dict = {}

    def pre(ds: DataSet) -> None:
        state["before"] = ds.count("w1")
        state["created"] = 0

    body = '{"data":{"title":"w1 {n}","n":1,"text":"lorem ipsum dolor sit amet"}}'
    inner = wrk_workload(coll_path("w1") + "/records", method="POST", body=body, clients=clients)

    def run(ds: DataSet, duration: float) -> Sample:
        s = inner(ds, duration)
        state["created"] += s.statuses.get(201, 0)
        return s

    def check(ds: DataSet) -> list[str]:
        # the warm-up runs create too: compare after every window, warm-up included
        after = ds.count("w1")
        missing = state["before"] + state["created"] - after
        return [f"FAIL {missing} created (201) but absent"] if missing > 0 else []

    return Workload(
        f"W1c{clients}",
        f"W1 create, {clients} client{'s' * (clients > 1)}"
        + (f", into {base}+ records" if base else ""),
        "req/s",
        run,
        pre,
        check,
        wrk=True,
    )


# --- W2, W3, W4, W6: reads --------------------------------------------------------------


def w2() -> Workload:
    path = coll_path("w2") + "/records/r1"

    def pre(ds: DataSet) -> None:
        body = expect(ds.client().request("GET", path), 200, what="GET record").body
        if body["data"]["title"] != record_data(1)["title"]:
            raise RuntimeError(f"W2 record body differs: {body}")

    return Workload(
        "W2", "W2 read one record, 16 clients", "req/s", wrk_workload(path), pre, wrk=True
    )


def w3_first(ds_size: int, sort: str | None) -> Workload:
    qs = "_limit=100" + (f"&_sort={sort}" if sort else "")
    path = coll_path("c10k") + f"/records?{qs}"

    def pre(ds: DataSet) -> None:
        resp = expect(ds.client().request("GET", path), 200, what="GET page")
        data = resp.body["data"]
        if len(data) != 100 or not resp.headers.get("next-page"):
            raise RuntimeError(
                f"first page: {len(data)} records, Next-Page {resp.headers.get('next-page')!r}"
            )
        if sort:
            values = [r[sort] for r in data]
            if values != sorted(values):
                raise RuntimeError(f"page not sorted on {sort}")

    key, label = (
        ("W3s", f"W3 page 100 of {ds_size} sorted on data field")
        if sort
        else ("W3p", f"W3 first page of 100 of {ds_size}")
    )
    return Workload(key, label, "req/s", wrk_workload(path), pre, needs="c10k", wrk=True)


def w3_walk(ds_size: int) -> Workload:
    wl = Workload(
        "W3w",
        f"W3 full walk, pages of 100 of {ds_size}",
        "pages/s",
        lambda ds, d: None,
        needs="c10k",
    )  # type: ignore[arg-type]

    def run(ds: DataSet, duration: float) -> Sample:
        client, s = ds.client(), Sample()
        n, walks = ds.sizes["c10k"], []
        deadline = time.monotonic() + duration
        t_start = time.monotonic()
        for _ in range(200):  # count bound on walks
            t0, ids, url = time.monotonic(), [], coll_path("c10k") + "/records?_limit=100"
            for _page in range(n // 100 + 10):  # count bound on pages
                resp = client.request("GET", url)
                s.statuses[resp.status] += 1
                s.requests += 1
                s.latencies_ms.append(resp.ms)
                if resp.status != 200:
                    break
                ids.extend(r["id"] for r in resp.body["data"])
                nxt = resp.headers.get("next-page")
                if not nxt:
                    break
                url = nxt[nxt.index("/v1/") :]
            walks.append((time.monotonic() - t0) * 1000)
            if len(ids) != n or len(set(ids)) != n:
                wl.problems.append(f"FAIL walk saw {len(set(ids))} distinct of {n}")
            if time.monotonic() >= deadline:
                break
        s.duration_s = time.monotonic() - t_start
        s.extra["walk_ms"] = sorted(walks)[len(walks) // 2]
        return s.finish()

    wl.run = run
    return wl


def w4(coll: str, size: int) -> Workload:
    state: dict = {}

    def pre(ds: DataSet) -> None:
        resp = expect(
            ds.client().request("GET", coll_path(coll) + "/records?_sort=-last_modified&_limit=11"),
            200,
            what="GET newest",
        )
        newest = resp.body["data"]
        since = newest[-1]["last_modified"]
        state["path"] = coll_path(coll) + f"/records?_since={since}"
        got = expect(ds.client().request("GET", state["path"]), 200, what="_since").body
        want = {r["id"] for r in newest[:10]}
        if {r["id"] for r in got["data"]} != want:
            raise RuntimeError(
                f"_since={since} returned {len(got['data'])} records, expected the 10 newest"
            )

    def run(ds: DataSet, duration: float) -> Sample:
        return wrk_workload(state["path"])(ds, duration)

    return Workload(
        f"W4-{coll}",
        f"W4 _since poll (10 new), {size} records",
        "req/s",
        run,
        pre,
        needs=coll,
        wrk=True,
    )


def w6(ds_size: int) -> Workload:
    path = coll_path("c10k") + "/records"

    def pre(ds: DataSet) -> None:
        got = expect(ds.client(BOB).request("GET", path), 200, what="GET as bob").body["data"]
        want = {rid(i) for i in range(0, ds.sizes["c10k"], 100)}
        if {r["id"] for r in got} != want:
            raise RuntimeError(f"bob sees {len(got)} records, expected {len(want)} (1%)")

    return Workload(
        "W6",
        f"W6 list as reader of 1% of {ds_size}",
        "req/s",
        wrk_workload(path, auth=BOB),
        pre,
        needs="c10k",
        wrk=True,
    )


# --- W5: PATCH with If-Match ----------------------------------------------------------


def _patch(client, path: str, etag: str, counter: int):
    return client.request("PATCH", path, {"data": {"counter": counter}}, headers={"If-Match": etag})


def w5_distinct(clients: int = 16) -> Workload:
    wl = Workload(
        "W5d",
        f"W5 PATCH If-Match, distinct records, {clients} clients",
        "req/s",
        lambda ds, d: None,
    )  # type: ignore[arg-type]
    state: dict = {"ok": Counter()}

    def path(i: int) -> str:
        return coll_path("w5") + f"/records/d{i}"

    def pre(ds: DataSet) -> None:
        c = ds.client()
        for i in range(clients):
            expect(
                c.request("PUT", path(i), {"data": {"counter": 0}}), 200, 201, what="PUT w5 record"
            )
        state["ok"] = Counter()

    def run(ds: DataSet, duration: float) -> Sample:
        s, lock = Sample(), threading.Lock()

        def worker(i: int, keep_going) -> None:
            c = ds.client()
            r = c.request("GET", path(i))
            etag, counter = r.headers["etag"], r.body["data"]["counter"]
            lat, st = [], Counter()
            for _ in range(int(duration * MAX_RATE)):
                if not keep_going():
                    break
                r = _patch(c, path(i), etag, counter + 1)
                lat.append(r.ms)
                st[r.status] += 1
                if r.status == 200:
                    etag, counter = r.headers["etag"], counter + 1
                    state["ok"][i] += 1
                else:  # resynchronise; a 412 here means someone else wrote the record
                    r = c.request("GET", path(i))
                    etag, counter = r.headers["etag"], r.body["data"]["counter"]
            with lock:
                s.latencies_ms.extend(lat)
                s.statuses.update(st)

        s.duration_s = run_threads(clients, worker, duration)
        s.requests = sum(s.statuses.values())
        return s.finish()

    def check(ds: DataSet) -> list[str]:
        c, lost = ds.client(), 0
        for i in range(clients):
            final = c.request("GET", path(i)).body["data"]["counter"]
            lost += max(0, state["ok"][i] - final)
        return [f"FAIL {lost} lost updates"] if lost else []

    wl.run, wl.precheck, wl.check = run, pre, check
    return wl


def w5_shared(clients: int = 16) -> Workload:
    """Rounds: all clients PATCH the same record with the same If-Match at once; exactly one
    may win (200), the others must get 412. The winner's answer starts the next round."""
    wl = Workload(
        "W5s", f"W5 PATCH If-Match, 1 shared record, {clients} clients", "req/s", lambda ds, d: None
    )  # type: ignore[arg-type]
    path = coll_path("w5") + "/records/shared"
    state: dict = {}

    def pre(ds: DataSet) -> None:
        expect(
            ds.client().request("PUT", path, {"data": {"counter": 0}}),
            200,
            201,
            what="PUT shared record",
        )
        state.update(wins=0, bad_rounds=0, rounds=0)

    def run(ds: DataSet, duration: float) -> Sample:
        s = Sample()
        main = ds.client()
        r = main.request("GET", path)
        cur = {"etag": r.headers["etag"], "counter": r.body["data"]["counter"]}
        results: list = [None] * clients
        start, end = (
            threading.Barrier(clients + 1, timeout=60),
            threading.Barrier(clients + 1, timeout=60),
        )
        stop = threading.Event()

        def worker(i: int, _keep_going) -> None:
            c = ds.client()
            while True:
                start.wait()
                if stop.is_set():
                    return
                try:
                    results[i] = _patch(c, path, cur["etag"], cur["counter"] + 1)
                except Exception as exc:  # noqa: BLE001 - counted as a transport error
                    results[i] = exc
                end.wait()

        threads = [
            threading.Thread(target=worker, args=(i, None), daemon=True) for i in range(clients)
        ]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        for _ in range(int(duration * MAX_RATE / clients)):  # count bound on rounds
            start.wait()
            end.wait()
            wins = [r for r in results if not isinstance(r, Exception) and r.status == 200]
            for r in results:
                if isinstance(r, Exception):
                    s.transport_errors += 1
                else:
                    s.statuses[r.status] += 1
                    s.latencies_ms.append(r.ms)
            state["rounds"] += 1
            state["wins"] += len(wins)
            if len(wins) != 1:
                state["bad_rounds"] += 1
            if len(wins) == 1:
                cur.update(etag=wins[0].headers["etag"], counter=cur["counter"] + 1)
            else:
                r = main.request("GET", path)
                cur.update(etag=r.headers["etag"], counter=r.body["data"]["counter"])
            if time.monotonic() - t0 >= duration:
                break
        s.duration_s = time.monotonic() - t0
        stop.set()
        start.wait()
        for t in threads:
            t.join(timeout=10)
        s.requests = sum(s.statuses.values()) + s.transport_errors
        return s.finish()

    def check(ds: DataSet) -> list[str]:
        final = ds.client().request("GET", path).body["data"]["counter"]
        lost = state["wins"] - final
        out = []
        if lost > 0:
            out.append(f"FAIL {lost} lost updates")
        if state["bad_rounds"]:
            out.append(f"{state['bad_rounds']}/{state['rounds']} rounds without exactly 1 winner")
        return out

    wl.run, wl.precheck, wl.check = run, pre, check
    return wl


# --- W7: batch of creates -------------------------------------------------------------


def w7(clients: int = 4) -> Workload:
    wl = Workload(
        "W7", f"W7 batch of 25 creates, {clients} clients", "records/s", lambda ds, d: None
    )  # type: ignore[arg-type]
    created: set[str] = set()

    def pre(ds: DataSet) -> None:
        if not ds.batch_max:
            raise NotAvailable("no /batch")
        created.clear()

    def run(ds: DataSet, duration: float) -> Sample:
        s, lock = Sample(), threading.Lock()
        size = min(25, ds.batch_max)
        body = {
            "defaults": {"method": "POST", "path": coll_path("w7")[len(PREFIX) :] + "/records"},
            "requests": [{"body": {"data": {"title": "w7", "k": k}}} for k in range(size)],
        }

        def worker(i: int, keep_going) -> None:
            c = ds.client()
            for _ in range(int(duration * MAX_RATE)):
                if not keep_going():
                    break
                r = c.request("POST", f"{PREFIX}/batch", body)
                with lock:
                    s.latencies_ms.append(r.ms)
                    s.statuses[r.status] += 1
                    if r.status != 200:
                        continue
                    for sub in r.body["responses"]:
                        s.extra.setdefault("sub", Counter())[sub["status"]] += 1
                        if sub["status"] == 201:
                            created.add(sub["body"]["data"]["id"])
                            s.units += 1

        s.duration_s = run_threads(clients, worker, duration)
        s.requests = sum(s.statuses.values())
        return s.finish()

    def check(ds: DataSet) -> list[str]:
        absent = created - set(ds.walk_ids("w7"))
        return [f"FAIL {len(absent)} records answered 201 but absent"] if absent else []

    wl.run, wl.precheck, wl.check = run, pre, check
    return wl


def all_workloads(sizes: dict[str, int], w1_records: int = 0) -> list[Workload]:
    n10k = sizes["c10k"]
    out = [
        w1(1, w1_records),
        w1(16, w1_records),
        w2(),
        w3_first(n10k, None),
        w3_first(n10k, "rnd"),
        w3_walk(n10k),
    ]
    out += [w4(coll, n) for coll, n in sizes.items()]
    out += [w5_distinct(), w5_shared(), w6(n10k), w7()]
    return out
