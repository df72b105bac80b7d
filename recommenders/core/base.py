"""The one interface every recommender implements, and the data it is fitted on.

Pure module: numpy and scipy only (torch is imported lazily by the models that need it).
Every model is fitted on an :class:`InteractionData` (a users x items sparse matrix with
optional timestamps and side features), answers batched top-k queries in item indices
(``recommend``) and one serving request (``recommend_one``: the model's ranking or cold
start, then the business rules, once).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.cold_start import cold_start_candidates
from recommenders.core.item_catalogue import ItemCatalogue
from recommenders.core.rules import Rules, apply_rules

# One served list: (item index, score, source), best first.
Served = list[tuple[int, float, str]]
CANDIDATE_MARGIN = 50  # extra candidates asked of a model so the rules can drop some, fill k


@dataclass
class ItemFeatures:
    """Side information per item, aligned with the item axis of the matrix."""

    categories: sp.csr_matrix | None = None  # n_items x n_categories, 0/1
    category_names: list[str] = field(default_factory=list)
    texts: list[str] | None = None  # free text per item (title, description)
    numeric: np.ndarray | None = None  # n_items x n_numeric, raw values (NaN = unknown)
    numeric_names: list[str] = field(default_factory=list)
    creators: np.ndarray | None = None  # n_items, creator id as str ("" unknown)
    created_at: np.ndarray | None = None  # n_items, unix seconds (NaN unknown)


@dataclass
class UserFeatures:
    """Side information per user: categorical attributes as arrays of strings."""

    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # name -> n_users str


@dataclass
class InteractionData:
    """A users x items interaction matrix and what goes with it.

    ``matrix`` holds the interaction strength (1 for implicit positives, counts, or
    ratings); ``timestamps`` has the same sparsity pattern and holds unix seconds of the
    latest interaction of each pair.
    """

    matrix: sp.csr_matrix
    timestamps: sp.csr_matrix | None = None
    user_ids: np.ndarray | None = None  # external ids, index -> id
    item_ids: np.ndarray | None = None
    item_features: ItemFeatures | None = None
    user_features: UserFeatures | None = None
    # input row number of the latest interaction of each pair (same pattern as ``matrix``):
    # breaks timestamp ties in the evaluation protocols ("the later row wins")
    sequence: sp.csr_matrix | None = None

    def __post_init__(self) -> None:
        self.matrix = sp.csr_matrix(self.matrix, dtype=np.float32)
        self.matrix.sum_duplicates()
        self.matrix.sort_indices()
        for name in ("timestamps", "sequence"):
            extra = getattr(self, name)
            if extra is None:
                continue
            extra = sp.csr_matrix(extra, dtype=np.float64)
            extra.sort_indices()
            if extra.shape != self.matrix.shape:
                raise ValueError(f"{name}: shape differs from the interaction matrix")
            setattr(self, name, extra)

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]


@dataclass
class Recommendations:
    """Top-k lists for a batch of users, best first.

    Rows shorter than k (few items left to recommend) are padded with item index -1 and
    score -inf. ``fallback`` marks rows answered by a fallback (a cold user) rather than
    the model itself.
    """

    item_indices: np.ndarray  # n_users x k, int64
    scores: np.ndarray  # n_users x k, float32
    fallback: np.ndarray | None = None  # n_users, bool


def _top_k_exact(scores: np.ndarray, k: int) -> np.ndarray:
    """The k best columns of each row, ties at the k-th value to the lower index."""
    kth_position = np.argpartition(-scores, k - 1, axis=1)[:, k - 1 : k]
    kth = np.take_along_axis(scores, kth_position, axis=1)
    greater = scores > kth
    equal = scores == kth
    needed = k - greater.sum(axis=1, dtype=np.int32)
    take = greater | (equal & (np.cumsum(equal, axis=1, dtype=np.int32) <= needed[:, None]))
    return np.nonzero(take)[1].reshape(len(scores), k)


def top_k_from_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries of each row, best first.

    Entries equal to -inf (or NaN) are treated as excluded and padded with index -1.
    Ties are broken by the lower item index, also at the k-th place, so results are
    deterministic: one argpartition per row block, and an exact second pass only for
    the rows whose k-th value is tied beyond the partition.
    """
    scores = np.asarray(scores)
    n_rows, n_cols = scores.shape
    k_eff = min(k, n_cols)
    if k_eff == 0 or n_rows == 0:
        return np.full((n_rows, k), -1, np.int64), np.full((n_rows, k), -np.inf, np.float32)
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    idx = np.argpartition(scores, n_cols - k_eff, axis=1)[:, n_cols - k_eff :]
    val = np.take_along_axis(scores, idx, axis=1)
    kth = val.min(axis=1, keepdims=True)
    ambiguous = (scores == kth).sum(axis=1) > (val == kth).sum(axis=1)
    ambiguous &= np.isfinite(kth[:, 0])
    if ambiguous.any():
        idx[ambiguous] = _top_k_exact(scores[ambiguous], k_eff)
        val[ambiguous] = np.take_along_axis(scores[ambiguous], idx[ambiguous], axis=1)
    idx, val = idx.astype(np.int64), val.astype(np.float32)
    order = np.lexsort((idx, -val), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    val = np.take_along_axis(val, order, axis=1)
    idx[~np.isfinite(val)] = -1
    val[idx < 0] = -np.inf
    if k_eff < k:
        idx = np.pad(idx, ((0, 0), (0, k - k_eff)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, k - k_eff)), constant_values=-np.inf)
    return idx, val


class Recommender(ABC):
    """Base class of every model: fit, batched recommend, candidate scoring, save/load.

    Subclasses set ``name`` (the name used on the command line and in configurations),
    declare their hyperparameters with defaults in ``default_params`` and implement
    ``_fit``, ``_score_users`` (a dense users x items score block) and the state
    (de)serialisation hooks. Models whose full score block is too costly may override
    ``recommend`` itself.

    Cold users (an index beyond the fitted matrix, or a row without interactions) are
    answered by global popularity (number of users per item in the training data) and
    flagged in ``Recommendations.fallback``; ``_score_users`` only ever sees warm users.
    A model that cannot run on the plain planted dataset of the contract suite (it needs
    side features) says why in ``contract_skip_reason``.
    """

    name: ClassVar[str]
    default_params: ClassVar[dict[str, Any]] = {}
    contract_skip_reason: ClassVar[str] = ""
    # False for models that rank every user alike (popular, trending)
    personalised: ClassVar[bool] = True
    # "implicit" (positives, counts) or "explicit" (ratings, low ones included)
    feedback: ClassVar[str] = "implicit"
    # users scored per block in recommend(): bounds memory at block x n_items floats
    score_block_users: ClassVar[int] = 2048

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.default_params)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.default_params)}"
            )
        self.params: dict[str, Any] = {**self.default_params, **params}
        self.fit_seconds: float | None = None
        self.seen: sp.csr_matrix | None = None
        self.item_popularity: np.ndarray = np.zeros(0, np.float32)
        self.n_users = 0
        self.n_items = 0

    # --- fitting ---------------------------------------------------------------------
    def fit(self, data: InteractionData) -> Recommender:
        """Fit on ``data``; records ``fit_seconds`` (wall clock, seconds)."""
        started = time.perf_counter()
        self.seen = data.matrix.copy()
        self.seen.data[:] = 1.0
        self.n_users, self.n_items = data.matrix.shape
        self.item_popularity = np.asarray(self.seen.sum(axis=0), dtype=np.float32).ravel()
        self._fit(data)
        self.fit_seconds = time.perf_counter() - started
        return self

    @abstractmethod
    def _fit(self, data: InteractionData) -> None: ...

    @abstractmethod
    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        """Dense scores, len(user_indices) x n_items, higher is better (warm users only)."""

    # --- answering ---------------------------------------------------------------------
    def cold_mask(self, user_indices: np.ndarray) -> np.ndarray:
        """True for users the model cannot answer itself: unknown index or no history."""
        users = np.asarray(user_indices, dtype=np.int64)
        if (users < 0).any():
            raise ValueError("user indices must be non-negative")
        cold = users >= self.n_users
        if self.seen is not None:
            known = ~cold
            counts = np.diff(self.seen.indptr)
            cold[known] = counts[users[known]] == 0
        return cold

    def _scores_with_fallback(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cold = self.cold_mask(users)
        scores = np.empty((len(users), self.n_items), dtype=np.float32)
        if cold.any():
            scores[cold] = self.item_popularity
        if (~cold).any():
            scores[~cold] = self._score_users(users[~cold])
        return scores, cold

    def recommend(
        self, user_indices: np.ndarray | list[int], k: int, exclude_seen: bool = True
    ) -> Recommendations:
        """Top-k item indices and scores for each user, best first.

        Raises ValueError for k <= 0 or a negative user index. Rows of cold users are
        ranked by popularity and flagged in ``fallback``.
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        users = np.asarray(user_indices, dtype=np.int64).ravel()
        idx = np.full((len(users), k), -1, np.int64)
        val = np.full((len(users), k), -np.inf, np.float32)
        fallback = np.zeros(len(users), dtype=bool)
        for start in range(0, len(users), self.score_block_users):
            block = users[start : start + self.score_block_users]
            scores, cold = self._scores_with_fallback(block)
            if exclude_seen:
                mask_seen(scores, self.seen, block)
            end = start + len(block)
            idx[start:end], val[start:end] = top_k_from_scores(scores, k)
            fallback[start:end] = cold
        return Recommendations(idx, val, fallback)

    def recommend_one(
        self,
        user_index: int | None = None,
        k: int = 10,
        context: dict[str, Any] | None = None,
        history: list[int] | None = None,
        preferences: dict[str, Any] | None = None,
        rules: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
        catalogue: ItemCatalogue | None = None,
    ) -> Served:
        """One serving request: up to k ``(item_index, score, source)``, best first.

        A user the model knows (``user_index`` in the fitted data, with a history) is
        ranked by :meth:`recommend` (``k + CANDIDATE_MARGIN`` unseen items, source
        ``model``, the model's scores); any other user by
        :func:`~recommenders.core.cold_start.cold_start_candidates` on ``preferences``
        (``{"items": [item index, ...], "categories": [name, ...]}``). The list then passes
        :func:`~recommenders.core.rules.apply_rules` once, under ``rules`` (a rules dict in
        item-index terms, see :mod:`recommenders.core.rules`; None: the model's ``rules``
        parameter, if it has one) over ``catalogue`` (None: :meth:`item_catalogue`).

        ``context``, ``history`` and ``attributes`` are for models that use them (the
        pipeline); this default ignores them, and ignores the ranking rules (freshness,
        trusted creators, MMR), which act on relevance shares.
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        catalogue = self.item_catalogue() if catalogue is None else catalogue
        parsed = Rules.from_dict(
            self.params.get("rules") if rules is None else rules, catalogue.category_names
        )
        n = k + CANDIDATE_MARGIN
        if user_index is not None and not bool(self.cold_mask(np.array([user_index]))[0]):
            recs = self.recommend([user_index], n, exclude_seen=True)
            found = recs.item_indices[0] >= 0
            items, scores = recs.item_indices[0][found], recs.scores[0][found]
            sources = ["model"] * len(items)
        else:
            items, scores, sources = cold_start_candidates(catalogue, preferences or {}, n)
        kept = apply_rules(items, k, parsed, catalogue.categories)
        return [(int(items[p]), float(scores[p]), sources[p]) for p in kept.tolist()]

    def item_catalogue(self) -> ItemCatalogue:
        """What the model itself knows about its items: popularity (no categories)."""
        return ItemCatalogue.without_categories(self.item_popularity)

    def score(self, user_index: int, item_indices: np.ndarray | list[int]) -> np.ndarray:
        """Scores of the given candidate items for one user (popularity if cold)."""
        items = np.asarray(item_indices, dtype=np.int64)
        scores, _ = self._scores_with_fallback(np.array([user_index], dtype=np.int64))
        return scores[0, items]

    # --- persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``model.json`` (name, params, fit_seconds) and the state to a folder."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"name": self.name, "params": self.params, "fit_seconds": self.fit_seconds}
        (folder / "model.json").write_text(json.dumps(meta, indent=2))
        if self.seen is not None:
            sp.save_npz(folder / "seen.npz", self.seen)
        np.save(folder / "item_popularity.npy", self.item_popularity)
        self._save_state(folder)

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Rebuild a model saved by :meth:`save`."""
        folder = Path(path)
        meta = json.loads((folder / "model.json").read_text())
        model = cls(**meta["params"])
        model.fit_seconds = meta["fit_seconds"]
        seen_file = folder / "seen.npz"
        if seen_file.exists():
            model.seen = sp.csr_matrix(sp.load_npz(seen_file))
            model.n_users, model.n_items = model.seen.shape
        popularity_file = folder / "item_popularity.npy"
        if popularity_file.exists():
            model.item_popularity = np.load(popularity_file)
        model._load_state(folder)
        return model

    @abstractmethod
    def _save_state(self, folder: Path) -> None: ...

    @abstractmethod
    def _load_state(self, folder: Path) -> None: ...


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix | None, users: np.ndarray) -> None:
    """Set the scores of each user's already-seen items to -inf, in place."""
    if seen is None or len(users) == 0:
        return
    known = users < seen.shape[0]
    # The rows' column indices read straight from the CSR arrays: slicing rows of a sparse
    # matrix costs more than the scoring itself for one user.
    starts, ends = seen.indptr[users[known]], seen.indptr[users[known] + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return
    row_positions = np.repeat(np.flatnonzero(known), lengths)
    offsets = np.arange(total) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    scores[row_positions, seen.indices[offsets]] = -np.inf
