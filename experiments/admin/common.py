"""Helpers shared by the admin modules."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def messages_of(error: ValidationError) -> list[str]:
    """Every message of ``error`` as ``field: message`` lines."""
    if hasattr(error, "error_dict"):
        return [f"{field}: {m}" for field, ms in error.message_dict.items() for m in ms]
    return list(error.messages)


def plain(value: Any) -> Any:
    if hasattr(value, "pk"):
        return str(value)
    if (
        isinstance(value, list | tuple)
        or hasattr(value, "__iter__")
        and not isinstance(value, str | dict)
    ):
        return [str(v) for v in value]
    return value
