"""One metric, one treatment arm against control, over the days of an experiment.

The statistics come from :mod:`analytics.stats` (``analyze_many`` over the cumulative sums of
each day, ``always_valid_history`` for sequential looks, ``noninferiority_test`` for
guardrails); this module turns the rollup's cumulative sums into each metric's sufficient
statistics (``METRIC_SUMS``, ``sufficient_stats``), lines them up over days and words the
verdict. The sums are read by :mod:`analytics.selectors`; nothing here queries the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from analytics.selectors import ArmSeries
from analytics.stats import (
    CovariateSums,
    MetricAnalysis,
    NonInferiorityResult,
    QuantileDifference,
    SufficientStats,
    always_valid_history,
    analyze_many,
    noninferiority_test,
)
from analytics.stats.bayes_effect import EffectPrior

# Which cumulative sums feed each metric kind: (n, x, x2, y, y2, xy, c, c2, xc).
METRIC_SUMS: dict[str, dict[str, str]] = {
    "ctr": {
        "sum_x": "clk",
        "sum_x2": "clk2",
        "sum_y": "imp",
        "sum_y2": "imp2",
        "sum_xy": "clk_imp",
    },
    "click_through_users": {
        "sum_x": "clicked",
        "sum_x2": "clicked",
        "sum_c": "pre_clicked",
        "sum_c2": "pre_clicked",
        "sum_xc": "clicked_c",
    },
    "watch_time": {
        "sum_x": "w",
        "sum_x2": "w2",
        "sum_c": "pre_w",
        "sum_c2": "pre_w2",
        "sum_xc": "w_c",
    },
    "conversion_rate": {
        "sum_x": "converted",
        "sum_x2": "converted",
        "sum_c": "pre_converted",
        "sum_c2": "pre_converted",
        "sum_xc": "converted_c",
    },
    "session_abandonment": {
        "sum_x": "ab",
        "sum_x2": "ab2",
        "sum_y": "ses",
        "sum_y2": "ses2",
        "sum_xy": "ab_ses",
    },
    "time_to_first_interaction": {"sum_x": "tfi", "sum_x2": "tfi2"},
}
# Metrics whose unit is not every exposed user: the count of users the mean is over.
METRIC_N: dict[str, str] = {"time_to_first_interaction": "tfi_n"}
PROPORTION_KINDS = frozenset({"click_through_users", "conversion_rate"})
MIN_USERS = {"proportion": 1, "mean": 2, "ratio": 2}
# A relative effect beyond +-1,000 % is no lift a recommender change makes: it is the
# effect divided by a control mean near 0 (the holdout's -2,079,221 %).
RELATIVE_EFFECT_LIMIT = 10.0


def relative_problem(relative: float | None, note: str = "") -> str:
    """Why a relative effect ``effect / control mean`` is "not meaningful" ("" when it is
    meaningful, or when there is no effect at all).

    Two cases: the statistics engine left it undefined (NaN: the control mean is not
    distinguishable from 0; its ``note`` says so), or it lies beyond
    ``RELATIVE_EFFECT_LIMIT``, which only a control mean near 0 produces. The absolute effect
    and its interval stay meaningful in both.
    """
    if relative is None:
        return ""
    if not math.isfinite(relative):
        stated = [part for part in note.split("; ") if part.startswith("relative effect")]
        return stated[0] if stated else "relative effect not defined: the control mean is 0"
    if abs(relative) > RELATIVE_EFFECT_LIMIT:
        return (
            f"relative effect not meaningful: {100 * relative:+,.0f}% is beyond "
            f"±{100 * RELATIVE_EFFECT_LIMIT:,.0f}%, which only a control mean near 0 produces; "
            "read the absolute effect"
        )
    return ""


def plotted_relative_percent(relative: list[float]) -> list[float | None]:
    """Relative effects in % for a chart, None (a gap) where :func:`relative_problem` says
    they are not meaningful: one near-zero baseline must not set the scale."""
    return [None if relative_problem(r) else round(100 * r, 4) for r in relative]


# Several covariates (``analytics.stats.regression``): the metric's per-user columns, then
# the covariates', and the cumulative sum of each product (unordered pairs).
REGRESSION_SUMS: dict[str, dict] = {
    "ctr": {
        "columns": ("clk", "imp", "pclk", "pimp"),
        "names": ("pre-period clicks", "pre-period impressions"),
        "cross": {
            ("clk", "clk"): "clk2", ("clk", "imp"): "clk_imp", ("clk", "pclk"): "clk_pclk",
            ("clk", "pimp"): "clk_pimp", ("imp", "imp"): "imp2", ("imp", "pclk"): "imp_pclk",
            ("imp", "pimp"): "imp_pimp", ("pclk", "pclk"): "pclk2",
            ("pclk", "pimp"): "pclk_pimp", ("pimp", "pimp"): "pimp2",
        },
    },
}  # fmt: skip
# The single CUPED covariate of ``METRIC_SUMS``' ``sum_c``, as the report names it.
COVARIATE_NAMES: dict[str, str] = {
    "click_through_users": "pre-period click (yes/no)",
    "watch_time": "pre-period watch time",
    "conversion_rate": "pre-period conversion (yes/no)",
}


@dataclass(frozen=True)
class AnalysisOptions:
    """What a metric's definition asks of its analysis: the alternative (one-sided towards
    the better direction, or two-sided), an informative prior on the relative effect
    (``prior_stddev`` None: GrowthBook's flat prior) and a winsorisation percentile."""

    alternative: str = "two-sided"
    prior_mean: float = 0.0
    prior_stddev: float | None = None
    winsorize_percentile: float | None = None

    @classmethod
    def of(cls, metric) -> AnalysisOptions:
        """The options of a ``MetricDefinition``."""
        return cls(
            alternative=metric.alternative,
            prior_mean=float(metric.prior_mean),
            prior_stddev=float(metric.prior_stddev) if metric.informative_prior else None,
            winsorize_percentile=metric.winsorize_percentile,
        )

    @property
    def prior(self) -> EffectPrior | None:
        if self.prior_stddev is None:
            return None
        return EffectPrior(self.prior_mean, self.prior_stddev**2, proper=True)


@dataclass
class AppliedOptions:
    """What the analysis of a metric did beyond the plain test, as the report states it."""

    alternative: str = "two-sided"
    winsorized_at: float | None = None
    winsorize_percentile: float | None = None
    cuped_covariates: list[str] = field(default_factory=list)
    prior: str = ""

    @property
    def summary(self) -> list[str]:
        """One phrase per option applied, for the page."""
        out = []
        if self.winsorized_at is not None:
            out.append(
                f"winsorised at {self.winsorized_at:,.4g} "
                f"({100 * (self.winsorize_percentile or 0):.4g}th percentile of pooled users)"
            )
        if self.cuped_covariates:
            out.append("CUPED: " + ", ".join(self.cuped_covariates))
        if self.alternative != "two-sided":
            side = "higher" if self.alternative == "larger" else "lower"
            out.append(f"one-sided (treatment {side})")
        if self.prior:
            out.append(self.prior)
        return out


@dataclass
class MetricSeries:
    """Per-day effect of one metric (cumulative up to each day) and the latest analysis."""

    days: list[date] = field(default_factory=list)
    effects: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    relative: list[float] = field(default_factory=list)
    latest: MetricAnalysis | QuantileDifference | None = None
    sequential_p_value: float | None = None
    sequential_ci: tuple[float, float] | None = None
    problem: str = ""
    applied: AppliedOptions = field(default_factory=AppliedOptions)

    @property
    def p_value(self) -> float | None:
        """The decisive p-value: always-valid over all looks when sequential."""
        if self.sequential_p_value is not None:
            return self.sequential_p_value
        return None if self.latest is None else self.latest.p_value

    @property
    def relative_problem(self) -> str:
        """Why the latest relative effect is not meaningful ("" when it is)."""
        if self.latest is None:
            return ""
        return relative_problem(self.latest.relative_effect, self.latest.note)

    @property
    def ci(self) -> tuple[float, float] | None:
        if self.sequential_ci is not None:
            return self.sequential_ci
        return None if self.latest is None else self.latest.absolute_ci


def sufficient_stats(sums: dict[str, float], kind: str) -> SufficientStats | None:
    """The sufficient statistics of metric ``kind`` from cumulative ``sums`` (None: no data)."""
    mapping = METRIC_SUMS[kind]
    n = int(round(sums.get(METRIC_N.get(kind, "n"), 0.0)))
    if n <= 0:
        return None
    values = {field_name: sums.get(name, 0.0) for field_name, name in mapping.items()}
    if kind in PROPORTION_KINDS:
        # Running sums of 0/1 increments are whole numbers; drop float noise before testing.
        values = {name: float(round(value)) for name, value in values.items()}
    if "sum_x2" in values:
        values["sum_x2"] = max(values["sum_x2"], 0.0)
    return SufficientStats(n=n, **values)


def covariate_sums(sums: dict[str, float], kind: str) -> CovariateSums | None:
    """The several-covariate sums of metric ``kind`` (None: the kind has none, or the rollup
    predates them, or they are not usable yet)."""
    spec = REGRESSION_SUMS.get(kind)
    if spec is None or not all(name in sums for name in spec["cross"].values()):
        return None
    columns = spec["columns"]
    total = [sums.get(name, 0.0) for name in columns]
    cross = np.empty((len(columns), len(columns)))
    for (a, b), name in spec["cross"].items():
        i, j = columns.index(a), columns.index(b)
        cross[i, j] = cross[j, i] = sums[name]
    n = metric_users(sums, kind)
    try:
        return CovariateSums(n, total, cross, ratio=kind in ("ctr",), names=spec["names"])
    except ValueError:
        return None  # too few users, or no impressions yet: the plain test


def _usable(stats: SufficientStats | None, statistic: str) -> bool:
    if stats is None or stats.n < MIN_USERS[statistic]:
        return False
    if statistic == "ratio":
        return bool(stats.sum_y and stats.sum_y > 0)
    return True


def metric_value(sums: dict[str, float], kind: str, statistic: str) -> float | None:
    """The metric's value for one arm (rate, ratio or mean), or None without data."""
    stats = sufficient_stats(sums, kind)
    if stats is None:
        return None
    if statistic == "ratio":
        return stats.sum_x / stats.sum_y if stats.sum_y else None
    return stats.sum_x / stats.n


def metric_users(sums: dict[str, float], kind: str) -> int:
    return int(round(sums.get(METRIC_N.get(kind, "n"), 0.0)))


def analyze_series(
    kind: str,
    statistic: str,
    control: ArmSeries,
    treatment: ArmSeries,
    *,
    alpha: float,
    sequential: bool,
    planned_total: int | None,
    options: AnalysisOptions | None = None,
    latest_only: bool = False,
) -> MetricSeries:
    """Analyse the metric at the end of every day on which either arm changed, with the
    metric's ``options`` (alternative, prior; winsorised sums are already in the series).

    ``latest_only``: a caller that reads only the latest analysis (the experiment lists)
    gets the last day alone when it is analysable, the same result the full series ends
    with (each day's test is computed on its own), without the per-day sums and covariates
    of every earlier day; else, and always for a sequential test, whose always-valid p-value
    needs every look, the full series."""
    options = options or AnalysisOptions()
    days = sorted(set(control.days) | set(treatment.days))
    analysis = dict(alpha=alpha, sequential=sequential, planned_total=planned_total)
    if latest_only and not sequential and len(days) > 1:
        out = _analyze_days(kind, statistic, control, treatment, days[-1:], options, **analysis)
        if out.latest is not None and not out.problem:
            return out
    return _analyze_days(kind, statistic, control, treatment, days, options, **analysis)


def _analyze_days(
    kind: str,
    statistic: str,
    control: ArmSeries,
    treatment: ArmSeries,
    days: list[date],
    options: AnalysisOptions,
    *,
    alpha: float,
    sequential: bool,
    planned_total: int | None,
) -> MetricSeries:
    """:func:`analyze_series` over ``days`` (sorted)."""
    out = MetricSeries()
    out.applied.alternative = options.alternative
    pairs: list[tuple[date, SufficientStats, SufficientStats]] = []
    covariates: tuple[list, list] = ([], [])
    for day in days:
        c = sufficient_stats(control.at(day), kind)
        t = sufficient_stats(treatment.at(day), kind)
        if _usable(c, statistic) and _usable(t, statistic):
            pairs.append((day, c, t))
            for arm, side in zip((control, treatment), covariates, strict=True):
                side.append(covariate_sums(arm.at(day), kind))
    if not pairs:
        out.problem = "not enough data yet"
        return out
    try:
        batch = analyze_many(
            statistic,
            [c for _, c, _ in pairs],
            [t for _, _, t in pairs],
            alpha=alpha,
            alternative=options.alternative,
            sequential=sequential,
            planned_total=planned_total,
            bayesian_effect=True,
            prior=options.prior,
            control_covariates=covariates[0] if kind in REGRESSION_SUMS else None,
            treatment_covariates=covariates[1] if kind in REGRESSION_SUMS else None,
        )
    except ValueError as exc:
        out.problem = f"cannot analyse: {exc}"
        return out
    cols = batch.columns
    keep = np.isfinite(cols["absolute_effect"]) & np.isfinite(cols["std_error"])
    keep &= cols["std_error"] > 0
    index = np.flatnonzero(keep)
    if index.size == 0:
        out.problem = "no variation in the data yet"
        return out
    out.days = [pairs[i][0] for i in index]
    out.effects = [float(cols["absolute_effect"][i]) for i in index]
    out.relative = [float(cols["relative_effect"][i]) for i in index]
    if sequential:
        history = always_valid_history(
            cols["absolute_effect"][index],
            cols["std_error"][index] ** 2,
            (cols["control_n"] + cols["treatment_n"])[index],
            alpha=alpha,
            planned_total=planned_total,
            alternative=options.alternative,
        )
        out.lower, out.upper = history.lower.tolist(), history.upper.tolist()
        out.sequential_p_value = float(history.p_values[-1])
        out.sequential_ci = (out.lower[-1], out.upper[-1])
    else:
        out.lower = [float(cols["absolute_lower"][i]) for i in index]
        out.upper = [float(cols["absolute_upper"][i]) for i in index]
    last = int(index[-1])
    if last != len(pairs) - 1:
        out.problem = "no variation in the latest data"
    try:
        out.latest = batch[last]
    except ValueError as exc:
        out.problem = f"cannot analyse: {exc}"
    _note_applied(out, kind, covariates, last, options)
    return out


def _note_applied(
    out: MetricSeries, kind: str, covariates: tuple[list, list], last: int, options
) -> None:
    """Record the covariates and prior the latest analysis used."""
    latest = out.latest
    if latest is not None and latest.cuped_theta is not None:
        adjusted = covariates[0][last] if kind in REGRESSION_SUMS else None
        if adjusted is not None and latest.cuped_covariates == adjusted.covariates:
            out.applied.cuped_covariates = list(adjusted.names)
        elif kind in COVARIATE_NAMES:
            out.applied.cuped_covariates = [COVARIATE_NAMES[kind]]
    if options.prior_stddev is not None:
        out.applied.prior = (
            f"prior N({options.prior_mean:+.4g}, {options.prior_stddev:.4g}²) "
            "on the relative effect"
        )


@dataclass
class Verdict:
    text: str
    css: str  # good, bad, neutral, warn


def effect_verdict(
    series: MetricSeries,
    *,
    higher_is_better: bool,
    alpha: float,
    srm_flagged: bool,
    p_value: float | None = None,
) -> Verdict:
    """A plain verdict on a primary or secondary metric (``p_value``: an adjusted one to
    decide on instead of the series' own)."""
    if srm_flagged:
        return Verdict("invalid: sample ratio mismatch", "bad")
    if series.latest is None or series.p_value is None:
        return Verdict(series.problem or "not enough data yet", "neutral")
    if series.latest.note.startswith("not enough data"):
        return Verdict(series.latest.note.split(";")[0], "neutral")
    if (series.p_value if p_value is None else p_value) >= alpha:
        return Verdict("no significant difference", "neutral")
    better = (series.latest.absolute_effect > 0) == higher_is_better
    return Verdict("treatment better", "good") if better else Verdict("treatment worse", "bad")


@dataclass
class GuardrailResult:
    result: NonInferiorityResult | None
    verdict: Verdict


def guardrail(
    kind: str,
    statistic: str,
    control_sums: dict[str, float],
    treatment_sums: dict[str, float],
    *,
    margin: float | None,
    margin_is_relative: bool,
    higher_is_better: bool,
    alpha: float,
    sequential: bool = False,
    planned_total: int | None = None,
) -> GuardrailResult:
    """Non-inferiority of the treatment on a guardrail metric: pass, fail or no data.

    ``sequential`` (an experiment watched daily): the always-valid test, so that no look
    shows a false "pass" more often than ``alpha``; ``result.method`` names the kind.
    """
    if not margin or margin <= 0:
        return GuardrailResult(None, Verdict("no margin set", "warn"))
    c = sufficient_stats(control_sums, kind)
    t = sufficient_stats(treatment_sums, kind)
    if not (_usable(c, statistic) and _usable(t, statistic)):
        return GuardrailResult(None, Verdict("not enough data yet", "neutral"))
    try:
        result = noninferiority_test(
            statistic,
            c,
            t,
            margin=margin,
            margin_relative=margin_is_relative,
            bad_direction="decrease" if higher_is_better else "increase",
            alpha=alpha,
            sequential=sequential,
            planned_total=planned_total,
        )
    except ValueError as exc:
        return GuardrailResult(None, Verdict(f"cannot test: {exc}", "warn"))
    if not math.isfinite(result.p_value):
        return GuardrailResult(None, Verdict("no variation in the data yet", "neutral"))
    return guardrail_verdict(result, higher_is_better=higher_is_better)


def guardrail_verdict(result: NonInferiorityResult, *, higher_is_better: bool) -> GuardrailResult:
    """Pass, harm beyond the margin, or not yet shown within it."""
    if result.noninferior:
        return GuardrailResult(result, Verdict("pass", "good"))
    harm = result.absolute_effect - result.threshold
    if (harm > 0) != higher_is_better and harm != 0:
        return GuardrailResult(result, Verdict("fail: harm beyond the margin", "bad"))
    return GuardrailResult(result, Verdict("fail: not yet shown within the margin", "warn"))
