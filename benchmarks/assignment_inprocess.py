"""In-process assignment speed: one user across 10 experiments, and a batch of 100,000 users.

Runs the real service functions (``assignment.services.assign_user`` / ``assign_users``) with
the cached configuration and exposure buffering on, against a scratch SQLite database in a
temporary folder (only the tables assignment needs are migrated). Each single-user call is
timed alone; the figure is the median over all calls, each with a new user id. The batch is
timed end to end (vectorised hashing, reasons, buffering of first exposures). Writing the
buffered rows happens after a response in production: in the single-user loop the buffer is
flushed between calls when due (untimed, as in a web worker), and the batch's flush is
reported apart.

Targets: single user x 10 experiments <= 50 us (median); 100,000 users x 1 experiment <= 1 s.

    .venv/bin/python benchmarks/assignment_inprocess.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SINGLE_TARGET_US = 50.0
BATCH_TARGET_S = 1.0


def setup_django(var_dir: str) -> None:
    sys.path.insert(0, str(REPO))
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="benchmark-secret-key-not-for-production-only-for-benchmarks",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        SPLITLAB_VAR_DIR=var_dir,
    )
    import django
    from django.core.management import call_command

    django.setup()
    for app in ("experiments", "assignment"):
        call_command("migrate", app, verbosity=0)


def create_experiments(count: int) -> None:
    from experiments import services

    layers = [services.do_create_layer(f"bench-layer-{n}") for n in range(count // 5 + 1)]
    services.do_create_holdout("bench-holdout", 0.02)
    for i in range(count):
        fields: dict = {}
        layer = layers[i // 5]
        if i % 5 == 1:
            fields["targeting"] = {"country": ["US", "DE"]}
        if i % 5 == 2:
            fields.update(layer=layer, layer_start=0.0, layer_end=0.5)
        if i % 5 == 3:
            fields.update(layer=layer, layer_start=0.5, layer_end=1.0, coverage=0.8)
        variants = [{"key": "control", "is_control": True}, {"key": "treatment"}]
        if i % 3 == 0:
            variants.append({"key": "treatment-2", "weight": 0.5})
        experiment = services.do_create_experiment(
            key=f"bench-{i}", name=f"bench {i}", variants=variants, **fields
        )
        services.do_start_experiment(experiment, None)


def time_single(calls: int) -> tuple[float, float]:
    """(median, p99) microseconds of ``assign_user`` for one new user across all running."""
    from assignment import exposure_log
    from assignment.services import assign_user

    attributes = {"country": "US", "platform": "ios"}
    for i in range(2000):  # warm the cache and the interpreter
        assign_user(f"warm-{i}", attributes)
    exposure_log.buffer.clear()
    clock = time.perf_counter_ns
    samples = []
    buffer = exposure_log.buffer
    for i in range(calls):
        user_id = f"user-{i:09d}"
        start = clock()
        results = assign_user(user_id, attributes)
        samples.append(clock() - start)
        if len(results) != 10:
            raise RuntimeError(f"expected 10 results, got {len(results)}")
        if buffer.is_due():  # as after a response in the web process: not on the timed path
            buffer.flush()
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(0.99 * (len(samples) - 1))] / 1000


def time_batch(users: int, rounds: int) -> tuple[float, float, int]:
    """(best seconds for ``users`` x 1 experiment incl. buffering, flush seconds, rows)."""
    from assignment import exposure_log
    from assignment.services import assign_users

    best = float("inf")
    for round_number in range(rounds):
        ids = [f"batch-{round_number}-{i:09d}" for i in range(users)]
        exposure_log.buffer.clear()
        start = time.perf_counter()
        batch = assign_users(ids, None, ["bench-0"])
        best = min(best, time.perf_counter() - start)
        if len(batch.variant_index[0]) != users:
            raise RuntimeError("batch answered the wrong number of users")
    start = time.perf_counter()
    rows = exposure_log.flush()
    return best, time.perf_counter() - start, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and a smaller batch")
    args = parser.parse_args()
    calls = 5_000 if args.quick else 50_000
    batch_users = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="splitlab-bench-") as var_dir:
        setup_django(var_dir)
        create_experiments(10)
        median_us, p99_us = time_single(calls)
        batch_s, flush_s, rows = time_batch(batch_users, 1 if args.quick else 3)
    # The batch target is for 100,000 users; --quick scales its measurement linearly.
    batch_100k_s = batch_s * 100_000 / batch_users
    ok = median_us <= SINGLE_TARGET_US and batch_100k_s <= BATCH_TARGET_S
    load = os.getloadavg()[0]
    print(
        f"assignment_inprocess: 1 user x 10 experiments median {median_us:.1f} us "
        f"(p99 {p99_us:.1f} us, {calls} calls; target <= {SINGLE_TARGET_US:.0f} us); "
        f"batch {batch_users} users x 1 experiment {batch_s:.3f} s "
        f"(per 100,000: {batch_100k_s:.3f} s; target <= {BATCH_TARGET_S:.0f} s; "
        f"flushing {rows} exposure rows afterwards {flush_s:.2f} s; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs) {'PASS' if ok else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
