"""benchmarks/interleaving_serving.py --quick runs and prints its line."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
@pytest.mark.data
def test_interleaving_serving_benchmark_quick():
    (line,) = run_quick(
        "interleaving_serving.py", "--requests", "100", timeout=300, skip_without_data=True
    )[-1:]
    assert re.match(
        r"interleaving_serving 100 requests, k 10, ML-1M catalogue \(\d+ items, \d+ users\): "
        r"single ranker p99 item-CF BM25 [\d.]+ ms, item-CF cosine [\d.]+ ms; interleaved "
        r"\(both at once, team draft\) p99 [\d.]+ ms = [\d.]+x the slower ranker "
        r"\(target <= 2.2x\) (PASS|MISS); one after the other p99 [\d.]+ ms$",
        line,
    ), line
