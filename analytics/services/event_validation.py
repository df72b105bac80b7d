"""Checking one reported event and turning it into a row; plain Python for speed.

A batch of 10,000 events is validated in the request, so this avoids DRF serializers (tens of
microseconds per field) and does the minimum per field. Each problem is reported as
``{field: reason}`` so that a client can fix the event it sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.models import EVENT_ID_MAX_LENGTH, REQUEST_ID_MAX_LENGTH, USER_ID_MAX_LENGTH

EVENT_TYPES = frozenset(
    {
        "impression",
        "click",
        "watch",
        "conversion",
        "session_start",
        "session_end",
        "first_interaction",
    }
)
MAX_ITEMS_PER_IMPRESSION = 1000
MAX_ATTRIBUTES = 50
# Documented ranges of the numbers events carry (README, "Sending events"). The rollups sum
# them and their squares per user: an unbounded value (a watch of 1e200 s squares past the
# float range) poisoned every later rollup. A watch or a time to first interaction longer
# than a day is not one event; a conversion is worth at most a billion either way.
MAX_SECONDS = 86_400.0
MAX_CONVERSION_VALUE = 1e9
# type -> (lowest, highest) accepted ``value``; the rollup skips stored rows outside them.
VALUE_RANGES = {
    "watch": (0.0, MAX_SECONDS),
    "first_interaction": (0.0, MAX_SECONDS),
    "conversion": (-MAX_CONVERSION_VALUE, MAX_CONVERSION_VALUE),
}
SHORT_TEXT = 100
# PostgreSQL text and jsonb cannot hold NUL: one such event would fail its whole batch.
NO_NUL = "must not contain NUL (\\u0000) characters"
KNOWN_FIELDS = frozenset(
    {
        "event_id",
        "type",
        "user_id",
        "timestamp",
        "request_id",
        "session_id",
        "item_id",
        "position",
        "items",
        "seconds",
        "value",
        "surface",
        "experiment",
        "variant",
        "attributes",
    }
)

# Columns of analytics_event that ingestion writes, in this order.
ROW_COLUMNS = (
    "event_id",
    "type",
    "user_id",
    "ts",
    "request_id",
    "session_id",
    "item_id",
    "position",
    "item_count",
    "value",
    "surface",
    "experiment_key",
    "variant_key",
    "items",
    "attributes",
)


@dataclass(frozen=True)
class TimeWindow:
    """Accepted event timestamps: ``[now - past_seconds, now + future_seconds]``."""

    now: datetime
    past_seconds: float
    future_seconds: float
    earliest: datetime = field(init=False)
    latest: datetime = field(init=False)

    def __post_init__(self) -> None:
        # Computed once per batch, compared 10,000 times.
        object.__setattr__(self, "earliest", self.now - timedelta(seconds=self.past_seconds))
        object.__setattr__(self, "latest", self.now + timedelta(seconds=self.future_seconds))


class EventError(Exception):
    """An event that cannot be stored; ``errors`` maps field names to reasons."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _text(
    event: dict, field: str, errors: dict, *, required: bool, max_length: int = SHORT_TEXT
) -> str:
    value = event.get(field)
    if value is None or value == "":
        if required:
            errors[field] = "is required"
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[field] = "must be a string"
        return ""
    value = str(value)
    if len(value) > max_length:
        errors[field] = f"must be at most {max_length} characters"
        return ""
    if "\x00" in value:
        errors[field] = NO_NUL
        return ""
    return value


def _number(
    event: dict, field: str, errors: dict, *, required: bool, bounds: tuple[float, float]
) -> float | None:
    """A finite number within ``bounds`` (inclusive), or None with the reason in ``errors``."""
    value = event.get(field)
    if value is None:
        if required:
            errors[field] = "is required"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors[field] = "must be a number"
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range
        value = math.inf
    if not math.isfinite(value):
        errors[field] = "must be a finite number"
        return None
    low, high = bounds
    if not low <= value <= high:
        errors[field] = f"must be between {low:g} and {high:g}"
        return None
    return value


def _position(value: Any, field: str, errors: dict) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors[field] = "must be a non-negative integer"
        return None
    if value > 2_147_483_647:
        errors[field] = "is too large"
        return None
    return value


def parse_timestamp(value: Any, window: TimeWindow, errors: dict) -> datetime | None:
    """An ISO 8601 time with an offset (or Unix seconds) inside ``window``, in UTC."""
    if value is None or value == "":
        errors["timestamp"] = "is required"
        return None
    try:
        if isinstance(value, str):
            ts = datetime.fromisoformat(value)
            if ts.tzinfo is None:
                errors["timestamp"] = "needs a UTC offset, e.g. 2025-01-31T12:00:00Z"
                return None
            ts = ts.astimezone(UTC)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            ts = datetime.fromtimestamp(value, tz=UTC)
        else:
            raise TypeError
    except (ValueError, TypeError, OverflowError, OSError):
        errors["timestamp"] = "must be an ISO 8601 date-time with offset or Unix seconds"
        return None
    if ts < window.earliest:
        errors["timestamp"] = (
            f"is more than {window.past_seconds:g} s in the past (accepted window)"
        )
        return None
    if ts > window.latest:
        errors["timestamp"] = (
            f"is more than {window.future_seconds:g} s in the future (accepted window)"
        )
        return None
    return ts


def _impression_items(event: dict, errors: dict) -> list[dict] | None:
    items = event.get("items")
    if not isinstance(items, list) or not items:
        errors["items"] = "is required for an impression: a non-empty list of items"
        return None
    if len(items) > MAX_ITEMS_PER_IMPRESSION:
        errors["items"] = f"must hold at most {MAX_ITEMS_PER_IMPRESSION} items"
        return None
    clean: list[dict] = []
    for index, item in enumerate(items):
        if isinstance(item, str | int) and not isinstance(item, bool):
            item_id, position = str(item), index
        elif isinstance(item, dict):
            item_id = item.get("item_id")
            position = item.get("position", index)
            if item_id is None or isinstance(item_id, bool) or not isinstance(item_id, str | int):
                errors[f"items[{index}].item_id"] = "is required: a string"
                return None
            item_id = str(item_id)
            if _position(position, f"items[{index}].position", errors) is None:
                errors.setdefault(f"items[{index}].position", "must be a non-negative integer")
                return None
        else:
            errors[f"items[{index}]"] = "must be an item id or an object {item_id, position}"
            return None
        if not item_id or len(item_id) > 256:
            errors[f"items[{index}].item_id"] = "must be 1 to 256 characters"
            return None
        if "\x00" in item_id:
            errors[f"items[{index}].item_id"] = NO_NUL
            return None
        clean.append({"item_id": item_id, "position": position})
    return clean


def _attributes(event: dict, errors: dict) -> dict:
    attributes = event.get("attributes")
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        errors["attributes"] = "must be an object of strings, numbers or booleans"
        return {}
    if len(attributes) > MAX_ATTRIBUTES:
        errors["attributes"] = f"must hold at most {MAX_ATTRIBUTES} keys"
        return {}
    for key, value in attributes.items():
        if "\x00" in key:
            errors["attributes"] = f"names {NO_NUL}"
            return {}
        if value is not None and not isinstance(value, str | int | float | bool):
            errors[f"attributes.{key}"] = "must be a string, number, boolean or null"
            return {}
        if isinstance(value, float) and not math.isfinite(value):  # NaN is not JSON
            errors[f"attributes.{key}"] = "must be a finite number"
            return {}
        if isinstance(value, str) and len(value) > 1000:
            errors[f"attributes.{key}"] = "must be at most 1000 characters"
            return {}
        if isinstance(value, str) and "\x00" in value:
            errors[f"attributes.{key}"] = NO_NUL
            return {}
    return attributes


def check_event(event: Any, window: TimeWindow) -> tuple:
    """Validate one reported event; return its row (``ROW_COLUMNS`` order) or raise.

    Raises :class:`EventError` with every problem found, by field.
    """
    if not isinstance(event, dict):
        raise EventError({"event": "must be a JSON object"})
    errors: dict[str, str] = {}
    unknown = event.keys() - KNOWN_FIELDS
    if unknown:
        errors[sorted(unknown)[0]] = "is not a known field (free data goes in attributes)"
    event_id = _text(event, "event_id", errors, required=True, max_length=EVENT_ID_MAX_LENGTH)
    user_id = _text(event, "user_id", errors, required=True, max_length=USER_ID_MAX_LENGTH)
    kind = event.get("type")
    if kind is None or kind == "":
        errors["type"] = "is required"
    elif not isinstance(kind, str) or kind not in EVENT_TYPES:
        errors["type"] = f"unknown type {kind!r}; expected one of {', '.join(sorted(EVENT_TYPES))}"
    ts = parse_timestamp(event.get("timestamp"), window, errors)
    needs_request = kind in ("impression", "click")
    request_id = _text(
        event, "request_id", errors, required=needs_request, max_length=REQUEST_ID_MAX_LENGTH
    )
    needs_session = kind in ("session_start", "session_end")
    session_id = _text(event, "session_id", errors, required=needs_session, max_length=128)
    item_id = _text(event, "item_id", errors, required=kind in ("click", "watch"), max_length=256)
    position = _position(event.get("position"), "position", errors)
    items = _impression_items(event, errors) if kind == "impression" else None
    value = None
    if kind in ("watch", "first_interaction"):
        value = _number(event, "seconds", errors, required=True, bounds=VALUE_RANGES[kind])
    elif kind == "conversion":
        value = _number(event, "value", errors, required=False, bounds=VALUE_RANGES[kind])
        value = 0.0 if value is None else value
    surface = _text(event, "surface", errors, required=False)
    experiment = _text(event, "experiment", errors, required=False)
    variant = _text(event, "variant", errors, required=False)
    attributes = _attributes(event, errors)
    if errors:
        raise EventError(errors)
    return (
        event_id,
        kind,
        user_id,
        ts,
        request_id,
        session_id,
        item_id,
        position,
        len(items) if items is not None else None,
        value,
        surface,
        experiment,
        variant,
        items,
        attributes,
    )
