"""The offline pipeline: stages, atomic artifacts, the promotion gate, rollback, command."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from recommenders.models import ModelVersion, PrecomputedList
from recommenders.services import training, training_stages
from tests.recommenders.serving_data import load_planted_catalogue, make_config

pytestmark = pytest.mark.django_db

Status = ModelVersion.Status


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path: Path) -> Path:
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    return settings.SPLITLAB_ARTIFACT_ROOT


@pytest.fixture
def catalogue() -> None:
    load_planted_catalogue()


def _train(config) -> ModelVersion:
    version = training.do_start_training(config, enqueue=False)
    return training.run_pipeline_in_process(version.pk)


def test_pipeline_trains_evaluates_builds_and_promotes(catalogue, artifact_root):
    version = _train(make_config("pop", algorithm="item_cf"))
    assert version.status == Status.ACTIVE
    assert (version.stage, version.progress_percent) == ("done", 100)
    assert version.metrics["ndcg"] > 0 and version.metrics["k"] == 10
    assert (version.n_users, version.n_items) == (30, 24)
    folder = Path(version.artifact_path)
    assert folder.parent == artifact_root / "pop" and folder.name.startswith(f"v{version.pk}-")
    assert (folder / "manifest.json").is_file() and (folder / "model" / "model.json").is_file()
    assert not list(folder.parent.glob(".staging-*"))  # staging removed after the switch
    # one list per user plus the popular list; a user's list stays inside the user's group
    assert PrecomputedList.objects.filter(model_version=version).count() == 31
    a_list = PrecomputedList.objects.get(model_version=version, user_external_id="a0")
    assert a_list.item_ids and all(item.startswith("A") for item in a_list.item_ids[:3])


def test_gate_keeps_a_worse_version_ready_and_explicit_promotion_and_rollback(catalogue):
    config = make_config("pop", promotion_tolerance=0.05)
    first = _train(config)
    ModelVersion.objects.filter(pk=first.pk).update(metrics={"ndcg": 10.0})
    second = _train(config)
    assert second.status == Status.READY
    assert second.gate_decision.startswith("fails")
    second = training.do_promote_model_version(second, reason="explicit")
    first.refresh_from_db()
    assert (second.status, first.status, second.previous_version_id) == (
        Status.ACTIVE,
        Status.RETIRED,
        first.pk,
    )
    restored = training.do_rollback_config(config)
    second.refresh_from_db()
    assert (restored.pk, restored.status, second.status) == (first.pk, Status.ACTIVE, "retired")
    with pytest.raises(training.PromotionError, match="no previous version"):
        training.do_rollback_config(config)


def test_stages_are_idempotent_and_a_running_training_is_joined(catalogue):
    config = make_config("pop")
    version = training.do_start_training(config, enqueue=False)
    assert training.do_start_training(config, enqueue=False).pk == version.pk
    training.run_pipeline_in_process(version.pk)
    with pytest.raises(training_stages.StageSkipped):
        training_stages.run_build_stage(version.pk)
    assert ModelVersion.objects.get(pk=version.pk).status == Status.ACTIVE


def test_promotion_and_its_stage_commit_together(catalogue, monkeypatch):
    """A promote stage that dies after promoting, before recording its stage, leaves the
    version as it was (ready, stage register), never active with its stage unfinished;
    run again, it promotes and ends at done."""
    version = training.do_start_training(make_config("pop"), enqueue=False)
    for stage in (
        training_stages.run_snapshot_stage,
        training_stages.run_train_stage,
        training_stages.run_evaluate_stage,
        training_stages.run_build_stage,
        training_stages.run_register_stage,
    ):
        stage(version.pk)

    def killed(*args, **kwargs):
        raise SystemExit("worker lost")

    monkeypatch.setattr(training_stages, "_set_progress", killed)
    with pytest.raises(SystemExit):
        training.run_promote_stage(version.pk)
    version.refresh_from_db()
    assert (version.status, version.stage) == (Status.READY, "register")

    monkeypatch.undo()
    training.run_promote_stage(version.pk)
    version.refresh_from_db()
    assert (version.status, version.stage, version.progress_percent) == (Status.ACTIVE, "done", 100)


def test_promotion_refuses_versions_without_artifacts(catalogue):
    version = _train(make_config("pop", auto_promote=False))
    assert version.status == Status.READY
    ModelVersion.objects.filter(pk=version.pk).update(artifact_path="/nonexistent/v1")
    version.refresh_from_db()
    with pytest.raises(training.PromotionError, match="artifacts missing"):
        training.do_promote_model_version(version)


def test_failed_stage_marks_the_version_failed(catalogue):
    config = make_config("bad", params={"no_such_param": 1})
    version = training.do_start_training(config, enqueue=False)
    with pytest.raises(ValueError, match="unknown parameter"):
        training.run_pipeline_in_process(version.pk)
    version.refresh_from_db()
    assert version.status == Status.FAILED and "no_such_param" in version.error


def test_celery_chain_runs_on_commit(catalogue, django_capture_on_commit_callbacks):
    config = make_config("pop")
    with django_capture_on_commit_callbacks(execute=True):
        version = training.do_start_training(config, trigger="api")
    version.refresh_from_db()
    assert version.status == Status.ACTIVE and version.trigger == "api"


def test_a_queued_version_whose_message_was_lost_is_sent_again(
    catalogue, django_capture_on_commit_callbacks
):
    config = make_config("pop")
    lost = training.do_start_training(config, enqueue=False)  # its message never arrives
    with django_capture_on_commit_callbacks(execute=True):
        again = training.do_start_training(config, trigger="api")
    assert again.pk == lost.pk
    again.refresh_from_db()
    assert again.status == Status.ACTIVE


def test_the_snapshot_includes_the_latest_interactions(catalogue):
    from recommenders.models import Interaction

    version = _train(make_config("pop"))
    assert version.n_interactions == Interaction.objects.values("user", "item").distinct().count()


def test_train_command_prints_progress(catalogue):
    make_config("pop")
    out = StringIO()
    call_command("train", "pop", "--sync", stdout=out)
    text = out.getvalue()
    assert "stage=snapshot" in text and "100%" in text and "active" in text
    with pytest.raises(CommandError, match="unknown config 'nope'"):
        call_command("train", "nope", "--sync")


def test_retrain_schedule_is_a_beat_entry():
    from django_celery_beat.models import PeriodicTask

    config = make_config("pop")
    training.do_set_retrain_schedule(config, every_hours=6)
    task = PeriodicTask.objects.get(pk=config.retrain_schedule_id)
    assert task.task == "recommenders.tasks.train_config" and task.interval.every == 6
    training.do_set_retrain_schedule(config, crontab="0 3 * * *")
    assert PeriodicTask.objects.count() == 1


def test_a_message_for_another_databases_version_is_skipped(catalogue):
    from recommenders import tasks

    version = training.do_start_training(make_config("pop"), enqueue=False)
    tasks.snapshot_interactions.apply(args=(version.pk, f"v{version.pk}-1"))
    tasks.snapshot_interactions.apply(args=(version.pk + 100, ""))
    version.refresh_from_db()
    assert (version.status, version.stage) == (Status.QUEUED, "queued")
    tasks.snapshot_interactions.apply(args=(version.pk, training_stages.version_key(version)))
    version.refresh_from_db()
    assert version.stage == "snapshot"
