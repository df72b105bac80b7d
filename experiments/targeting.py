"""Targeting conditions on user attributes (pure: no Django).

Part of an experiment's definition: validated here when the experiment is written, evaluated
by :mod:`assignment.engine` (``matches``) when a user is assigned.

A condition set is a flat JSON object, attribute name -> condition, all of which must hold:

* a string, number or boolean: equality (``{"country": "US"}``);
* a list of them: membership (``{"platform": ["ios", "android"]}``);
* an operator object with one or more of ``$eq``, ``$ne`` (a scalar), ``$in``, ``$nin`` (a
  list), each with MongoDB / GrowthBook semantics: a missing attribute equals nothing, so it
  satisfies ``$ne`` and ``$nin`` and fails ``$eq`` and ``$in``.

Strings compare exactly (case-sensitive), as GrowthBook's condition evaluator does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["OPERATORS", "TargetingError", "matches", "validate_targeting"]

Scalar = str | int | float | bool
OPERATORS = ("$eq", "$ne", "$in", "$nin")
_MISSING = object()


class TargetingError(ValueError):
    """A condition set that is not of the documented form; the message names the attribute."""


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _check_list(attribute: str, value: Any) -> None:
    if not isinstance(value, list) or not all(_is_scalar(item) for item in value):
        raise TargetingError(f"{attribute}: expected a list of strings, numbers or booleans")


def validate_targeting(targeting: Any) -> dict[str, Any]:
    """Return ``targeting`` if it is a valid condition set, else raise :class:`TargetingError`."""
    if not isinstance(targeting, dict):
        raise TargetingError("targeting: expected an object of attribute -> condition")
    for attribute, condition in targeting.items():
        if not isinstance(attribute, str) or not attribute:
            raise TargetingError("targeting: attribute names must be non-empty strings")
        if _is_scalar(condition):
            continue
        if isinstance(condition, list):
            _check_list(attribute, condition)
        elif isinstance(condition, dict) and condition:
            for operator, operand in condition.items():
                if operator not in OPERATORS:
                    raise TargetingError(
                        f"{attribute}: unknown operator {operator!r}; use one of "
                        + ", ".join(OPERATORS)
                    )
                if operator in ("$in", "$nin"):
                    _check_list(f"{attribute}.{operator}", operand)
                elif not _is_scalar(operand):
                    raise TargetingError(f"{attribute}.{operator}: expected a string/number/bool")
        else:
            raise TargetingError(
                f"{attribute}: expected a value, a list of values or an operator object"
            )
    return targeting


def _holds(condition: Any, value: Any) -> bool:
    if isinstance(condition, list):
        return value is not _MISSING and value in condition
    if isinstance(condition, dict):
        for operator, operand in condition.items():
            if operator == "$eq" and (value is _MISSING or value != operand):
                return False
            if operator == "$ne" and value is not _MISSING and value == operand:
                return False
            if operator == "$in" and (value is _MISSING or value not in operand):
                return False
            if operator == "$nin" and value is not _MISSING and value in operand:
                return False
        return True
    return value is not _MISSING and value == condition


def matches(targeting: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """Whether ``attributes`` satisfy every condition of ``targeting`` (empty: everyone)."""
    for attribute, condition in targeting.items():
        if not _holds(condition, attributes.get(attribute, _MISSING)):
            return False
    return True
