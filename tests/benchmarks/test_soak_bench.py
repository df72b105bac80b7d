"""benchmarks/soak.py --quick (45 s of mixed traffic in 15 s windows) prints its line."""

import re

import pytest

from tests.benchmarks.quick import run_quick


@pytest.mark.bench
def test_soak_quick():
    line = run_quick("soak.py", timeout=420)[-1]
    assert re.fullmatch(
        r"soak: 45 s at 50% of \d+ req/s \(.+, \d+ windows of 15 s\): 0 server errors, "
        r"RSS growth [+-][\d.]+% after warm-up \(limit \+10%\), p99 \d+ -> \d+ ms "
        r"\(limit 1\.5x\), ledger (\d+)/\1 events exact (PASS|MISS)",
        line,
    ), line
