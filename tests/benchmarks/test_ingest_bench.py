"""The ingestion benchmark runs end to end at reduced size (--quick) and stores exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_URL = os.environ.get(
    "SPLITLAB_BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(SERVER_URL, connect_timeout=3):
            return True
    except Exception:  # any failure to connect means "no server to benchmark on"
        return False


@pytest.mark.bench
@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_ingest_benchmark_quick():
    result = subprocess.run(
        [sys.executable, "benchmarks/ingest.py", "--quick", "--server-url", SERVER_URL],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = result.stdout.strip().splitlines()[-1]
    print(line)
    assert line.startswith("ingest: ") and "== distinct event_ids sent" in line
    assert ": yes;" in line and ("PASS" in line or "MISS" in line)
