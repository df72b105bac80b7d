"""Every test starts with an empty assignment cache and exposure buffer (ids are reused
across rolled-back tests on SQLite)."""

from __future__ import annotations

import pytest

from assignment import config_cache, exposure_log


@pytest.fixture(autouse=True)
def fresh_assignment_state():
    config_cache.invalidate_local()
    exposure_log.buffer.clear()
    yield
    exposure_log.buffer.clear()
    config_cache.invalidate_local()
