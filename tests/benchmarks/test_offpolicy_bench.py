"""benchmarks/offpolicy.py --quick runs on the simulator and prints its figure lines."""

import re

import pytest

from tests.benchmarks.quick import run_quick

VERDICT = r"\(target[^)]*\) (PASS|MISS)$"


@pytest.mark.bench
def test_offpolicy_benchmark_quick():
    lines = run_quick("offpolicy.py", "--population", "generated", timeout=180)
    assert lines[0].startswith("offpolicy: figures on the simulator (generated population")
    figures = lines[1:]
    assert len(figures) == 13, lines
    for name in ("better", "similar", "worse"):
        for estimator in ("SNIPS", "DR"):
            assert any(
                line.startswith(f"offpolicy: {name} candidate {estimator} CTR ")
                and "on-policy run" in line
                for line in figures
            ), figures
        assert any(
            line.startswith(f"offpolicy: {name} candidate, relative RMSE") for line in figures
        )
    assert any("interval (normal, clustered by user) coverage" in line for line in figures)
    assert any(line.startswith("offpolicy: candidates ranked") for line in figures)
    assert any(line.startswith("offpolicy: production's exploration") for line in figures)
    assert any(line.startswith("offpolicy: ranking request in process") for line in figures)
    for line in figures:
        assert re.search(VERDICT, line), line
