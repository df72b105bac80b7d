"""benchmarks/pages.py --quick runs and prints its figure lines."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_pages_benchmark_quick():
    lines = run_quick("pages.py", timeout=300)
    assert any(line.startswith("pages: / ") for line in lines), lines
    assert any(line.startswith("pages: /experiments/bench-000/edit/ ") for line in lines)
    assert re.fullmatch(
        r"pages: slowest of 11 pages [\d.]+ ms with 10 running experiments \(median of 3; "
        r"target <= 300 ms\) (PASS|MISS); first view after a rollup, before the refresher's "
        r"analysis: [\d.]+ ms (PASS|MISS)",
        lines[-1],
    ), lines[-1]
