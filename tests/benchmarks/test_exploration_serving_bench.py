"""benchmarks/exploration_serving.py --quick runs and prints its figure lines (skips without
ML-1M)."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_exploration_serving_benchmark_quick():
    lines = run_quick("exploration_serving.py", timeout=300, skip_without_data=True)
    assert lines[0].startswith("exploration_serving: item_cf on ML-1M"), lines
    assert len(lines) == 3, lines
    for line, policy in zip(lines[1:], ("plackett_luce", "epsilon_greedy"), strict=True):
        assert line.startswith(f"exploration_serving: {policy} p50 "), line
        assert re.search(r"ratio \d+\.\d\d \(target <= 1\.2\) (PASS|MISS)$", line), line
