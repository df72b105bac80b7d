"""benchmarks/assignment_http.py --quick runs against PostgreSQL and prints its line."""

import re
import shutil

import pytest

from tests.benchmarks.quick import postgres_available, run_quick


@pytest.mark.bench
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable")
def test_assignment_http_benchmark_quick():
    line = run_quick("assignment_http.py", timeout=180)[-1]
    assert re.fullmatch(
        r"assignment_http: assign [\d.]+ req/s p50 [\d.]+ ms p99 [\d.]+ ms \| "
        r"ping [\d.]+ req/s .* ratio [\d.]+ .* (PASS|MISS)",
        line,
    ), line
    assert "non-2xx 0" in line
