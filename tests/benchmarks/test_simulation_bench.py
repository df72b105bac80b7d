"""benchmarks/simulation.py --quick: the accounting run over HTTP and the A/A figure, then a
smoke run of the in-process figures (the pipeline in the loop included) with a handful of
replicates."""

from __future__ import annotations

import re

import pytest

from tests.benchmarks.quick import SERVER_URL, postgres_available, run_quick

LINE = r"simulation: \({n}\) .+ (PASS|MISS)"


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_simulation_accounting_and_aa_quick():
    lines = run_quick(
        "simulation.py", "--server-url", SERVER_URL, "--only", "accounting,aa", timeout=420
    )
    figures = [line for line in lines if line.startswith("simulation: (")]
    print("\n".join(figures))
    assert re.fullmatch(LINE.format(n=1), figures[0]), figures[0]
    assert "report CSV vs the ledger: " in figures[0]
    assert re.fullmatch(LINE.format(n=2), figures[1]), figures[1]
    assert "false positives at the final look" in figures[1]


@pytest.mark.bench
def test_simulation_in_process_figures_smoke():
    lines = run_quick(
        "simulation.py",
        "--only",
        "coverage,power,sequential,guardrails,holdout,pipeline",
        "--replicates",
        "3",
        timeout=300,
    )
    figures = [line for line in lines if line.startswith("simulation: (")]
    print("\n".join(figures))
    expected = (
        ("3", "coverage of the 95% CI"),
        ("4", "power, conversion"),
        ("4b", "power in sequential mode"),
        ("5", "guardrails"),
        ("6", "holdout, two launches"),
        ("7", "two-tower pipeline vs most popular"),
    )
    for n, words in expected:
        line = next(x for x in figures if x.startswith(f"simulation: ({n})"))
        assert re.fullmatch(LINE.format(n=n), line) and words in line, line
    # The pipeline's lift is large enough to be found even by a smoke run's 3 experiments.
    assert next(x for x in figures if x.startswith("simulation: (7)")).endswith("PASS")
