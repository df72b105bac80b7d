"""Winsorisation: cap a heavy-tailed per-user metric at a percentile of the pooled values.

A few users who watch for days dominate the variance of mean watch time; capping every
user's value at the ``p``-th percentile of both groups' values pooled (``p = 0.99`` caps the
top 1%) trades a small, known bias of the estimand (the mean of ``min(x, cap)``) for a large
cut in variance. The cap comes from both groups together, so it treats them alike and an A/A
test stays valid; the test then runs on the capped values as on any mean. Upper tail only:
the metrics capped here are non-negative amounts (seconds, counts).

The percentile is the nearest rank (Hyndman & Fan 1996, definition 1, ``numpy.quantile(...,
method="inverted_cdf")``): the smallest value with at least ``p n`` values at or below it,
so the database computes the same cap with ``ORDER BY value LIMIT 1 OFFSET rank - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analytics.stats._validation import check_count, check_real

# Below the median a "cap" would change most users' values: that is not winsorisation.
PERCENTILE_RANGE = (0.5, 1.0)


def check_percentile(value: object) -> float:
    """A winsorisation percentile in ``(0.5, 1)`` (``0.99`` caps the top 1%)."""
    value = check_real("percentile", value)
    if not PERCENTILE_RANGE[0] < value < PERCENTILE_RANGE[1]:
        raise ValueError(f"percentile: must lie strictly between 0.5 and 1, got {value}")
    return value


def cap_rank(users: int, percentile: float) -> int:
    """The 1-based rank of the cap among ``users`` sorted values: ``ceil(p n)``."""
    users = check_count("users", users, minimum=1)
    percentile = check_percentile(percentile)
    # Round first: 0.99 * 100 is 98.99999999999999 in floating point, whose ceiling is 99.
    return max(1, math.ceil(round(percentile * users, 9)))


def winsorization_cap(values: Sequence[float] | np.ndarray, percentile: float) -> float:
    """The ``percentile`` nearest-rank value of ``values`` (both groups' users pooled)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("values: needs a one-dimensional array of at least 1 user")
    if not np.all(np.isfinite(x)):
        raise ValueError("values: must be finite")
    rank = cap_rank(x.size, percentile)
    return float(np.partition(x, rank - 1)[rank - 1])


def winsorize(values: Sequence[float] | np.ndarray, cap: float) -> np.ndarray:
    """``min(x, cap)`` for every user."""
    x = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError("values: must be finite")
    return np.minimum(x, check_real("cap", cap))
