"""benchmarks/pipeline_latency.py and two_tower_epoch.py --quick run and print their lines."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode == 2 and "not found" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


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
