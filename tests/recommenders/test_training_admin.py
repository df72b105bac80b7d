"""Admin pages of configurations and versions: progress bars and the actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommenders.models import ModelVersion
from recommenders.services import training
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path: Path) -> None:
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"


def test_changelists_show_progress_and_actions_train_promote_and_roll_back(staff_client):
    load_planted_catalogue()
    config = make_config("pop")
    first = training.run_pipeline_in_process(training.do_start_training(config, enqueue=False).pk)
    queued = training.do_start_training(config, enqueue=False)
    page = staff_client.get("/admin/recommenders/modelversion/")
    assert page.status_code == 200
    assert b"100%" in page.content and b"queued" in page.content
    assert (
        staff_client.get(f"/admin/recommenders/recommenderconfig/{config.pk}/change/").status_code
        == 200
    )

    ModelVersion.objects.filter(pk=queued.pk).delete()
    staff_client.post(
        "/admin/recommenders/recommenderconfig/",
        {"action": "train_now", "_selected_action": [config.pk]},
    )
    second = config.versions.exclude(pk=first.pk).get()
    assert second.trigger == "admin" and second.status == "queued"
    training.run_pipeline_in_process(second.pk)
    staff_client.post(
        "/admin/recommenders/modelversion/",
        {"action": "rollback", "_selected_action": [second.pk]},
    )
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.ACTIVE
    staff_client.post(
        "/admin/recommenders/modelversion/",
        {"action": "promote", "_selected_action": [second.pk]},
    )
    second.refresh_from_db()
    assert second.status == ModelVersion.Status.ACTIVE
