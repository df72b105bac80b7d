"""benchmarks/recommenders.py --quick runs next to implicit and prints its figure line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "recommenders.py"


@pytest.mark.bench
@pytest.mark.data
def test_recommenders_benchmark_quick():
    pytest.importorskip("implicit", reason="implicit is a benchmark-only dependency")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    if result.returncode == 2 and "not found" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert re.match(
        r"recommenders ML-100K positives \(\d+ users, \d+ items, 2 threads, median of 1\): "
        r"ALS fit [\d.]+ s vs implicit [\d.]+ s = [\d.]+x \(target <= 1.5x\) (PASS|MISS); "
        r"item-CF build [\d.]+ s vs implicit [\d.]+ s = [\d.]+x \(target <= 2x\) (PASS|MISS); "
        r"batch top-10 for all users [\d.]+ s \(target <= 2 s\) (PASS|MISS); ",
        line,
    ), line
    hr = [float(v) for v in re.findall(r"(0\.\d+)/0\.\d+", line)]
    assert len(hr) == 4 and min(hr) > 0.05  # both libraries learn on ML-100K
