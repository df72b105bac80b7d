"""benchmarks/segments.py --quick runs and prints its figure line."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_segments_benchmark_quick():
    line = run_quick("segments.py", timeout=300)[-1]
    assert re.fullmatch(
        r"segments: A/A over 200 experiments x 8 segments: any segment significant [\d.]+% "
        r"with Holm \([\d.]+% uncorrected\), SRM alarms [\d.]+% in [\d.]+ s "
        r"\(target <= 6\.5% and <= 0\.25%\) (PASS|MISS)",
        line,
    ), line
