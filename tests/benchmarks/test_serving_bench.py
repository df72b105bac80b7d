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
    """ALS: the open-loop table's rows, the chart's line, the summary, then a PASS or MISS line
    per target."""
    lines = run_quick("serving_http.py", timeout=300)
    rows = [line for line in lines if re.match(r"\s+\d+% +\d+ req/s", line)]
    assert len(rows) == 2, lines
    chart, summary, *verdicts = lines[-10:]
    assert re.fullmatch(r"serving_http: chart (skipped \(.+\)|/.+\.png)", chart), chart
    assert re.fullmatch(
        r"serving_http: als: \d+ req/s saturated \([\d.]+x the task path\), CPU per request "
        r"web\+worker [\d.]+ ms = [\d.]+x trivial .+ at 80%",
        summary,
    ), summary
    assert len(verdicts) == 8, verdicts
    for line in verdicts:
        assert re.fullmatch(r"serving_http: als .+ \(targets? .+\) (PASS|MISS)", line), line


@pytest.mark.bench
def test_training_pipeline_quick():
    line = _last_line("training_pipeline.py")
    assert re.fullmatch(
        r"training_pipeline: ALS .+: task start to active version [\d.]+ s .+"
        r"\(target <= 120 s\) (PASS|MISS)",
        line,
    ), line
