"""Reads of the catalogue: the training snapshot of interactions, and lookups by external id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.db.models import FloatField, Func, QuerySet

from recommenders.core.base import InteractionData, ItemFeatures, UserFeatures
from recommenders.models import Interaction, Item, UserProfile
from writebehind import bulk

__all__ = [
    "UnixSeconds",
    "blocked_item_external_ids",
    "catalog_counts",
    "interaction_data_snapshot",
    "item_by_external_id",
    "items_by_external_ids",
    "recent_item_external_ids",
    "user_profile_by_external_id",
    "user_profiles_by_external_ids",
]

LOOKUP_CHUNK = 900  # ids per IN (...) query, below SQLite's oldest variable limit


class UnixSeconds(Func):
    """A datetime column as float unix seconds, computed in the database.

    Spares building one Python ``datetime`` per row when half a million are read.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC. julianday() is a double
        # (about 10 microseconds of resolution today): rounded to milliseconds. Not
        # strftime('%s'): the backend would take its "%s" for a query placeholder.
        template = "ROUND((julianday(%(expressions)s) - 2440587.5) * 86400.0, 3)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_mysql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return self.as_sql(
            compiler, connection, template="UNIX_TIMESTAMP(%(expressions)s)", **extra
        )


def interaction_data_snapshot(
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Sequence[str] | None = None,
    *,
    include_features: bool = True,
) -> InteractionData:
    """Every user and item of the catalogue, and the interactions in [since, until).

    The matrix is users x items in primary-key order (``user_ids``/``item_ids`` map an
    index to the external id); a cell holds the sum of the values of the pair's
    interactions of the selected ``kinds`` (all kinds when None), ``timestamps`` the unix
    seconds of the pair's latest interaction and ``sequence`` that interaction's primary
    key (later rows win ties of time). Users and items without interactions in the window
    keep their (empty) rows and columns, so content models can still score new items.
    """
    user_pks, user_ids = _pks_and_ids(UserProfile.objects.all())
    item_pks, item_ids = _pks_and_ids(Item.objects.all())
    queryset = _interactions_in(since, until, kinds)
    raw = bulk.read_number_columns(
        queryset.values_list("user_id", "item_id", "value", UnixSeconds("timestamp"), "id"),
        ("int", "int", "float", "float", "int"),
    )
    rows = _positions(user_pks, raw[:, 0].astype(np.int64))
    cols = _positions(item_pks, raw[:, 1].astype(np.int64))
    resolved = (rows >= 0) & (cols >= 0)  # the table has no database foreign keys
    raw, rows, cols = raw[resolved], rows[resolved], cols[resolved]
    shape = (len(user_pks), len(item_pks))
    matrix = sp.csr_matrix((raw[:, 2], (rows, cols)), shape=shape)
    timestamps, sequence = _latest_per_pair(rows, cols, raw[:, 3], raw[:, 4], shape)
    return InteractionData(
        matrix=matrix,
        timestamps=timestamps,
        sequence=sequence,
        user_ids=user_ids,
        item_ids=item_ids,
        item_features=_item_features() if include_features else None,
        user_features=_user_features() if include_features else None,
    )


def _interactions_in(
    since: datetime | None, until: datetime | None, kinds: Sequence[str] | None
) -> QuerySet:
    queryset = Interaction.objects.order_by()
    if since is not None:
        queryset = queryset.filter(timestamp__gte=since)
    if until is not None:
        queryset = queryset.filter(timestamp__lt=until)
    if kinds is not None:
        unknown = set(kinds) - set(Interaction.Kind.values)
        if unknown:
            raise ValueError(
                f"unknown interaction kind(s) {sorted(unknown)}; "
                f"known: {sorted(Interaction.Kind.values)}"
            )
        queryset = queryset.filter(kind__in=list(kinds))
    return queryset


def _pks_and_ids(queryset: QuerySet) -> tuple[np.ndarray, np.ndarray]:
    pairs = list(queryset.order_by("pk").values_list("pk", "external_id"))
    pks = np.fromiter((p for p, _ in pairs), np.int64, len(pairs))
    external_ids = np.array([e for _, e in pairs], dtype=object)
    return pks, external_ids


def _positions(sorted_pks: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each key in ``sorted_pks``, -1 where it is absent."""
    if len(sorted_pks) == 0:
        return np.full(len(keys), -1, np.int64)
    positions = np.searchsorted(sorted_pks, keys)
    found = sorted_pks[np.minimum(positions, len(sorted_pks) - 1)] == keys
    return np.where(found, positions, -1)


def _latest_per_pair(
    rows: np.ndarray,
    cols: np.ndarray,
    seconds: np.ndarray,
    row_pks: np.ndarray,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Timestamps and primary keys of the latest interaction of each (user, item) pair."""
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.lexsort((row_pks, seconds, key))
    key_sorted = key[order]
    last = order[np.append(key_sorted[1:] != key_sorted[:-1], True)] if len(key) else order
    timestamps = sp.csr_matrix((seconds[last], (rows[last], cols[last])), shape=shape)
    sequence = sp.csr_matrix((row_pks[last], (rows[last], cols[last])), shape=shape)
    return timestamps, sequence


def _item_features() -> ItemFeatures:
    """Categories one-hot, title + text, numeric attributes, creators, creation times."""
    rows = list(
        Item.objects.order_by("pk").values_list(
            "categories", "title", "text", "year", "price", "attributes", "creator", "created_at"
        )
    )
    category_names = sorted({str(c) for row in rows for c in (row[0] or [])})
    category_index = {name: j for j, name in enumerate(category_names)}
    cat_rows, cat_cols = [], []
    for i, row in enumerate(rows):
        for name in {str(c) for c in (row[0] or [])}:
            cat_rows.append(i)
            cat_cols.append(category_index[name])
    categories = sp.csr_matrix(
        (np.ones(len(cat_rows), np.float32), (cat_rows, cat_cols)),
        shape=(len(rows), len(category_names)),
    )
    attribute_names = sorted(
        {
            name
            for row in rows
            for name, value in (row[5] or {}).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
    )
    numeric_names = ["year", "price", *attribute_names]
    numeric = np.full((len(rows), len(numeric_names)), np.nan)
    for i, row in enumerate(rows):
        numeric[i, 0] = np.nan if row[3] is None else row[3]
        numeric[i, 1] = np.nan if row[4] is None else float(row[4])
        for j, name in enumerate(attribute_names, start=2):
            value = (row[5] or {}).get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                numeric[i, j] = value
    return ItemFeatures(
        categories=categories,
        category_names=category_names,
        texts=[f"{row[1]}. {row[2]}" if row[2] else row[1] for row in rows],
        numeric=numeric,
        numeric_names=numeric_names,
        creators=np.array([row[6] for row in rows], dtype=object),
        created_at=np.array([row[7].timestamp() for row in rows], dtype=np.float64),
    )


def _user_features() -> UserFeatures:
    """Demographics and signup context as arrays of strings ("" unknown)."""
    rows = list(
        UserProfile.objects.order_by("pk").values_list(
            "age_band", "gender", "occupation", "region", "signup_context"
        )
    )
    names = ("age_band", "gender", "occupation", "region")
    attributes = {
        name: np.array([row[j] for row in rows], dtype=object) for j, name in enumerate(names)
    }
    for key in ("surface", "campaign"):
        attributes[f"signup_{key}"] = np.array(
            [str((row[4] or {}).get(key, "")) for row in rows], dtype=object
        )
    return UserFeatures(attributes=attributes)


# --- lookups ----------------------------------------------------------------------------------
def item_by_external_id(external_id: str) -> Item | None:
    """The item with this external id, or None."""
    return Item.objects.filter(external_id=external_id).first()


def items_by_external_ids(external_ids: Iterable[str]) -> dict[str, Item]:
    """Items by external id; ids not in the catalogue are absent from the result."""
    return _by_external_ids(Item.objects.all(), external_ids)


def user_profile_by_external_id(external_id: str) -> UserProfile | None:
    """The user profile with this external id, or None."""
    return UserProfile.objects.filter(external_id=external_id).first()


def user_profiles_by_external_ids(external_ids: Iterable[str]) -> dict[str, UserProfile]:
    """User profiles by external id; unknown ids are absent from the result."""
    return _by_external_ids(UserProfile.objects.all(), external_ids)


def _by_external_ids(queryset: QuerySet, external_ids: Iterable[str]) -> dict[str, Any]:
    wanted = list(dict.fromkeys(str(e) for e in external_ids))
    found: dict[str, Any] = {}
    for lo in range(0, len(wanted), LOOKUP_CHUNK):
        for obj in queryset.filter(external_id__in=wanted[lo : lo + LOOKUP_CHUNK]):
            found[obj.external_id] = obj
    return found


def blocked_item_external_ids() -> set[str]:
    """External ids of the items the content policy blocks."""
    return set(Item.objects.filter(is_blocked=True).values_list("external_id", flat=True))


def recent_item_external_ids(
    user_external_id: str, limit: int = 50, kinds: Sequence[str] | None = None
) -> list[str]:
    """The items a user interacted with most recently, latest first, without repeats."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    queryset = Interaction.objects.filter(user__external_id=user_external_id)
    if kinds is not None:
        queryset = queryset.filter(kind__in=list(kinds))
    # fetch a few times the limit: repeated interactions with one item collapse below
    recent = queryset.order_by("-timestamp", "-id").values_list("item__external_id", flat=True)
    return list(dict.fromkeys(recent[: limit * 4]))[:limit]


def catalog_counts() -> dict[str, int]:
    """How many items, user profiles and interactions the catalogue holds."""
    return {
        "items": Item.objects.count(),
        "users": UserProfile.objects.count(),
        "interactions": Interaction.objects.count(),
    }
