"""A worker child caps the OpenBLAS libraries its parent loaded before the fork."""

import ctypes
from pathlib import Path

import numpy as np
import pytest

from ops.worker import (
    OPENBLAS_THREAD_SETTERS,
    limit_loaded_openblas_threads,
    loaded_openblas_paths,
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/maps").exists(), reason="finds loaded libraries in /proc/self/maps"
)


GETTERS = [name.replace("_set_", "_get_") for name in OPENBLAS_THREAD_SETTERS]


def _first_function(path: str, names: list[str]):
    library = ctypes.CDLL(path)
    return next((getattr(library, n) for n in names if hasattr(library, n)), None)


def _thread_count(path: str) -> int:
    return int(_first_function(path, GETTERS)())


def test_loaded_openblas_libraries_take_the_worker_thread_count():
    np.ones((4, 4)) @ np.ones((4, 4))  # numpy's OpenBLAS is loaded and initialised
    paths = limit_loaded_openblas_threads(1)
    assert any("numpy" in path for path in paths), paths
    assert all(_thread_count(path) == 1 for path in paths)
    np.testing.assert_allclose(np.ones((64, 64)) @ np.ones((64, 64)), 64.0)


@pytest.fixture(autouse=True)
def restore_thread_counts():
    """This test process keeps the thread counts it started with."""
    np.ones((4, 4)) @ np.ones((4, 4))
    paths = [p for p in loaded_openblas_paths() if _first_function(p, GETTERS) is not None]
    before = {path: _thread_count(path) for path in paths}
    yield
    for path, count in before.items():
        _first_function(path, list(OPENBLAS_THREAD_SETTERS))(ctypes.c_int(count))
        assert _thread_count(path) == count
