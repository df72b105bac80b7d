"""benchmarks/assignment_inprocess.py --quick runs and prints its figure line."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_assignment_inprocess_benchmark_quick():
    line = run_quick("assignment_inprocess.py", timeout=120)[-1]
    assert re.fullmatch(
        r"assignment_inprocess: 1 user x 10 experiments median [\d.]+ us .*"
        r"batch 20000 users x 1 experiment [\d.]+ s .* (PASS|MISS)",
        line,
    ), line
