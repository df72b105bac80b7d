"""The feature store: per-user and per-item features materialised offline as numpy arrays.

One store belongs to one model version; it is saved with the version's artifacts
(``feature_store.npz`` + ``feature_store.json``) and read into memory once per process.
Cross features (user x item) are computed at request time from these tables.

Trending is a time-decayed count (half-life h days), kept per day so that it can be read
at any reference time t (the request's, or a user's last interaction offline)::

    trend_i(d) = sum_{events e of i, day(e) <= d} 2^{-(d - day(e)) / h}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData
from recommenders.core.two_tower.inputs import Events

SECONDS_PER_DAY = 86400.0
# user attributes with at most this many values become one-hot ranking features
MAX_ONE_HOT_VALUES = 24


@dataclass
class FeatureStore:
    """Materialised user and item features of one model version."""

    item_categories: sp.csr_matrix  # n_items x n_categories, 0/1
    category_names: list[str]
    item_count: np.ndarray  # n_items, users who interacted
    item_mean_value: np.ndarray  # n_items, mean interaction value (rating) or 0
    item_first_seen: np.ndarray  # n_items, unix seconds: created_at, else first interaction
    item_creator: np.ndarray  # n_items, creator code (0 unknown)
    creator_names: list[str]
    trend_daily: np.ndarray  # n_trend_items x n_days, float32 (see module docstring)
    first_day: int  # unix day of trend_daily's column 0
    user_count: np.ndarray  # n_users
    user_last_ts: np.ndarray  # n_users, unix seconds (0 unknown)
    user_category_affinity: np.ndarray  # n_users x n_categories, shares summing to 1
    user_attr_codes: np.ndarray  # n_users x n_attributes, 1-based codes, 0 unknown
    attribute_values: dict[str, list[str]] = field(default_factory=dict)
    user_creator_counts: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    reference_ts: float = 0.0  # latest timestamp of the data

    @property
    def n_items(self) -> int:
        return len(self.item_count)

    @property
    def n_categories(self) -> int:
        return self.item_categories.shape[1]

    # --- materialisation ------------------------------------------------------------
    @classmethod
    def materialise(cls, data: InteractionData, half_life_days: float) -> FeatureStore:
        """Compute every table from ``data`` (vectorised)."""
        seen = data.matrix.copy()
        seen.data[:] = 1.0
        events = Events.from_data(data)
        item_categories = _item_categories(data)
        counts = np.asarray(seen.sum(axis=0)).ravel().astype(np.float32)
        value_sum = np.asarray(data.matrix.sum(axis=0)).ravel()
        mean_value = (value_sum / np.maximum(counts, 1)).astype(np.float32)
        first_seen = _first_seen(data, events)
        creators, creator_names = _creators(data)
        trend, first_day = _trend_daily(events, data.n_items, half_life_days)
        user_count = np.asarray(seen.sum(axis=1)).ravel().astype(np.float32)
        last = events.user_start[1:] - 1
        has = np.diff(events.user_start) > 0
        user_last_ts = np.where(has, events.timestamps[np.maximum(last, 0)], 0.0)
        affinity = np.asarray((seen @ item_categories).todense(), dtype=np.float32)
        affinity /= np.maximum(affinity.sum(axis=1, keepdims=True), 1e-12)
        codes, values = _attribute_codes(data)
        creator_matrix = sp.csr_matrix(
            (np.ones(len(creators)), (np.arange(len(creators)), creators)),
            shape=(len(creators), len(creator_names) + 1),
        )
        return cls(
            item_categories=item_categories,
            category_names=list(data.item_features.category_names) if data.item_features else [],
            item_count=counts,
            item_mean_value=mean_value,
            item_first_seen=first_seen,
            item_creator=creators,
            creator_names=creator_names,
            trend_daily=trend,
            first_day=first_day,
            user_count=user_count,
            user_last_ts=user_last_ts,
            user_category_affinity=affinity,
            user_attr_codes=codes,
            attribute_values=values,
            user_creator_counts=sp.csr_matrix(seen @ creator_matrix, dtype=np.float32),
            reference_ts=float(events.timestamps.max()) if len(events.timestamps) else 0.0,
        )

    # --- reads ----------------------------------------------------------------------
    def trend_at(self, items: np.ndarray, timestamp: float) -> np.ndarray:
        """Decayed counts of ``items`` on the day of ``timestamp`` (0 for untracked items)."""
        n_days = self.trend_daily.shape[1]
        day = int(np.clip(int(timestamp // SECONDS_PER_DAY) - self.first_day, 0, n_days - 1))
        out = np.zeros(len(items), dtype=np.float32)
        tracked = items < len(self.trend_daily)
        out[tracked] = self.trend_daily[items[tracked], day]
        return out

    def trend_column(self, timestamp: float) -> np.ndarray:
        """Trending scores of every tracked item on the day of ``timestamp``."""
        n_days = self.trend_daily.shape[1]
        day = int(np.clip(int(timestamp // SECONDS_PER_DAY) - self.first_day, 0, n_days - 1))
        return self.trend_daily[:, day]

    def encode_attributes(self, attributes: dict[str, str] | None) -> np.ndarray:
        """1-based codes of a user's attributes in this store's vocabularies (0 unknown)."""
        attributes = attributes or {}
        codes = np.zeros(len(self.attribute_values), dtype=np.int64)
        for slot, (name, values) in enumerate(self.attribute_values.items()):
            value = str(attributes.get(name, ""))
            codes[slot] = values.index(value) + 1 if value in values else 0
        return codes

    def add_items(self, categories: sp.csr_matrix, created_at: np.ndarray) -> None:
        """Append new items (no interactions yet): categories and creation times."""
        n_new = categories.shape[0]
        cats = sp.csr_matrix(categories, dtype=np.float32)[:, : self.n_categories]
        if cats.shape[1] < self.n_categories:
            cats.resize((n_new, self.n_categories))
        self.item_categories = sp.vstack([self.item_categories, cats]).tocsr()
        self.item_count = np.concatenate([self.item_count, np.zeros(n_new, np.float32)])
        self.item_mean_value = np.concatenate([self.item_mean_value, np.zeros(n_new, np.float32)])
        self.item_first_seen = np.concatenate([self.item_first_seen, created_at])
        self.item_creator = np.concatenate([self.item_creator, np.zeros(n_new, np.int64)])

    # --- persistence ----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        arrays = {
            name: getattr(self, name)
            for name in (
                "item_count",
                "item_mean_value",
                "item_first_seen",
                "item_creator",
                "trend_daily",
                "user_count",
                "user_last_ts",
                "user_category_affinity",
                "user_attr_codes",
            )
        }
        np.savez(folder / "feature_store.npz", **arrays)
        sp.save_npz(folder / "feature_store_categories.npz", self.item_categories)
        sp.save_npz(folder / "feature_store_user_creators.npz", self.user_creator_counts)
        meta = {
            "category_names": self.category_names,
            "creator_names": self.creator_names,
            "first_day": self.first_day,
            "attribute_values": self.attribute_values,
            "reference_ts": self.reference_ts,
        }
        (folder / "feature_store.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> FeatureStore:
        meta = json.loads((folder / "feature_store.json").read_text())
        with np.load(folder / "feature_store.npz") as arrays:
            tables = {name: arrays[name] for name in arrays.files}
        return cls(
            item_categories=sp.csr_matrix(sp.load_npz(folder / "feature_store_categories.npz")),
            user_creator_counts=sp.csr_matrix(
                sp.load_npz(folder / "feature_store_user_creators.npz")
            ),
            **tables,
            **meta,
        )


def _item_categories(data: InteractionData) -> sp.csr_matrix:
    features = data.item_features
    if features is None or features.categories is None:
        return sp.csr_matrix((data.n_items, 0), dtype=np.float32)
    cats = sp.csr_matrix(features.categories, dtype=np.float32)
    cats.data[:] = 1.0
    return cats


def _first_seen(data: InteractionData, events: Events) -> np.ndarray:
    first = np.full(data.n_items, np.nan)
    if len(events.items):
        order = np.lexsort((events.timestamps, events.items))
        items_sorted = events.items[order]
        starts = np.flatnonzero(np.r_[True, items_sorted[1:] != items_sorted[:-1]])
        first[items_sorted[starts]] = events.timestamps[order][starts]
    features = data.item_features
    if features is not None and features.created_at is not None:
        created = np.asarray(features.created_at, dtype=np.float64)
        first = np.where(np.isfinite(created), created, first)
    return first


def _creators(data: InteractionData) -> tuple[np.ndarray, list[str]]:
    features = data.item_features
    if features is None or features.creators is None:
        return np.zeros(data.n_items, dtype=np.int64), []
    raw = np.asarray(features.creators, dtype=str)
    names = sorted(set(raw.tolist()) - {""})
    lookup = {name: code + 1 for code, name in enumerate(names)}
    return np.array([lookup.get(c, 0) for c in raw], dtype=np.int64), names


def _trend_daily(events: Events, n_items: int, half_life_days: float) -> tuple[np.ndarray, int]:
    """Daily decayed cumulative counts (n_items x n_days) and the first day."""
    if not len(events.items) or not events.timestamps.any():
        return np.zeros((n_items, 1), np.float32), 0
    days = (events.timestamps // SECONDS_PER_DAY).astype(np.int64)
    first_day = int(days.min())
    n_days = int(days.max()) - first_day + 1
    counts = sp.csr_matrix(
        (np.ones(len(days), np.float32), (events.items, days - first_day)), shape=(n_items, n_days)
    ).toarray()
    decay = np.float32(2.0 ** (-1.0 / half_life_days))
    trend = np.empty_like(counts)
    running = np.zeros(n_items, np.float32)
    for day in range(n_days):  # a recurrence over days, vectorised over items
        running = running * decay + counts[:, day]
        trend[:, day] = running
    return trend, first_day


def _attribute_codes(data: InteractionData) -> tuple[np.ndarray, dict[str, list[str]]]:
    features = data.user_features
    if features is None:
        return np.zeros((data.n_users, 0), np.int64), {}
    values: dict[str, list[str]] = {}
    columns = []
    for name in sorted(features.attributes):
        raw = np.asarray(features.attributes[name], dtype=str)
        distinct = sorted(set(raw.tolist()) - {""})
        if not distinct or len(distinct) > MAX_ONE_HOT_VALUES:
            continue
        values[name] = distinct
        lookup = {value: code + 1 for code, value in enumerate(distinct)}
        columns.append(np.array([lookup.get(v, 0) for v in raw], dtype=np.int64))
    codes = np.stack(columns, axis=1) if columns else np.zeros((data.n_users, 0), np.int64)
    return codes, values
