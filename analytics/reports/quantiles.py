"""Quantile metric rows (median, p90): per-user values from the rollup, compared over days.

The unit is the user, the unit of randomisation, so one value per user and no clustering:

* ``watch_time_quantile``: a user's watch seconds from their first exposure to the end of the
  day, 0 for an exposed user without any watch (counted in the arm's exposures ``n``, but
  without a rollup row): the distribution whose mean is the ``watch_time`` metric;
* ``time_to_first_interaction_quantile``: a user's mean seconds to first interaction, over the
  users with at least one (the per-user value the ``time_to_first_interaction`` mean averages).

The per-user rollup keeps a user's sums per day, not each watch, so a quantile over events
(every watch duration) is not offered here; the library compares such per-event values with
users as clusters (``analytics.stats.quantiles``, ``clusters``). Each look (the end of each day
either arm changed) compares the users' cumulative values with
:func:`analytics.stats.quantile_difference`; sequential experiments take the always-valid
p-value and confidence sequence of those looks (``always_valid_history``, on the quantile
difference and its delta-method variance), as mean and ratio rows do.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from analytics.reports.metrics import GuardrailResult, MetricSeries, Verdict, guardrail_verdict
from analytics.selectors import ArmSeries, ArmUserDays
from analytics.stats import (
    QuantileDifference,
    always_valid_history,
    arm_quantile,
    compare_quantiles,
    quantile_noninferiority,
)

QUANTILE_KINDS = frozenset({"watch_time_quantile", "time_to_first_interaction_quantile"})


def user_values(rows: ArmUserDays | None, kind: str, day: date, exposed: int) -> np.ndarray:
    """Each user's value of quantile metric ``kind`` at the end of ``day`` (see the module
    docstring); ``exposed``: the arm's users exposed by then, for the users without a row."""
    if kind not in QUANTILE_KINDS:
        raise ValueError(f"kind: not a quantile metric: {kind!r}")
    if rows is None:
        rows = ArmUserDays(*(np.zeros(0, dtype=t) for t in (int, int, float, float, float)))
    mask = rows.day <= day.toordinal()
    users = rows.user[mask]
    size = int(rows.user.max()) + 1 if rows.user.size else 0
    if kind == "watch_time_quantile":
        seen = np.bincount(users, minlength=size) > 0
        totals = np.bincount(users, weights=rows.watch_seconds[mask], minlength=size)[seen]
        return np.concatenate([totals, np.zeros(max(exposed - int(seen.sum()), 0))])
    count = np.bincount(users, weights=rows.first_interactions[mask], minlength=size)
    seconds = np.bincount(users, weights=rows.first_interaction_seconds[mask], minlength=size)
    return seconds[count > 0] / count[count > 0]


def _exposed(series: ArmSeries, day: date) -> int:
    return int(round(series.at(day).get("n", 0.0)))


def quantile_looks(
    kind: str,
    quantile: float,
    control: tuple[ArmSeries, ArmUserDays | None],
    treatment: tuple[ArmSeries, ArmUserDays | None],
    *,
    alpha: float,
    last_only: bool = False,
) -> list[tuple[date, QuantileDifference]]:
    """The fixed-horizon comparison at the end of each day on which either arm changed
    (``last_only``: the latest day only; days on which an arm has no user with a value are
    left out)."""
    (c_series, c_rows), (t_series, t_rows) = control, treatment
    days = sorted(set(c_series.days) | set(t_series.days))
    looks = []
    for day in days[-1:] if last_only else days:
        c = user_values(c_rows, kind, day, _exposed(c_series, day))
        t = user_values(t_rows, kind, day, _exposed(t_series, day))
        if c.size and t.size:
            arms = (
                arm_quantile(c, quantile, alpha=alpha, name="control"),
                arm_quantile(t, quantile, alpha=alpha, name="treatment"),
            )
            looks.append((day, compare_quantiles(*arms, alpha=alpha)))
    return looks


def analyze_quantile_series(
    kind: str,
    quantile: float,
    control: tuple[ArmSeries, ArmUserDays | None],
    treatment: tuple[ArmSeries, ArmUserDays | None],
    *,
    alpha: float,
    sequential: bool,
    planned_total: int | None,
) -> tuple[MetricSeries, QuantileDifference | None]:
    """The quantile row's series (effect and interval per look, the latest comparison,
    always-valid results when ``sequential``; ``problem`` says why there is not enough data)
    and the latest fixed-horizon comparison (the arms' quantiles and users), if any."""
    out = MetricSeries()
    looks = quantile_looks(kind, quantile, control, treatment, alpha=alpha)
    if not looks:
        out.problem = "not enough data yet: an arm has no user with a value"
        return out, None
    usable = [(day, r) for day, r in looks if r.enough_data]
    if not usable or usable[-1][0] != looks[-1][0]:
        out.problem = looks[-1][1].note
        return out, looks[-1][1]
    out.days = [day for day, _ in usable]
    out.effects = [r.absolute_effect for _, r in usable]
    out.relative = [r.relative_effect for _, r in usable]
    latest = usable[-1][1]
    if sequential:
        history = always_valid_history(
            [r.absolute_effect for _, r in usable],
            [r.std_error**2 for _, r in usable],
            [r.control_n + r.treatment_n for _, r in usable],
            alpha=alpha,
            planned_total=planned_total,
        )
        out.lower, out.upper = history.lower.tolist(), history.upper.tolist()
        out.sequential_p_value = float(history.p_values[-1])
        out.sequential_ci = (out.lower[-1], out.upper[-1])
        latest = compare_quantiles(
            latest.control, latest.treatment, alpha=alpha, sequential=True,
            planned_total=planned_total,
        )  # fmt: skip
    else:
        out.lower = [r.absolute_ci[0] for _, r in usable]
        out.upper = [r.absolute_ci[1] for _, r in usable]
    out.latest = latest
    return out, usable[-1][1]


def quantile_guardrail(
    latest: QuantileDifference | None,
    *,
    margin: float | None,
    margin_is_relative: bool,
    higher_is_better: bool,
    alpha: float,
    sequential: bool,
    planned_total: int | None,
) -> GuardrailResult:
    """Non-inferiority of the treatment's quantile (``quantile_noninferiority``)."""
    if not margin or margin <= 0:
        return GuardrailResult(None, Verdict("no margin set", "warn"))
    if latest is None:
        return GuardrailResult(None, Verdict("not enough data yet", "neutral"))
    if not latest.enough_data:
        return GuardrailResult(None, Verdict(latest.note, "neutral"))
    result = quantile_noninferiority(
        latest.control, latest.treatment, margin=margin, margin_relative=margin_is_relative,
        bad_direction="decrease" if higher_is_better else "increase", alpha=alpha,
        sequential=sequential, planned_total=planned_total,
    )  # fmt: skip
    return guardrail_verdict(result, higher_is_better=higher_is_better)
