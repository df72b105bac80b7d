"""The "try it" panel: each variant's list for a user, through the serving path, not logged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.models import ServedList
from recommenders.services import training
from tests.experiments.factories import running_experiment
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifacts(settings, tmp_path):
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 0


def trained(name: str, algorithm: str):
    config = make_config(name, algorithm)
    training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)
    return config


def test_each_variant_list_with_titles_and_sources(staff_client):
    load_planted_catalogue()
    experiment = running_experiment("try-exp")
    control, treatment = experiment.variants.order_by("position")
    control.recommender_config = trained("try-popular", "popular")
    treatment.recommender_config = trained("try-cf", "item_cf")
    control.save()
    treatment.save()
    url = reverse("experiment-try", args=["try-exp"])
    page = staff_client.get(url, {"user_id": "a0", "k": 5}).content.decode()
    assert "control: try-popular" in page and "treatment: try-cf" in page
    assert page.count('<td class="num">5</td>') == 2  # five items each
    assert "fallback:" not in page and "version " in page
    assert not ServedList.objects.exists()  # a person looking is not an impression


def test_bad_k_is_named_and_variants_without_configuration_said(staff_client):
    running_experiment("try-bad")
    url = reverse("experiment-try", args=["try-bad"])
    response = staff_client.get(url, {"user_id": "a0", "k": "many"})
    assert response.status_code == 400
    assert "k: k must be between 1 and" in response.content.decode()
    page = staff_client.get(url, {"user_id": "a0"}).content.decode()
    assert "No variant of this experiment is bound" in page
