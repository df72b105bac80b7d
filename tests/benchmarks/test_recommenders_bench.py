"""benchmarks/recommenders.py --quick runs next to implicit and prints its figure line."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
@pytest.mark.data
def test_recommenders_benchmark_quick():
    pytest.importorskip("implicit", reason="implicit is a benchmark-only dependency")
    line = run_quick("recommenders.py", timeout=300, skip_without_data=True)[-1]
    assert re.match(
        r"recommenders ML-100K positives \(\d+ users, \d+ items, 2 threads, median of 1\): "
        r"ALS fit [\d.]+ s vs implicit [\d.]+ s = [\d.]+x \(target <= 1.5x\) (PASS|MISS); "
        r"item-CF build [\d.]+ s vs implicit [\d.]+ s = [\d.]+x \(target <= 2x\) (PASS|MISS); "
        r"batch top-10 for all users [\d.]+ s \(target <= 2 s\) (PASS|MISS); ",
        line,
    ), line
    hr = [float(v) for v in re.findall(r"(0\.\d+)/0\.\d+", line)]
    assert len(hr) == 4 and min(hr) > 0.05  # both libraries learn on ML-100K
