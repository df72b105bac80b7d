"""A small planted catalogue for the serving and training tests.

Two disjoint taste groups: users ``a0..`` interact only with items ``A0..`` (category
"Alpha"), users ``b0..`` only with items ``B0..`` (category "Beta"). A model that works
recommends within the user's group; every list is checkable by its first letter.
"""

from __future__ import annotations

import numpy as np

from recommenders.models import RecommenderConfig
from recommenders.services.catalog import (
    InteractionColumns,
    ItemRecord,
    UserRecord,
    do_load_interactions,
    do_load_items,
    do_load_user_profiles,
)

N_ITEMS_PER_GROUP = 12
N_USERS_PER_GROUP = 15
START = 1_700_000_000.0


def load_planted_catalogue(seed: int = 0) -> None:
    """Items, users and about 6 interactions per user, in two disjoint groups."""
    rng = np.random.default_rng(seed)
    items, users, rows = [], [], []
    for group, category in (("A", "Alpha"), ("B", "Beta")):
        items += [
            ItemRecord(f"{group}{i}", title=f"{category} {i}", categories=[category])
            for i in range(N_ITEMS_PER_GROUP)
        ]
        for u in range(N_USERS_PER_GROUP):
            user_id = f"{group.lower()}{u}"
            users.append(UserRecord(user_id))
            # popularity within the group: low item numbers are more popular
            weights = 1.0 / (1.0 + np.arange(N_ITEMS_PER_GROUP))
            chosen = rng.choice(N_ITEMS_PER_GROUP, 6, replace=False, p=weights / weights.sum())
            for position, item in enumerate(chosen):
                rows.append((user_id, f"{group}{item}", START + u * 1000 + position * 10))
    do_load_items(items)
    do_load_user_profiles(users)
    user_ids, item_ids, timestamps = zip(*rows, strict=True)
    do_load_interactions(InteractionColumns(user_ids, item_ids, timestamps))


def make_config(name: str, algorithm: str = "popular", **fields) -> RecommenderConfig:
    return RecommenderConfig.objects.create(name=name, algorithm=algorithm, **fields)
