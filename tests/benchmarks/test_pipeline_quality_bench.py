"""benchmarks/pipeline_quality.py --quick runs and prints its one figure line."""

import re
import sys

import pytest

from tests.benchmarks.quick import REPO, run_quick


@pytest.mark.bench
@pytest.mark.data
def test_pipeline_quality_benchmark_quick():
    line = run_quick("pipeline_quality.py", timeout=300, skip_without_data=True)[-1]
    assert re.match(
        r"pipeline_quality ML-1M positives \(200 users, \d+ items, two-tower epochs <= 1\): "
        r"NDCG@10 pipeline [\d.]+ vs ALS [\d.]+ = [\d.]+x \(target >= 1.15x\) (PASS|MISS); "
        r".*two-tower recall@500 [\d.]+ \(target >= 0.6\) (PASS|MISS); "
        r"cold users .* \(target >= 1.5x\) (PASS|MISS); "
        r"hidden items .* in candidates [\d.]+ \(target >= 0.2\) (PASS|MISS)",
        line,
    ), line


def _cold_start_data():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from pipeline_quality import cold_start_data
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return cold_start_data


def test_cold_users_keep_only_their_first_three_and_the_fourth_is_the_target():
    """The protocol is honest: a cold user's 4th interaction (time, then input row: ties
    broken as the pipeline's own ordering does) and everything after it leave the
    training data; the other users keep everything."""
    import numpy as np
    import scipy.sparse as sp

    from recommenders.core.base import InteractionData
    from recommenders.core.two_tower.inputs import Events

    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 40, 30, 8
    rows = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    times = rng.integers(0, 3, size=len(rows)).astype(float)  # many ties
    order = rng.permutation(len(rows))  # input rows in no particular order
    sequence = np.empty(len(rows))
    sequence[order] = np.arange(1, len(rows) + 1)

    def matrix(values):
        return sp.csr_matrix((values, (rows, items)), shape=(n_users, n_items))

    data = InteractionData(
        matrix=matrix(np.ones(len(rows))), timestamps=matrix(times), sequence=matrix(sequence)
    )
    train, cold, targets, hidden = _cold_start_data()(data, 0, 3, seed=0)
    assert len(cold) == 4 and len(hidden) == 0
    full, kept = Events.from_data(data), Events.from_data(train)
    for user in range(n_users):
        mine = full.items[full.user_start[user] : full.user_start[user + 1]]
        left = kept.items[kept.user_start[user] : kept.user_start[user + 1]]
        if user in cold:
            assert left.tolist() == mine[:3].tolist()
            assert targets[np.searchsorted(cold, user)] == mine[3]
        else:
            assert left.tolist() == mine.tolist()
