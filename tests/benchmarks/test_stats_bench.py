"""benchmarks/stats.py --quick runs and prints its figure line."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_stats_benchmark_quick():
    line = run_quick("stats.py", timeout=120)[-1]
    assert re.fullmatch(
        r"stats: 1000 variant-metric pairs analysed in [\d.]+ ms \(median of 5 runs; "
        r"target <= 50 ms\) (PASS|MISS)",
        line,
    ), line
