"""benchmarks/quantiles.py --quick runs and prints its figure lines."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_quantiles_benchmark_quick():
    lines = run_quick("quantiles.py", timeout=300)
    assert len(lines) == 15, lines
    for line in lines:
        assert re.fullmatch(r"quantiles: .+ [\d.]+(%| ms) \(target .+\) (PASS|MISS)", line), line
