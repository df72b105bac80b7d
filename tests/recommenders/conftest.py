"""Fixtures of the recommenders' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from assignment.config_cache import invalidate_local
from recommenders.serving import log as serving_log
from recommenders.serving import model_cache
from recommenders.serving import selectors as serving_selectors


@pytest.fixture
def serving_settings(settings, tmp_path: Path):
    """Serving tests' settings (artifacts in the test's folder, each served list written in
    the request, no broker skipped after a failure) and empty serving caches around the test
    (experiments, versions and models cached by an earlier test's process state)."""
    settings.SPLITLAB_ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SPLITLAB_SERVED_LIST_BUFFER_ROWS = 0
    settings.SPLITLAB_SERVING_BROKER_RETRY_SECONDS = 0.0
    reset_serving_state()
    yield
    reset_serving_state()


def reset_serving_state() -> None:
    serving_selectors.clear_caches()
    model_cache.reset_cache()
    serving_log.discard_buffers()
    invalidate_local()
