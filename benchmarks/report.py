"""Benchmark: rollup time and report render time at 1,000,000 exposed users, 10,000,000 events.

Creates a scratch PostgreSQL database (``splitlab_bench_report``), defines an experiment with
two variants, and generates with ``generate_series`` inside PostgreSQL (seconds, not hours):
``--users`` exposures (default 1,000,000) over 14 days and ``--events`` events (10,000,000),
ten per user: two in the pre-period before the user's exposure, eight after it, a mix of
impressions (5 items), clicks, watches, session starts and ends, first interactions and
conversions. Then it times a full rollup (target: at most 60 s), an incremental rollup after
1% more events, and the experiment report page rendered by Django for a staff user (target:
at most 1.5 s; the slowest of three renders counts), then the same page with its segments
tab (``?segment=device``: the breakdown reads every exposed user's rollup rows; same target).
Prints one line for the segments tab and one for the rest, each with PASS or MISS.

    python benchmarks/report.py [--quick] [--server-url postgres://postgres@127.0.0.1:5432/postgres]
        [--database splitlab_bench_report] [--keep | --reuse]

``--reuse`` keeps the scratch database and, on the next ``--reuse`` run with the same size and
migrations, skips the generation: it deletes what the previous run added (the incremental
run's events, every rollup table and the rollup state) and times the rollups again.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._events_support import (  # noqa: E402
    DEFAULT_SERVER_URL,
    create_scratch_database,
    database_comment,
    database_url,
    drop_database,
    migrations_fingerprint,
    set_database_comment,
    setup_django,
)

DATABASE = "splitlab_bench_report"
ROLLUP_TARGET_SECONDS = 60.0
RENDER_TARGET_SECONDS = 1.5
EVENTS_PER_USER = 10

# Event g (0-based) belongs to user u = g / 10 and is that user's j-th event (j = g % 10);
# k spreads the types so that every user gets a mix. Times: the user's exposure time plus
# (j - 2) * 6 hours, so events 0 and 1 fall in the pre-period.
EVENTS_SQL = """
INSERT INTO analytics_event (event_id, type, user_id, ts, request_id, session_id, item_id,
    position, item_count, value, surface, experiment_key, variant_key, items, attributes,
    received_at)
SELECT 'e' || g, t.type, 'u' || t.u, t.ts, 'r' || (g / 2), 's' || t.u,
       CASE WHEN t.type IN ('click', 'watch') THEN 'i' || (g %% 5000) ELSE '' END,
       CASE WHEN t.type = 'click' THEN g %% 5 END,
       CASE WHEN t.type = 'impression' THEN 5 END,
       CASE WHEN t.type = 'watch' THEN (g %% 600)::float
            WHEN t.type = 'first_interaction' THEN 1 + (g %% 17)::float
            WHEN t.type = 'conversion' THEN 9.99 END,
       'home', '', '', NULL, '{}'::jsonb, %(received_at)s
FROM (
    SELECT g, g / 10 AS u,
        %(start)s::timestamptz + ((g / 10) %% 14) * interval '1 day'
            + (((g / 10) * 7919) %% 86400) * interval '1 second'
            + ((g %% 10) - 2) * interval '6 hours' + (g %% 3600) * interval '1 second' AS ts,
        CASE
            WHEN (g * 37) %% 20 < 8 THEN
                CASE WHEN (g / 10) %% 2 = 1 AND (g * 37) %% 20 = 7 THEN 'click'
                     ELSE 'impression' END
            WHEN (g * 37) %% 20 < 10 THEN 'click'
            WHEN (g * 37) %% 20 < 12 THEN 'watch'
            WHEN (g * 37) %% 20 < 14 THEN 'session_start'
            WHEN (g * 37) %% 20 < 16 THEN 'session_end'
            WHEN (g * 37) %% 20 < 19 THEN 'first_interaction'
            ELSE 'conversion'
        END AS type
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
) t
"""

EXPOSURES_SQL = """
INSERT INTO assignment_exposure (experiment_id, phase, variant_id, user_id, segments,
    first_exposed_at)
SELECT %(experiment)s, 1, CASE WHEN u %% 2 = 0 THEN %(control)s ELSE %(treatment)s END,
       'u' || u,
       jsonb_build_object('device', (ARRAY['ios', 'android', 'web', 'tv'])[1 + (u * 7) %% 4]),
       %(start)s::timestamptz + (u %% 14) * interval '1 day'
           + ((u * 7919) %% 86400) * interval '1 second'
FROM generate_series(0::bigint, %(users)s::bigint - 1) u
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 users, 200,000 events")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help="scratch database name (another name lets two runs share a server)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the scratch database and reuse a kept one of the same size (no generation)",
    )
    return parser.parse_args(argv)


def make_experiment(start: datetime):
    from experiments.models import Experiment, ExperimentPhase, MetricDefinition, Variant

    metrics = {m.key: m for m in MetricDefinition.objects.all()}
    experiment = Experiment.objects.create(
        key="bench",
        name="Benchmark experiment",
        status=Experiment.Status.RUNNING,
        started_at=start,
        min_runtime_days=14,
        planned_sample_size=500_000,
        primary_metric=metrics["ctr"],
        segment_attributes=["device"],
    )
    experiment.guardrail_metrics.set(
        [metrics["session_abandonment"], metrics["time_to_first_interaction"]]
    )
    experiment.secondary_metrics.set(
        [metrics["click_through_users"], metrics["watch_time"], metrics["conversion_rate"]]
    )
    ExperimentPhase.objects.create(
        experiment=experiment, number=1, seed="bench", coverage=1.0,
        weights={"control": 1, "treatment": 1}, started_at=start,
    )  # fmt: skip
    control = Variant.objects.create(experiment=experiment, key="control", is_control=True)
    treatment = Variant.objects.create(experiment=experiment, key="treatment", position=1)
    return experiment, control, treatment


def generate(users: int, events: int, start: datetime, received_at: datetime) -> float:
    """Exposures and events (all received at ``received_at``) by SQL; returns the seconds it
    took."""
    from django.db import connection, transaction

    experiment, control, treatment = make_experiment(start)
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(
            EXPOSURES_SQL,
            {
                "experiment": experiment.id,
                "control": control.id,
                "treatment": treatment.id,
                "start": start,
                "users": users,
            },
        )
        step = 2_000_000
        for first in range(0, events, step):
            cursor.execute(
                EVENTS_SQL,
                {
                    "start": start,
                    "first": first,
                    "last": min(first + step, events) - 1,
                    "received_at": received_at,
                },
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - began


INCREMENT_SQL = """
INSERT INTO analytics_event (event_id, type, user_id, ts, request_id, session_id, item_id,
    position, item_count, value, surface, experiment_key, variant_key, items, attributes,
    received_at)
SELECT 'late' || g, CASE WHEN g %% 3 = 0 THEN 'click' ELSE 'impression' END,
       'u' || ((g * 7919) %% %(users)s), %(now)s::timestamptz - (g %% 3000) * interval '1 second',
       'late-r' || g, '', 'i' || (g %% 5000), NULL, CASE WHEN g %% 3 = 0 THEN NULL ELSE 5 END,
       NULL, 'home', '', '', NULL, '{}'::jsonb, %(now)s
FROM generate_series(1, %(count)s) g
"""


def kept_history(server_url: str, name: str, tag: str) -> datetime | None:
    """When the events of a database kept by an earlier ``--reuse`` run were received (None: no
    such database, or one of another size or older migrations)."""
    comment = database_comment(server_url, name) or ""
    if not comment.startswith(f"{tag}; received "):
        return None
    return datetime.fromisoformat(comment.removeprefix(f"{tag}; received "))


def forget_runs(history: datetime) -> None:
    """Back to the generated state: no rollups, no events received after ``history``."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_event WHERE received_at > %s", [history])
        cursor.execute("TRUNCATE analytics_userdailyrollup")
        cursor.execute("DELETE FROM analytics_armdailystats")
        cursor.execute("DELETE FROM analytics_modelversiondailystats")
        cursor.execute("DELETE FROM analytics_rollupstate")


def add_recent_events(count: int, users: int) -> None:
    """``count`` clicks and impressions of existing users in the last hour (today)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(INCREMENT_SQL, {"count": count, "users": users, "now": datetime.now(UTC)})


def render_seconds(times: int = 4, query: str = "") -> list[float]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    seconds = []
    # The first request of a process also imports the statistics stack and compiles the
    # templates; it is reported apart (gunicorn workers pay it once, not per report).
    for _ in range(times):
        began = time.perf_counter()
        response = client.get(f"/reports/bench/{query}", HTTP_HOST="localhost")
        seconds.append(time.perf_counter() - began)
        if response.status_code != 200 or b"effect-chart" not in response.content:
            raise RuntimeError(f"report page answered {response.status_code}")
    return seconds


def run(args: argparse.Namespace) -> str:
    users = args.users or (20_000 if args.quick else 1_000_000)
    events = users * EVENTS_PER_USER
    name = f"{args.database}_quick" if args.quick else args.database
    tag = f"splitlab report benchmark: {users} users, migrations {migrations_fingerprint()}"
    history = kept_history(args.server_url, name, tag) if args.reuse else None
    try:
        if history is None:
            setup_django(create_scratch_database(args.server_url, name))
            # Recent enough that the incremental run's new events are "today"-ish; UTC midnight.
            start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start -= timedelta(days=16)
            # History: received before the rollup's overlap window, as in production where
            # the benchmarked full run follows days of traffic.
            history = datetime.now(UTC) - timedelta(hours=1)
            generated = f"generated in {generate(users, events, start, history):.1f} s"
            set_database_comment(args.server_url, name, f"{tag}; received {history.isoformat()}")
        else:
            setup_django(database_url(args.server_url, name))
            generated = "reused"
            forget_runs(history)
        from analytics.services.rollups import do_run_rollups

        began = time.perf_counter()
        summary = do_run_rollups(full=True)
        rollup = time.perf_counter() - began
        extra = max(events // 100, 10)
        add_recent_events(extra, users)
        began = time.perf_counter()
        incremental_summary = do_run_rollups()
        incremental = time.perf_counter() - began
        print(
            f"full steps: {summary.step_seconds}; incremental steps: "
            f"{incremental_summary.step_seconds}, days {incremental_summary.days}",
            file=sys.stderr,
        )
        cold, *renders = render_seconds()
        segment_renders = render_seconds(3, "?segment=device")
        from django.db import connections

        connections.close_all()
    finally:
        if not (args.keep or args.reuse):
            drop_database(args.server_url, name)
    ok = rollup <= ROLLUP_TARGET_SECONDS and max(renders) <= RENDER_TARGET_SECONDS
    full = users >= 1_000_000 and events >= 10_000_000
    segments_ok = max(segment_renders) <= RENDER_TARGET_SECONDS
    print(
        f"report: segments tab (by device, 4 values) render max {max(segment_renders):.3f} s of "
        f"{len(segment_renders)} at {users:,} users (target <= {RENDER_TARGET_SECONDS} s): "
        f"{'PASS' if segments_ok and full else 'MISS'}"
        + ("" if full else " (quick run: smaller than the target size)")
    )
    return (
        f"report: {users:,} exposed users, {events:,} events ({generated}); "
        f"full rollup {rollup:.1f} s ({summary.user_rows:,} user-day rows; target <= "
        f"{ROLLUP_TARGET_SECONDS:.0f} s); incremental rollup after {extra:,} new events of today "
        f"{incremental:.1f} s; report page render max {max(renders):.3f} s, median "
        f"{statistics.median(renders):.3f} s of {len(renders)} after a first (cold process) "
        f"render of {cold:.3f} s (target <= {RENDER_TARGET_SECONDS} s): "
        f"{'PASS' if ok and full else 'MISS'}"
        + ("" if full else " (quick run: smaller than the target size)")
    )


def main(argv: list[str] | None = None) -> int:
    print(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
