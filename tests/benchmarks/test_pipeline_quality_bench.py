"""benchmarks/pipeline_quality.py --quick runs and prints its one figure line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "pipeline_quality.py"


@pytest.mark.bench
@pytest.mark.data
def test_pipeline_quality_benchmark_quick():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    if result.returncode == 2 and "not found" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert re.match(
        r"pipeline_quality ML-1M positives \(200 users, \d+ items, two-tower epochs <= 1\): "
        r"NDCG@10 pipeline [\d.]+ vs ALS [\d.]+ = [\d.]+x \(target >= 1.15x\) (PASS|MISS); "
        r".*two-tower recall@500 [\d.]+ \(target >= 0.6\) (PASS|MISS); "
        r"cold users .* \(target >= 1.5x\) (PASS|MISS); "
        r"hidden items .* in candidates [\d.]+ \(target >= 0.2\) (PASS|MISS)",
        line,
    ), line
