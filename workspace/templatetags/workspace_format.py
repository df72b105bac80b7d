"""Formats of the workspace pages: confidence levels and targeting conditions in words."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

_OPERATORS = {"$eq": "is", "$ne": "is not", "$in": "is one of", "$nin": "is none of"}


def _values(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@register.filter
def confidence(alpha: Any) -> str:
    """``0.05`` -> ``"95%"``: the experiment's own two-sided confidence level."""
    try:
        level = 100 * (1 - float(alpha))
    except (TypeError, ValueError):
        return "–"
    return f"{level:.0f}%" if round(level, 6).is_integer() else f"{level:.1f}%"


@register.filter
def condition_text(condition: Any) -> str:
    """A targeting condition as the builder would say it: ``is one of ios, android``."""
    if isinstance(condition, dict):
        parts = [f"{_OPERATORS.get(op, op)} {_values(v)}" for op, v in condition.items()]
        return " and ".join(parts)
    if isinstance(condition, list | tuple):
        return f"is one of {_values(condition)}"
    return f"is {condition}"
