"""The rollup and report benchmark runs end to end at reduced size (--quick)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.benchmarks.test_ingest_bench import REPO, SERVER_URL, postgres_available


@pytest.mark.bench
@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_report_benchmark_quick():
    result = subprocess.run(
        [sys.executable, "benchmarks/report.py", "--quick", "--server-url", SERVER_URL],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = result.stdout.strip().splitlines()[-1]
    print(line)
    assert line.startswith("report: ") and "full rollup" in line and "render" in line
    assert "PASS" in line or "MISS" in line
