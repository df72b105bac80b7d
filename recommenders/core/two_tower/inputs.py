"""Inputs of the two towers, built from an :class:`InteractionData` with numpy only.

Every categorical input is an integer index whose 0 means "unknown": an item or user
id beyond the fitted ones, an attribute value never seen in training, an empty history
slot, an unknown hour. New users and new items therefore go through the same code path
as known ones, with their id slot set to 0.

Strings (text tokens, context values) are hashed with CRC-32 so that the mapping is
stable across processes and needs no vocabulary (the "hashing trick", Weinberger et al.
2009, "Feature hashing for large scale multitask learning").
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData, ItemFeatures, UserFeatures

TOKEN_PATTERN = re.compile(r"[a-z0-9]+")
N_HOURS = 24
N_WEEKDAYS = 7
# keys of the request context that are hashed into the context embedding
CONTEXT_KEYS = ("device", "surface", "campaign")
N_POPULARITY_BUCKETS = 16


def stable_hash(text: str, n_buckets: int) -> int:
    """CRC-32 of ``text`` mod ``n_buckets - 1``, plus 1 (0 stays the padding slot)."""
    return 1 + zlib.crc32(text.encode("utf-8")) % (n_buckets - 1)


def tokenize_hashed(texts: list[str] | None, n_items: int, n_buckets: int, max_tokens: int):
    """Hashed unigram token ids per item, padded with 0: an n_items x max_tokens int32 array.

    Tokens are lower-cased alphanumeric runs; each distinct token of an item is kept once
    (a binary bag, the TF part of TF-IDF is ~1 on titles) and the IDF weighting is
    learned by the embedding norms.
    """
    tokens = np.zeros((n_items, max_tokens), dtype=np.int32)
    if texts is None:
        return tokens
    cache: dict[str, int] = {}
    for row, text in enumerate(texts):
        seen: list[int] = []
        for token in TOKEN_PATTERN.findall((text or "").lower()):
            bucket = cache.get(token)
            if bucket is None:
                bucket = cache[token] = stable_hash(token, n_buckets)
            if bucket not in seen:
                seen.append(bucket)
            if len(seen) == max_tokens:
                break
        tokens[row, : len(seen)] = seen
    return tokens


def popularity_bucket(counts: np.ndarray) -> np.ndarray:
    """0 for no interactions, else 1 + floor(log2(count)) capped at N_POPULARITY_BUCKETS-1."""
    counts = np.asarray(counts, dtype=np.float64)
    buckets = np.zeros(len(counts), dtype=np.int64)
    positive = counts > 0
    buckets[positive] = 1 + np.floor(np.log2(counts[positive])).astype(np.int64)
    return np.minimum(buckets, N_POPULARITY_BUCKETS - 1)


@dataclass
class ItemInputs:
    """Item-tower inputs for n items (aligned with the item axis)."""

    ids: np.ndarray  # n, int64: item index + 1, 0 = unknown (new item)
    categories: sp.csr_matrix  # n x n_categories, rows sum to 1 (or 0)
    tokens: np.ndarray  # n x max_tokens, int32 hashed ids, 0 = padding
    numeric: np.ndarray  # n x n_numeric, float32, standardised, NaN -> 0
    popularity: np.ndarray  # n, int64 bucket, 0 = none

    def take(self, rows: np.ndarray) -> ItemInputs:
        return ItemInputs(
            self.ids[rows],
            self.categories[rows],
            self.tokens[rows],
            self.numeric[rows],
            self.popularity[rows],
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class ItemEncoding:
    """How raw item features become :class:`ItemInputs` (fitted on the training catalogue)."""

    n_categories: int = 0
    numeric_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    numeric_std: np.ndarray = field(default_factory=lambda: np.ones(0, np.float32))
    text_buckets: int = 1 << 14
    max_tokens: int = 16

    @classmethod
    def fit(cls, features: ItemFeatures | None, text_buckets: int, max_tokens: int):
        encoding = cls(text_buckets=text_buckets, max_tokens=max_tokens)
        if features is None:
            return encoding
        if features.categories is not None:
            encoding.n_categories = features.categories.shape[1]
        if features.numeric is not None and features.numeric.size:
            values = np.asarray(features.numeric, dtype=np.float64)
            mean = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0)
            std = np.nanstd(np.where(np.isfinite(values), values, np.nan), axis=0)
            encoding.numeric_mean = np.nan_to_num(mean).astype(np.float32)
            encoding.numeric_std = np.where(np.nan_to_num(std) > 0, std, 1.0).astype(np.float32)
        return encoding

    def transform(
        self,
        features: ItemFeatures | None,
        n_items: int,
        counts: np.ndarray,
        first_index: int | None,
    ) -> ItemInputs:
        """Inputs for ``n_items`` items; ``first_index`` is the index of the first one among
        the trained items (so its id slot is index + 1), or None for new items (id slot 0).
        Items without interactions (``counts`` 0) also get the id slot 0.
        """
        if first_index is None:
            ids = np.zeros(n_items, dtype=np.int64)
        else:
            ids = np.arange(first_index + 1, first_index + 1 + n_items, dtype=np.int64)
            # no training interaction, no learned id embedding: place it by its attributes
            ids[np.asarray(counts)[:n_items] <= 0] = 0
        categories = sp.csr_matrix((n_items, self.n_categories), dtype=np.float32)
        if features is not None and features.categories is not None and self.n_categories:
            raw = sp.csr_matrix(features.categories, dtype=np.float32)
            raw = raw[:, : self.n_categories]
            if raw.shape[1] < self.n_categories:
                raw = sp.hstack([raw, sp.csr_matrix((n_items, self.n_categories - raw.shape[1]))])
            row_sum = np.asarray(raw.sum(axis=1)).ravel()
            categories = sp.csr_matrix(
                sp.diags(np.where(row_sum > 0, 1.0 / np.maximum(row_sum, 1e-12), 0.0)) @ raw,
                dtype=np.float32,
            )
        texts = features.texts if features is not None else None
        tokens = tokenize_hashed(texts, n_items, self.text_buckets, self.max_tokens)
        n_numeric = len(self.numeric_mean)
        numeric = np.zeros((n_items, n_numeric), dtype=np.float32)
        if features is not None and features.numeric is not None and n_numeric:
            raw_numeric = np.asarray(features.numeric, dtype=np.float32)[:, :n_numeric]
            z = (raw_numeric - self.numeric_mean) / self.numeric_std
            numeric[:, : z.shape[1]] = np.clip(np.nan_to_num(z, nan=0.0), -5.0, 5.0)
        return ItemInputs(ids, categories, tokens, numeric, popularity_bucket(counts))


@dataclass
class UserEncoding:
    """Vocabularies of the user attributes: value -> code (1-based, 0 = unknown) per name."""

    vocabularies: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def fit(cls, features: UserFeatures | None, max_values: int) -> UserEncoding:
        vocabularies: dict[str, dict[str, int]] = {}
        if features is not None:
            for name in sorted(features.attributes):
                values, counts = np.unique(
                    np.asarray(features.attributes[name], dtype=str), return_counts=True
                )
                order = np.lexsort((values, -counts))[:max_values]
                kept = [str(values[i]) for i in order if str(values[i]) != ""]
                vocabularies[name] = {value: code + 1 for code, value in enumerate(sorted(kept))}
        return cls(vocabularies)

    @property
    def offsets(self) -> dict[str, int]:
        """Start row of each attribute in the one shared attribute table (row 0 = padding)."""
        offsets, start = {}, 1
        for name, vocabulary in self.vocabularies.items():
            offsets[name] = start
            start += len(vocabulary)
        return offsets

    @property
    def n_rows(self) -> int:
        return 1 + sum(len(v) for v in self.vocabularies.values())

    def encode(self, attributes: dict[str, str] | None) -> np.ndarray:
        """Rows of the attribute table for one user (0 where unknown)."""
        attributes = attributes or {}
        rows = np.zeros(len(self.vocabularies), dtype=np.int64)
        for slot, (name, start) in enumerate(self.offsets.items()):
            code = self.vocabularies[name].get(str(attributes.get(name, "")), 0)
            rows[slot] = start + code - 1 if code else 0
        return rows

    def encode_all(self, features: UserFeatures | None, n_users: int) -> np.ndarray:
        """n_users x n_attributes rows of the attribute table (0 where unknown)."""
        rows = np.zeros((n_users, len(self.vocabularies)), dtype=np.int64)
        if features is None:
            return rows
        for slot, (name, start) in enumerate(self.offsets.items()):
            values = features.attributes.get(name)
            if values is None:
                continue
            vocabulary = self.vocabularies[name]
            codes = np.array([vocabulary.get(str(v), 0) for v in values[:n_users]])
            rows[: len(codes), slot] = np.where(codes > 0, start + codes - 1, 0)
        return rows


def context_rows(context: dict | None, n_buckets: int) -> np.ndarray:
    """Hashed rows of the context table for the categorical context values (0 = absent)."""
    context = context or {}
    rows = np.zeros(len(CONTEXT_KEYS), dtype=np.int64)
    for slot, key in enumerate(CONTEXT_KEYS):
        value = context.get(key)
        if value not in (None, ""):
            rows[slot] = stable_hash(f"{key}={value}", n_buckets)
    return rows


def hour_weekday(timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC hour (1..24) and weekday (1..7, Monday = 1) of unix seconds; 0 where unknown."""
    ts = np.asarray(timestamps, dtype=np.float64)
    known = np.isfinite(ts) & (ts > 0)
    seconds = np.where(known, ts, 0).astype(np.int64)
    hour = np.where(known, (seconds // 3600) % 24 + 1, 0)
    # 1970-01-01 was a Thursday (weekday 3 when Monday is 0)
    weekday = np.where(known, (seconds // 86400 + 3) % 7 + 1, 0)
    return hour.astype(np.int64), weekday.astype(np.int64)


@dataclass
class Events:
    """Every interaction as an event, sorted by user then time (ties: later input row last)."""

    users: np.ndarray  # n_events, int64
    items: np.ndarray  # n_events, int64
    timestamps: np.ndarray  # n_events, float64 (0 when the data has none)
    user_start: np.ndarray  # n_users + 1 offsets into the event arrays

    @classmethod
    def from_data(cls, data: InteractionData) -> Events:
        coo = data.matrix.tocoo()
        keep = coo.data != 0
        users, items = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
        ts = np.zeros(len(users))
        seq = np.zeros(len(users))
        if data.timestamps is not None:
            ts = _aligned_values(data.timestamps, data.matrix)[keep]
        if data.sequence is not None:
            seq = _aligned_values(data.sequence, data.matrix)[keep]
        order = np.lexsort((items, seq, ts, users))
        users, items, ts = users[order], items[order], ts[order]
        user_start = np.searchsorted(users, np.arange(data.n_users + 1)).astype(np.int64)
        return cls(users, items, ts, user_start)

    def positions(self) -> np.ndarray:
        """Position of each event within its user's sequence (0 = first)."""
        return np.arange(len(self.users)) - self.user_start[self.users]

    def histories(self, length: int, rows: np.ndarray | None = None) -> np.ndarray:
        """For events ``rows``: the ids (index + 1) of the ``length`` previous items of the
        same user, most recent first, 0-padded: a len(rows) x length int64 array."""
        rows = np.arange(len(self.users)) if rows is None else rows
        position = rows - self.user_start[self.users[rows]]
        out = np.zeros((len(rows), length), dtype=np.int64)
        for back in range(1, length + 1):
            valid = position >= back
            out[valid, back - 1] = self.items[rows[valid] - back] + 1
        return out

    def latest_histories(self, user_indices: np.ndarray, length: int) -> np.ndarray:
        """The ``length`` latest items (ids, most recent first) of each user, 0-padded."""
        ends = self.user_start[np.asarray(user_indices) + 1]
        counts = ends - self.user_start[np.asarray(user_indices)]
        out = np.zeros((len(ends), length), dtype=np.int64)
        for back in range(1, length + 1):
            valid = counts >= back
            out[valid, back - 1] = self.items[ends[valid] - back] + 1
        return out


def _aligned_values(extra: sp.csr_matrix, matrix: sp.csr_matrix) -> np.ndarray:
    """Values of ``extra`` at the nonzero pattern of ``matrix``, in matrix.tocoo() order."""
    if (
        extra.nnz == matrix.nnz
        and np.array_equal(extra.indptr, matrix.indptr)
        and np.array_equal(extra.indices, matrix.indices)
    ):
        return extra.data.astype(np.float64)
    coo = matrix.tocoo()
    return np.asarray(extra[coo.row, coo.col]).ravel().astype(np.float64)
