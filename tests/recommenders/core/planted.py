"""A small planted dataset whose right answers are known: two disjoint taste groups.

Users 0..19 (group A) interact only with items 0..14, users 20..39 (group B) only with
items 15..29, each with 7 seeded random items of their group; user 40 has no
interactions (cold). Items carry a category (their group), a text and a year that tell
the groups apart. The explicit variant adds low ratings (1-2) of N_LOW items of the
other group per user and rates the own-group items 4-5: a rating model must learn to
avoid the other group's items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData, ItemFeatures, UserFeatures

N_GROUP_USERS, N_GROUP_ITEMS, ITEMS_PER_USER = 20, 15, 7
N_USERS, N_ITEMS = 2 * N_GROUP_USERS + 1, 2 * N_GROUP_ITEMS
COLD_USER = N_USERS - 1
N_LOW = 6  # low ratings of the other group per user (explicit variant)
WORDS = {0: "space robot laser galaxy", 1: "romance wedding letter garden"}


def user_group(user: int) -> int:
    return int(user >= N_GROUP_USERS)


def item_group(item: np.ndarray) -> np.ndarray:
    return (np.asarray(item) >= N_GROUP_ITEMS).astype(int)


def planted_data(explicit: bool = False, seed: int = 7) -> InteractionData:
    rng = np.random.default_rng(seed)
    rows, cols, values = [], [], []
    for user in range(2 * N_GROUP_USERS):
        group = user_group(user)
        own = rng.choice(N_GROUP_ITEMS, ITEMS_PER_USER, replace=False) + group * N_GROUP_ITEMS
        rows += [user] * ITEMS_PER_USER
        cols += own.tolist()
        values += rng.integers(4, 6, ITEMS_PER_USER).tolist() if explicit else [1] * ITEMS_PER_USER
        if explicit:
            other = rng.choice(N_GROUP_ITEMS, N_LOW, replace=False) + (1 - group) * N_GROUP_ITEMS
            rows += [user] * N_LOW
            cols += other.tolist()
            values += rng.integers(1, 3, N_LOW).tolist()
    rows, cols = np.array(rows), np.array(cols)
    shape = (N_USERS, N_ITEMS)
    times = 1_600_000_000 + rng.permutation(len(rows)) * 3600.0
    groups = item_group(np.arange(N_ITEMS))
    categories = sp.csr_matrix((np.ones(N_ITEMS), (np.arange(N_ITEMS), groups)), shape=(N_ITEMS, 2))
    features = ItemFeatures(
        categories=categories,
        category_names=["sci-fi", "romance"],
        texts=[f"{WORDS[g]} title {i}" for i, g in enumerate(groups)],
        numeric=np.where(groups == 0, 1990.0, 2010.0)[:, None] + np.arange(N_ITEMS)[:, None] % 3,
        numeric_names=["year"],
        creators=np.array([f"studio{g}" for g in groups]),
        created_at=np.full(N_ITEMS, 1_500_000_000.0),
    )
    users = UserFeatures({"segment": np.array(["a"] * 20 + ["b"] * 20 + ["a"])})
    return InteractionData(
        matrix=sp.csr_matrix((np.array(values, float), (rows, cols)), shape=shape),
        timestamps=sp.csr_matrix((times, (rows, cols)), shape=shape),
        user_ids=np.arange(N_USERS) + 1000,
        item_ids=np.arange(N_ITEMS) + 500,
        item_features=features,
        user_features=users,
        sequence=sp.csr_matrix((np.arange(1, len(rows) + 1.0), (rows, cols)), shape=shape),
    )


def shared_data_folder() -> Path:
    """``../shared/data`` beside the repository (SPLITLAB_SHARED_DATA overrides)."""
    import os

    override = os.environ.get("SPLITLAB_SHARED_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
