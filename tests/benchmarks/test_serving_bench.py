"""benchmarks/serving_http.py and benchmarks/training_pipeline.py --quick print their lines."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _lines(script: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def _last_line(script: str) -> str:
    return _lines(script)[-1]


@pytest.mark.bench
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_serving_http_quick():
    """Two lines: saturated connections, then the same ones paced at half that throughput."""
    figures = (
        r" connections x \d+ s: \d+ req/s, p50 [\d.]+ ms, p99 [\d.]+ ms, "
        r"fallback [\d.]+%, non-2xx 0, CPU per request: web [\d.]+ ms, serving worker [\d.]+ ms "
        r"\(targets p50 <= 15 ms, p99 <= 50 ms, fallback < 0\.1%\) (PASS|MISS)"
    )
    saturated, paced = _lines("serving_http.py")[-2:]
    assert re.fullmatch(r"serving_http: als v\d+ on .+, 16" + figures, saturated), saturated
    assert re.fullmatch(
        r"serving_http: .+, paced at 50% of that throughput \(\d+ ms pause after each "
        r"response\), 16" + figures,
        paced,
    ), paced


@pytest.mark.bench
def test_training_pipeline_quick():
    line = _last_line("training_pipeline.py")
    assert re.fullmatch(
        r"training_pipeline: ALS .+: task start to active version [\d.]+ s .+"
        r"\(target <= 120 s\) (PASS|MISS)",
        line,
    ), line
