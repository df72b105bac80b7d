"""Per-variant sufficient statistics and the moments computed from them (vectorised).

The database sends sums instead of rows: for each variant of an experiment and each metric,
``n`` randomised users and, over those users, the sums below. ``x`` is the user's metric value
(a 0/1 conversion, a watch time, a click count), ``y`` the denominator of a ratio metric (the
user's impressions for CTR), ``c`` a pre-experiment covariate for CUPED (the same metric in the
weeks before the experiment; 0 for new users).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter

import numpy as np

from analytics.stats._validation import MAX_COUNT, SUM_LIMIT, check_count, check_sum

KINDS = ("proportion", "mean", "ratio")


@dataclass(frozen=True)
class SufficientStats:
    """Sums over the ``n`` users of one variant.

    ``sum_x2`` defaults to ``sum_x`` (right for 0/1 values). Ratio metrics need ``sum_y``,
    ``sum_y2`` and ``sum_xy``; CUPED needs ``sum_c``, ``sum_c2`` and ``sum_xc``.
    """

    n: int
    sum_x: float
    sum_x2: float | None = None
    sum_y: float | None = None
    sum_y2: float | None = None
    sum_xy: float | None = None
    sum_c: float | None = None
    sum_c2: float | None = None
    sum_xc: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_count("n", self.n))
        object.__setattr__(self, "sum_x", check_sum("sum_x", self.sum_x))
        for name in ("sum_x2", "sum_y", "sum_y2", "sum_xy", "sum_c", "sum_c2", "sum_xc"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_sum(name, value))
        if self.sum_x2 is None:  # 0/1 values; the proportion check bounds sum_x by n
            object.__setattr__(self, "sum_x2", self.sum_x)
        # One row of Python floats (None -> NaN): the columns' checks, at a float's cost.
        row = (math.nan if v is None else float(v) for v in attrgetter(*FIELDS)(self))
        check_consistent(dict(zip(FIELDS, row, strict=True)), "")

    @property
    def has_ratio(self) -> bool:
        return None not in (self.sum_y, self.sum_y2, self.sum_xy)

    @property
    def has_covariate(self) -> bool:
        return None not in (self.sum_c, self.sum_c2, self.sum_xc)

    @classmethod
    def from_arrays(
        cls,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray | None = None,
        covariate: Sequence[float] | np.ndarray | None = None,
    ) -> SufficientStats:
        """The sums of per-user arrays (``y``: ratio denominators; ``covariate``: CUPED)."""
        x = np.asarray(x, dtype=float)
        sums: dict[str, float] = {"sum_x": float(x.sum()), "sum_x2": float(x @ x)}
        for name, other in (("y", y), ("c", covariate)):
            if other is None:
                continue
            other = np.asarray(other, dtype=float)
            if other.shape != x.shape:
                raise ValueError(f"{'covariate' if name == 'c' else 'y'}: must match x's shape")
            sums[f"sum_{name}"] = float(other.sum())
            sums[f"sum_{name}2"] = float(other @ other)
            sums[f"sum_x{name}"] = float(x @ other)
        return cls(n=int(x.size), **sums)


FIELDS = tuple(f.name for f in fields(SufficientStats))


def _any(mask: np.ndarray | bool) -> bool:
    """``np.any`` of a column's mask, or a scalar row's own truth value."""
    return bool(mask.any()) if isinstance(mask, np.ndarray) else bool(mask)


def stack(stats: Sequence[SufficientStats]) -> dict[str, np.ndarray]:
    """Column arrays of a sequence of sufficient statistics (missing sums become NaN)."""
    rows = list(map(attrgetter(*FIELDS), stats))
    table = np.array(rows, dtype=float).reshape(len(rows), len(FIELDS))  # None -> NaN
    return {name: table[:, j].copy() for j, name in enumerate(FIELDS)}


@dataclass(frozen=True)
class Moments:
    """Per-group estimate and the variance of that estimate (arrays)."""

    mean: np.ndarray
    var_mean: np.ndarray
    n: np.ndarray


def moments(kind: str, s: dict[str, np.ndarray]) -> Moments:
    """Mean and variance of the mean for a metric ``kind`` from column sums ``s``.

    * proportion: ``p = sum_x / n``, ``Var(p) = p (1 - p) / n`` (binomial);
    * mean: ``m = sum_x / n``, ``Var(m) = s^2 / n``, ``s^2 = (sum_x2 - sum_x^2/n) / (n - 1)``;
    * ratio: ``R = sum_x / sum_y``, by the delta method over users (Deng, Knoblich & Lu, KDD
      2018, eq. 3): ``Var(R) = n / (n - 1) * sum_u (x_u - R y_u)^2 / sum_y^2``, where
      ``sum_u (x_u - R y_u)^2 = sum_x2 - 2 R sum_xy + R^2 sum_y2``.
    """
    n = s["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "proportion":
            mean = s["sum_x"] / n
            var_mean = mean * (1 - mean) / n
        elif kind == "mean":
            mean = s["sum_x"] / n
            var_mean = np.maximum(s["sum_x2"] - s["sum_x"] * mean, 0) / ((n - 1) * n)
        else:
            mean = s["sum_x"] / s["sum_y"]
            resid = s["sum_x2"] - 2 * mean * s["sum_xy"] + mean**2 * s["sum_y2"]
            var_mean = n / (n - 1) * np.maximum(resid, 0) / s["sum_y"] ** 2
    return Moments(mean, var_mean, n)


# (sum of squares, sum, its name) and (cross sum, squares a, squares b) checked for every row.
_SQUARES = (("sum_x2", "sum_x"), ("sum_y2", "sum_y"), ("sum_c2", "sum_c"))
_CROSS = (("sum_xy", "sum_x2", "sum_y2"), ("sum_xc", "sum_x2", "sum_c2"))


def check_consistent(s: dict[str, np.ndarray] | dict[str, float], group: str) -> None:
    """Raise ``ValueError`` naming the field if a row's sums are impossible for real values.

    Every given sum finite and within ``+-SUM_LIMIT``; ``n`` a whole number in ``[0, 2^53]``;
    by Cauchy-Schwarz ``n sum(x^2) >= sum(x)^2`` (and so for ``y`` and ``c``) and
    ``sum(xy)^2 <= sum(x^2) sum(y^2)`` (and for ``xc``), up to rounding of the sums; a ratio's
    denominator sum not negative. Missing sums are NaN and skipped. ``group`` prefixes the
    field (``"treatment.sum_x2"``). Written with operators only (no numpy function), so that
    ``SufficientStats`` runs the same checks on a row of Python floats at a float's cost: the
    experiment lists build a dozen of them per experiment.
    """
    prefix = f"{group}." if group else ""
    n = s["n"]
    with np.errstate(invalid="ignore", over="ignore"):
        # NaN and infinities fail ``n % 1 == 0`` (their remainder is NaN)
        if _any((n < 0) | (n % 1 != 0) | (n > MAX_COUNT)):
            raise ValueError(f"{prefix}n: must be a whole number within [0, 2^53]")
        slack = 1 - 1e-9
        for name in FIELDS[1:]:
            if _any(abs(s[name]) > SUM_LIMIT):  # infinities too; NaN (missing) is not
                raise ValueError(f"{prefix}{name}: must be finite and within +-1e75")
        for squares, total in _SQUARES:
            bad = n * s[squares] < s[total] * s[total] * slack
            if squares == "sum_x2" and _any(bad & (s["sum_x2"] == s["sum_x"])):
                # 0/1 values (sum_x2 defaults to sum_x): the count itself is impossible.
                raise ValueError(f"{prefix}sum_x: successes must be whole numbers within [0, n]")
            if _any(bad | (s[squares] < 0)):
                raise ValueError(
                    f"{prefix}{squares}: smaller than {total}^2 / n, impossible for real values"
                )
        for cross, a, b in _CROSS:
            if _any(s[cross] * s[cross] * slack > s[a] * s[b]):
                raise ValueError(
                    f"{prefix}{cross}: its square exceeds {a} * {b}, impossible for real values"
                )
        if _any(s["sum_y"] < 0):
            raise ValueError(f"{prefix}sum_y: a denominator sum must not be negative")


def check_kind(kind: str, s: dict[str, np.ndarray], group: str) -> None:
    """Raise ``ValueError`` naming ``group`` if its sums cannot carry a metric of ``kind``."""
    check_consistent(s, group)
    n = s["n"]
    if np.any(np.isnan(s["sum_x"])) or np.any(np.isnan(s["sum_x2"])):
        raise ValueError(f"{group}.sum_x: required (a finite number)")
    if np.any(np.isnan(n) | (n != np.round(n))):
        raise ValueError(f"{group}.n: must be a whole number")
    minimum = 1 if kind == "proportion" else 2
    if np.any(n < minimum):
        raise ValueError(f"{group}.n: a {kind} metric needs at least {minimum} users per group")
    if kind == "proportion":
        x = s["sum_x"]
        if np.any((x < 0) | (x > n) | (x != np.round(x))):
            raise ValueError(f"{group}.sum_x: successes must be whole numbers within [0, n]")
    if kind == "ratio":
        if np.any(np.isnan(s["sum_y"]) | np.isnan(s["sum_y2"]) | np.isnan(s["sum_xy"])):
            raise ValueError(f"{group}.sum_y: a ratio metric needs sum_y, sum_y2 and sum_xy")
        if np.any(s["sum_y"] <= 0):
            raise ValueError(f"{group}.sum_y: the denominator total must be positive")
