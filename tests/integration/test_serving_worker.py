"""End to end with a real Celery worker: train two configs through the pipeline, serve the
users of two variants from the right model versions, then kill the worker and still get
fallback lists with status 200.

The worker must read the test database, so this runs on PostgreSQL (pytest-django's
``test_<name>``) and skips on the in-memory SQLite test database. It runs with Redis as the
broker and skips on the filesystem broker: kombu's filesystem transport creates a message file
before locking it and reads without a lock, so at the serving path's message rate the worker
can read an empty file and stop (JSONDecodeError, "Unrecoverable error").
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection

from experiments import services as experiment_services
from recommenders.models import ModelVersion
from recommenders.services import training
from recommenders.serving import log as serving_log
from recommenders.serving import model_cache
from recommenders.serving import selectors as serving_selectors
from tests.recommenders.serving_data import load_planted_catalogue, make_config
from tests.workers import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
URL = "/api/v1/recommendations"


@pytest.fixture(autouse=True)
def postgresql_and_redis_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process cannot see an in-memory SQLite test database")
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs Redis as the broker (see the module docstring)")


@pytest.fixture
def shared_artifacts(settings, tmp_path: Path, monkeypatch):
    """One artifact root for this process and the worker (which reads the environment)."""
    root = tmp_path / "artifacts"
    monkeypatch.setenv("SPLITLAB_ARTIFACT_ROOT", str(root))
    # the worker sees a promotion at its next request, not up to 2 s later
    monkeypatch.setenv("SPLITLAB_SERVING_VERSION_TTL_SECONDS", "0")
    settings.SPLITLAB_ARTIFACT_ROOT = root
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 0
    settings.SPLITLAB_SERVING_BROKER_RETRY_SECONDS = 0.0
    settings.SPLITLAB_SERVING_VERSION_TTL_SECONDS = 0.0
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    serving_log.discard_buffers()
    yield root
    serving_log.discard_buffers()
    serving_selectors.clear_caches()


def _wait_active(version_ids: list[int], timeout_seconds: float = 120) -> list[ModelVersion]:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        versions = list(ModelVersion.objects.filter(pk__in=version_ids).order_by("pk"))
        failed = [v for v in versions if v.status == ModelVersion.Status.FAILED]
        assert not failed, [v.error for v in failed]
        if all(v.status == ModelVersion.Status.ACTIVE for v in versions):
            return versions
        time.sleep(0.5)
    raise AssertionError(f"not active in time: {[(v.pk, v.status, v.stage) for v in versions]}")


def test_trained_versions_serve_two_variants_and_fallback_without_worker(
    api_client, shared_artifacts, settings
):
    from assignment.config_cache import invalidate_local
    from assignment.services import flush_exposures

    load_planted_catalogue()
    cf, pop = make_config("it-cf", "item_cf"), make_config("it-pop", "popular")
    experiment = experiment_services.do_create_experiment(
        key="it-home",
        name="integration",
        surface="home",
        variants=[
            {"key": "control", "is_control": True, "recommender_config": pop},
            {"key": "treatment", "recommender_config": cf},
        ],
    )
    experiment_services.do_start_experiment(experiment, None)
    invalidate_local()
    with running_worker(queues="training,serving") as worker:
        versions = [
            training.do_start_training(cf, trigger="api"),
            training.do_start_training(pop, trigger="api"),
        ]
        cf_version, pop_version = _wait_active([v.pk for v in versions])
        assert Path(cf_version.artifact_path).is_dir()
        expected = {"treatment": cf_version.pk, "control": pop_version.pk}
        settings.SPLITLAB_SERVING_DEADLINE_MS = 10_000  # a loaded CI machine, first load
        seen = set()
        for n in range(16):
            response = api_client.get(URL, {"user_id": f"a{n % 15}" if n % 2 else f"b{n % 15}"})
            body = response.json()
            assert response.status_code == 200 and body["fallback"] is False, body[
                "fallback_reason"
            ]
            assert body["model_version"] == expected[body["variant"]]
            seen.add(body["variant"])
        assert seen == {"control", "treatment"}

        worker.terminate()
        worker.wait(timeout=30)
        settings.SPLITLAB_SERVING_DEADLINE_MS = 200
        for user_id in ("a1", "b2", "nobody"):
            response = api_client.get(URL, {"user_id": user_id, "k": 5})
            body = response.json()
            assert response.status_code == 200 and body["fallback"] is True
            assert body["fallback_reason"] == "timeout" and len(body["items"]) == 5
    flush_exposures()
    invalidate_local()


def test_an_interleaving_experiment_is_served_by_two_worker_processes(
    api_client, shared_artifacts, settings
):
    from assignment.config_cache import invalidate_local
    from assignment.services import flush_exposures

    load_planted_catalogue()
    cf, pop = make_config("il-cf", "item_cf"), make_config("il-pop", "popular")
    with running_worker(queues="training,serving", concurrency=2) as worker:
        versions = [
            training.do_start_training(cf, trigger="api"),
            training.do_start_training(pop, trigger="api"),
        ]
        _wait_active([v.pk for v in versions])
        experiment = experiment_services.do_create_experiment(
            key="il-home",
            name="interleaving",
            surface="home",
            kind="interleaving",
            variants=[
                {"key": "cf", "is_control": True, "recommender_config": cf},
                {"key": "pop", "recommender_config": pop},
            ],
        )
        experiment_services.do_start_experiment(experiment, None)
        invalidate_local()
        settings.SPLITLAB_SERVING_DEADLINE_MS = 10_000  # a loaded CI machine, first load
        teams = set()
        for n in range(6):
            body = api_client.get(URL, {"user_id": f"a{n}", "k": 6}).json()
            assert body["interleaving"] == "full", body
            assert len({i["item_id"] for i in body["items"]}) == len(body["items"]) == 6
            teams |= {i["team"] for i in body["items"]}
        assert teams == {"cf", "pop"}
        worker.terminate()
        worker.wait(timeout=30)
        settings.SPLITLAB_SERVING_DEADLINE_MS = 200
        body = api_client.get(URL, {"user_id": "a1", "k": 5}).json()
        assert body["interleaving"] == "fallback" and body["fallback_reason"] == "timeout"
        assert len(body["items"]) == 5
    flush_exposures()
    invalidate_local()
