"""benchmarks/serving_http.py and benchmarks/training_pipeline.py --quick print their lines."""

import re
import shutil

import pytest

from tests.benchmarks.quick import run_quick


def _last_line(script: str) -> str:
    return run_quick(script, timeout=300)[-1]


@pytest.mark.bench
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_serving_http_quick():
    """Two lines: saturated connections, then the same ones paced at half that throughput."""
    figures = (
        r" connections x \d+ s: \d+ req/s, p50 [\d.]+ ms, p99 [\d.]+ ms, "
        r"fallback [\d.]+%, non-2xx 0, CPU per request: web [\d.]+ ms, serving worker [\d.]+ ms "
        r"\(targets p50 <= 15 ms, p99 <= 50 ms, fallback < 0\.1%\) (PASS|MISS)"
    )
    saturated, paced = run_quick("serving_http.py", timeout=300)[-2:]
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
