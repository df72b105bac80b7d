"""``two_tower``: two-tower retrieval as a :class:`Recommender`, with its online fast path.

Offline: the towers are trained (torch, ``train.py``), every item embedding is computed
and an ANN index built over them (``recommenders.core.ann``). Online: the user tower runs
in numpy for one user (no torch, no autograd; a few small matrix products) and the ANN
index returns the nearest items by inner product. A new item is placed by the item tower
from its attributes (:meth:`TwoTowerRecommender.add_items`) and is retrievable at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from recommenders.core.ann import AnnIndex
from recommenders.core.base import InteractionData, ItemFeatures, Recommender
from recommenders.core.two_tower.inputs import (
    CONTEXT_KEYS,
    Events,
    ItemEncoding,
    ItemInputs,
    UserEncoding,
    context_rows,
    hour_weekday,
)
from recommenders.core.two_tower.towers import item_forward_numpy, user_forward_numpy
from recommenders.core.two_tower.train import TrainingLog, TrainingSet, train_towers


class TwoTowerRecommender(Recommender):
    """Two-tower retrieval (Yi et al. 2019) with log-Q corrected in-batch softmax.

    Scores are s(u, i) = <u, v_i> of the L2-normalised tower outputs (cosine). Batch
    ``recommend`` scores the whole catalogue exactly; :meth:`retrieve` goes through the
    ANN index. Parameters: ``dim`` (embedding size), ``hidden`` (tower MLP width),
    ``history_length`` and ``recency_decay`` (pooled recent items, w_j = decay^j),
    ``temperature`` T, ``loss`` (``softmax`` or ``pairwise``), ``log_q_correction``,
    ``batch_size``, ``learning_rate``, ``epochs`` (maximum), ``patience`` (early stopping),
    ``id_dropout``, ``validation_users``/``validation_k`` (early-stopping metric),
    ``device`` (``cpu``, ``cuda`` or ``auto``), ``threads`` (torch intra-op threads while
    training; 1 by default: the ops are small and, on cores shared with other processes,
    more threads mostly wait for each other; 0 = torch's default), ``seed``,
    ``ann`` (index kind, see :class:`AnnIndex`).
    """

    name: ClassVar[str] = "two_tower"
    default_params: ClassVar[dict[str, Any]] = {
        "dim": 64,
        "hidden": 128,
        "history_length": 20,
        "recency_decay": 0.85,
        "temperature": 0.05,
        "loss": "softmax",
        "log_q_correction": True,
        "batch_size": 1024,
        "learning_rate": 0.003,
        "epochs": 10,
        "patience": 2,
        "id_dropout": 0.1,
        "validation_users": 1000,
        "validation_k": 100,
        "text_buckets": 16384,
        "max_tokens": 16,
        "context_buckets": 256,
        "max_attribute_values": 64,
        "device": "cpu",
        "threads": 1,
        "seed": 0,
        "ann": "auto",
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["loss"] not in ("softmax", "pairwise"):
            raise ValueError(f"two_tower: loss must be softmax or pairwise, not {params['loss']}")
        self.tower_params: dict[str, np.ndarray] = {}
        self.item_encoding = ItemEncoding()
        self.user_encoding = UserEncoding()
        self.user_attrs = np.zeros((0, 0), dtype=np.int64)
        self.user_histories = np.zeros((0, self.params["history_length"]), dtype=np.int64)
        self.user_last_timestamp = np.zeros(0)
        self.item_vectors = np.zeros((0, self.params["dim"]), dtype=np.float32)
        self.ann: AnnIndex | None = None
        self.training_log = TrainingLog()

    # --- fitting ---------------------------------------------------------------------
    def _fit(self, data: InteractionData) -> None:
        p = self.params
        self.item_encoding = ItemEncoding.fit(
            data.item_features, p["text_buckets"], p["max_tokens"]
        )
        self.user_encoding = UserEncoding.fit(data.user_features, p["max_attribute_values"])
        self.user_attrs = self.user_encoding.encode_all(data.user_features, data.n_users)
        items = self.item_encoding.transform(
            data.item_features, data.n_items, self.item_popularity, first_index=0
        )
        events = Events.from_data(data)
        sizes = {
            "users": data.n_users,
            "items": data.n_items,
            "attr_rows": self.user_encoding.n_rows,
            "context_buckets": p["context_buckets"],
            "categories": self.item_encoding.n_categories,
            "text_buckets": p["text_buckets"],
            "numeric": len(self.item_encoding.numeric_mean),
        }
        training = TrainingSet(events, self.user_attrs, items, self.seen)
        self.tower_params, self.training_log = train_towers(training, sizes, p)
        self._remember_histories(events, data.n_users)
        self.item_vectors = item_forward_numpy(self.tower_params, items)
        self.build_index()

    def _remember_histories(self, events: Events, n_users: int) -> None:
        users = np.arange(n_users)
        self.user_histories = events.latest_histories(users, self.params["history_length"])
        ends = events.user_start[1:]
        has = ends > events.user_start[:-1]
        self.user_last_timestamp = np.where(has, events.timestamps[np.maximum(ends - 1, 0)], 0.0)

    def refresh(self, data: InteractionData) -> None:
        """Take newer interactions without retraining: histories, popularity, seen items and
        the item vectors (their popularity input changes) are recomputed, the index rebuilt.
        ``data`` must keep the fitted user and item index spaces (it may add users)."""
        if data.n_items != len(self.item_vectors):
            raise ValueError("two_tower.refresh: the item axis differs from the fitted one")
        self.seen = data.matrix.copy()
        self.seen.eliminate_zeros()
        self.seen.data[:] = 1.0
        self.item_popularity = np.asarray(self.seen.sum(axis=0), dtype=np.float32).ravel()
        if data.n_users > len(self.user_attrs):
            extra = data.n_users - len(self.user_attrs)
            self.user_attrs = np.vstack(
                [self.user_attrs, np.zeros((extra, self.user_attrs.shape[1]), np.int64)]
            )
        self.n_users = data.n_users
        self._remember_histories(Events.from_data(data), data.n_users)
        items = self.item_encoding.transform(
            data.item_features, data.n_items, self.item_popularity, first_index=0
        )
        self.item_vectors = item_forward_numpy(self.tower_params, items)
        self.build_index()

    def build_index(self, queries: np.ndarray | None = None) -> AnnIndex:
        """(Re)build the ANN index over ``item_vectors``; queries default to user vectors."""
        if queries is None and self.n_users:
            rng = np.random.default_rng(self.params["seed"])
            sample = rng.choice(self.n_users, size=min(256, self.n_users), replace=False)
            queries = self.user_vectors(np.sort(sample))
        self.ann = AnnIndex.build(
            self.item_vectors, self.params["ann"], queries, seed=self.params["seed"]
        )
        return self.ann

    # --- the user tower --------------------------------------------------------------
    def user_vectors(self, user_indices: np.ndarray) -> np.ndarray:
        """Vectors of known users from their training history and the time of their last
        interaction (hour, weekday), as used by batch ``recommend``."""
        users = np.asarray(user_indices, dtype=np.int64)
        hour, weekday = hour_weekday(self.user_last_timestamp[users])
        return user_forward_numpy(
            self.tower_params,
            self._uid_slots(users),
            self.user_attrs[users],
            self.user_histories[users],
            hour,
            weekday,
            np.zeros((len(users), len(CONTEXT_KEYS)), dtype=np.int64),
            self.params["recency_decay"],
        )

    def user_vector(
        self,
        user_index: int | None = None,
        history: list[int] | np.ndarray | None = None,
        context: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
    ) -> np.ndarray:
        """One user's vector (d,), the online fast path (numpy, no torch).

        ``user_index``: a fitted user, or None / an unknown index for a new user.
        ``history``: item indices, oldest first (None: the fitted history of a known user).
        ``context``: ``timestamp`` (unix seconds) or ``hour`` (0-23) and ``weekday``
        (0 = Monday), plus categorical ``device``, ``surface``, ``campaign``.
        ``attributes``: demographics by name (None: the fitted ones of a known user).
        """
        known = user_index is not None and 0 <= user_index < self.n_users
        length = self.params["history_length"]
        if history is None:
            ids = self.user_histories[user_index] if known else np.zeros(length, np.int64)
        else:
            recent = np.asarray(history, dtype=np.int64)[::-1][:length]
            recent = np.where((recent >= 0) & (recent < self.n_items), recent + 1, 0)
            ids = np.zeros(length, np.int64)
            ids[: len(recent)] = recent
        if attributes is None and known:
            attrs = self.user_attrs[user_index]
        else:
            attrs = self.user_encoding.encode(attributes)
        hour, weekday = _context_time(context)
        return user_forward_numpy(
            self.tower_params,
            self._uid_slots(np.array([user_index if known else -1])),
            attrs[None, :],
            ids[None, :],
            np.array([hour]),
            np.array([weekday]),
            context_rows(context, self.params["context_buckets"])[None, :],
            self.params["recency_decay"],
        )[0]

    def _uid_slots(self, users: np.ndarray) -> np.ndarray:
        """Row of the user-id table: index + 1 for users trained with an id, else 0."""
        n_trained = len(self.tower_params["uid_emb"]) - 1
        return np.where((users >= 0) & (users < n_trained), users + 1, 0)

    def retrieve(self, vector: np.ndarray, k: int, exclude: np.ndarray | None = None):
        """ANN top-k (scores, item indices) of a user vector, ``exclude`` removed."""
        if self.ann is None:
            raise RuntimeError("two_tower: no ANN index; fit or load the model first")
        exclude = np.zeros(0, np.int64) if exclude is None else exclude
        return self.ann.search_excluding(vector, k, exclude)

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return self.user_vectors(user_indices) @ self.item_vectors.T

    # --- new items -------------------------------------------------------------------
    def add_items(self, features: ItemFeatures, n_new: int) -> np.ndarray:
        """Place ``n_new`` new items by the item tower from their attributes alone (id and
        popularity slots "unknown") and add them to the index; returns their indices."""
        inputs: ItemInputs = self.item_encoding.transform(
            features, n_new, np.zeros(n_new), first_index=None
        )
        vectors = item_forward_numpy(self.tower_params, inputs)
        first = len(self.item_vectors)
        self.item_vectors = np.vstack([self.item_vectors, vectors])
        if self.ann is not None:
            self.ann.add(vectors)
        self.item_popularity = np.concatenate([self.item_popularity, np.zeros(n_new, np.float32)])
        self.n_items = len(self.item_vectors)
        if self.seen is not None:
            self.seen.resize((self.seen.shape[0], self.n_items))
        return np.arange(first, self.n_items)

    # --- persistence ------------------------------------------------------------------
    def _save_state(self, folder: Path) -> None:
        np.savez(folder / "towers.npz", **self.tower_params)
        np.savez(
            folder / "two_tower_state.npz",
            user_attrs=self.user_attrs,
            user_histories=self.user_histories,
            user_last_timestamp=self.user_last_timestamp,
            item_vectors=self.item_vectors,
            numeric_mean=self.item_encoding.numeric_mean,
            numeric_std=self.item_encoding.numeric_std,
        )
        meta = {
            "n_categories": self.item_encoding.n_categories,
            "vocabularies": self.user_encoding.vocabularies,
            "training_log": self.training_log.__dict__,
        }
        (folder / "two_tower.json").write_text(json.dumps(meta))
        if self.ann is not None:
            self.ann.save(folder)

    def _load_state(self, folder: Path) -> None:
        with np.load(folder / "towers.npz") as towers:
            self.tower_params = {name: towers[name] for name in towers.files}
        meta = json.loads((folder / "two_tower.json").read_text())
        with np.load(folder / "two_tower_state.npz") as state:
            self.user_attrs = state["user_attrs"]
            self.user_histories = state["user_histories"]
            self.user_last_timestamp = state["user_last_timestamp"]
            self.item_vectors = state["item_vectors"]
            self.item_encoding = ItemEncoding(
                meta["n_categories"],
                state["numeric_mean"],
                state["numeric_std"],
                self.params["text_buckets"],
                self.params["max_tokens"],
            )
        self.user_encoding = UserEncoding(meta["vocabularies"])
        self.training_log = TrainingLog(**meta["training_log"])
        self.n_items = len(self.item_vectors)
        if (folder / "ann.json").exists():
            self.ann = AnnIndex.load(folder)


def _context_time(context: dict[str, Any] | None) -> tuple[int, int]:
    """(hour + 1, weekday + 1) from a request context; 0 where unknown."""
    context = context or {}
    if context.get("timestamp") is not None:
        hour, weekday = hour_weekday(np.array([float(context["timestamp"])]))
        return int(hour[0]), int(weekday[0])
    hour = int(context["hour"]) + 1 if context.get("hour") is not None else 0
    weekday = int(context["weekday"]) + 1 if context.get("weekday") is not None else 0
    return hour, weekday
