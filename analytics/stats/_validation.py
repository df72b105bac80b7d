"""Argument checks shared by the statistics package.

Every check raises ``ValueError`` with a message that starts with the argument's name, so the
API layer can map it onto the request field (``"alpha: must lie strictly between 0 and 1"``).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

ALTERNATIVES = ("two-sided", "larger", "smaller")
# Counts beyond 2^53 cannot be held exactly in a float (and no experiment has that many users).
MAX_COUNT = 2**53
# Sums beyond this overflow the variance formulas (their fourth powers pass 1.8e308); no real
# experiment comes near it, so such input is refused by name instead of turning into inf/NaN.
SUM_LIMIT = 1e75


def argument_name(error: ValueError) -> str | None:
    """The argument a ``ValueError`` from this package names (the text before ``:``)."""
    text = str(error)
    head, sep, _ = text.partition(":")
    return head.strip() if sep and head and " " not in head.strip() else None


def check_real(name: str, value: Any) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    return value


def check_sum(name: str, value: Any) -> float:
    """A finite sum within ``[-SUM_LIMIT, SUM_LIMIT]``."""
    value = check_real(name, value)
    if abs(value) > SUM_LIMIT:
        raise ValueError(f"{name}: must lie within +-1e75, got {value}")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name}: must be greater than 0, got {value}")
    return value


def check_non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    value = check_real(name, value)
    if value < 0:
        raise ValueError(f"{name}: must not be negative, got {value}")
    return value


def check_unit_open(name: str, value: Any) -> float:
    """A probability strictly inside (0, 1): alpha, power, a baseline rate.

    Within 1e-12 of 0 or 1 a normal quantile is infinite in floating point (and no analysis
    needs such a level), so those are refused too.
    """
    value = check_real(name, value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}: must lie strictly between 0 and 1, got {value}")
    if not 1e-12 <= value <= 1 - 1e-12:
        raise ValueError(f"{name}: must lie within [1e-12, 1 - 1e-12], got {value}")
    return value


def check_count(name: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number >= ``minimum`` (integral floats such as ``100.0`` are accepted)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: must be a whole number, got {value!r}")
    integral = isinstance(value, Integral) or (
        isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer()
    )
    if not integral:
        raise ValueError(f"{name}: must be a whole number, got {value!r}")
    count = int(value)
    if count < 0:
        raise ValueError(f"{name}: must not be negative, got {count}")
    if count < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {count}")
    if count > MAX_COUNT:
        raise ValueError(f"{name}: must be at most 2^53, got {count}")
    return count


def check_successes(name: str, successes: Any, trials: int) -> int:
    """A success count within ``[0, trials]``."""
    count = check_count(name, successes)
    if count > trials:
        raise ValueError(f"{name}: {count} successes exceed the {trials} trials")
    return count


def check_alpha_power(alpha: Any, power: Any) -> tuple[float, float]:
    """Alpha and power both in (0, 1), with power above alpha (else no sample is needed)."""
    alpha = check_unit_open("alpha", alpha)
    power = check_unit_open("power", power)
    if power <= alpha:
        raise ValueError(f"power: must exceed alpha ({alpha}), got {power}")
    return alpha, power


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings."""
    if value not in choices:
        raise ValueError(f"{name}: must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_alternative(value: Any) -> str:
    """``two-sided``, ``larger`` (treatment above control) or ``smaller``."""
    return check_choice("alternative", value, ALTERNATIVES)


def check_decision(
    p_value: float,
    absolute_ci: tuple[float, float],
    significant: bool,
    alpha: float,
    sequential_p_value: float | None,
) -> None:
    """A test result's own consistency: p in [0, 1], an ordered interval, and ``significant``
    following the decisive p-value (the sequential one where there is one) and ``alpha``."""
    if not 0.0 <= p_value <= 1.0:
        raise ValueError(f"p_value: must lie in [0, 1], got {p_value}")
    if absolute_ci[0] > absolute_ci[1]:
        raise ValueError("absolute_ci: lower bound above upper bound")
    decisive = p_value if sequential_p_value is None else sequential_p_value
    if significant != (decisive < alpha):
        raise ValueError("significant: must follow the (sequential) p-value and alpha")
