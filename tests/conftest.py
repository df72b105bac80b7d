"""Shared fixtures: fresh per-process state, API clients with and without a token, staff."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery._state import _set_task_join_will_block
from rest_framework.test import APIClient

from accounts.authentication import clear_token_cache
from accounts.services import create_api_client
from accounts.throttling import clear_local_buckets
from assignment import config_cache, exposure_log
from recommenders.serving import log as serving_log
from recommenders.serving import model_cache
from recommenders.serving import selectors as serving_selectors
from web import background
from writebehind.buffer import stop_flusher

# Tests that CI also runs on the embedded default (SQLite, filesystem broker), besides those
# marked `embedded` one by one: the platform, every API's contract and robustness, the
# SQLite paths of ingestion and rollups, training and serving without a broker.
EMBEDDED_PATHS = (
    "config/",
    "ops/",
    "web/",
    "api/",
    "analytics/test_events_api.py",
    "analytics/test_rollup.py",
    "analytics/test_reports.py",
    "assignment/test_api.py",
    "recommenders/test_serving_api.py",
    "recommenders/test_training_pipeline.py",
    "recommenders/test_load_movielens.py",
)
TESTS_ROOT = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(item.fspath).resolve().relative_to(TESTS_ROOT).as_posix()
        if relative.startswith(EMBEDDED_PATHS):
            item.add_marker(pytest.mark.embedded)


def reset_process_state() -> None:
    # The test process is never a worker: Celery's "inside a task, joins would block" flag,
    # which worker start-up code sets process-wide, must not leak from one test to the next.
    _set_task_join_will_block(False)
    clear_token_cache()
    clear_local_buckets()
    config_cache.invalidate_local()
    exposure_log.buffer.clear()
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    serving_log.discard_buffers()


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Every test starts with empty per-process caches and write buffers (experiments,
    exposures, serving versions and models, served lists): they outlive a test, and SQLite
    reuses ids across rolled-back tests."""
    reset_process_state()
    yield
    # The flusher thread outlives the test whose records started it; stopped here, it never
    # touches a database the next test has not opened (pytest-django forbids it).
    stop_flusher()
    # Likewise the refresher, should a test have started one (with background threads on, a
    # request starts it once config.wsgi, imported by the schema tests, connected it).
    background.stop()
    reset_process_state()


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_client(db) -> APIClient:
    """An API client authenticated with a real token."""
    token, _ = create_api_client("tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")


@pytest.fixture
def staff_client(client, staff_user):
    """A Django test client logged in as staff (for admin and report pages)."""
    client.force_login(staff_user)
    return client
