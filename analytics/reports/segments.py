"""Segment breakdowns: the primary and guardrail metrics and the SRM check within each value
of one user attribute (device, country, new vs returning), corrected for their number.

Each value is analysed by the report's own builder (:func:`analyze_arms` on that value's
sums, :func:`analytics.selectors.segment_sums`), so a segment row means what the report's row
means. Then, per metric, the p-values of every (value, treatment) pair are Holm-adjusted
together (family-wise error of "some segment differs" at the experiment's alpha), and so are
the SRM p-values across values. Breakdowns are exploratory: a segment effect is a hypothesis
for a new experiment, never the decision, which is the whole experiment's.

``new_vs_returning`` is derived, not sent: ``returning`` when the user has any activity in the
rollup's pre-period (``SPLITLAB_PRE_PERIOD_DAYS`` before the first exposure), else ``new``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.cache import cache
from django.utils import timezone

from analytics.reports.experiment import MetricRow, analyze_arms
from analytics.reports.metrics import Verdict, effect_verdict
from analytics.selectors import ArmSeries, SegmentSums, rollup_state, segment_sums
from analytics.stats import SrmResult, adjust_pvalues
from experiments.models import Experiment
from experiments.segments import NEW_VS_RETURNING, TOP_SEGMENT_VALUES

__all__ = [
    "SegmentBreakdown",
    "SegmentValue",
    "analyze_segments",
    "build_segment_breakdown",
    "segment_attributes_of",
]

CORRECTION = "holm"
SEGMENTS_CACHE_SECONDS = 3600


@dataclass
class SegmentValue:
    """One value of the attribute: users per variant, the SRM check and the metric rows
    (``adjusted_p_value`` and ``verdict`` after the correction across values)."""

    value: str
    exposures: dict[str, int]
    srm: SrmResult | None
    srm_problem: str
    primary: list[MetricRow]
    guardrails: list[MetricRow]
    srm_adjusted_p_value: float | None = None
    srm_flagged: bool = False

    @property
    def total_exposed(self) -> int:
        return sum(self.exposures.values())


@dataclass
class SegmentBreakdown:
    """The breakdown of one experiment phase by one attribute."""

    attribute: str
    values: list[SegmentValue] = field(default_factory=list)
    correction: str = CORRECTION
    top_values: int = TOP_SEGMENT_VALUES
    alpha: float = 0.05
    treatments: int = 1

    @property
    def comparisons(self) -> int:
        """The size of each metric's family: one test per (value, treatment) pair."""
        return len(self.values) * self.treatments

    @property
    def srm_flagged(self) -> list[str]:
        return [v.value for v in self.values if v.srm_flagged]

    @property
    def warning(self) -> str:
        return (
            f"Exploratory: {len(self.values)} values of {self.attribute!r}. Each metric's "
            f"p-values are Holm-corrected for its {self.comparisons} segment comparisons "
            f"(the chance that any segment shows a false difference stays at most "
            f"{self.alpha:g}); the SRM check likewise. A segment result is a hypothesis to test "
            "in a new experiment, not a decision: the decision is the whole experiment's."
        )


def segment_attributes_of(experiment: Experiment) -> list[str]:
    """The attributes an experiment can be broken down by: its own, then the derived one."""
    return [*(experiment.segment_attributes or []), NEW_VS_RETURNING]


def _series(sums_by_arm: dict[int, dict[str, float]], day: date) -> dict[int, ArmSeries]:
    """One look per arm: the latest sums, as the report's builder reads them."""
    return {
        arm: ArmSeries(arm, [day], [sums], [int(round(sums.get("n", 0.0)))])
        for arm, sums in sums_by_arm.items()
    }


def analyze_segments(
    experiment: Experiment,
    phase: int,
    attribute: str,
    sums: SegmentSums,
    *,
    now: datetime,
) -> SegmentBreakdown:
    """The breakdown of ``sums`` (value -> arm id -> statistics), values by users exposed."""
    alpha = float(experiment.alpha)
    treatments = sum(1 for v in experiment.variants.all() if not v.is_control)
    out = SegmentBreakdown(attribute=attribute, alpha=alpha, treatments=max(treatments, 1))

    def users(item: tuple[str, dict[int, dict[str, float]]]) -> tuple[float, str]:
        return -sum(arm.get("n", 0.0) for arm in item[1].values()), item[0]

    for value, sums_by_arm in sorted(sums.items(), key=users):
        arms = analyze_arms(
            experiment, phase, _series(sums_by_arm, now.date()), now=now, with_secondary=False
        )
        out.values.append(
            SegmentValue(
                value=value,
                exposures={v.key: arms.exposures.get(v.id, 0) for v in arms.variants},
                srm=arms.srm,
                srm_problem=arms.srm_problem,
                primary=arms.primary,
                guardrails=arms.guardrails,
            )
        )
    _correct_srm(out.values)
    _correct_primary(out.values, alpha)
    _correct_guardrails(out.values, alpha)
    return out


def _holm(items: list, p_value_of: Callable, assign: Callable) -> None:
    """Holm-adjust the p-values of ``items`` that have one, and hand each back to ``assign``."""
    tested = [(item, p_value_of(item)) for item in items]
    tested = [(item, p) for item, p in tested if p is not None]
    if tested:
        adjusted = adjust_pvalues([p for _, p in tested], method=CORRECTION)
        for (item, _), p in zip(tested, adjusted, strict=True):
            assign(item, float(p))


def _correct_srm(values: list[SegmentValue]) -> None:
    def assign(value: SegmentValue, p: float) -> None:
        value.srm_adjusted_p_value = p
        value.srm_flagged = value.srm is not None and p < value.srm.threshold

    _holm(values, lambda v: v.srm.p_value if v.srm else None, assign)


def _rows(values: Iterable[SegmentValue], section: str) -> dict[str, list[MetricRow]]:
    """Rows by metric key: each metric is its own family."""
    out: dict[str, list[MetricRow]] = {}
    for value in values:
        for row in getattr(value, section):
            out.setdefault(row.metric.key, []).append(row)
    return out


def _correct_primary(values: list[SegmentValue], alpha: float) -> None:
    flagged = {id(row): v.srm_flagged for v in values for row in v.primary}
    for rows in _rows(values, "primary").values():
        for row in rows:
            row.adjusted_p_value = None  # not the report's correction across arms only

        def assign(row: MetricRow, p: float) -> None:
            row.adjusted_p_value = p

        _holm(rows, lambda r: r.series.p_value if r.series else None, assign)
        for row in rows:
            row.verdict = effect_verdict(
                row.series,
                higher_is_better=row.metric.higher_is_better,
                alpha=alpha,
                srm_flagged=flagged[id(row)],
                p_value=row.adjusted_p_value,
            )


def _correct_guardrails(values: list[SegmentValue], alpha: float) -> None:
    """Non-inferiority p-values adjusted across segments: a "pass" in every segment is a
    family-wise claim. A pass that does not survive the correction is said so."""
    flagged = {id(row): v.srm_flagged for v in values for row in v.guardrails}
    for rows in _rows(values, "guardrails").values():

        def assign(row: MetricRow, p: float) -> None:
            row.adjusted_p_value = p
            if row.verdict.text == "pass" and p >= alpha:
                row.verdict = Verdict("not shown within the margin after correction", "warn")

        _holm(rows, lambda r: r.guardrail.result.p_value if r.guardrail.result else None, assign)
        for row in rows:
            if flagged[id(row)]:
                row.verdict = Verdict("invalid: sample ratio mismatch", "bad")


def build_segment_breakdown(
    experiment: Experiment, attribute: str, *, phase: int | None = None, now: datetime | None = None
) -> SegmentBreakdown:
    """The breakdown of ``experiment``'s phase (default: the current one) by ``attribute``,
    one of :func:`segment_attributes_of`; raises ``ValueError`` naming it otherwise."""
    allowed = segment_attributes_of(experiment)
    if attribute not in allowed:
        raise ValueError(
            f"segment: {attribute!r} is not a segment attribute of {experiment.key!r} "
            f"(choose from {', '.join(allowed)})"
        )
    now = now or timezone.now()
    phase = phase or experiment.current_phase
    return analyze_segments(
        experiment, phase, attribute, _cached_sums(experiment.id, phase, attribute), now=now
    )


def _cached_sums(experiment_id: int, phase: int, attribute: str) -> SegmentSums:
    """:func:`segment_sums`, kept in the cache until the next rollup run: a breakdown reads
    every exposed user's rollup rows, and nothing it reads changes between runs."""
    state = rollup_state()
    if state is None or not state.runs:
        return segment_sums(experiment_id, phase, attribute)
    key = f"splitlab:segments:{experiment_id}:{phase}:{attribute}:{state.runs}"
    sums = cache.get(key)
    if sums is None:
        sums = segment_sums(experiment_id, phase, attribute)
        cache.set(key, sums, SEGMENTS_CACHE_SECONDS)
    return sums
