"""Figure 1 of ``simulation.py``: the simulator's ledger against the report's CSV, over HTTP.

A scratch PostgreSQL database; a generated catalogue, two configurations (untrained: every
list is the serving fallback, which is enough to count), a 2% holdout and a running
experiment with CTR, abandonment, conversion and watch time; then gunicorn (2 sync workers)
and the simulator's concurrent clients with retried, duplicated, late and out-of-order
batches. Gunicorn is stopped (it writes its buffered exposures on exit), the rollup runs, a
fresh gunicorn serves the report's CSV export to a staff login, and every count is compared.
"""

from __future__ import annotations

import csv
import http.cookiejar
import io
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks._events_support import (
    PYTHON,
    REPO,
    database_url,
    django_env,
    drop_database,
    gunicorn,
    setup_django,
)

DATABASE = os.environ.get("SPLITLAB_BENCH_SIMULATION_DB", "splitlab_bench_simulation")
EXPERIMENT = "sim-accounting"
STAFF = ("bench-analyst", "bench-analyst-password")
# (ledger total, CSV metric, CSV column suffix)
CHECKS = (
    ("exposed_users", "ctr", "users"),
    ("impressions", "ctr", "denominator"),
    ("clicks", "ctr", "numerator"),
    ("converted_users", "conversion_rate", "numerator"),
    ("sessions", "session_abandonment", "denominator"),
    ("abandoned", "session_abandonment", "numerator"),
    ("watch_seconds", "watch_time", "numerator"),
)


def _prepare() -> str:
    """Catalogue, configurations, holdout, the running experiment, a staff user; a token."""
    from django.contrib.auth import get_user_model

    from accounts.services import create_api_client
    from experiments import services as experiments
    from experiments.models import MetricDefinition
    from recommenders.core.demo import generate_demo_dataset
    from recommenders.models import RecommenderConfig
    from recommenders.services.datasets import do_load_demo_dataset

    do_load_demo_dataset(generate_demo_dataset(n_users=200, n_items=150, seed=5))
    control = RecommenderConfig.objects.create(name="popular", algorithm="popular", is_default=True)
    treatment = RecommenderConfig.objects.create(name="popular-b", algorithm="popular")
    experiments.do_create_holdout("global", 0.02)
    metrics = MetricDefinition.objects
    experiment = experiments.do_create_experiment(
        key=EXPERIMENT,
        name="Simulator accounting",
        surface="home",
        variants=[
            {"key": "control", "is_control": True, "recommender_config": control},
            {"key": "treatment", "recommender_config": treatment},
        ],
        primary_metric=metrics.get(kind="ctr"),
        guardrail_metrics=metrics.filter(kind="session_abandonment"),
        secondary_metrics=metrics.filter(kind__in=["conversion_rate", "watch_time"]),
    )
    experiments.do_start_experiment(experiment, None)
    get_user_model().objects.create_superuser(STAFF[0], "analyst@example.com", STAFF[1])
    token, _ = create_api_client("simulator")
    return token


def fetch_report_csv(base: str, key: str) -> dict[tuple[str, str], dict[str, str]]:
    """Log in as staff through the admin form and download ``/reports/<key>/export.csv``."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login = f"{base}/admin/login/"
    page = opener.open(login, timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "username": STAFF[0],
            "password": STAFF[1],
            "csrfmiddlewaretoken": csrf,
            "next": "/reports/",
        }
    ).encode()
    opener.open(urllib.request.Request(login, data=form, headers={"Referer": login}), timeout=30)
    body = opener.open(f"{base}/reports/{key}/export.csv", timeout=60).read().decode()
    return {(r["metric"], r["variant"]): r for r in csv.DictReader(io.StringIO(body))}


def compare(totals: dict[str, dict[str, float]], rows: dict) -> list[str]:
    """Every count of the ledger that the CSV does not show exactly (watch time to 1e-6 s)."""
    differences = []
    for variant, side in (("control", "control"), ("treatment", "treatment")):
        for total, metric, suffix in CHECKS:
            shown = float(rows[(metric, "treatment")][f"{side}_{suffix}"] or 0.0)
            sent = float(totals.get(variant, {}).get(total, 0.0))
            tolerance = 1e-6 * max(1.0, sent) if total == "watch_seconds" else 0.0
            if abs(shown - sent) > tolerance:
                differences.append(f"{variant} {total}: ledger {sent:g}, CSV {shown:g}")
    return differences


def scratch_database(server_url: str, name: str) -> str:
    """A fresh database ``name``, migrated (its own, not the shared events template)."""
    import subprocess

    import psycopg

    drop_database(server_url, name)
    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = database_url(server_url, name)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=django_env(url),
        check=True,
    )
    return url


def impressions_before_first_exposure() -> tuple[int, int]:
    """(users, impressions) whose impression events are stamped before the user's recorded
    first exposure: the rollup counts them as pre-period (diagnosis of a mismatch)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(DISTINCT e.user_id), COALESCE(SUM(e.item_count), 0)"
            " FROM analytics_event e JOIN assignment_exposure x ON x.user_id = e.user_id"
            " WHERE e.type = 'impression' AND e.ts < x.first_exposed_at"
        )
        users, impressions = cursor.fetchone()
    return int(users), int(impressions)


def run_accounting(
    server_url: str, *, users: int, clients: int, seed: int, web_workers: int = 2
) -> tuple[bool, str]:
    """(passed, figure text) of the exact-accounting run."""
    from simulator.api import SplitlabApi
    from simulator.behaviour import BehaviourModel, Effect
    from simulator.client import RunSettings, Simulation
    from simulator.ledger import Ledger
    from simulator.population import generate_population

    url = scratch_database(server_url, DATABASE)
    var_dir = REPO / "var" / "bench-simulation"
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(SPLITLAB_VAR_DIR=str(var_dir), SPLITLAB_SERVING_DEADLINE_MS="30")
    setup_django(url)
    token = _prepare()
    ledger_path = Path(var_dir) / "accounting-ledger.jsonl"
    ledger_path.unlink(missing_ok=True)
    ledger = Ledger(ledger_path)
    population = generate_population(users, 400, rng=np.random.default_rng(seed))
    settings = RunSettings(
        surface="home", users=users, rate=0, days=2, k=8, clients=clients, batch_size=100,
        retry_share=0.10, duplicate_share=0.02, late_share=0.05, cold_share=0.10,
        effect=Effect(attraction=0.10),
    )  # fmt: skip
    with gunicorn(url, workers=web_workers) as base:
        simulation = Simulation(
            SplitlabApi(base, token), population, BehaviourModel(), settings, ledger, seed=seed
        )
        simulation.prepare()
        simulation.run()
    ledger.end("finished")
    from analytics.services.rollups import do_run_rollups

    do_run_rollups()
    with gunicorn(url, workers=2) as base:
        rows = fetch_report_csv(base, EXPERIMENT)
    differences = compare(Ledger.load(ledger_path).totals(EXPERIMENT), rows)
    progress = ledger.progress()
    checked = 2 * len(CHECKS)
    text = (
        f"{simulation.users_done:,} users over HTTP (gunicorn {web_workers} workers, "
        f"{clients} clients; "
        f"{progress['batches_acknowledged']:,} batches of which {progress['batches_retried']} "
        f"re-sent whole, 5% of events late, 2% duplicated, order shuffled; "
        f"{progress['events_stored']:,} events stored): exposed users, impressions, clicks, "
        f"converted users, sessions, abandoned sessions, watch seconds per variant in the "
        f"report CSV vs the ledger: {checked - len(differences)}/{checked} equal"
    )
    if differences:
        text += " (" + "; ".join(differences[:4]) + ")"
        users_early, early = impressions_before_first_exposure()
        if early:
            text += (
                f"; {users_early} users have {early} impressions stamped before their recorded "
                f"first exposure (a later exposure of another web process was kept)"
            )
    return not differences and progress["batches_unacknowledged"] == 0, text
