"""The ingestion benchmark runs end to end at reduced size (--quick) and stores exactly."""

from __future__ import annotations

import pytest

from tests.benchmarks.quick import SERVER_URL, postgres_available, run_quick


@pytest.mark.bench
@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_ingest_benchmark_quick():
    line = run_quick("ingest.py", "--server-url", SERVER_URL, timeout=120)[-1]
    print(line)
    assert line.startswith("ingest: ") and "== distinct event_ids sent" in line
    assert ": yes;" in line and ("PASS" in line or "MISS" in line)
