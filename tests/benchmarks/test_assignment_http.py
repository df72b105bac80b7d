"""benchmarks/assignment_http.py --quick runs against PostgreSQL and prints its summary and a
verdict line per target."""

import re
import shutil

import pytest

from tests.benchmarks.quick import postgres_available, run_quick


@pytest.mark.bench
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable")
def test_assignment_http_benchmark_quick():
    lines = run_quick("assignment_http.py", timeout=180)
    summary, verdicts = lines[-5], lines[-4:]
    assert re.fullmatch(
        r"assignment_http: assign [\d.]+ req/s p50 [\d.]+ ms p99 [\d.]+ ms \| "
        r"ping [\d.]+ req/s .* ratio [\d.]+ .* access control: .* ratio [\d.]+",
        summary,
    ), summary
    for line in verdicts:
        assert re.fullmatch(r"assignment_http: .* \(target .*\) (PASS|MISS)", line), line
    assert verdicts[-1].endswith("PASS"), verdicts[-1]  # no non-2xx, every exposure stored
