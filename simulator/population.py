"""A population of users and items with latent tastes: generated, or fitted from ratings.

The true attraction of item ``i`` for user ``u`` (the probability that the user clicks the
item once they have examined it) is

    a(u, i) = sigmoid(base_logit + taste_scale * <p_u, q_i> + b_i)

with user factors ``p_u``, item factors ``q_i`` (``dim`` components, each of unit variance over
the population of scores) and an item popularity bias ``b_i``. Generated populations draw the
factors from N(0, 1/dim); fitted ones take a truncated SVD of the binary user-item matrix of a
MovieLens ratings file (Koren, Bell & Volinsky, "Matrix factorization techniques for
recommender systems", IEEE Computer 2009), rescaled to the same score variance, so that the
population's tastes have MovieLens' structure while the click model stays the one below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COUNTRIES = np.array(["US", "GB", "DE", "FR", "BR", "IN"])
COUNTRY_SHARES = np.array([0.4, 0.12, 0.12, 0.1, 0.13, 0.13])
PLATFORMS = np.array(["ios", "android", "web"])
PLATFORM_SHARES = np.array([0.35, 0.4, 0.25])
AGE_GROUPS = np.array(["1", "18", "25", "35", "45", "50", "56"])  # MovieLens-1M's groups
AGE_SHARES = np.array([0.04, 0.18, 0.35, 0.2, 0.09, 0.08, 0.06])


@dataclass(frozen=True)
class Population:
    """Users and items of a simulation; row ``u`` of every user array is user ``u``."""

    user_ids: np.ndarray  # str, external ids sent to the API
    user_factors: np.ndarray  # (users, dim)
    item_ids: np.ndarray  # str, external ids as the platform's catalogue names them
    item_factors: np.ndarray  # (items, dim)
    item_bias: np.ndarray  # (items,) popularity on the logit scale, mean 0
    demographics: dict[str, np.ndarray]  # country, platform, gender, age: one str per user
    sessions_per_day: np.ndarray  # (users,) Poisson rate of sessions, Gamma over users
    watch_scale: np.ndarray  # (users,) multiplier of watch time, log-normal over users
    fitted: bool = False  # tastes fitted from data (fresh users are resampled, not generated)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        if n_users < 1:
            raise ValueError("users: need at least one user")
        if n_items < 1:
            raise ValueError("items: need at least one item")
        if self.user_factors.shape[0] != n_users or self.item_factors.shape[0] != n_items:
            raise ValueError("factors: one row per user and per item")
        if self.user_factors.shape[1] != self.item_factors.shape[1]:
            raise ValueError("factors: users and items need the same dimension")
        self._item_index.update({str(x): i for i, x in enumerate(self.item_ids.tolist())})

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_indices(self, item_ids: list[str]) -> np.ndarray:
        """Rows of the given external item ids; -1 for an id the population does not know
        (a catalogue loaded from elsewhere): the behaviour model treats those as neutral
        items (taste score 0, no popularity bias), so a list of unknown items has the base
        click rate whatever the recommender, and a planted effect is the only difference."""
        index = self._item_index
        return np.array([index.get(x, -1) for x in map(str, item_ids)], dtype=np.int64)

    def attributes(self, user: int) -> dict[str, str]:
        """The user's demographics as assignment targeting attributes."""
        return {name: str(values[user]) for name, values in self.demographics.items()}


def _user_traits(n_users: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "country": rng.choice(COUNTRIES, n_users, p=COUNTRY_SHARES),
        "platform": rng.choice(PLATFORMS, n_users, p=PLATFORM_SHARES),
        "gender": rng.choice(np.array(["F", "M"]), n_users, p=[0.3, 0.7]),
        "age": rng.choice(AGE_GROUPS, n_users, p=AGE_SHARES),
    }


def _activity(n_users: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Gamma(2, 0.75): mean 1.5 sessions a day, a long tail of heavy users.
    sessions = rng.gamma(shape=2.0, scale=0.75, size=n_users)
    watch = rng.lognormal(mean=0.0, sigma=0.5, size=n_users)
    return sessions, watch


def generate_population(
    n_users: int, n_items: int, *, rng: np.random.Generator, dim: int = 8, prefix: str = "sim"
) -> Population:
    """A generated population: user factors N(0, 1/dim) and item factors N(0, 1) (scores of
    unit variance), item bias N(0, 0.8^2), users named
    ``{prefix}-u{n}`` and items ``{prefix}-i{n}``."""
    if n_users < 1 or n_items < 1:
        raise ValueError("users: need at least one user and one item")
    if dim < 1:
        raise ValueError("dim: must be positive")
    sessions, watch = _activity(n_users, rng)
    return Population(
        user_ids=np.array([f"{prefix}-u{u}" for u in range(n_users)]),
        user_factors=rng.normal(0.0, 1.0 / np.sqrt(dim), (n_users, dim)),
        item_ids=np.array([f"{prefix}-i{i}" for i in range(n_items)]),
        item_factors=rng.normal(0.0, 1.0, (n_items, dim)),
        item_bias=rng.normal(0.0, 0.8, n_items),
        demographics=_user_traits(n_users, rng),
        sessions_per_day=sessions,
        watch_scale=watch,
    )


def read_ratings(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, item ids) of a MovieLens ``::`` file or a ``user,item[,...]`` CSV."""
    text = Path(path).read_text(encoding="latin-1")
    sep = "::" if "::" in text[:1000] else ","
    rows = [line.split(sep)[:2] for line in text.splitlines() if line and line[0].isdigit()]
    if not rows:
        raise ValueError(f"data: no ratings found in {path}")
    pairs = np.array(rows)
    return pairs[:, 0], pairs[:, 1]


def fit_population(
    path: Path,
    *,
    rng: np.random.Generator,
    n_users: int | None = None,
    n_items: int = 1000,
    dim: int = 8,
) -> Population:
    """Tastes fitted from a ratings file (every rating counts as a positive).

    The ``n_items`` most rated items are kept; users are sampled (``n_users``, default all)
    and keep their MovieLens ids, so a platform that loaded the same file
    serves items whose true relevance the population knows. Factors: rank-``dim`` truncated
    SVD ``X ~ U S V^T``, users ``U sqrt(S)``, items ``V sqrt(S)``, rescaled so that scores
    ``<p_u, q_i>`` have unit variance; bias: standardised log popularity.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    users, items = read_ratings(path)
    item_names, item_codes, counts = np.unique(items, return_inverse=True, return_counts=True)
    keep = np.argsort(-counts, kind="stable")[:n_items]
    remap = np.full(len(item_names), -1)
    remap[keep] = np.arange(len(keep))
    mask = remap[item_codes] >= 0
    user_names, user_codes = np.unique(users[mask], return_inverse=True)
    if n_users is not None and n_users < len(user_names):
        chosen = np.sort(rng.choice(len(user_names), n_users, replace=False))
    else:
        chosen = np.arange(len(user_names))
    matrix = csr_matrix(
        (np.ones(int(mask.sum())), (user_codes, remap[item_codes[mask]])),
        shape=(len(user_names), len(keep)),
    )
    matrix.data[:] = 1.0
    k = max(1, min(dim, min(matrix.shape) - 1))
    u, s, vt = svds(matrix, k=k, random_state=int(rng.integers(2**31)))
    user_factors = (u * np.sqrt(s))[chosen]
    item_factors = vt.T * np.sqrt(s)
    scale = np.std(user_factors @ item_factors.T) or 1.0
    user_factors = user_factors / np.sqrt(scale)
    item_factors = item_factors / np.sqrt(scale)
    log_pop = np.log(counts[keep].astype(float))
    sessions, watch = _activity(len(chosen), rng)
    return Population(
        user_ids=user_names[chosen].astype(str),
        user_factors=user_factors,
        item_ids=item_names[keep].astype(str),
        item_factors=item_factors,
        item_bias=(log_pop - log_pop.mean()) / (log_pop.std() or 1.0) * 0.8,
        demographics=_user_traits(len(chosen), rng),
        sessions_per_day=sessions,
        watch_scale=watch,
        fitted=True,
    )
