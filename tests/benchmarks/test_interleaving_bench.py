"""benchmarks/interleaving.py --quick: a small simulator world with trained rankers, every
figure line printed with its target and verdict."""

import re

import pytest

from tests.benchmarks.quick import run_quick

USERS = r"[\d,]+"


@pytest.mark.bench
@pytest.mark.slow
def test_interleaving_benchmark_quick():
    lines = run_quick("interleaving.py", timeout=300)
    print("\n".join(lines))
    assert lines[0].startswith("interleaving: simulator population (generated tastes): ")
    assert re.search(r"true CTR pipeline [\d.]+, item_cf [\d.]+, popular [\d.]+", lines[0])
    pairs = ["pipeline vs item_cf", "item_cf vs popular", "pipeline vs pipeline, degraded top"]
    for pair in pairs:
        head, sign, difference = [
            line for line in lines if line.startswith(f"interleaving: {pair}:")
        ]
        assert re.search(
            rf"A/B on CTR needs {USERS} users at 80% power "
            r"\(-?\d+% of its per-user variance between users\)$",
            head,
        ), head
        for line, test in ((sign, "sign test"), (difference, "paired credit difference")):
            assert test in line
            assert re.search(
                rf"needs {USERS} users at 80% power: [\d.]+x fewer than A/B "
                r"\(target >= 10x\) (PASS|MISS|NOT JUDGED \(CTR within 2%\))$",
                line,
            ), line
    agreement, power, aa = lines[-3:]
    assert re.fullmatch(
        r"interleaving: both tests prefer .* in \d of \d pairs .*\(target: all\) "
        r"(PASS|MISS|NOT JUDGED .*)",
        agreement,
    ), agreement
    assert re.fullmatch(
        rf"interleaving: power at the planned sizes \(pipeline vs pipeline, degraded top, 20 "
        rf"experiments on "
        rf"resampled users each\): sign test \d+% at {USERS} users, credit difference \d+% "
        rf"at {USERS}, A/B \d+% at {USERS} \(target 80% \+- 5% each\) (PASS|MISS)",
        power,
    ), power
    assert re.fullmatch(
        r"interleaving: A/A \(pipeline on both teams\), 200 experiments of 100 resampled "
        r"users: false-positive rate sign test [\d.]+%, credit difference [\d.]+% \(target 5% "
        r"\+- 1\.5% each\); pooled preference [\d.]+ \[[\d.]+, [\d.]+\] \(target: covers "
        r"0\.5\) (PASS|MISS)",
        aa,
    ), aa
