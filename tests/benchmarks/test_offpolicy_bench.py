"""benchmarks/offpolicy.py --quick runs and prints its figure lines."""

import re

import pytest

from tests.benchmarks.quick import run_quick

VERDICT = r"\(target [^)]*\) (PASS|MISS)$"


@pytest.mark.bench
def test_offpolicy_benchmark_quick():
    lines = run_quick("offpolicy.py", timeout=180)
    assert lines[0] == (
        "offpolicy: figures on this benchmark's own synthetic position-based click model"
    )
    figures = lines[1:]
    assert len(figures) == 10, lines
    for name in ("better", "similar", "worse"):
        for estimator in ("SNIPS", "DR"):
            assert any(
                line.startswith(f"offpolicy: {name} candidate {estimator} ") for line in figures
            ), figures
    assert any("interval (normal, clustered by user) coverage" in line for line in figures)
    assert any(line.startswith("offpolicy: candidates ranked") for line in figures)
    assert any(line.startswith("offpolicy: exploration (Plackett-Luce") for line in figures)
    assert any(line.startswith("offpolicy: ranking request in process") for line in figures)
    for line in figures:
        assert re.search(VERDICT, line) or re.search(r"\(target: same\) (PASS|MISS)$", line), line
