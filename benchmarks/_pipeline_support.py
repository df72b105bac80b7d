"""Shared helpers of the pipeline benchmarks: ML-1M positives, user subsets, verdicts."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the repository before this folder: benchmarks/recommenders.py would shadow the package
if str(REPO) in sys.path:
    sys.path.remove(str(REPO))
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from recommenders.core.base import InteractionData, UserFeatures  # noqa: E402


def ml1m_ratings_path(override: str | None = None) -> Path:
    """The ML-1M positives file: --data, else $SPLITLAB_SHARED_DATA, else ../shared/data."""
    if override:
        return Path(override)
    shared = os.environ.get("SPLITLAB_SHARED_DATA")
    base = Path(shared) if shared else REPO.parent / "shared" / "data"
    return base / "ml-1m" / "ratings_ge4_complete.dat"


def load_ml1m(path: Path, n_users: int | None = None, seed: int = 0) -> InteractionData:
    """ML-1M positives as implicit feedback; ``n_users`` keeps a seeded subset of users."""
    from recommenders.core.datasets import load_dataset

    if not path.exists():
        print(f"{path}: not found (set --data or SPLITLAB_SHARED_DATA)", file=sys.stderr)
        raise SystemExit(2)
    data = load_dataset(path, binary=True)
    if n_users is None or n_users >= data.n_users:
        return data
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(data.n_users, n_users, replace=False))
    return subset_users(data, keep)


def subset_users(data: InteractionData, users: np.ndarray) -> InteractionData:
    """The same data restricted to ``users`` (rows re-indexed 0..len-1, items kept)."""
    features = data.user_features
    if features is not None:
        features = UserFeatures({k: v[users] for k, v in features.attributes.items()})
    return replace(
        data,
        matrix=data.matrix[users],
        timestamps=None if data.timestamps is None else data.timestamps[users],
        sequence=None if data.sequence is None else data.sequence[users],
        user_ids=None if data.user_ids is None else data.user_ids[users],
        user_features=features,
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def limit_threads(n: int = 1) -> None:
    """Single-request latency: one BLAS/OpenMP thread (set before numpy/torch/faiss work)."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(n))
