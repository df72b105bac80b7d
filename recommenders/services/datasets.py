"""Loading whole parsed datasets (MovieLens 100K/1M, CSV) into the catalogue.

The parsing is the core's (``recommenders.core.datasets``); this module maps its frames
onto the catalogue's records (MovieLens codes for age and occupation, release dates) and
hands them to the bulk loaders of :mod:`recommenders.services.catalog`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.db import transaction

from recommenders.core.datasets import RawDataset
from recommenders.core.demo import DemoDataset
from recommenders.models import Interaction
from recommenders.services.catalog import (
    InteractionColumns,
    ItemRecord,
    LoadResult,
    UserRecord,
    do_load_interactions,
    do_load_items,
    do_load_user_profiles,
)

__all__ = [
    "DatasetLoadResult",
    "dataset_interaction_columns",
    "dataset_item_records",
    "dataset_user_records",
    "do_load_dataset",
    "do_load_demo_dataset",
]

# MovieLens 1M codes its users' age and occupation (see its README); 100K gives plain values
ML1M_AGE_BANDS = {
    "1": "under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49",
    "50": "50-55", "56": "56+",
}  # fmt: skip
AGE_BAND_EDGES = (18, 25, 35, 45, 50, 56)
AGE_BAND_LABELS = ("under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip


@dataclass(frozen=True)
class DatasetLoadResult:
    """What loading a whole dataset did, per table."""

    items: LoadResult
    users: LoadResult
    interactions: LoadResult


def do_load_dataset(raw: RawDataset, *, kind: str | None = None) -> DatasetLoadResult:
    """Load a parsed dataset (``recommenders.core.datasets.RawDataset``) in one transaction.

    Items and users come first (their metadata when the dataset has it), then the
    interactions with ``kind`` (default: ``rating`` for MovieLens, ``view`` for CSV).
    Interactions without a timestamp are stamped at the unix epoch, so a reload of the
    same file still finds them. Idempotent.
    """
    if kind is None:
        kind = Interaction.Kind.VIEW if raw.format == "csv" else Interaction.Kind.RATING
    with transaction.atomic():
        items = do_load_items(dataset_item_records(raw.items)) if raw.items is not None else None
        users = do_load_user_profiles(dataset_user_records(raw)) if raw.users is not None else None
        interactions = do_load_interactions(dataset_interaction_columns(raw, kind))
    return DatasetLoadResult(items or LoadResult(0, 0), users or LoadResult(0, 0), interactions)


def dataset_interaction_columns(raw: RawDataset, kind: str) -> InteractionColumns:
    """Loader columns of a dataset's interactions; no timestamp: the unix epoch."""
    frame = raw.interactions
    return InteractionColumns(
        user_ids=frame["user_id"].to_numpy(),
        item_ids=frame["item_id"].to_numpy(),
        timestamps=frame["timestamp"].fillna(0.0).to_numpy(np.float64),
        values=frame["value"].to_numpy(np.float64),
        kinds=kind,
    )


def dataset_item_records(items: pd.DataFrame) -> list[ItemRecord]:
    """Loader records of a dataset's item table; ``created_at`` from the release date, or
    the first day of the release year when only the year is known."""
    records = []
    for item_id, title, categories, year, created in zip(
        items["item_id"].tolist(),
        items["title"].tolist(),
        items["categories"].tolist(),
        items["year"].tolist(),
        items["created_at"].tolist(),
        strict=True,
    ):
        has_year = year is not None and not math.isnan(year)
        if created is not None and not math.isnan(created):
            created_at = datetime.fromtimestamp(created, UTC)
        elif has_year:  # the release year alone: its first day
            created_at = datetime(int(year), 1, 1, tzinfo=UTC)
        else:
            created_at = None
        records.append(
            ItemRecord(
                external_id=str(item_id),
                title=str(title),
                categories=list(categories) if isinstance(categories, list) else [],
                year=int(year) if has_year else None,
                created_at=created_at,
            )
        )
    return records


def dataset_user_records(raw: RawDataset) -> list[UserRecord]:
    """Loader records of a dataset's user table (MovieLens 1M age and occupation codes
    decoded, ages of 100K banded, the postcode's first three characters as region)."""
    users = raw.users
    column = {name: users[name].astype(str).tolist() for name in users.columns if name != "user_id"}
    n_users = len(users)
    ages = column.get("age", [""] * n_users)
    occupations = column.get("occupation", [""] * n_users)
    if raw.format == "ml-1m":
        age_bands = [ML1M_AGE_BANDS.get(a, "") for a in ages]
        occupations = [
            ML1M_OCCUPATIONS[int(o)] if o.isdigit() and int(o) < len(ML1M_OCCUPATIONS) else o
            for o in occupations
        ]
    else:
        age_bands = [_age_band(a) for a in ages]
    genders = column.get("gender", [""] * n_users)
    zips = column.get("zip", [""] * n_users)
    return [
        UserRecord(
            external_id=str(user_id),
            age_band=age_bands[j],
            gender=genders[j],
            occupation=occupations[j],
            region=zips[j][:3],  # the postcode's first three characters: a coarse region
        )
        for j, user_id in enumerate(users["user_id"].tolist())
    ]


def _age_band(age: str) -> str:
    if not age.isdigit():
        return ""
    return AGE_BAND_LABELS[int(np.searchsorted(AGE_BAND_EDGES, int(age), side="right"))]


# --- the generated demo dataset ----------------------------------------------------------------
def do_load_demo_dataset(demo: DemoDataset) -> DatasetLoadResult:
    """Load a generated demo dataset (``recommenders.core.demo``) in one transaction."""
    with transaction.atomic():
        items = do_load_items(demo_item_records(demo))
        users = do_load_user_profiles(demo_user_records(demo))
        interactions = do_load_interactions(demo_interaction_columns(demo))
    return DatasetLoadResult(items, users, interactions)


def _utc(unix_seconds: float) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


def demo_item_records(demo: DemoDataset) -> list[ItemRecord]:
    """The demo's items as loader records."""
    return [
        ItemRecord(
            external_id=item.external_id,
            title=item.title,
            categories=list(item.categories),
            text=item.text,
            year=item.year,
            price=item.price,
            attributes=item.attributes,
            creator=item.creator,
            created_at=_utc(item.created_at_unix_seconds),
        )
        for item in demo.items
    ]


def demo_user_records(demo: DemoDataset) -> list[UserRecord]:
    """The demo's users as loader records."""
    return [
        UserRecord(
            external_id=user.external_id,
            age_band=user.age_band,
            gender=user.gender,
            occupation=user.occupation,
            region=user.region,
            signup_context=user.signup_context,
            preferences=user.preferences,
            created_at=_utc(user.created_at_unix_seconds),
        )
        for user in demo.users
    ]


def demo_interaction_columns(demo: DemoDataset) -> InteractionColumns:
    """The demo's interactions as loader columns."""
    return InteractionColumns(
        user_ids=demo.interaction_user_ids,
        item_ids=demo.interaction_item_ids,
        timestamps=demo.interaction_timestamps,
        values=demo.interaction_values,
        kinds=demo.interaction_kinds,
    )
