"""Splitlab's statistics engine: pure numpy/scipy, no Django.

Power and sample size (``power``), fixed-horizon tests (``frequentist``), CUPED (``cuped``),
regression adjustment with several covariates and for ratios (``regression``), winsorisation
(``winsorize``), sample ratio mismatch (``srm``), multiple comparisons (``corrections``),
differences of quantiles (``quantiles``), always-valid sequential inference (``sequential``),
Bayesian probability to beat control (``bayes``), and the report entry points
``analyze_metric`` / ``analyze_many`` (``analysis``). Every function validates its arguments
and raises ``ValueError("<argument>: <problem>")``.
"""

from analytics.stats._validation import argument_name
from analytics.stats.analysis import BatchAnalysis, MetricAnalysis, analyze_many, analyze_metric
from analytics.stats.bayes import BayesResult, probability_to_beat_control
from analytics.stats.corrections import adjust_pvalues
from analytics.stats.cuped import CupedResult, cuped_adjust
from analytics.stats.frequentist import (
    NonInferiorityResult,
    TestResult,
    noninferiority_test,
    ratio_metric_test,
    two_proportion_ztest,
    welch_ttest,
)
from analytics.stats.guardrail_power import power_noninferiority, sample_size_noninferiority
from analytics.stats.planning import ExperimentPlan, PowerCurvePoint, plan_experiment
from analytics.stats.power import (
    MinimumDetectableEffect,
    SampleSize,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    runtime_days,
    sample_size_means,
    sample_size_proportions,
)
from analytics.stats.quantiles import (
    ArmQuantile,
    QuantileDifference,
    arm_quantile,
    compare_quantiles,
    quantile_difference,
    quantile_noninferiority,
)
from analytics.stats.regression import CovariateSums
from analytics.stats.sequential import (
    SequentialHistory,
    SequentialResult,
    always_valid_history,
    always_valid_test,
)
from analytics.stats.srm import SRM_THRESHOLD, SrmResult, srm_test
from analytics.stats.sufficient import SufficientStats
from analytics.stats.winsorize import winsorization_cap, winsorize

__all__ = [
    "SRM_THRESHOLD",
    "ArmQuantile",
    "BatchAnalysis",
    "BayesResult",
    "CovariateSums",
    "CupedResult",
    "ExperimentPlan",
    "MetricAnalysis",
    "MinimumDetectableEffect",
    "NonInferiorityResult",
    "PowerCurvePoint",
    "QuantileDifference",
    "SampleSize",
    "SequentialHistory",
    "SequentialResult",
    "SrmResult",
    "SufficientStats",
    "TestResult",
    "adjust_pvalues",
    "always_valid_history",
    "always_valid_test",
    "analyze_many",
    "analyze_metric",
    "argument_name",
    "arm_quantile",
    "compare_quantiles",
    "cuped_adjust",
    "mde_means",
    "mde_proportions",
    "noninferiority_test",
    "plan_experiment",
    "power_means",
    "power_noninferiority",
    "power_proportions",
    "probability_to_beat_control",
    "quantile_difference",
    "quantile_noninferiority",
    "ratio_metric_test",
    "runtime_days",
    "sample_size_means",
    "sample_size_noninferiority",
    "sample_size_proportions",
    "srm_test",
    "two_proportion_ztest",
    "welch_ttest",
    "winsorization_cap",
    "winsorize",
]
