"""benchmarks/stats.py --quick runs and prints its figure line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stats.py"


@pytest.mark.bench
def test_stats_benchmark_quick():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"stats: 1000 variant-metric pairs analysed in [\d.]+ ms \(median of 5 runs; "
        r"target <= 50 ms\) (PASS|MISS)",
        line,
    ), line
