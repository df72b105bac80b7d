"""Sample ratio mismatch: did the assignment deliver the configured split?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from analytics.stats._validation import check_count, check_positive, check_unit_open

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    """Pearson chi-square goodness of fit of the observed group sizes to the weights."""

    p_value: float
    statistic: float
    df: int
    expected_counts: tuple[float, ...]
    flagged: bool
    threshold: float = SRM_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"p_value: must lie in [0, 1], got {self.p_value}")
        if self.flagged != (self.p_value < self.threshold):
            raise ValueError("flagged: must equal p_value < threshold")


def srm_test(
    observed_counts: Sequence[int],
    expected_weights: Sequence[float],
    *,
    threshold: float = SRM_THRESHOLD,
) -> SrmResult:
    """Chi-square test of ``observed_counts`` (users per variant) against ``expected_weights``.

    ``chi2 = sum (O_i - E_i)^2 / E_i`` with ``E_i = N w_i / sum w``, ``k - 1`` degrees of
    freedom (as ``scipy.stats.chisquare``). SRM is flagged at ``p < threshold`` (0.001: a
    strict level, since a mismatch invalidates the whole experiment; Fabijan et al., KDD 2019).
    """
    threshold = check_unit_open("threshold", threshold)
    if len(observed_counts) != len(expected_weights):
        raise ValueError("expected_weights: needs one weight per observed count")
    if len(observed_counts) < 2:
        raise ValueError("observed_counts: needs at least two groups")
    counts = np.array(
        [check_count(f"observed_counts[{i}]", c) for i, c in enumerate(observed_counts)],
        dtype=float,
    )
    weights = np.array(
        [check_positive(f"expected_weights[{i}]", w) for i, w in enumerate(expected_weights)]
    )
    total = counts.sum()
    if total == 0:
        raise ValueError("observed_counts: all zero, nothing to test")
    expected = total * weights / weights.sum()
    statistic = float(((counts - expected) ** 2 / expected).sum())
    df = len(counts) - 1
    p_value = float(special.chdtrc(df, statistic))
    return SrmResult(
        p_value, statistic, df, tuple(expected.tolist()), p_value < threshold, threshold
    )
