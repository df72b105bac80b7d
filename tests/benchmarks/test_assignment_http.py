"""benchmarks/assignment_http.py --quick runs against PostgreSQL and prints its line."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "assignment_http.py"


def _postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
        return True
    except Exception:
        return False


@pytest.mark.bench
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.skipif(not _postgres_available(), reason="PostgreSQL is not reachable")
def test_assignment_http_benchmark_quick():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"assignment_http: assign [\d.]+ req/s p50 [\d.]+ ms p99 [\d.]+ ms \| "
        r"ping [\d.]+ req/s .* ratio [\d.]+ .* (PASS|MISS)",
        line,
    ), line
    assert "non-2xx 0" in line
