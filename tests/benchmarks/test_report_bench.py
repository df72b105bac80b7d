"""The rollup and report benchmark runs end to end at reduced size (--quick)."""

from __future__ import annotations

import pytest

from tests.benchmarks.quick import SERVER_URL, postgres_available, run_quick


@pytest.mark.bench
@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_report_benchmark_quick():
    line = run_quick("report.py", "--server-url", SERVER_URL, timeout=180)[-1]
    print(line)
    assert line.startswith("report: ") and "full rollup" in line and "render" in line
    assert "PASS" in line or "MISS" in line
