"""Degenerate data: where the normal approximation would be confident without reason.

A z- or t-test standardises the effect by an estimated standard error. When an arm has no
variation (0 of 405 users converted; every user the same value) its estimated variance is 0,
the standard error collapses onto the other arm's, and a tiny effect looks decisive: the
``/api/v1/stats/analyze`` case of control 0/405 against treatment 18/19,974 gave p = 2.7e-5
with CUPED (Fisher's exact test: p = 1.0). The rules here, applied row by row in
``analysis.analyze_many``:

* proportions with an arm at 0 % or 100 %, or under ``MIN_EXPECTED`` expected successes or
  failures in a cell (Cochran's rule for the chi-square / z approximation; Cochran,
  Biometrics 1954), are tested with Fisher's exact test (conditional on both margins; as
  ``scipy.stats.fisher_exact``), without CUPED, and their interval uses the pooled standard
  error ``sqrt(pbar qbar (1/n_c + 1/n_t))``, which never credits an arm with zero variance;
* means and ratios with one arm of zero variance borrow the other arm's per-user variance
  (``s_other^2 / n_this``) instead of 0; with no variation in either arm there is nothing to
  test: "not enough data", p = 1;
* a relative effect ``m_t / m_c - 1`` needs a control mean distinguishable from zero
  (``|m_c| > z_{1-alpha/2} se(m_c)``); otherwise it is "not meaningful" and reported as NaN
  (the holdout case of -2,079,221 %).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analytics.stats.sufficient import Moments

MIN_EXPECTED = 5.0
# Row flags (bit mask) and the notes they produce.
EXACT, NO_VARIATION, BORROWED, RELATIVE = 1, 2, 4, 8
NOTES = {
    EXACT: "Fisher's exact test: an arm has no variation or a cell expects under 5 users",
    NO_VARIATION: "not enough data: no variation in either arm",
    BORROWED: "an arm has no variation: its variance is taken from the other arm",
    RELATIVE: "relative effect not meaningful: the control mean is not distinguishable from 0",
}


def note_of(flags: int) -> str:
    """The notes of a row's flags, joined by "; " ("" when none)."""
    if not flags:
        return ""
    return "; ".join(text for bit, text in NOTES.items() if flags & bit)


def proportion_flags(c: dict[str, np.ndarray], t: dict[str, np.ndarray]) -> np.ndarray:
    """``EXACT`` where an arm is at 0 % / 100 % or a cell's expected count is below 5."""
    xc, nc, xt, nt = c["sum_x"], c["n"], t["sum_x"], t["n"]
    pooled = (xc + xt) / (nc + nt)
    expected = np.minimum(np.minimum(nc, nt) * pooled, np.minimum(nc, nt) * (1 - pooled))
    flat = (xc == 0) | (xc == nc) | (xt == 0) | (xt == nt)
    flags = np.where(flat | (expected < MIN_EXPECTED), EXACT, 0)
    both_flat = ((xc == 0) & (xt == 0)) | ((xc == nc) & (xt == nt))
    return flags | np.where(both_flat, NO_VARIATION, 0)


# scipy's two-sided Fisher test walks the hypergeometric support, whose size is the smallest
# margin of the table: 10^12 users at 0 % against 100 % took hours. Past this margin every
# expected count is in the thousands and the z-test the caller computed is kept. It also
# multiplies margins in int64: 10^15 users overflow it and
# the search never ends; past FISHER_MAX_TOTAL users the z-test is exact to many digits.
FISHER_MAX_MARGIN = 100_000
FISHER_MAX_TOTAL = 10**12


def fisher_p_values(
    c: dict[str, np.ndarray],
    t: dict[str, np.ndarray],
    rows: np.ndarray,
    alternative: str,
    approximate: np.ndarray,
) -> np.ndarray:
    """Fisher's exact p-values of the 2x2 tables ``[[x_t, n_t - x_t], [x_c, n_c - x_c]]`` at
    ``rows`` (``larger``: the treatment's odds above the control's); ``approximate`` (the
    z-test's p-values at ``rows``) where the table's smallest margin passes
    ``FISHER_MAX_MARGIN`` or its total ``FISHER_MAX_TOTAL``."""
    side = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]
    out = np.array(approximate, dtype=float)
    for j, i in enumerate(rows):
        table = np.asarray(
            [
                [t["sum_x"][i], t["n"][i] - t["sum_x"][i]],
                [c["sum_x"][i], c["n"][i] - c["sum_x"][i]],
            ],
            dtype=np.int64,
        )
        smallest_margin = min(*table.sum(axis=0), *table.sum(axis=1))
        if smallest_margin > FISHER_MAX_MARGIN or table.sum() > FISHER_MAX_TOTAL:
            continue
        out[j] = stats.fisher_exact(table, alternative=side).pvalue
    return np.clip(out, 0.0, 1.0)


def borrow_variance(mc: Moments, mt: Moments) -> tuple[Moments, Moments, np.ndarray]:
    """Replace a zero variance of the mean by the other arm's per-user variance over this
    arm's size; flags ``BORROWED`` (one arm flat) or ``NO_VARIATION`` (both)."""
    zero_c, zero_t = mc.var_mean <= 0, mt.var_mean <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        vc = np.where(zero_c & ~zero_t, mt.var_mean * mt.n / mc.n, mc.var_mean)
        vt = np.where(zero_t & ~zero_c, mc.var_mean * mc.n / mt.n, mt.var_mean)
    flags = np.where(zero_c & zero_t, NO_VARIATION, np.where(zero_c | zero_t, BORROWED, 0))
    return Moments(mc.mean, vc, mc.n), Moments(mt.mean, vt, mt.n), flags


def relative_flags(mean_c: np.ndarray, var_mean_c: np.ndarray, crit: float) -> np.ndarray:
    """``RELATIVE`` where the control mean is within ``crit`` standard errors of zero."""
    with np.errstate(invalid="ignore"):
        unclear = ~(np.abs(mean_c) > crit * np.sqrt(np.maximum(var_mean_c, 0)))
    return np.where(unclear | (mean_c == 0), RELATIVE, 0)
