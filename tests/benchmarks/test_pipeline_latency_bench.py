"""benchmarks/pipeline_latency.py and two_tower_epoch.py --quick run and print their lines."""

import re

import pytest

from tests.benchmarks.quick import run_quick


def _run(script: str, *args: str) -> str:
    return run_quick(script, *args, timeout=300, skip_without_data=True)[-1]


@pytest.mark.bench
@pytest.mark.data
def test_pipeline_latency_benchmark_quick():
    line = _run("pipeline_latency.py", "--requests", "100", "--large-items", "20000")
    assert re.match(
        r"pipeline_latency one request end to end, 100 requests, 1 thread: ML-1M catalogue "
        r"\(\d+ items\) p50 [\d.]+ ms p99 [\d.]+ ms, with only 3 known items p50 [\d.]+ ms "
        r"p99 [\d.]+ ms \(target p50 <= 5, p99 <= 15\) (PASS|MISS); "
        r"20,000 items \((flat|ivf|hnsw) ANN, recall@100 [\d.]+, .*\) p50 [\d.]+ ms p99 [\d.]+ ms "
        r"\(target p99 <= 40\) (PASS|MISS); one two-tower epoch over [\d,]+ positives on cpu "
        r"with 2 threads [\d.]+ s \(target <= 30 s\) (PASS|MISS)$",
        line,
    ), line


@pytest.mark.bench
@pytest.mark.data
def test_two_tower_epoch_benchmark_quick():
    line = _run("two_tower_epoch.py", "--device", "cpu", "--threads", "1")
    assert re.match(
        r"two_tower_epoch [\d,]+ positives, device cpu, 1 CPU threads: [\d.]+ s "
        r"\(target <= 30 s on 2 CPU cores\) (PASS|MISS)$",
        line,
    ), line
