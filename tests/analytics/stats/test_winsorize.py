"""Winsorisation: the nearest-rank cap of the pooled values, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.stats import winsorization_cap, winsorize
from analytics.stats.winsorize import cap_rank


@pytest.mark.parametrize("users", [1, 2, 7, 100, 101, 999, 12_345])
@pytest.mark.parametrize("percentile", [0.51, 0.9, 0.95, 0.99, 0.999])
def test_cap_is_numpys_inverted_cdf_quantile(users, percentile):
    values = np.random.default_rng(users).lognormal(3, 1.5, users)
    expected = np.quantile(values, percentile, method="inverted_cdf")
    assert winsorization_cap(values, percentile) == expected


def test_rank_is_exact_where_floating_point_is_not():
    assert cap_rank(100, 0.99) == 99  # 0.99 * 100 is 98.99999999999999
    assert cap_rank(1000, 0.999) == 999
    assert cap_rank(3, 0.9) == 3


def test_winsorize_caps_only_the_top():
    assert winsorize([1.0, 5.0, 50.0], 10.0).tolist() == [1.0, 5.0, 10.0]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: winsorization_cap([1.0, 2.0], 0.5), "percentile"),
        (lambda: winsorization_cap([1.0, 2.0], 1.0), "percentile"),
        (lambda: winsorization_cap([1.0, 2.0], float("nan")), "percentile"),
        (lambda: winsorization_cap([1.0, float("inf")], 0.9), "values"),
        (lambda: winsorization_cap([], 0.9), "values"),
        (lambda: winsorize([1.0, float("nan")], 2.0), "values"),
        (lambda: winsorize([1.0], float("inf")), "cap"),
        (lambda: cap_rank(0, 0.9), "users"),
    ],
)
def test_bad_input_is_refused_by_name(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
