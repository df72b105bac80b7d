"""Every workspace and report page makes a fixed number of queries, whatever the number of
experiments (3 or 50 running, each with rolled-up data), recommender configurations, or an
experiment's own phases and history: the query-count half of "every page renders in under
300 ms server time with 50 running experiments" (``benchmarks/pages.py`` times them)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.services.rollups import do_run_rollups
from experiments import services
from experiments.models import Experiment
from recommenders.models import ModelVersion, RecommenderConfig
from tests.analytics.factories import generate, holdout_world

pytestmark = pytest.mark.django_db

# The most any page may make (the experiment page makes 14: session, user, the experiment
# with its relations, the rollup sums, the audit log); a page over it has grown a query per
# something.
MAX_QUERIES = 16
EXPERIMENT = "pages-0"  # the experiment whose own pages are read
PAGES = (
    "/",  # home
    "/reports/",  # the experiments list ("Experiments" in the top bar)
    f"/experiments/{EXPERIMENT}/",
    f"/experiments/{EXPERIMENT}/edit/",
    "/experiments/new/",
    f"/reports/{EXPERIMENT}/?phase=1",  # the phase with the data (the test opens more)
    "/reports/holdout/",
    "/planner/",
    "/recommenders/",
    f"/reports/{EXPERIMENT}/charts/effect.csv?phase=1",
    f"/reports/{EXPERIMENT}/export.csv?phase=1",
)


def _queries(client) -> dict[str, int]:
    counts = {}
    for path in PAGES:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, path
        counts[path] = len(queries)
    return counts


def _experiments(start: int, stop: int, users: int) -> None:
    for i in range(start, stop):
        generate(users=users, key=f"pages-{i}", seed=i)
    do_run_rollups()


def _configs(start: int, stop: int) -> None:
    for i in range(start, stop):
        config = RecommenderConfig.objects.create(name=f"config-{i}", algorithm="popular")
        ModelVersion.objects.create(config=config, algorithm="popular", status="active")


def test_no_page_makes_a_query_per_experiment_config_or_phase(staff_client):
    holdout_world()
    _experiments(0, 3, users=10)
    _configs(0, 1)
    few = _queries(staff_client)

    _experiments(3, 50, users=4)
    _configs(1, 6)
    experiment = services.do_pause_experiment(Experiment.objects.get(key=EXPERIMENT), None)
    for _ in range(3):  # history and the timeline grow: pauses, resumes and new phases
        experiment = services.do_resume_experiment(experiment, None)
        experiment = services.do_start_new_phase(experiment, None, reason="test")
        experiment = services.do_pause_experiment(experiment, None)
    services.do_resume_experiment(experiment, None)
    many = _queries(staff_client)

    assert many == few
    assert max(many.values()) <= MAX_QUERIES, many
    home = staff_client.get("/").content.decode()
    listing = staff_client.get("/reports/").content.decode()
    assert home.count('href="/experiments/pages-') >= 50
    assert listing.count('href="/reports/pages-') >= 50
