"""The report's recommendation: ship, do not ship, or keep running.

One rule, applied per treatment arm to the rows the report already holds (primary verdicts on
Holm-adjusted p-values when there are several arms; guardrails by non-inferiority, always valid
in sequential experiments), in the spirit of Spotify's "risk-aware" decision rule (Schultzberg,
Ankargren & Franberg, "Risk-aware product decisions in A/B tests with multiple metrics",
2024): an arm ships only when its primary metric is significantly better AND every guardrail
has shown non-inferiority; it does not ship when the primary is significantly worse or a
guardrail shows harm beyond its margin; otherwise the experiment keeps running. Nothing is
recommended on a sample ratio mismatch or before the committed minimum runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics.reports.experiment import MetricRow

SHIP, DO_NOT_SHIP, KEEP_RUNNING, INVALID = "ship", "do not ship", "keep running", "invalid"
CSS = {SHIP: "good", DO_NOT_SHIP: "bad", KEEP_RUNNING: "neutral", INVALID: "bad"}


@dataclass(frozen=True)
class ArmDecision:
    variant: str
    action: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """The overall recommendation, its reasons, and each arm's own."""

    action: str
    text: str
    arms: tuple[ArmDecision, ...] = field(default_factory=tuple)

    @property
    def css(self) -> str:
        return CSS[self.action]


def _arm(variant: str, primary: MetricRow | None, guardrails: list[MetricRow]) -> ArmDecision:
    reasons: list[str] = []
    harmed = [g.metric.name for g in guardrails if g.verdict.css == "bad"]
    unproven = [g.metric.name for g in guardrails if g.verdict.css != "good"]
    if primary is None:
        return ArmDecision(variant, KEEP_RUNNING, ("no primary metric",))
    better = primary.verdict.css == "good"
    worse = primary.verdict.css == "bad"
    if worse:
        reasons.append(f"{primary.metric.name} significantly worse")
    if harmed:
        reasons.append("harm beyond the margin on " + ", ".join(harmed))
    if reasons:
        return ArmDecision(variant, DO_NOT_SHIP, tuple(reasons))
    if better and not unproven:
        return ArmDecision(
            variant, SHIP, (f"{primary.metric.name} significantly better", "all guardrails pass")
        )
    if not better:
        reasons.append(f"{primary.metric.name}: {primary.verdict.text}")
    if unproven:
        reasons.append("guardrails not yet shown within their margins: " + ", ".join(unproven))
    return ArmDecision(variant, KEEP_RUNNING, tuple(reasons))


def decide(
    primary: list[MetricRow],
    guardrails: list[MetricRow],
    *,
    srm_flagged: bool,
    preliminary: bool,
) -> Decision:
    """The recommendation for the whole experiment (see the module docstring)."""
    if srm_flagged:
        return Decision(INVALID, "no decision: sample ratio mismatch invalidates the results")
    variants = [row.variant.key for row in primary] or sorted(
        {row.variant.key for row in guardrails}
    )
    arms = tuple(
        _arm(
            key,
            next((r for r in primary if r.variant.key == key), None),
            [g for g in guardrails if g.variant.key == key],
        )
        for key in variants
    )
    if preliminary:
        return Decision(KEEP_RUNNING, "keep running: the minimum runtime has not passed", arms)
    ship = [a for a in arms if a.action == SHIP]
    if ship:
        best = max(ship, key=lambda a: _effect(primary, a.variant))
        return Decision(SHIP, f"ship {best.variant}: " + "; ".join(best.reasons), arms)
    if arms and all(a.action == DO_NOT_SHIP for a in arms):
        text = "; ".join(f"{a.variant}: {', '.join(a.reasons)}" for a in arms)
        return Decision(DO_NOT_SHIP, f"do not ship: {text}", arms)
    return Decision(KEEP_RUNNING, "keep running: no arm has met the rule yet", arms)


def _effect(primary: list[MetricRow], variant: str) -> float:
    """The primary effect in the better direction (for choosing among shippable arms)."""
    row = next(r for r in primary if r.variant.key == variant)
    effect = row.analysis.absolute_effect if row.analysis else 0.0
    return effect if row.metric.higher_is_better else -effect
