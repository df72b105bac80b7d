"""Multiple-comparison adjustments across variants and metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.stats._validation import check_choice

METHODS = ("holm", "bh")


def adjust_pvalues(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjusted p-values, in the input order; reject where ``adjusted < alpha``.

    * ``holm`` (family-wise error; Holm 1979): with ascending ``p_(1..m)``,
      ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``;
    * ``bh`` (false discovery rate; Benjamini & Hochberg 1995):
      ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)``.

    Both equal statsmodels' ``multipletests(p, method="holm" | "fdr_bh")[1]``.
    """
    method = check_choice("method", method, METHODS)
    p = np.asarray(p_values, dtype=float).ravel()
    if p.size == 0:
        return p
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values: each must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ranked))
    else:
        adjusted = np.minimum.accumulate((m * ranked / rank)[::-1])[::-1]
        adjusted = np.minimum(adjusted, 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out
