"""Runs the interactions-loader benchmark on MovieLens 100K (``--quick``) and checks its line.

A benchmark, not a timed test: it prints its figure and asserts only that the load is
complete and idempotent (``measure`` raises otherwise). Uses the test database (SQLite by
default, PostgreSQL when ``DATABASE_URL`` says so).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SPLITLAB_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_benchmark_module():
    spec = importlib.util.spec_from_file_location(
        "load_interactions_benchmark", REPO / "benchmarks" / "load_interactions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.bench
@pytest.mark.data
@pytest.mark.django_db
@pytest.mark.skipif(not (SHARED_DATA / "ml-100k").is_dir(), reason="shared data absent")
def test_load_interactions_quick(capsys):
    benchmark = load_benchmark_module()
    name, raw = benchmark.read_source(quick=True)
    line = benchmark.measure(name, raw)
    with capsys.disabled():
        print(f"\n{line}")
    assert line.startswith("load_interactions (ml-100k, ")
    assert "100,000 rows" in line and "rows/s" in line
