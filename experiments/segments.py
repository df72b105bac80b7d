"""Segment attributes: the user attributes an experiment's results are broken down by (pure).

Part of an experiment's definition (``Experiment.segment_attributes``, a short list of
attribute names), validated here when the experiment is written. When a user is first
exposed, :mod:`assignment.services` keeps the values of those attributes from the request
(:func:`segment_values`) on the exposure row, so every breakdown uses the value the user had
when randomised, never one the treatment could have changed.

Bounds, so that a breakdown stays a handful of groups:

* at most :data:`MAX_SEGMENT_ATTRIBUTES` attributes per experiment, names of letters, digits,
  ``_``, ``.`` and ``-`` (at most :data:`SEGMENT_NAME_MAX_LENGTH` characters);
* a value is a string of at most :data:`SEGMENT_VALUE_MAX_LENGTH` characters, an integer or
  a boolean (stored as text: ``"3"``, ``"true"``); an empty string or a missing attribute is
  "not set"; a fractional number is refused (a continuous attribute has one user per value);
* reports show the :data:`TOP_SEGMENT_VALUES` most exposed values and pool the rest into
  :data:`OTHER` (analytics does this when it reads the breakdown).

:data:`NEW_VS_RETURNING` is derived, not sent: a user with any activity in the pre-period
before the first exposure is ``returning``, else ``new`` (see ``analytics.reports.segments``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_SEGMENT_ATTRIBUTES",
    "NEW_VS_RETURNING",
    "NOT_SET",
    "OTHER",
    "SEGMENT_NAME_MAX_LENGTH",
    "SEGMENT_NAME_PATTERN",
    "SEGMENT_VALUE_MAX_LENGTH",
    "SegmentError",
    "TOP_SEGMENT_VALUES",
    "check_segment_attributes",
    "segment_values",
]

MAX_SEGMENT_ATTRIBUTES = 5
SEGMENT_NAME_MAX_LENGTH = 64
SEGMENT_VALUE_MAX_LENGTH = 64
TOP_SEGMENT_VALUES = 8
NEW_VS_RETURNING = "new_vs_returning"
# Labels of the pooled groups; parentheses keep them apart from any value a client may send
# (a sent value "other" stays its own group).
OTHER = "(other)"
NOT_SET = "(not set)"
SEGMENT_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
_NAME = re.compile(SEGMENT_NAME_PATTERN)


class SegmentError(ValueError):
    """A segment attribute list or value that is not of the documented form.

    ``field`` names what is wrong (``segment_attributes``, or ``attributes.<name>``).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def check_segment_attributes(names: Any) -> list[str]:
    """The list of attribute names, or :class:`SegmentError` naming the problem."""
    field = "segment_attributes"
    if not isinstance(names, list):
        raise SegmentError(field, "expected a list of attribute names")
    if len(names) > MAX_SEGMENT_ATTRIBUTES:
        raise SegmentError(
            field, f"at most {MAX_SEGMENT_ATTRIBUTES} attributes per experiment, got {len(names)}"
        )
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            raise SegmentError(
                field,
                f"{name!r}: a name of letters, digits, '_', '.' and '-' (not starting with "
                "'.' or '-')",
            )
        if len(name) > SEGMENT_NAME_MAX_LENGTH:
            raise SegmentError(field, f"{name!r}: at most {SEGMENT_NAME_MAX_LENGTH} characters")
        if name == NEW_VS_RETURNING:
            raise SegmentError(
                field, f"{NEW_VS_RETURNING!r} is derived from the pre-period; leave it out"
            )
    if len(set(names)) != len(names):
        raise SegmentError(field, "each attribute at most once")
    return names


def _value(name: str, value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, str):
        text = value
    else:
        kind = "null" if value is None else type(value).__name__
        if isinstance(value, float):
            kind = "a fractional number"
        raise SegmentError(
            f"attributes.{name}",
            f"a segment attribute takes a string, an integer or a boolean, not {kind}",
        )
    if len(text) > SEGMENT_VALUE_MAX_LENGTH:
        raise SegmentError(
            f"attributes.{name}",
            f"a segment attribute's value has at most {SEGMENT_VALUE_MAX_LENGTH} characters, "
            f"got {len(text)}",
        )
    if text in (OTHER, NOT_SET):
        raise SegmentError(
            f"attributes.{name}", f"{text!r} is the label of a pooled group; send another value"
        )
    if "\x00" in text:
        raise SegmentError(f"attributes.{name}", "must not contain NUL (\\u0000) characters")
    return text or None


def segment_values(names: Sequence[str], attributes: Mapping[str, Any]) -> dict[str, str]:
    """The values of ``names`` in ``attributes``, as text; missing or empty ones are left out.

    Raises :class:`SegmentError` (``field`` = ``attributes.<name>``) for a value out of bounds.
    """
    out = {}
    for name in names:
        if name in attributes:
            text = _value(name, attributes[name])
            if text is not None:
                out[name] = text
    return out
