"""Running a benchmark script as the test suite does: at reduced size (``--quick``)."""

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


def run_quick(
    script: str, *args: str, timeout: float, skip_without_data: bool = False
) -> list[str]:
    """The output lines of ``benchmarks/<script> --quick <args>``; a failing run fails the
    test, with the end of its output. With ``skip_without_data``, a run that exits 2 saying
    its data was not found skips the test instead."""
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if skip_without_data and result.returncode == 2 and "not found" in result.stderr:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout.strip().splitlines()


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(SERVER_URL, connect_timeout=3):
            return True
    except Exception:  # any failure to connect means "no server to benchmark on"
        return False
