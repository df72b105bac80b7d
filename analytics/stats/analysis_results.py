"""Result types of ``analysis``: one pair's ``MetricAnalysis`` and the column-wise
``BatchAnalysis`` of ``analyze_many`` (turned into dataclasses row by row)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analytics.stats import degenerate
from analytics.stats._validation import check_choice, check_decision
from analytics.stats.sufficient import KINDS

METHOD_NAMES = {
    "proportion": "two-proportion z-test (pooled)",
    "mean": "Welch t-test",
    "ratio": "delta-method z-test",
}


@dataclass(frozen=True)
class MetricAnalysis:
    """Result for one treatment-vs-control metric pair.

    Effects are treatment minus control (``absolute_*``) and ``treatment/control - 1``
    (``relative_*``, delta-method interval). ``significant`` is ``sequential_p_value < alpha``
    when the analysis is sequential, else ``p_value < alpha``. Sequential fields, CUPED fields
    and ``probability_to_beat`` are ``None`` when not computed. ``note`` says what was done
    with degenerate data (``degenerate``: exact test, borrowed variance, "not enough data",
    relative effect not meaningful); "" for ordinary data.
    """

    kind: str
    control_n: int
    treatment_n: int
    control_mean: float
    treatment_mean: float
    absolute_effect: float
    absolute_ci: tuple[float, float]
    relative_effect: float
    relative_ci: tuple[float, float]
    p_value: float
    statistic: float
    std_error: float
    df: float
    significant: bool
    alpha: float
    alternative: str
    method: str
    cuped_theta: float | None = None
    variance_reduction: float | None = None
    sequential_method: str | None = None
    sequential_p_value: float | None = None
    sequential_ci: tuple[float, float] | None = None
    probability_to_beat: float | None = None
    note: str = ""
    chance_to_win: float | None = None
    risk: tuple[float, float] | None = None
    cuped_covariates: int | None = None

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        check_decision(
            self.p_value, self.absolute_ci, self.significant, self.alpha, self.sequential_p_value
        )
        if self.probability_to_beat is not None and not 0 <= self.probability_to_beat <= 1:
            raise ValueError("probability_to_beat: must lie in [0, 1]")


@functools.cache
def _method_and_note(kind: str, cuped: bool, flags: int, covariates: int = 1) -> tuple[str, str]:
    """The test's name and the degenerate-data note of a row (few distinct values: cached)."""
    method = METHOD_NAMES[kind] + (" with CUPED" if cuped else "")
    method += f" ({covariates} covariates)" if cuped and covariates > 1 else ""
    method += " (unpooled)" if cuped and kind == "proportion" else ""
    if flags & degenerate.EXACT:
        method = "Fisher's exact test"
    return method, degenerate.note_of(flags)


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class BatchAnalysis:
    """Column arrays of ``analyze_many``; ``batch[i]`` is the ``MetricAnalysis`` of pair i."""

    kind: np.ndarray
    columns: Mapping[str, np.ndarray]
    alpha: float
    alternative: str
    sequential_method: str | None

    def __len__(self) -> int:
        return len(self.kind)

    def __getitem__(self, i: int) -> MetricAnalysis:
        row = {name: values[i].item() for name, values in self.columns.items()}
        return self._analysis(str(self.kind[i]), row)

    def results(self) -> list[MetricAnalysis]:
        """All pairs as dataclasses (columns turned into Python floats once: fast)."""
        lists = {name: values.tolist() for name, values in self.columns.items()}
        names = list(lists)
        return [
            self._analysis(kind, dict(zip(names, row, strict=True)))
            for kind, row in zip(self.kind.tolist(), zip(*lists.values(), strict=True), strict=True)
        ]

    def _analysis(self, kind: str, c: dict[str, float]) -> MetricAnalysis:
        sequential = self.sequential_method is not None
        theta = c["cuped_theta"]
        count = c["cuped_covariates"]
        covariates = int(count) if count == count else 0  # NaN != NaN
        method, note = _method_and_note(kind, theta == theta, int(c["flags"]), covariates)
        return MetricAnalysis(
            kind=kind,
            control_n=int(c["control_n"]),
            treatment_n=int(c["treatment_n"]),
            control_mean=c["control_mean"],
            treatment_mean=c["treatment_mean"],
            absolute_effect=c["absolute_effect"],
            absolute_ci=(c["absolute_lower"], c["absolute_upper"]),
            relative_effect=c["relative_effect"],
            relative_ci=(c["relative_lower"], c["relative_upper"]),
            p_value=c["p_value"],
            statistic=c["statistic"],
            std_error=c["std_error"],
            df=c["df"],
            significant=bool(c["significant"]),
            alpha=self.alpha,
            alternative=self.alternative,
            method=method,
            cuped_theta=_optional(c["cuped_theta"]),
            variance_reduction=_optional(c["variance_reduction"]),
            sequential_method=self.sequential_method,
            sequential_p_value=c["sequential_p_value"] if sequential else None,
            sequential_ci=(c["sequential_lower"], c["sequential_upper"]) if sequential else None,
            probability_to_beat=_optional(c["probability_to_beat"]),
            cuped_covariates=covariates or None,
            note=note,
            chance_to_win=_optional(c["chance_to_win"]),
            risk=None
            if math.isnan(c["risk_control"])
            else (c["risk_control"], c["risk_treatment"]),
        )
