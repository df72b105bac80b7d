"""Number formats of the report pages: rates, effects, p-values, intervals."""

from __future__ import annotations

import math

from django import template

from analytics.stats.quantiles import quantile_label

register = template.Library()

RATE_STATISTICS = {"proportion", "ratio"}


def _finite(value) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


@register.filter
def metric_value(value, statistic: str) -> str:
    """A metric's value: rates as percentages, means with two decimals."""
    if not _finite(value):
        return "–"
    if statistic in RATE_STATISTICS:
        return f"{100 * value:.2f}%"
    return f"{value:,.2f}"


@register.filter
def effect(value, statistic: str) -> str:
    """An absolute effect: percentage points for rates, units otherwise (signed)."""
    if not _finite(value):
        return "–"
    if statistic in RATE_STATISTICS:
        return f"{100 * value:+.2f} pp"
    return f"{value:+,.2f}"


def _bounds(bounds, fmt) -> str:
    """``[lower, upper]``; a one-sided test's half-line shows its open end as infinity."""
    if not bounds or not all(_finite(b) or b in (math.inf, -math.inf) for b in bounds):
        return "–"
    lower, upper = bounds
    if not (_finite(lower) or _finite(upper)):
        return "–"
    left = "(−∞" if lower == -math.inf else f"[{fmt(lower)}"
    right = "+∞)" if upper == math.inf else f"{fmt(upper)}]"
    return f"{left}, {right}"


@register.filter
def interval(bounds, statistic: str) -> str:
    return _bounds(bounds, lambda b: effect(b, statistic))


@register.filter
def relative(value) -> str:
    if not _finite(value):
        return "–"
    return f"{100 * value:+.2f}%"


@register.filter
def relative_interval(bounds) -> str:
    return _bounds(bounds, relative)


@register.filter
def pvalue(value) -> str:
    if not _finite(value):
        return "–"
    if value < 0.0001:
        return "< 0.0001"
    return f"{value:.4f}"


@register.filter
def share(value) -> str:
    if not _finite(value):
        return "–"
    return f"{100 * value:.0f}%"


@register.filter
def quantile_level(level) -> str:
    """A quantile metric's level as reports name it (0.9 -> "p90"); "" for other metrics."""
    if not _finite(level):
        return ""
    return quantile_label(float(level))
