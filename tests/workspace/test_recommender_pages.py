"""Recommender pages: configurations, versions' metrics against the previous one, progress."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommenders.models import ModelVersion, RecommenderConfig
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db


def version(config, status, metrics, **fields):
    return ModelVersion.objects.create(
        config=config, status=status, algorithm=config.algorithm, metrics=metrics, **fields
    )


def test_list_shows_active_version_and_training_progress(staff_client):
    config = RecommenderConfig.objects.create(name="cf", algorithm="item_cf")
    active = version(config, "active", {"ndcg@10": 0.1})
    version(config, "training", {}, stage="train", progress_percent=40)
    RecommenderConfig.objects.create(name="fresh", algorithm="popular")
    page = staff_client.get(reverse("recommenders")).content.decode()
    assert f"version {active.pk} since" in page
    assert 'value="40"' in page and "train" in page
    assert "never trained" in page


def test_detail_compares_each_version_with_the_previous(staff_client):
    config = RecommenderConfig.objects.create(name="als-64", algorithm="als")
    version(config, "retired", {"ndcg@10": 0.100, "hr@10": 0.20})
    version(config, "active", {"ndcg@10": 0.110, "hr@10": 0.19, "note": "text is skipped"})
    experiment = running_experiment("uses-als")
    experiment.variants.filter(key="treatment").update(recommender_config=config)
    page = staff_client.get(reverse("recommender", args=["als-64"])).content.decode()
    assert page.index("ndcg@10") < page.index("hr@10")  # the ranking metric first
    assert "+10.00%" in page and "-5.00%" in page
    assert "note" not in page
    assert reverse("experiment-workspace", args=["uses-als"]) in page


def test_unknown_configuration_is_404(staff_client):
    assert staff_client.get(reverse("recommender", args=["nope"])).status_code == 404
