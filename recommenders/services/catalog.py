"""Bulk loading of the catalogue: items, user profiles and interactions.

Every loader is idempotent: items and users are upserted by external id (a reload refreshes
their metadata but never touches ``Item.is_blocked``, which belongs to the content policy),
interactions are inserted once per (user, item, kind, timestamp).

The writes go through :mod:`writebehind.bulk` (``upsert_by_key``, ``insert_new_columns``): on
PostgreSQL rows travel with ``COPY ... FROM STDIN`` into a temporary staging table, then one
``INSERT ... SELECT ... ON CONFLICT`` moves them into place; on SQLite (the embedded default)
``bulk_create`` in batches with ``ignore_conflicts`` / ``update_conflicts`` does the same job
more slowly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from recommenders.models import Interaction, Item, UserProfile
from writebehind import bulk

__all__ = [
    "CatalogLoadError",
    "InteractionColumns",
    "ItemRecord",
    "LoadResult",
    "UserRecord",
    "do_load_interactions",
    "do_load_items",
    "do_load_user_profiles",
]

BATCH_SIZE = 5_000
# rows per COPY chunk: bounds the text buffer built in memory
COPY_CHUNK_ROWS = 200_000
# ids per "external_id IN (...)" query: below SQLite's oldest variable limit (999)
LOOKUP_CHUNK = 900
INTERACTION_KINDS = frozenset(Interaction.Kind.values)
EXTERNAL_ID_MAX_LENGTH = Item._meta.get_field("external_id").max_length


class CatalogLoadError(ValueError):
    """Input that cannot be loaded; the message says which row or column and why."""


@dataclass(frozen=True)
class ItemRecord:
    """One item to upsert. ``created_at`` None: now for a new item, unchanged on reload."""

    external_id: str
    title: str = ""
    categories: Sequence[str] = ()
    text: str = ""
    year: int | None = None
    price: float | None = None
    attributes: dict[str, float] = field(default_factory=dict)
    creator: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class UserRecord:
    """One user profile to upsert. ``created_at`` None: now when new, unchanged on reload."""

    external_id: str
    age_band: str = ""
    gender: str = ""
    occupation: str = ""
    region: str = ""
    signup_context: dict[str, str] = field(default_factory=dict)
    preferences: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass
class InteractionColumns:
    """Interactions as parallel columns (what parsers produce, no per-row objects).

    ``user_ids``/``item_ids`` are external ids (integers are taken as their decimal
    string); ``timestamps`` unix seconds; ``values`` default to 1.0; ``kinds`` is one kind
    for every row or a column of kinds (``Interaction.Kind`` values), kept as
    ``kind_codes``, indices into :data:`KIND_ORDER`.
    """

    user_ids: Sequence[str] | np.ndarray
    item_ids: Sequence[str] | np.ndarray
    timestamps: Sequence[float] | np.ndarray
    values: Sequence[float] | np.ndarray | None = None
    kinds: str | Sequence[str] | np.ndarray = Interaction.Kind.VIEW
    kind_codes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.user_ids = _id_column(self.user_ids)
        self.item_ids = _id_column(self.item_ids)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        n_rows = len(self.user_ids)
        self.values = (
            np.ones(n_rows) if self.values is None else np.asarray(self.values, np.float64)
        )
        self.kind_codes = _kind_codes(self.kinds, n_rows)
        lengths = {len(c) for c in (self.item_ids, self.timestamps, self.values, self.kind_codes)}
        if lengths != {n_rows}:
            raise CatalogLoadError("interaction columns have different lengths")
        for name in ("timestamps", "values"):
            bad = np.flatnonzero(~np.isfinite(getattr(self, name)))
            if len(bad):
                raise CatalogLoadError(f"row {bad[0] + 1}: {name} is not a finite number")

    def __len__(self) -> int:
        return len(self.user_ids)


KIND_ORDER: tuple[str, ...] = tuple(Interaction.Kind.values)


def _id_column(ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Integer ids stay integers (fast to deduplicate); anything else becomes strings."""
    column = np.asarray(ids)
    if column.dtype.kind in "iu":
        return column.astype(np.int64)
    return column.astype(str)


def _kind_codes(kinds: str | Sequence[str] | np.ndarray, n_rows: int) -> np.ndarray:
    if isinstance(kinds, str):
        names, inverse = np.array([kinds]), np.zeros(n_rows, np.int64)
    else:
        names, inverse = np.unique(np.asarray(kinds).astype(str), return_inverse=True)
    unknown = sorted(set(names.tolist()) - INTERACTION_KINDS)
    if unknown:
        raise CatalogLoadError(
            f"unknown interaction kind(s) {unknown}; known: {sorted(INTERACTION_KINDS)}"
        )
    codes = np.array([KIND_ORDER.index(name) for name in names.tolist()], np.int16)
    return codes[inverse.reshape(-1)] if len(inverse) else np.zeros(0, np.int16)


@dataclass(frozen=True)
class LoadResult:
    """What a loader did: rows received, rows newly inserted, rows already present."""

    received: int
    inserted: int

    @property
    def already_present(self) -> int:
        return self.received - self.inserted


# --- items and users ------------------------------------------------------------------------
ITEM_FIELDS = ("title", "categories", "text", "year", "price", "attributes", "creator")
USER_FIELDS = (
    "age_band",
    "gender",
    "occupation",
    "region",
    "signup_context",
    "preferences",
)


def do_load_items(records: Iterable[ItemRecord]) -> LoadResult:
    """Upsert items by external id (the last record of a repeated id wins).

    Never changes ``is_blocked``; keeps ``created_at`` of existing items unless the
    record gives one. Atomic: all records or none.
    """
    rows = _dedupe(records)
    return _upsert(Item, rows, ITEM_FIELDS, _item_row)


def do_load_user_profiles(records: Iterable[UserRecord]) -> LoadResult:
    """Upsert user profiles by external id (the last record of a repeated id wins). Atomic."""
    rows = _dedupe(records)
    return _upsert(UserProfile, rows, USER_FIELDS, _user_row)


def _dedupe(records: Iterable[ItemRecord | UserRecord]) -> list[Any]:
    by_id: dict[str, Any] = {}
    for record in records:
        external_id = str(record.external_id).strip()
        if not external_id:
            raise CatalogLoadError("a record has an empty external id")
        if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            raise CatalogLoadError(
                f"external id {external_id[:80]!r} is longer than {EXTERNAL_ID_MAX_LENGTH}"
            )
        if external_id != record.external_id:
            record = replace(record, external_id=external_id)
        by_id[external_id] = record
    return list(by_id.values())


def _item_row(record: ItemRecord) -> dict[str, Any]:
    price = record.price
    return {
        "title": str(record.title)[:500],
        "categories": [str(c) for c in record.categories],
        "text": str(record.text),
        "year": None if record.year is None else int(record.year),
        "price": None if price is None or math.isnan(price) else round(float(price), 2),
        "attributes": {str(k): float(v) for k, v in record.attributes.items()},
        "creator": str(record.creator)[:200],
    }


def _user_row(record: UserRecord) -> dict[str, Any]:
    return {
        "age_band": str(record.age_band)[:16],
        "gender": str(record.gender)[:16],
        "occupation": str(record.occupation)[:64],
        "region": str(record.region)[:64],
        "signup_context": dict(record.signup_context),
        "preferences": dict(record.preferences),
    }


@transaction.atomic
def _upsert(model: type, records: list[Any], fields: Sequence[str], to_row: Any) -> LoadResult:
    before = model.objects.count()
    rows = [
        {"external_id": r.external_id, "created_at": r.created_at, **to_row(r)} for r in records
    ]
    bulk.upsert_by_key(model, rows, key="external_id", fields=fields, batch_size=BATCH_SIZE)
    return LoadResult(received=len(records), inserted=model.objects.count() - before)


# --- interactions ---------------------------------------------------------------------------
def do_load_interactions(columns: InteractionColumns, *, create_missing: bool = True) -> LoadResult:
    """Insert interactions once per (user, item, kind, timestamp); atomic.

    Users and items are matched by external id. ``create_missing``: users and items not yet
    in the catalogue are created bare (an interactions file without a catalogue); otherwise
    their rows raise :class:`CatalogLoadError`.
    """
    n_rows = len(columns)
    if n_rows == 0:
        return LoadResult(0, 0)
    with transaction.atomic():
        user_pks = _pks_for(UserProfile, columns.user_ids, create_missing)
        item_pks = _pks_for(Item, columns.item_ids, create_missing)
        inserted = bulk.insert_new_columns(
            Interaction,
            {
                "user_id": user_pks,
                "item_id": item_pks,
                "kind": columns.kind_codes,
                "value": columns.values,
                "timestamp": columns.timestamps,
            },
            key=("user_id", "item_id", "kind", "timestamp"),
            codes={"kind": KIND_ORDER},
            chunk_rows=COPY_CHUNK_ROWS,
            batch_size=BATCH_SIZE,
        )
    return LoadResult(received=n_rows, inserted=inserted)


def _pks_for(model: type, external_ids: np.ndarray, create_missing: bool) -> np.ndarray:
    """Primary keys aligned with ``external_ids`` (vectorised through the unique ids)."""
    unique_values, inverse = np.unique(external_ids, return_inverse=True)
    unique_ids = [str(i) for i in unique_values.tolist()]
    _check_ids(unique_ids)
    known = _pk_map(model, unique_ids)
    missing = [i for i in unique_ids if i not in known]
    if missing:
        if not create_missing:
            label = model._meta.verbose_name
            raise CatalogLoadError(
                f"{len(missing)} unknown {label} id(s), e.g. {missing[:5]}; load them first"
            )
        now = timezone.now()
        model.objects.bulk_create(
            [model(external_id=i, created_at=now) for i in missing],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )
        known.update(_pk_map(model, missing))
    pks = np.fromiter((known[i] for i in unique_ids), np.int64, len(unique_ids))
    return pks[inverse.reshape(-1)]


def _check_ids(external_ids: list[str]) -> None:
    for external_id in external_ids:
        if not external_id.strip():
            raise CatalogLoadError("an interaction has an empty user or item id")
        if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            raise CatalogLoadError(
                f"external id {external_id[:80]!r} is longer than {EXTERNAL_ID_MAX_LENGTH}"
            )


def _pk_map(model: type, external_ids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for lo in range(0, len(external_ids), LOOKUP_CHUNK):
        chunk = external_ids[lo : lo + LOOKUP_CHUNK]
        found.update(model.objects.filter(external_id__in=chunk).values_list("external_id", "pk"))
    return found
