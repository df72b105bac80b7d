"""benchmarks/assignment_inprocess.py --quick runs and prints its figure line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "assignment_inprocess.py"


@pytest.mark.bench
def test_assignment_inprocess_benchmark_quick():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"assignment_inprocess: 1 user x 10 experiments median [\d.]+ us .*"
        r"batch 20000 users x 1 experiment [\d.]+ s .* (PASS|MISS)",
        line,
    ), line
