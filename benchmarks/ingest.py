"""Benchmark: events/s through ``POST /api/v1/events`` into PostgreSQL (gunicorn, 2 sync workers).

Creates a scratch database (``splitlab_bench_events``), starts gunicorn with 2 sync workers
on a free 127.0.0.1 port, and sends ``--events`` distinct events (default 1,000,000) in
batches of ``--batch-size`` (10,000) over ``--connections`` keep-alive connections (4); the
first half of the batches is sent a second time, interleaved with the rest, so the server sees
1.5x the distinct events. Afterwards it checks that the stored count equals the distinct
event_ids sent and that every answer added up (stored + duplicates = sent). Prints one line:
events/s processed (every event of every request) and distinct events stored per second,
against the target of 20,000 events/s, PASS or MISS.

Bodies are encoded before the clock starts, so the load generator costs little CPU while it
runs (the server, PostgreSQL and the generator share the machine's cores).

    python benchmarks/ingest.py [--quick] [--server-url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._events_support import (  # noqa: E402
    DEFAULT_SERVER_URL,
    create_scratch_database,
    drop_database,
    gunicorn,
    setup_django,
)

TARGET_EVENTS_PER_SECOND = 20_000
DATABASE = "splitlab_bench_events"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40,000 events in batches of 2,000")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args(argv)


def make_batch(index: int, size: int, now: datetime) -> bytes:
    """One batch of a realistic mix: impressions, clicks, watches, sessions, conversions."""
    events = []
    for j in range(size):
        n = index * size + j
        user = f"u{n % 200_003}"
        ts = (now - timedelta(seconds=n % 86_000)).isoformat()
        base = {"event_id": f"b{index}-{j}", "user_id": user, "timestamp": ts}
        kind = n % 20
        if kind < 8:
            items = [{"item_id": f"i{(n + p) % 5000}", "position": p} for p in range(5)]
            base |= {"type": "impression", "request_id": f"r{n}", "surface": "home",
                     "items": items}  # fmt: skip
        elif kind < 13:
            base |= {"type": "click", "request_id": f"r{n - 5}", "item_id": f"i{n % 5000}",
                     "position": n % 5, "session_id": f"s{n // 20}"}  # fmt: skip
        elif kind < 15:
            base |= {"type": "watch", "item_id": f"i{n % 5000}", "seconds": float(n % 600)}
        elif kind < 17:
            base |= {"type": "session_start", "session_id": f"s{n // 20}",
                     "attributes": {"device": "phone", "platform": "ios"}}  # fmt: skip
        elif kind < 19:
            base |= {"type": "session_end", "session_id": f"s{n // 20}"}
        else:
            base |= {"type": "conversion", "value": 9.99, "session_id": f"s{n // 20}"}
        events.append(base)
    return json.dumps({"events": events}).encode()


def send_all(base_url: str, token: str, plan: list[bytes], connections: int) -> dict:
    """POST every body of ``plan`` over ``connections`` threads; totals of the answers."""
    work: queue.Queue[bytes | None] = queue.Queue()
    for body in plan:
        work.put(body)
    totals = {"stored": 0, "duplicates": 0, "rejected": 0, "received": 0, "errors": 0}
    lock = threading.Lock()
    host, port = base_url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            conn.request("POST", "/api/v1/events", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            with lock:
                if response.status != 200:
                    totals["errors"] += 1
                    print(f"error {response.status}: {payload[:300]!r}", file=sys.stderr)
                    continue
                answer = json.loads(payload)
                for key in ("stored", "duplicates", "received"):
                    totals[key] += answer[key]
                totals["rejected"] += len(answer["rejected"])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals


def run(args: argparse.Namespace) -> tuple[str, bool]:
    events = args.events or (40_000 if args.quick else 1_000_000)
    batch = args.batch_size or (2_000 if args.quick else 10_000)
    batches = max(events // batch, 2)
    events = batches * batch
    name = f"{DATABASE}_quick" if args.quick else DATABASE
    url = create_scratch_database(args.server_url, name)
    try:
        setup_django(url)
        from django.db import connection

        from accounts.services import create_api_client

        token, _ = create_api_client("ingest-benchmark")
        connection.close()
        now = datetime.now(UTC)
        bodies = [make_batch(i, batch, now) for i in range(batches)]
        # Half of the batches go twice; each repeat follows its first send by a few batches,
        # so duplicates hit the server while other batches are in flight.
        plan: list[bytes] = []
        for i, body in enumerate(bodies):
            plan.append(body)
            if i >= 2 and (i - 2) < batches // 2:
                plan.append(bodies[i - 2])
        sent = sum(1 for _ in plan) * batch
        with gunicorn(url, workers=2) as base_url:
            started = time.perf_counter()
            totals = send_all(base_url, token, plan, args.connections)
            seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM analytics_event")
            stored, distinct = cursor.fetchone()
        connection.close()
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(args.server_url, name)
    exact = (
        stored == distinct == events
        and totals["stored"] == events
        and totals["stored"] + totals["duplicates"] == sent
        and totals["errors"] == totals["rejected"] == 0
    )
    rate = sent / seconds
    ok = exact and rate >= TARGET_EVENTS_PER_SECOND
    line = (
        f"ingest: {rate:,.0f} events/s processed ({sent:,} events in {len(plan)} batches of "
        f"{batch:,}, half of the batches sent twice, {args.connections} connections, "
        f"gunicorn 2 sync workers, PostgreSQL) in {seconds:.1f} s; {events / seconds:,.0f} "
        f"distinct events/s stored; stored {stored:,} == distinct event_ids sent {events:,}: "
        f"{'yes' if exact else 'NO'}; target >= {TARGET_EVENTS_PER_SECOND:,} events/s over "
        f">= 1,000,000 events: {'PASS' if ok and events >= 1_000_000 else 'MISS'}"
        + (" (quick run: fewer events than the target size)" if events < 1_000_000 else "")
    )
    return line, exact


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    line, exact = run(args)
    print(line)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
