"""Power and sample size against statsmodels (NormalIndPower, tt_ind_solve_power)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower, tt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from analytics.stats import (
    SampleSize,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    runtime_days,
    sample_size_means,
    sample_size_proportions,
)

RTOL = 1e-6


def _same_ceiling(ours: SampleSize, oracle_exact: float) -> None:
    """Sizes agree to the integer (the unrounded solutions to 1e-6 relative)."""
    assert ours.control_exact == pytest.approx(oracle_exact, rel=RTOL)
    near_integer = abs(oracle_exact - round(oracle_exact)) < 1e-6 * oracle_exact
    if not near_integer:  # a solver's last digits may fall on either side of an integer
        assert ours.control == math.ceil(oracle_exact)


def _grid(seed: int, size: int):
    rng = np.random.default_rng(seed)
    for _ in range(size):
        yield (
            float(rng.uniform(0.01, 0.6)),  # baseline
            float(rng.uniform(0.02, 0.5)),  # relative mde
            float(rng.choice([0.01, 0.05, 0.1])),
            float(rng.choice([0.8, 0.9, 0.95])),
            float(rng.choice([1.0, 0.5, 2.0, 1 / 9])),
            str(rng.choice(["two-sided", "larger"])),
        )


def test_reference_numbers_from_the_issue():
    assert sample_size_proportions(0.05, 0.05).control == 122_121
    assert sample_size_proportions(0.05, 0.05, method="cohen_h").control == 122_107
    size = sample_size_proportions(0.05, 0.05)
    assert size.treatment == 122_121 and size.total == 244_242


def test_cohen_h_matches_normal_ind_power_over_a_grid():
    for baseline, mde, alpha, power, ratio, alternative in _grid(1, 60):
        h = proportion_effectsize(baseline * (1 + mde), baseline)
        oracle = NormalIndPower().solve_power(
            h, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        ours = sample_size_proportions(
            baseline, mde, alpha=alpha, power=power, ratio=ratio, alternative=alternative,
            method="cohen_h",
        )  # fmt: skip
        _same_ceiling(ours, oracle)
        assert ours.treatment == math.ceil(ours.control_exact * ratio * (1 - 1e-12))


def test_unpooled_matches_one_sample_normal_power_over_a_grid():
    # Unpooled: se = sqrt(p1 q1 + p2 q2 / r) / sqrt(n_c), i.e. a one-sample normal test with
    # standardised effect delta / sqrt(p1 q1 + p2 q2 / r) (NormalIndPower with ratio=0).
    for baseline, mde, alpha, power, ratio, alternative in _grid(2, 60):
        p2 = baseline * (1 + mde)
        d = (p2 - baseline) / math.sqrt(baseline * (1 - baseline) + p2 * (1 - p2) / ratio)
        oracle = NormalIndPower().solve_power(
            d, alpha=alpha, power=power, ratio=0, alternative=alternative
        )
        ours = sample_size_proportions(
            baseline, mde, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        _same_ceiling(ours, oracle)


def test_absolute_mde_equals_relative():
    relative = sample_size_proportions(0.1, 0.1)
    absolute = sample_size_proportions(0.1, 0.01, relative=False)
    assert absolute.control_exact == pytest.approx(relative.control_exact, rel=1e-12)


def test_means_match_tt_ind_solve_power_over_a_grid():
    rng = np.random.default_rng(3)
    for _ in range(40):
        std = float(rng.uniform(0.5, 50))
        d = float(rng.uniform(0.05, 1.0))
        alpha = float(rng.choice([0.01, 0.05]))
        power = float(rng.choice([0.8, 0.9]))
        ratio = float(rng.choice([1.0, 0.5, 3.0]))
        alternative = str(rng.choice(["two-sided", "larger"]))
        oracle = tt_ind_solve_power(
            effect_size=d, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        ours = sample_size_means(
            std, d * std, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        _same_ceiling(ours, oracle)
        z_oracle = NormalIndPower().solve_power(
            d, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        z_ours = sample_size_means(
            std, d * std, alpha=alpha, power=power, ratio=ratio, alternative=alternative,
            method="z",
        )  # fmt: skip
        _same_ceiling(z_ours, z_oracle)


def test_power_matches_normal_ind_power_and_inverts_sample_size():
    for baseline, mde, alpha, _power, ratio, alternative in _grid(4, 40):
        h = proportion_effectsize(baseline * (1 + mde), baseline)
        for n in (100, 5_000, 200_000):
            oracle = NormalIndPower().power(h, n, alpha, ratio=ratio, alternative=alternative)
            ours = power_proportions(
                baseline, mde, n, alpha=alpha, ratio=ratio, alternative=alternative,
                method="cohen_h",
            )  # fmt: skip
            assert ours == pytest.approx(oracle, rel=RTOL)
    size = sample_size_proportions(0.05, 0.05)
    assert power_proportions(0.05, 0.05, size.control) >= 0.8
    assert power_proportions(0.05, 0.05, size.control - 2) < 0.8


def test_power_means_matches_tt_ind_solve_power():
    for d, n, ratio in [(0.2, 100, 1.0), (0.5, 30, 2.0), (0.05, 5000, 0.5)]:
        oracle = tt_ind_solve_power(effect_size=d, nobs1=n, alpha=0.05, ratio=ratio)
        assert power_means(3.0, 3.0 * d, n, ratio=ratio) == pytest.approx(oracle, rel=RTOL)


def test_mde_inverts_power():
    mde = mde_proportions(122_121, 0.05)
    assert mde.relative == pytest.approx(0.05, rel=1e-4)
    assert power_proportions(0.05, mde.absolute, 122_121, relative=False) == pytest.approx(0.8)
    # statsmodels' effect-size solver stops early (power 0.79997 here), so the oracle checks
    # that statsmodels' own power function gives exactly the target at our MDE.
    ours = mde_proportions(5000, 0.2, method="cohen_h")
    h = proportion_effectsize(0.2 + ours.absolute, 0.2)
    assert NormalIndPower().power(h, 5000, 0.05) == pytest.approx(0.8, rel=RTOL)
    down = mde_proportions(5000, 0.2, alternative="smaller")
    assert down.absolute < 0
    mde = mde_means(400, 2.5, power=0.9, baseline=10)
    oracle = tt_ind_solve_power(effect_size=mde.absolute / 2.5, nobs1=400, alpha=0.05)
    assert oracle == pytest.approx(0.9, rel=RTOL)
    assert mde.relative == pytest.approx(mde.absolute / 10)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    baseline=st.floats(0.005, 0.9),
    mde=st.floats(0.01, 0.5),
    power=st.floats(0.5, 0.99),
    ratio=st.floats(0.1, 10),
)
def test_sample_size_is_the_smallest_that_reaches_power(baseline, mde, power, ratio):
    if baseline * (1 + mde) >= 1:
        return
    size = sample_size_proportions(baseline, mde, power=power, ratio=ratio)
    reached = power_proportions(baseline, mde, size.control, ratio=ratio)
    assert reached >= power - 1e-9
    assert size.total == size.control + size.treatment


def test_runtime_days():
    assert runtime_days(SampleSize(500, 500, 1000), 100) == 10
    assert runtime_days(1000, 100, 0.3) == 34
    assert runtime_days(sample_size_proportions(0.05, 0.05), 10_000, 0.5) == 49


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: sample_size_proportions(0.05, 0), "mde"),
        (lambda: sample_size_proportions(0.05, 0.05, alpha=1.0), "alpha"),
        (lambda: sample_size_proportions(0.05, 0.05, power=0), "power"),
        (lambda: sample_size_proportions(0.05, 0.05, power=0.01), "power"),
        (lambda: sample_size_proportions(1.5, 0.05), "baseline"),
        (lambda: sample_size_proportions(0.6, 1.0), "mde"),
        (lambda: sample_size_proportions(0.05, 0.05, ratio=0), "ratio"),
        (lambda: sample_size_proportions(0.05, 0.05, method="wald"), "method"),
        (lambda: sample_size_proportions(0.05, 0.05, alternative="up"), "alternative"),
        (lambda: sample_size_proportions(0.05, -0.05, alternative="larger"), "alternative"),
        (lambda: sample_size_means(0, 1), "std"),
        (lambda: power_proportions(0.05, 0.05, -3), "n_control"),
        (lambda: mde_proportions(0, 0.05), "n_control"),
        (lambda: runtime_days(1000, 0), "daily_users"),
        (lambda: runtime_days(1000, 10, 1.5), "traffic_share"),
        (lambda: runtime_days(-1, 10), "sample_size"),
    ],
)
def test_bad_arguments_name_themselves(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()
