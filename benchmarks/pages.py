"""Benchmark: server time of every workspace and report page (and a chart's data download)
with 50 running experiments.

Builds a scratch database (SQLite in a temporary folder, or ``--database-url``) with 50 running
experiments, each with two variants, CTR as primary metric, two guardrails and 14 days of
exposures and events rolled up by the real rollup, then renders each page in process through
Django's test client (the whole request: middleware, session, queries, template) and prints
the median server time of several renders and the queries per page against the target
(300 ms each). The experiment lists (``/``, ``/reports/``) read each rollup run's analyses
from a memo that each web process's refresher fills after the run; the first view after a
run, before the refresher has got to it, is timed too (the memo emptied before each render).

    python benchmarks/pages.py [--quick] [--experiments 50] [--users 200] [--runs 7]
        [--database-url postgres://postgres@127.0.0.1:5432/splitlab_bench_pages]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_MS = 300.0
GUARDRAILS = ("session_abandonment", "time_to_first_interaction")


def configure(var_dir: str, database_url: str | None) -> None:
    """A scratch database: SQLite under ``var_dir``, or the (empty) one at ``database_url``;
    never the one the environment names, which may hold real data."""
    os.environ["SPLITLAB_VAR_DIR"] = var_dir
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-" + "k" * 60)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def events_of(rng: random.Random, user: str, exposed_at: datetime, lift: float) -> list[dict]:
    """A user's sessions after exposure: impressions, clicks, first interactions."""
    out = []

    def add(event_id: str, kind: str, t: datetime, **fields) -> None:
        out.append({"event_id": event_id, "type": kind, "user_id": user,
                    "timestamp": t.isoformat(), **fields})  # fmt: skip

    for s in range(rng.randint(1, 3)):
        sid = f"{user}-s{s}"
        t = exposed_at + timedelta(hours=rng.uniform(0, 48))
        add(f"{sid}-b", "session_start", t, session_id=sid)
        for r in range(rng.randint(1, 3)):
            rid = f"{sid}-r{r}"
            items = [{"item_id": f"i{rng.randint(1, 80)}", "position": p} for p in range(6)]
            add(f"{rid}-i", "impression", t, request_id=rid, items=items)
            for p in range(6):
                if rng.random() < 0.07 * lift:
                    add(f"{rid}-c{p}", "click", t, request_id=rid, session_id=sid,
                        item_id=items[p]["item_id"], position=p)  # fmt: skip
        add(f"{sid}-f", "first_interaction", t, seconds=round(rng.uniform(1, 20), 2),
            session_id=sid)  # fmt: skip
        add(f"{sid}-e", "session_end", t + timedelta(minutes=4), session_id=sid)
    return out


def build(experiments: int, users: int, seed: int = 0) -> list[str]:
    """``experiments`` running experiments with ``users`` exposed each, rolled up."""
    from analytics.services.event_validation import TimeWindow, check_event
    from analytics.services.ingestion import insert_event_rows
    from analytics.services.rollups import do_run_rollups
    from assignment.models import Exposure
    from experiments import services
    from experiments.models import Experiment, MetricDefinition

    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=14)
    window = TimeWindow(now=start, past_seconds=86400, future_seconds=30 * 86400)
    metrics = {m.key: m for m in MetricDefinition.objects.all()}
    keys = []
    for e in range(experiments):
        key = f"bench-{e:03d}"
        experiment = services.do_create_experiment(
            key=key, name=f"Benchmark experiment {e}",
            variants=[{"key": "control", "is_control": True}, {"key": "treatment"}],
            primary_metric=metrics["ctr"], planned_sample_size=users, daily_traffic=users,
            guardrail_metrics=[metrics[k] for k in GUARDRAILS],
        )  # fmt: skip
        experiment = services.do_start_experiment(experiment, None, now=start)
        Experiment.objects.filter(pk=experiment.pk).update(started_at=start)
        variants = list(experiment.variants.order_by("position"))
        exposures, rows = [], []
        for u in range(users):
            user, variant = f"{key}-u{u}", variants[u % 2]
            exposed_at = start + timedelta(seconds=rng.uniform(0, 13 * 86400))
            exposures.append(Exposure(experiment=experiment, phase=1, variant=variant,
                                      user_id=user, first_exposed_at=exposed_at))  # fmt: skip
            lift = 1.1 if variant.key == "treatment" else 1.0
            rows.extend(check_event(ev, window) for ev in events_of(rng, user, exposed_at, lift))
        Exposure.objects.bulk_create(exposures)
        insert_event_rows(rows, datetime.now(UTC))
        keys.append(key)
    do_run_rollups(full=True)
    return keys


def time_pages(paths: list[str], runs: int) -> list[tuple[str, float, float, int]]:
    """Each path's median server time as a user sees it, and as the first view after a
    rollup run before the web process's refresher has analysed it for the experiment lists
    (their memo emptied before each render; the other pages do not use it), and its
    queries."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from analytics.reports.listing import clear_memo

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    client = Client()
    client.force_login(user)

    def render(path: str) -> float:
        began = time.perf_counter()
        response = client.get(path)
        elapsed = 1000 * (time.perf_counter() - began)
        assert response.status_code == 200, path
        return elapsed

    out = []
    for path in paths:
        render(path)  # warm: templates, caches
        cold = []
        for _ in range(runs):
            clear_memo()
            cold.append(render(path))
        render(path)
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                times.append(render(path))
        out.append((path, statistics.median(times), statistics.median(cold), len(queries)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 10 experiments")
    parser.add_argument("--experiments", type=int, default=50)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database-url", help="an empty scratch database (default: SQLite)")
    args = parser.parse_args()
    if args.quick:
        args.experiments, args.users, args.runs = 10, 60, 3
    with tempfile.TemporaryDirectory(prefix="splitlab-pages-") as var_dir:
        configure(var_dir, args.database_url)
        keys = build(args.experiments, args.users)
        paths = [
            "/", "/reports/", f"/experiments/{keys[0]}/", f"/reports/{keys[0]}/",
            f"/reports/{keys[0]}/?segment=new_vs_returning",
            "/reports/holdout/", "/planner/", "/experiments/new/", "/recommenders/",
            f"/experiments/{keys[0]}/edit/", f"/reports/{keys[0]}/charts/effect.csv",
        ]  # fmt: skip
        results = time_pages(paths, args.runs)
    worst = max(ms for _, ms, _, _ in results)
    worst_cold = max(cold for _, _, cold, _ in results)
    for path, ms, cold, queries in results:
        print(f"pages: {path} {ms:.1f} ms ({cold:.1f} ms after a rollup), {queries} queries")
    verdict = "PASS" if worst <= TARGET_MS else "MISS"
    cold_verdict = "PASS" if worst_cold <= TARGET_MS else "MISS"
    print(
        f"pages: slowest of {len(results)} pages {worst:.1f} ms with {args.experiments} running "
        f"experiments (median of {args.runs}; target <= {TARGET_MS:.0f} ms) {verdict}; "
        f"first view after a rollup, before the refresher's analysis: {worst_cold:.1f} ms "
        f"{cold_verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
