"""Soak: mixed traffic at half the measured capacity for a long time; nothing may drift.

gunicorn (2 sync workers) and one serving worker (prefork, 2 processes) on PostgreSQL and
Redis (or the embedded SQLite + filesystem broker), a generated catalogue, an ALS model and a
running experiment. Client threads send a mix: assignments (40%), recommendations (40%) and
event batches (20%, each batch retried once with the same event ids, as a client that lost an
answer would). First ``--capacity-seconds`` of closed-loop load measure the capacity; then the
same mix is paced at ``--fraction`` (0.5) of it for ``--seconds``.

Checked, one line printed with PASS or MISS:

- 0 server errors (5xx or a dropped connection);
- every server process's resident memory (gunicorn and worker trees, summed per process
  tree) within +10% of its value after the warm-up (the first window);
- p99 latency of the last window within 1.5x that of the first;
- the ledger exact: every event id acknowledged is stored once, nothing else.

Full: 30 minutes in 5-minute windows. ``--quick`` (the test suite): 45 s in 15 s windows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _serving_load as load  # noqa: E402
from benchmarks import _serving_support as support  # noqa: E402
from benchmarks import serving_http  # noqa: E402

THREADS = 8
EVENTS_PER_BATCH = 20
RSS_GROWTH_LIMIT = 0.10
P99_DRIFT_LIMIT = 1.5


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Traffic:
    """The mix, sent by client threads; paced when ``interval_seconds`` > 0."""

    base: str
    token: str
    users: list[str]
    interval_seconds: float = 0.0
    windows: list[Window] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, {}
        except OSError:
            return 599, {}  # a dropped connection counts as a server error

    def _one(self, n: int) -> int:
        user = self.users[n % len(self.users)]
        kind = n % 5
        if kind in (0, 1):
            return self._call("POST", "/api/v1/assignments", {"user_id": user})[0]
        if kind in (2, 3):
            path = f"/api/v1/recommendations?user_id={user}&k=10&surface=home"
            return self._call("GET", path)[0]
        now = datetime.now(UTC).isoformat()
        batch = [
            {
                "event_id": f"soak-{uuid.uuid4().hex}",
                "type": "click",
                "user_id": user,
                "timestamp": now,
                "request_id": "soak",
                "item_id": "i-1",
            }
            for _ in range(EVENTS_PER_BATCH)
        ]
        status, _ = self._call("POST", "/api/v1/events", batch)
        retried, body = self._call("POST", "/api/v1/events", batch)  # a client's retry
        if status == 200 or retried == 200:
            with self.lock:
                self.acknowledged.update(event["event_id"] for event in batch)
        if retried == 200 and body.get("duplicates") != EVENTS_PER_BATCH and status == 200:
            return 598  # a retry must store nothing again
        return max(status, retried)

    def run(self, seconds: float, window_seconds: float) -> int:
        """Send the mix for ``seconds``; returns the number of requests."""
        started = time.monotonic()
        counter = iter(range(10**9))
        count_lock = threading.Lock()

        def client() -> None:
            while True:
                now = time.monotonic()
                if now - started >= seconds:
                    return
                with count_lock:
                    n = next(counter)
                index = int((now - started) // window_seconds)
                sent = time.monotonic()
                status = self._one(n)
                took = time.monotonic() - sent
                with self.lock:
                    while len(self.windows) <= index:
                        self.windows.append(Window())
                    self.windows[index].latencies.append(took)
                    self.windows[index].errors += status >= 500
                if self.interval_seconds:
                    time.sleep(max(0.0, self.interval_seconds - took))

        threads = [threading.Thread(target=client) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return next(counter)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and its descendants (Linux /proc)."""
    page = os.sysconf("SC_PAGE_SIZE")
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * page
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


def stored_event_ids() -> set[str]:
    from analytics.models import Event

    return set(
        Event.objects.filter(event_id__startswith="soak-").values_list("event_id", flat=True)
    )


def prepare_experiment() -> None:
    from experiments.models import Experiment

    if not Experiment.objects.filter(key="soak-exp").exists():
        from tests.analytics.factories import make_experiment

        make_experiment("soak-exp", start=datetime.now(UTC))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="45 s in 15 s windows")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--window-seconds", type=float, default=None)
    parser.add_argument("--capacity-seconds", type=float, default=None)
    parser.add_argument("--fraction", type=float, default=0.5)
    args = parser.parse_args()
    quick = args.quick or not os.environ.get("SPLITLAB_FULL")
    seconds = args.seconds or (45.0 if quick else 1800.0)
    window = args.window_seconds or (15.0 if quick else 300.0)
    capacity_seconds = args.capacity_seconds or (10.0 if quick else 60.0)

    bench = support.choose_environment("splitlab_bench_soak", fresh=True)
    support.setup_django(bench)
    support.load_data(quick=True)
    serving_http.prepare_config("als", {})
    prepare_experiment()
    from django.db import connections

    from accounts.services import create_api_client

    token, _ = create_api_client("bench-soak")
    users = serving_http.user_ids(limit=400)
    connections.close_all()
    with (
        support.celery_worker(bench, "serving", concurrency=2) as worker,
        support.gunicorn(bench, workers=2) as base,
    ):
        load.warm_up(base, token, users)
        probe = Traffic(base, token, users)
        requests = probe.run(capacity_seconds, capacity_seconds)
        capacity = requests / capacity_seconds
        per_thread_rate = args.fraction * capacity / THREADS
        soak = Traffic(base, token, users, interval_seconds=1.0 / per_thread_rate)
        rss: list[tuple[int, int]] = []
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(window):
                rss.append((tree_rss_bytes(base.pid), tree_rss_bytes(worker.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        soak.run(seconds, window)
        sampler_stop.set()
        time.sleep(3)  # the servers' write buffers flush
    stored = stored_event_ids()
    windows = [w for w in soak.windows if w.latencies]
    errors = sum(w.errors for w in soak.windows) + sum(w.errors for w in probe.windows)
    first, last = p99(windows[0].latencies), p99(windows[-1].latencies)
    growth = max(
        (later / early - 1.0)
        for index in (0, 1)
        for early, later in [(rss[0][index], rss[-1][index])]
        if early
    ) if len(rss) >= 2 else 0.0  # fmt: skip
    acknowledged = probe.acknowledged | soak.acknowledged
    ledger_exact = stored == acknowledged  # each acknowledged event once, nothing else
    passed = (
        errors == 0
        and growth <= RSS_GROWTH_LIMIT
        and last <= P99_DRIFT_LIMIT * first
        and ledger_exact
    )
    print(
        f"soak: {seconds:.0f} s at {args.fraction:.0%} of {capacity:.0f} req/s "
        f"({bench.label}, {len(windows)} windows of {window:.0f} s): {errors} server errors, "
        f"RSS growth {growth:+.1%} after warm-up (limit +10%), p99 {first * 1000:.0f} -> "
        f"{last * 1000:.0f} ms (limit 1.5x), ledger {len(stored)}/{len(acknowledged)} events "
        f"{'exact' if ledger_exact else 'NOT exact'} {support.verdict(passed)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
