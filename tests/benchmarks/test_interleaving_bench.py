"""benchmarks/interleaving.py --quick runs and prints its figure lines."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_interleaving_benchmark_quick():
    lines = run_quick("interleaving.py", timeout=240)
    assert lines[0] == (
        "interleaving: figures on this benchmark's own synthetic position-based click model"
    )
    pairs = [line for line in lines if "users at 80% power" in line]
    assert len(pairs) == 3, lines
    for line in pairs:
        assert re.search(
            r"users at 80% power: interleaving \d+, A/B \d+, ratio [\d.]+x "
            r"\(target >= 10x\) (PASS|MISS)$",
            line,
        ), line
    assert re.search(r"in \d of \d pairs .*\(target: all\) (PASS|MISS)$", lines[4]), lines[4]
    assert re.fullmatch(
        r"interleaving: power at the planned sizes \(medium vs poor, 50 fresh populations "
        r"each\): interleaving \d+% at \d+ users, A/B \d+% at \d+ users "
        r"\(target 80% \+- 5% each\) (PASS|MISS)",
        lines[5],
    ), lines[5]
    assert re.fullmatch(
        r"interleaving: A/A false-positive rate [\d.]+% over 200 replicates of 100 users "
        r"\(target 5% \+- 1\.5%\); pooled preference [\d.]+ \[[\d.]+, [\d.]+\] "
        r"\(target: covers 0\.5\) (PASS|MISS)",
        lines[6],
    ), lines[6]
