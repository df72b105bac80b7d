"""Argument parsing shared by the recommenders' management commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from recommenders.core.datasets import (
    RawDataset,
    read_csv_interactions,
    read_dataset,
    read_movielens_1m,
    read_movielens_100k,
)

DATA_FORMATS = ("auto", "100k", "1m", "csv")


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"  # argparse names the type in its error message


def read_in_format(path: Path, data_format: str) -> RawDataset:
    """Parse ``path`` in ``data_format`` (``auto``: detected from the files present).

    Raises :class:`CommandError` for a missing path and lets the core's
    ``DatasetFormatError`` (a ValueError naming the file) through for bad content.
    """
    if not path.exists():
        raise CommandError(f"{path}: no such file or folder")
    if data_format == "auto":
        return read_dataset(path)
    if data_format == "100k":
        if path.is_dir():
            return read_movielens_100k(path)
        return read_movielens_100k(path.parent, ratings_file=path)
    if data_format == "1m":
        return read_movielens_1m(path)
    if data_format == "csv":
        if path.is_dir():
            raise CommandError(f"{path}: --format csv needs a file, not a folder")
        return read_csv_interactions(path)
    raise CommandError(f"unknown format {data_format!r}; use one of {', '.join(DATA_FORMATS)}")


def parse_value(text: str) -> Any:
    """A parameter value: JSON when it parses (``64``, ``0.1``, ``true``, ``"bm25"``,
    ``[1, 2]``), the plain string otherwise (``bm25``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value`` -> (name, parsed value); CommandError when there is no ``=``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise CommandError(f"--param {text!r}: expected name=value")
    return name.strip(), parse_value(value.strip())
