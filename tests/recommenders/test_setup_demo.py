"""``setup_demo``: trained configurations, a running experiment and a token, idempotently."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from experiments.models import Experiment, Holdout
from recommenders.models import ModelVersion, RecommenderConfig
from tests.recommenders.serving_data import load_planted_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"


def test_setup_demo_needs_a_catalogue():
    with pytest.raises(CommandError, match="no catalogue"):
        call_command("setup_demo", stdout=StringIO())


def test_setup_demo_trains_configs_starts_an_experiment_and_is_idempotent(api_client):
    load_planted_catalogue()
    out = StringIO()
    call_command("setup_demo", stdout=out)
    assert "Authorization: Token" in out.getvalue()
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 2
    assert RecommenderConfig.objects.get(is_default=True).name == "popular"
    experiment = Experiment.objects.get(key="home-recs")
    assert experiment.status == Experiment.Status.RUNNING
    assert experiment.primary_metric.kind == "ctr"
    assert Holdout.objects.filter(is_active=True).count() == 1

    again = StringIO()
    call_command("setup_demo", base_url="http://127.0.0.1:8765", stdout=again)
    assert ModelVersion.objects.count() == 2 and Experiment.objects.count() == 1
    assert "'http://127.0.0.1:8765/api/v1/recommendations?user_id=" in again.getvalue()

    response = api_client.get("/api/v1/recommendations", {"user_id": "u1", "surface": "home"})
    assert response.status_code == 200
    assert response.json()["experiment"] in ("home-recs", None)


def test_setup_demo_plans_the_size_its_own_power_inputs_require():
    from experiments.selectors import power_estimate

    load_planted_catalogue()
    call_command("setup_demo", stdout=StringIO())
    experiment = Experiment.objects.get(key="home-recs")
    assert experiment.planned_sample_size == power_estimate(experiment).per_variant
    assert (experiment.baseline_rate, experiment.mde_relative) == (0.02, 0.25)
