"""benchmarks/variance_reduction.py --quick runs and prints one figure line per method."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_variance_reduction_benchmark_quick():
    lines = [line for line in run_quick("variance_reduction.py", timeout=120) if line]
    assert len(lines) == 4, lines
    for line in lines:
        assert re.fullmatch(
            r"variance_reduction: .+: 300 experiments x 200 users/arm: A/A false positives "
            r"[\d.]+% \(target 5 \+- 1.5%\), coverage [\d.]+% \(target 93-97%\), "
            r"variance ratio [\d.]+ \(target < 1\) (PASS|MISS)",
            line,
        ), line
