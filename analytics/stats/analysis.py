"""One entry point for reports: analyse variant-vs-control metric pairs from sums.

``analyze_metric`` analyses one pair; ``analyze_many`` analyses any number of pairs at once
with numpy (1,000 pairs in a few milliseconds). Both share one code path, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analytics.stats import _inference as inf
from analytics.stats import degenerate
from analytics.stats._validation import check_alternative, check_choice, check_unit_open
from analytics.stats.analysis_results import BatchAnalysis, MetricAnalysis
from analytics.stats.bayes import probability_to_beat_control
from analytics.stats.bayes_effect import EffectPrior, effect_posterior
from analytics.stats.cuped import cuped_moments
from analytics.stats.regression import CovariateSums, StackedSums, adjusted_moments
from analytics.stats.sequential import METHODS as SEQUENTIAL_METHODS
from analytics.stats.sequential import always_valid_arrays, mixing_variance
from analytics.stats.sufficient import (
    FIELDS,
    KINDS,
    Moments,
    SufficientStats,
    check_kind,
    moments,
    stack,
)

Columns = Mapping[str, np.ndarray]


def _one_sided(alternative: str, effect, p, lower, upper):
    """A one-sided always-valid test from the two-sided mixture: reject only on the side of
    the alternative (``p = 1`` on the other), with a half-line sequence. Its error stays below
    ``alpha`` at every look, since ``{p_one <= alpha}`` lies inside ``{p_two <= alpha}``
    (conservative: the mixture spends part of ``alpha`` on the other side)."""
    if alternative == "larger":
        return np.where(effect > 0, p, 1.0), lower, np.full_like(upper, np.inf)
    return np.where(effect < 0, p, 1.0), np.full_like(lower, -np.inf), upper


def _columns(group: str, value: Sequence[SufficientStats] | Columns, size: int | None) -> dict:
    if isinstance(value, Mapping):
        if "n" not in value or "sum_x" not in value:
            raise ValueError(f"{group}: columns need at least 'n' and 'sum_x'")
        cols = {}
        for name in FIELDS:
            column = value.get(name)
            if column is None:
                column = np.full(len(value["n"]), np.nan)
            cols[name] = np.asarray(column, dtype=float).ravel()
        if missing := next((k for k in ("n", "sum_x") if np.isnan(cols[k]).any()), None):
            raise ValueError(f"{group}.{missing}: required for every pair")
        cols["sum_x2"] = np.where(np.isnan(cols["sum_x2"]), cols["sum_x"], cols["sum_x2"])
    else:
        cols = stack(list(value))
    if size is not None and len(cols["n"]) != size:
        raise ValueError(f"{group}: needs one entry per pair ({size})")
    return cols


def _analyze_kind(
    kind: str,
    c: dict,
    t: dict,
    alpha: float,
    alternative: str,
    use_cuped: bool,
    regression: Regression | None = None,
):
    """Effect, its variance parts, statistic, p-value and CI arrays for pairs of one kind.

    Degenerate rows (``degenerate``: an arm without variation, too few expected successes)
    get an exact or conservative test and a ``flags`` bit mask naming what was done.
    ``regression``: rows adjusted for several covariates (``regression``), which replace the
    single-covariate CUPED of those rows.
    """
    mc, mt = moments(kind, c), moments(kind, t)
    size = len(c["n"])
    flags = np.zeros(size, dtype=int)
    if kind == "proportion":
        flags = degenerate.proportion_flags(c, t)
    theta = np.full(size, np.nan)
    reduction = theta.copy()
    has_cov = np.zeros(size, dtype=bool)
    if use_cuped and kind != "ratio":
        has_cov = ~np.isnan(
            np.column_stack(
                [c["sum_c"], c["sum_c2"], c["sum_xc"], t["sum_c"], t["sum_c2"], t["sum_xc"]]
            )
        ).any(axis=1)
        has_cov &= flags == 0  # no adjustment of a degenerate comparison
        if has_cov.any():
            ac, at, th, red = cuped_moments(c, t)
            theta, reduction = np.where(has_cov, th, np.nan), np.where(has_cov, red, np.nan)
            mc = _pick(has_cov, ac, mc)
            mt = _pick(has_cov, at, mt)
    if use_cuped and regression is not None:
        rows = regression.rows & (flags == 0)  # no adjustment of a degenerate comparison
        mc = _pick(rows, regression.control, mc)
        mt = _pick(rows, regression.treatment, mt)
        theta = np.where(rows, regression.theta, theta)
        reduction = np.where(rows, regression.reduction, reduction)
        covariates = np.where(rows, regression.covariates, np.where(has_cov, 1.0, np.nan))
        has_cov = has_cov | rows
    else:
        covariates = np.where(has_cov, 1.0, np.nan)
    if kind != "proportion":
        mc, mt, flags = degenerate.borrow_variance(mc, mt)
    effect = mt.mean - mc.mean
    se = np.sqrt(mc.var_mean + mt.var_mean)
    df = np.full(size, np.inf)
    if kind == "mean":
        df = inf.welch_df(mc.var_mean, mt.var_mean, mc.n, mt.n)
        stat, p = inf.t_test(effect, se, df, alternative)
        crit = inf.t_critical(df, alpha, alternative)
    else:
        test_se = se
        if kind == "proportion":
            pooled = (c["sum_x"] + t["sum_x"]) / (c["n"] + t["n"])
            se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / c["n"] + 1 / t["n"]))
            test_se = np.where(has_cov, se, se_pooled)
            se = np.where(flags > 0, se_pooled, se)
        stat, p = inf.z_test(effect, test_se, alternative)
        crit = np.full(size, inf.z_critical(alpha, alternative))
    exact = np.flatnonzero(flags & degenerate.EXACT)
    if exact.size:
        p[exact] = degenerate.fisher_p_values(c, t, exact, alternative, p[exact])
    flat = (flags & degenerate.NO_VARIATION) > 0
    p = np.where(flat, 1.0, p)
    stat = np.where(flat, 0.0, stat)  # no evidence either way
    lo, hi = inf.interval(effect, np.where(flat, np.nan, se), crit, alternative)
    lift, lift_se = inf.relative_effect(mc.mean, mt.mean, mc.var_mean, mt.var_mean)
    flags = flags | degenerate.relative_flags(
        mc.mean, mc.var_mean, inf.z_critical(alpha, "two-sided")
    )
    meaningful = (flags & degenerate.RELATIVE) == 0
    lift, lift_se = np.where(meaningful, lift, np.nan), np.where(meaningful, lift_se, np.nan)
    rlo, rhi = inf.interval(lift, lift_se, crit, alternative)
    return {
        "control_mean": mc.mean, "treatment_mean": mt.mean, "absolute_effect": effect,
        "absolute_lower": lo, "absolute_upper": hi, "relative_effect": lift,
        "relative_lower": rlo, "relative_upper": rhi, "relative_std_error": lift_se,
        "p_value": p, "statistic": stat, "flags": flags.astype(float),
        "std_error": se, "df": df, "cuped_theta": theta, "variance_reduction": reduction,
        "cuped_covariates": covariates,
    }  # fmt: skip


@dataclass(frozen=True)
class Regression:
    """Regression-adjusted moments of some rows of one kind (``rows`` marks them; the other
    rows' values are placeholders): ``theta`` of the first covariate, their count."""

    rows: np.ndarray
    control: Moments
    treatment: Moments
    theta: np.ndarray
    reduction: np.ndarray
    covariates: np.ndarray


def _regression(
    kind: str,
    idx: np.ndarray,
    covariates: tuple[Sequence[CovariateSums | None], Sequence[CovariateSums | None]],
    c: dict,
    t: dict,
) -> Regression | None:
    """Adjust the rows ``idx`` (of one ``kind``) that carry covariate sums in both groups,
    after checking that those sums describe the same users and metric as the pair's."""
    size = len(idx)
    rows = np.zeros(size, dtype=bool)
    fill = np.zeros(size)
    out = {"mc": fill.copy(), "vc": fill.copy(), "mt": fill.copy(), "vt": fill.copy()}
    theta, reduction, count = fill.copy(), fill.copy(), fill.copy()
    shapes: dict[tuple[bool, int], list[int]] = {}
    given = [
        (j, (covariates[0][i], covariates[1][i]))
        for j, i in enumerate(idx.tolist())
        if covariates[0][i] is not None and covariates[1][i] is not None
    ]
    for j, pair in given:
        for group, sums in (("control", pair[0]), ("treatment", pair[1])):
            if not isinstance(sums, CovariateSums):
                raise ValueError(f"{group}_covariates: must be CovariateSums or None")
            if sums.ratio != (kind == "ratio"):
                raise ValueError(
                    f"{group}_covariates: a {kind} metric needs ratio={kind == 'ratio'} sums"
                )
        if pair[1].sums.size != pair[0].sums.size:
            raise ValueError("treatment_covariates: needs as many covariates as control's")
        shapes.setdefault((pair[0].ratio, pair[0].sums.size), []).append(j)
    for rows_of_shape in shapes.values():
        sel = np.array(rows_of_shape)
        ctl = StackedSums.of([covariates[0][idx[j]] for j in sel])
        trt = StackedSums.of([covariates[1][idx[j]] for j in sel])
        _check_matches(kind, "control", ctl, c, sel)
        _check_matches(kind, "treatment", trt, t, sel)
        mc, mt, th, red = adjusted_moments(ctl, trt)
        # Fewer users than slopes leave no degree of freedom (infinite variance): unadjusted.
        rows[sel] = np.isfinite(mc.var_mean) & np.isfinite(mt.var_mean)
        out["mc"][sel], out["vc"][sel] = mc.mean, mc.var_mean
        out["mt"][sel], out["vt"][sel] = mt.mean, mt.var_mean
        theta[sel], reduction[sel], count[sel] = th[:, 0], red, th.shape[1]
    if not rows.any():
        return None
    return Regression(
        rows, Moments(out["mc"], out["vc"], c["n"]), Moments(out["mt"], out["vt"], t["n"]),
        theta, reduction, count,
    )  # fmt: skip


def _check_matches(kind: str, group: str, sums: StackedSums, cols: dict, sel) -> None:
    """Covariate sums must be over the pairs' users and metric (else the test mixes data)."""
    name = f"{group}_covariates"
    if np.any(sums.n != cols["n"][sel]):
        raise ValueError(f"{name}.n: must equal {group}.n")
    metric = ("sum_x", "sum_y") if kind == "ratio" else ("sum_x",)
    for k, field_name in enumerate(metric):
        if not np.allclose(sums.sums[:, k], cols[field_name][sel], rtol=1e-9, atol=1e-9):
            raise ValueError(f"{name}.sums: its metric sums must equal {group}.{field_name}")


def _pick(mask: np.ndarray, when: Moments, otherwise: Moments) -> Moments:
    """Row-wise choice between two sets of moments."""
    fields = ("mean", "var_mean", "n")
    return Moments(*(np.where(mask, getattr(when, f), getattr(otherwise, f)) for f in fields))


def analyze_many(
    kind: str | Sequence[str],
    control: Sequence[SufficientStats] | Columns,
    treatment: Sequence[SufficientStats] | Columns,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    sequential: bool = False,
    sequential_method: str = "asymptotic",
    planned_total: int | None = None,
    mixing_sd: float | None = None,
    cuped: bool = True,
    bayesian: bool = False,
    bayesian_effect: bool | None = None,
    prior: EffectPrior | None = None,
    control_covariates: Sequence[CovariateSums | None] | None = None,
    treatment_covariates: Sequence[CovariateSums | None] | None = None,
) -> BatchAnalysis:
    """Analyse many treatment-vs-control pairs at once (vectorised; see ``analyze_metric``).

    ``control`` and ``treatment`` are equally long sequences of ``SufficientStats`` or
    mappings of column arrays named like its fields (``n``, ``sum_x``, ...; absent or NaN
    sums mean "not collected"). ``kind`` is one kind for all pairs or one per pair.
    ``bayesian`` adds ``probability_to_beat`` for proportion pairs (exact, one pair at a time:
    slower). ``bayesian_effect`` adds GrowthBook's Gaussian posterior of the relative effect
    for every kind (``bayes_effect``: ``chance_to_win``, ``risk`` of choosing control /
    the treatment, in relative units; ``prior`` an informative prior, default flat),
    vectorised; ``None`` follows ``bayesian``. ``control_covariates`` and
    ``treatment_covariates`` (one ``CovariateSums`` or ``None`` per pair, both or neither)
    adjust those pairs for several covariates (``regression``: ratio metrics included),
    replacing the single covariate of ``sum_c``. Index the result (``batch[i]``) or call
    ``batch.results()`` for dataclasses.
    """
    alpha = check_unit_open("alpha", alpha)
    alternative = check_alternative(alternative)
    method: str | None = None
    if sequential:
        method = check_choice("sequential_method", sequential_method, SEQUENTIAL_METHODS)
    c = _columns("control", control, None)
    size = len(c["n"])
    t = _columns("treatment", treatment, size)
    kinds = np.array([kind] * size if isinstance(kind, str) else list(kind), dtype=object)
    if len(kinds) != size:
        raise ValueError(f"kind: needs one kind per pair ({size})")
    covariates = _covariate_lists(control_covariates, treatment_covariates, size)
    out = {name: np.full(size, np.nan) for name in _OUTPUT}
    for k in set(kinds.tolist()):
        check_choice("kind", k, KINDS)
        idx = np.flatnonzero(kinds == k)
        ck = {name: col[idx] for name, col in c.items()}
        tk = {name: col[idx] for name, col in t.items()}
        check_kind(k, ck, "control")
        check_kind(k, tk, "treatment")
        regression = _regression(k, idx, covariates, ck, tk) if covariates else None
        analysed = _analyze_kind(k, ck, tk, alpha, alternative, cuped, regression)
        for name, values in analysed.items():
            out[name][idx] = values
    out["control_n"], out["treatment_n"] = c["n"], t["n"]
    decisive = out["p_value"]
    if method is not None:
        variance = out["std_error"] ** 2
        tau2 = mixing_variance(
            variance,
            c["n"] + t["n"],
            alpha=alpha,
            method=method,
            planned_total=planned_total,
            mixing_sd=mixing_sd,
        )
        p, lo, hi = always_valid_arrays(out["absolute_effect"], variance, tau2, alpha)
        # Degenerate rows: never more confident than their exact / conservative fixed test.
        flagged = (out["flags"].astype(int) & (degenerate.EXACT | degenerate.NO_VARIATION)) > 0
        p = np.where(flagged, np.maximum(p, out["p_value"]), p)
        flat = (out["flags"].astype(int) & degenerate.NO_VARIATION) > 0
        lo, hi = np.where(flat, np.nan, lo), np.where(flat, np.nan, hi)
        out["sequential_p_value"], out["sequential_lower"], out["sequential_upper"] = p, lo, hi
        # One interval per decision: beside an always-valid p, both intervals are the
        # always-valid ones (the relative one from the lift's delta-method variance, with the
        # mixing variance scaled alike: tau_rel = tau / |control mean|).
        out["absolute_lower"], out["absolute_upper"] = lo, hi
        lift_var = out["relative_std_error"] ** 2
        if method == "msprt":
            with np.errstate(divide="ignore", invalid="ignore"):
                tau2_lift = tau2 / out["control_mean"] ** 2
        else:
            tau2_lift = mixing_variance(
                lift_var, c["n"] + t["n"], alpha=alpha, method=method,
                planned_total=planned_total, mixing_sd=mixing_sd,
            )  # fmt: skip
        _, rlo, rhi = always_valid_arrays(out["relative_effect"], lift_var, tau2_lift, alpha)
        out["relative_lower"], out["relative_upper"] = rlo, rhi
        if alternative != "two-sided":
            p, lo, hi = _one_sided(alternative, out["absolute_effect"], p, lo, hi)
            _, rlo, rhi = _one_sided(alternative, out["relative_effect"], p, rlo, rhi)
            out["sequential_p_value"], out["sequential_lower"], out["sequential_upper"] = p, lo, hi
            out["absolute_lower"], out["absolute_upper"] = lo, hi
            out["relative_lower"], out["relative_upper"] = rlo, rhi
        decisive = p
    out["significant"] = decisive < alpha
    if bayesian if bayesian_effect is None else bayesian_effect:
        prior = prior or EffectPrior()
        posterior = effect_posterior(
            out["relative_effect"], out["relative_std_error"], prior_mean=prior.mean,
            prior_variance=prior.variance, proper=prior.proper, alpha=alpha,
        )  # fmt: skip
        out["chance_to_win"] = posterior.chance_to_win
        out["risk_control"], out["risk_treatment"] = (
            posterior.risk_control,
            posterior.risk_treatment,
        )
    if bayesian:
        for i in np.flatnonzero(kinds == "proportion"):
            out["probability_to_beat"][i] = probability_to_beat_control(
                c["sum_x"][i], c["n"][i], t["sum_x"][i], t["n"][i]
            ).probability_to_beat
    return BatchAnalysis(kinds, out, alpha, alternative, method)


def _covariate_lists(control, treatment, size: int) -> tuple | None:
    """Both groups' per-pair covariate sums, checked for length (None: no covariates)."""
    if control is None and treatment is None:
        return None
    lists = []
    for name, value in (("control_covariates", control), ("treatment_covariates", treatment)):
        if value is None or isinstance(value, CovariateSums | Mapping | str):
            raise ValueError(f"{name}: needs one CovariateSums or None per pair ({size})")
        try:
            value = list(value)
        except TypeError:
            raise ValueError(f"{name}: needs a sequence, one entry per pair") from None
        if len(value) != size:
            raise ValueError(f"{name}: needs one CovariateSums or None per pair ({size})")
        lists.append(value)
    return lists[0], lists[1]


_OUTPUT = (
    "control_mean", "treatment_mean", "absolute_effect", "absolute_lower", "absolute_upper",
    "relative_effect", "relative_lower", "relative_upper", "p_value", "statistic",
    "std_error", "df", "cuped_theta", "variance_reduction", "sequential_p_value",
    "sequential_lower", "sequential_upper", "probability_to_beat", "relative_std_error",
    "flags", "chance_to_win", "risk_control", "risk_treatment", "cuped_covariates",
)  # fmt: skip


def analyze_metric(
    kind: str,
    control: SufficientStats,
    treatment: SufficientStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    sequential: bool = False,
    sequential_method: str = "asymptotic",
    planned_total: int | None = None,
    mixing_sd: float | None = None,
    cuped: bool = True,
    bayesian: bool = True,
    prior: EffectPrior | None = None,
    control_covariates: CovariateSums | None = None,
    treatment_covariates: CovariateSums | None = None,
) -> MetricAnalysis:
    """Analyse one metric for one treatment variant against control, from per-variant sums.

    Give, per variant, ``SufficientStats(n, sum_x, sum_x2, ...)`` over its ``n`` randomised
    users, where ``x`` is each user's value of the metric:

    * ``kind="proportion"`` (conversion: did the user click at all): ``n`` and
      ``sum_x`` = users with a success (``sum_x2`` is not needed). Two-proportion z-test,
      pooled standard error for the p-value, unpooled for the interval.
    * ``kind="mean"`` (watch time per user, sessions per user): ``n``, ``sum_x``,
      ``sum_x2``. Welch's t-test.
    * ``kind="ratio"`` (CTR = clicks / impressions, with users randomised): ``x`` = the
      user's clicks, ``y`` = their impressions; ``n, sum_x, sum_x2, sum_y, sum_y2, sum_xy``.
      Delta-method z-test (a binomial test over impressions would understate the variance).

    CUPED: for ``mean`` and ``proportion`` metrics, also give ``sum_c, sum_c2, sum_xc`` of a
    pre-experiment covariate ``c`` per user (the same metric before the start) in both
    groups, and the analysis uses the adjusted estimator (``cuped=False`` turns it off);
    ``variance_reduction`` reports the gain. For several covariates, and for ratio metrics,
    give ``control_covariates`` and ``treatment_covariates`` (``CovariateSums`` of
    ``(x[, y], c_1..c_k)``; ``regression``): the regression-adjusted (delta-method for
    ratios) estimator, with ``cuped_covariates`` the number of covariates.

    ``sequential=True`` adds an always-valid p-value and confidence sequence for the
    absolute effect, and makes ``absolute_ci`` and ``relative_ci`` the always-valid ones too
    (one interval per decision; one-sided alternatives reject on their side only, with
    half-line sequences; ``sequential_method`` "asymptotic" tuned to
    ``planned_total`` users, or "msprt" with ``mixing_sd``); ``significant`` then follows the
    sequential p-value, which stays valid however often the report is looked at.
    ``bayesian`` adds the Beta(1, 1) probability that the treatment beats control
    (proportions only) and, for every kind, GrowthBook's ``chance_to_win`` and ``risk`` of the
    relative effect (``prior``: an informative ``EffectPrior``; default flat). Invalid input
    raises ``ValueError`` naming the argument, e.g.
    ``"treatment.sum_x: successes must be whole numbers within [0, n]"``.
    """
    for name, value in (("control", control), ("treatment", treatment)):
        if not isinstance(value, SufficientStats):
            raise ValueError(f"{name}: must be SufficientStats")
    batch = analyze_many(
        kind, [control], [treatment], alpha=alpha, alternative=alternative,
        sequential=sequential, sequential_method=sequential_method,
        planned_total=planned_total, mixing_sd=mixing_sd, cuped=cuped, bayesian=bayesian,
        prior=prior,
        control_covariates=None if control_covariates is None else [control_covariates],
        treatment_covariates=None if treatment_covariates is None else [treatment_covariates],
    )  # fmt: skip
    return batch[0]
