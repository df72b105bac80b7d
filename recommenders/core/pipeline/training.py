"""Training data of the ranker: labels held out from the training interactions."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData
from recommenders.core.evaluation.splits import select_entries
from recommenders.core.two_tower.inputs import Events


def ranker_split(
    data: InteractionData, light_share: float, seed: int
) -> tuple[InteractionData, sp.csr_matrix]:
    """(training part, labels users x items) for the ranker: every user's latest interaction
    is a label; a seeded ``light_share`` of the users with >= 10 interactions keep only
    their first L (uniform in 1..8) and their (L+1)-th is the label, the rest dropped."""
    events = Events.from_data(data)
    counts = np.diff(events.user_start)
    position = events.positions()
    cut = counts.copy() - 1  # the label's position; drop positions >= cut
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(counts >= 10)
    light = rng.choice(eligible, int(round(light_share * len(eligible))), replace=False)
    cut[light] = rng.integers(1, 9, size=len(light))
    cut[counts < 2] = counts[counts < 2]  # a user with one interaction keeps it, no label
    is_label = position == cut[events.users]
    dropped = position >= cut[events.users]
    shape = data.matrix.shape
    labels = sp.csr_matrix(
        (np.ones(is_label.sum(), np.float32), (events.users[is_label], events.items[is_label])),
        shape=shape,
    )
    drop_keys = events.users[dropped] * shape[1] + events.items[dropped]
    m = data.matrix
    rows = np.repeat(np.arange(shape[0]), np.diff(m.indptr))
    keep = ~np.isin(rows * shape[1] + m.indices, drop_keys)
    return select_entries(data, keep), labels
