"""A generated demo dataset: users with latent tastes over genres, items with genres and text.

Pure module (numpy only), deterministic under its seed, used by ``load_demo_data`` (for
``make run``) and by tests that need data with a known structure but no database.

The generative story:

* each item belongs to 1-3 genres, has a creator who mostly works in one genre, a title and
  a short text made of genre words, a year, a price and a runtime, and a base popularity
  drawn from a log-normal distribution (a long tail);
* each user has a taste vector over genres drawn from a sparse Dirichlet (most users like
  two or three genres), demographics, a signup context, and states at onboarding the two
  genres they like most;
* a user's affinity for an item is ``taste . genres(item)`` (item genres normalised to sum 1);
  the user interacts with ``n_u`` distinct items, ``n_u`` log-normal with mean about
  ``mean_interactions_per_user``, drawn without replacement with probability proportional
  to ``(affinity + epsilon) ** sharpness * popularity`` (Gumbel top-k sampling);
* every interaction is a view; a share becomes clicks, some of those ratings (1-5, higher
  for higher affinity) and purchases; timestamps increase within the window ending at
  ``end_unix_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommenders.core.base import InteractionData, ItemFeatures, UserFeatures

GENRES: tuple[str, ...] = (
    "Action",
    "Comedy",
    "Drama",
    "Documentary",
    "Horror",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "Animation",
    "Fantasy",
    "Crime",
    "Music",
)

# Words that the titles and texts of each genre are made of: content models find the genre
# in the text as well as in the categories.
GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "Action": ("chase", "explosion", "mission", "fight", "hero", "rescue"),
    "Comedy": ("laugh", "wedding", "mixup", "prank", "holiday", "roommates"),
    "Drama": ("family", "loss", "courage", "secret", "letter", "winter"),
    "Documentary": ("history", "nature", "inside", "journey", "truth", "ocean"),
    "Horror": ("haunted", "night", "blood", "curse", "cellar", "whispers"),
    "Romance": ("love", "kiss", "paris", "summer", "heart", "promise"),
    "Sci-Fi": ("galaxy", "robot", "future", "planet", "signal", "android"),
    "Thriller": ("conspiracy", "witness", "spy", "deadline", "shadow", "alibi"),
    "Animation": ("dragon", "toys", "forest", "friends", "magic", "island"),
    "Fantasy": ("kingdom", "sword", "wizard", "quest", "crown", "legend"),
    "Crime": ("heist", "detective", "gang", "murder", "city", "trial"),
    "Music": ("band", "song", "stage", "tour", "rhythm", "concert"),
}
TITLE_ADJECTIVES = ("Silent", "Last", "Golden", "Broken", "Hidden", "Endless", "Crimson", "Lost")
AGE_BANDS = ("under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
GENDERS = ("F", "M", "X")
OCCUPATIONS = ("student", "engineer", "artist", "educator", "healthcare", "sales", "retired")
REGIONS = ("north", "south", "east", "west", "central")
SURFACES = ("web", "ios", "android", "tv")
CAMPAIGNS = ("organic", "search", "social", "referral")

# 2026-01-01T00:00:00Z: the default end of the demo's time window, so that the data do not
# depend on the day they are generated.
DEFAULT_END_UNIX_SECONDS = 1_767_225_600.0
SECONDS_PER_DAY = 86_400.0
# items created inside the window (fresh content) appear in its first this-many days
DEFAULT_WINDOW_FRESH_DAYS = 60.0


@dataclass(frozen=True)
class DemoItem:
    """An item of the demo catalogue (external id, metadata and side features)."""

    external_id: str
    title: str
    categories: tuple[str, ...]
    text: str
    year: int
    price: float
    attributes: dict[str, float]
    creator: str
    created_at_unix_seconds: float


@dataclass(frozen=True)
class DemoUser:
    """A demo user: demographics, signup context and stated preferences."""

    external_id: str
    age_band: str
    gender: str
    occupation: str
    region: str
    signup_context: dict[str, str]
    preferences: dict[str, list[str]]
    created_at_unix_seconds: float


@dataclass
class DemoDataset:
    """Users, items and interactions (as columns) plus the latent structure behind them.

    ``user_tastes`` (n_users x n_genres, rows sum to 1) and ``item_genres`` (n_items x
    n_genres, 0/1) are the ground truth a test can check recommendations against.
    Interactions are sorted by timestamp.
    """

    users: list[DemoUser]
    items: list[DemoItem]
    interaction_user_ids: np.ndarray  # external ids, str
    interaction_item_ids: np.ndarray
    interaction_kinds: np.ndarray  # "view", "click", "rating", "purchase"
    interaction_values: np.ndarray  # float64: 1, or the rating
    interaction_timestamps: np.ndarray  # float64 unix seconds
    user_tastes: np.ndarray
    item_genres: np.ndarray
    genres: tuple[str, ...] = GENRES
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_interactions(self) -> int:
        return len(self.interaction_user_ids)

    def to_interaction_data(self, kinds: tuple[str, ...] | None = None) -> InteractionData:
        """The core's :class:`InteractionData`: one cell per (user, item), value = count of
        the selected interaction kinds, latest timestamp, with item and user features."""
        keep = (
            np.ones(self.n_interactions, bool)
            if kinds is None
            else np.isin(self.interaction_kinds, list(kinds))
        )
        user_index = {u.external_id: i for i, u in enumerate(self.users)}
        item_index = {it.external_id: i for i, it in enumerate(self.items)}
        rows = np.array([user_index[u] for u in self.interaction_user_ids[keep]], np.int64)
        cols = np.array([item_index[i] for i in self.interaction_item_ids[keep]], np.int64)
        shape = (len(self.users), len(self.items))
        matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
        stamps = self.interaction_timestamps[keep]
        sequence = np.flatnonzero(keep).astype(np.float64)
        # keep the latest timestamp (and row) per pair: rows are sorted by time, so the
        # last occurrence of each pair wins
        key = rows * shape[1] + cols
        _, last = np.unique(key[::-1], return_index=True)
        last = len(key) - 1 - last
        timestamps = sp.csr_matrix((stamps[last], (rows[last], cols[last])), shape=shape)
        seq = sp.csr_matrix((sequence[last] + 1.0, (rows[last], cols[last])), shape=shape)
        return InteractionData(
            matrix=matrix,
            timestamps=timestamps,
            user_ids=np.array([u.external_id for u in self.users], dtype=object),
            item_ids=np.array([it.external_id for it in self.items], dtype=object),
            item_features=self.item_features(),
            user_features=self.user_features(),
            sequence=seq,
        )

    def item_features(self) -> ItemFeatures:
        """Categories (one-hot), texts, numeric attributes, creators and creation times."""
        numeric_names = ["year", "price", "runtime_minutes"]
        numeric = np.array(
            [[it.year, it.price, it.attributes["runtime_minutes"]] for it in self.items],
            dtype=np.float64,
        ).reshape(len(self.items), len(numeric_names))
        return ItemFeatures(
            categories=sp.csr_matrix(self.item_genres.astype(np.float32)),
            category_names=list(self.genres),
            texts=[f"{it.title}. {it.text}" for it in self.items],
            numeric=numeric,
            numeric_names=numeric_names,
            creators=np.array([it.creator for it in self.items], dtype=object),
            created_at=np.array([it.created_at_unix_seconds for it in self.items]),
        )

    def user_features(self) -> UserFeatures:
        """Categorical user attributes as arrays of strings, aligned with ``users``."""
        names = ("age_band", "gender", "occupation", "region")
        attributes = {
            name: np.array([getattr(u, name) for u in self.users], dtype=object) for name in names
        }
        attributes["signup_surface"] = np.array(
            [u.signup_context["surface"] for u in self.users], dtype=object
        )
        attributes["signup_campaign"] = np.array(
            [u.signup_context["campaign"] for u in self.users], dtype=object
        )
        return UserFeatures(attributes=attributes)


def generate_demo_dataset(
    n_users: int = 500,
    n_items: int = 300,
    seed: int = 0,
    *,
    mean_interactions_per_user: float = 25.0,
    window_days: float = 90.0,
    end_unix_seconds: float = DEFAULT_END_UNIX_SECONDS,
    taste_concentration: float = 0.25,
    sharpness: float = 3.0,
) -> DemoDataset:
    """Generate the demo dataset (see the module docstring for the generative story).

    Same arguments, same dataset: every random draw comes from one
    ``numpy.random.default_rng(seed)``. ``taste_concentration`` is the Dirichlet alpha of
    the users' tastes (smaller: narrower tastes); ``sharpness`` the exponent on affinity.
    """
    if n_users <= 0 or n_items <= 0:
        raise ValueError(f"n_users and n_items must be positive, got {n_users} and {n_items}")
    if mean_interactions_per_user <= 0 or window_days <= 0:
        raise ValueError("mean_interactions_per_user and window_days must be positive")
    rng = np.random.default_rng(seed)
    start = end_unix_seconds - window_days * SECONDS_PER_DAY
    item_genres, items = _generate_items(rng, n_items, start)
    tastes = rng.dirichlet(np.full(len(GENRES), taste_concentration), size=n_users)
    users = _generate_users(rng, tastes, start)
    columns = _generate_interactions(
        rng,
        tastes,
        item_genres,
        items,
        users,
        mean_interactions_per_user,
        start,
        end_unix_seconds,
        sharpness,
    )
    params = {
        "n_users": n_users,
        "n_items": n_items,
        "seed": seed,
        "mean_interactions_per_user": mean_interactions_per_user,
        "window_days": window_days,
        "end_unix_seconds": end_unix_seconds,
        "taste_concentration": taste_concentration,
        "sharpness": sharpness,
    }
    return DemoDataset(users, items, *columns, tastes, item_genres, GENRES, params)


def _generate_items(
    rng: np.random.Generator, n_items: int, start: float
) -> tuple[np.ndarray, list[DemoItem]]:
    n_genres = len(GENRES)
    n_creators = max(1, n_items // 8)
    creator_genre = rng.integers(0, n_genres, size=n_creators)
    creator_of_item = rng.integers(0, n_creators, size=n_items)
    item_genres = np.zeros((n_items, n_genres), np.int8)
    # the creator's genre first, then up to two others
    item_genres[np.arange(n_items), creator_genre[creator_of_item]] = 1
    extra_count = rng.choice(3, size=n_items, p=[0.4, 0.4, 0.2])
    for extra in (1, 2):
        chosen = extra_count >= extra
        item_genres[np.flatnonzero(chosen), rng.integers(0, n_genres, chosen.sum())] = 1
    years = rng.integers(1970, 2026, size=n_items)
    prices = np.round(rng.gamma(2.0, 4.0, size=n_items) + 0.99, 2)
    runtimes = np.round(rng.normal(105.0, 18.0, size=n_items).clip(60, 200))
    # a few items are new in the window (fresh content), the rest predate it
    created = np.where(
        rng.random(n_items) < 0.1,
        start + rng.random(n_items) * (DEFAULT_WINDOW_FRESH_DAYS * SECONDS_PER_DAY),
        start - rng.random(n_items) * 365 * SECONDS_PER_DAY,
    )
    word_picks = rng.integers(0, 6, size=(n_items, 4))
    adjective_picks = rng.integers(0, len(TITLE_ADJECTIVES), size=n_items)
    items = []
    for i in range(n_items):
        genres = tuple(GENRES[g] for g in np.flatnonzero(item_genres[i]))
        main_words = GENRE_WORDS[genres[0]]
        words = [GENRE_WORDS[genres[j % len(genres)]][word_picks[i, j]] for j in range(4)]
        title = f"The {TITLE_ADJECTIVES[adjective_picks[i]]} {main_words[word_picks[i, 0]].title()}"
        text = f"A {' and '.join(g.lower() for g in genres)} story of {', '.join(words)}."
        items.append(
            DemoItem(
                external_id=f"i{i + 1:05d}",
                title=title,
                categories=genres,
                text=text,
                year=int(years[i]),
                price=float(prices[i]),
                attributes={"runtime_minutes": float(runtimes[i])},
                creator=f"studio-{creator_of_item[i] + 1:03d}",
                created_at_unix_seconds=float(created[i]),
            )
        )
    return item_genres, items


def _generate_users(rng: np.random.Generator, tastes: np.ndarray, start: float) -> list[DemoUser]:
    n_users = len(tastes)
    picks = {
        "age_band": rng.integers(0, len(AGE_BANDS), n_users),
        "gender": rng.integers(0, len(GENDERS), n_users),
        "occupation": rng.integers(0, len(OCCUPATIONS), n_users),
        "region": rng.integers(0, len(REGIONS), n_users),
        "surface": rng.integers(0, len(SURFACES), n_users),
        "campaign": rng.integers(0, len(CAMPAIGNS), n_users),
    }
    signup = start - rng.random(n_users) * 180 * SECONDS_PER_DAY
    top_two = np.argsort(-tastes, axis=1, kind="stable")[:, :2]
    return [
        DemoUser(
            external_id=f"u{u + 1:05d}",
            age_band=AGE_BANDS[picks["age_band"][u]],
            gender=GENDERS[picks["gender"][u]],
            occupation=OCCUPATIONS[picks["occupation"][u]],
            region=REGIONS[picks["region"][u]],
            signup_context={
                "surface": SURFACES[picks["surface"][u]],
                "campaign": CAMPAIGNS[picks["campaign"][u]],
            },
            preferences={"categories": [GENRES[g] for g in top_two[u]], "items": []},
            created_at_unix_seconds=float(signup[u]),
        )
        for u in range(n_users)
    ]


def _generate_interactions(
    rng: np.random.Generator,
    tastes: np.ndarray,
    item_genres: np.ndarray,
    items: list[DemoItem],
    users: list[DemoUser],
    mean_per_user: float,
    start: float,
    end: float,
    sharpness: float,
) -> tuple[np.ndarray, ...]:
    n_users, n_items = len(tastes), len(items)
    popularity = rng.lognormal(0.0, 1.0, size=n_items)
    genre_share = item_genres / item_genres.sum(axis=1, keepdims=True)
    created = np.array([it.created_at_unix_seconds for it in items])
    # log-normal counts with the requested mean (sigma 0.6), at least 3, at most the catalogue
    sigma = 0.6
    counts = rng.lognormal(np.log(mean_per_user) - sigma**2 / 2, sigma, size=n_users)
    counts = np.clip(np.round(counts), 3, n_items).astype(np.int64)
    rows, cols, affinities = [], [], []
    block = max(1, 2_000_000 // n_items)  # bounds the dense block at ~2M floats
    for lo in range(0, n_users, block):
        hi = min(n_users, lo + block)
        affinity = tastes[lo:hi] @ genre_share.T
        log_weight = sharpness * np.log(affinity + 0.02) + np.log(popularity)
        gumbel = -np.log(-np.log(rng.random((hi - lo, n_items))))
        order = np.argsort(-(log_weight + gumbel), axis=1, kind="stable")
        for u in range(lo, hi):
            chosen = order[u - lo, : counts[u]]
            rows.append(np.full(len(chosen), u, np.int64))
            cols.append(chosen)
            affinities.append(affinity[u - lo, chosen])
    user_idx = np.concatenate(rows)
    item_idx = np.concatenate(cols)
    affinity = np.concatenate(affinities)
    # a view somewhere in the window, never before the item existed
    earliest = np.maximum(start, created[item_idx])
    view_time = np.floor(earliest + rng.random(len(item_idx)) * (end - earliest))
    click = rng.random(len(item_idx)) < 0.35 + 0.5 * affinity
    rated = click & (rng.random(len(item_idx)) < 0.5)
    bought = click & (rng.random(len(item_idx)) < 0.1 + 0.2 * affinity)
    rating = np.clip(np.round(1.0 + 4.0 * affinity + rng.normal(0, 0.7, len(item_idx))), 1, 5)
    delays = rng.integers(5, 600, size=(3, len(item_idx))).astype(np.float64)
    parts = [
        (np.ones_like(click), "view", np.ones(len(item_idx)), view_time),
        (click, "click", np.ones(len(item_idx)), view_time + delays[0]),
        (rated, "rating", rating, view_time + delays[0] + delays[1]),
        (bought, "purchase", np.ones(len(item_idx)), view_time + delays[0] + delays[2]),
    ]
    user_ids = np.array([u.external_id for u in users], dtype=object)
    item_ids = np.array([it.external_id for it in items], dtype=object)
    u_all, i_all, k_all, v_all, t_all = [], [], [], [], []
    for mask, kind, values, times in parts:
        u_all.append(user_idx[mask])
        i_all.append(item_idx[mask])
        k_all.append(np.full(int(mask.sum()), kind, dtype=object))
        v_all.append(values[mask].astype(np.float64))
        t_all.append(np.minimum(times[mask], end))
    timestamps = np.concatenate(t_all)
    order = np.argsort(timestamps, kind="stable")
    return (
        user_ids[np.concatenate(u_all)[order]],
        item_ids[np.concatenate(i_all)[order]],
        np.concatenate(k_all)[order],
        np.concatenate(v_all)[order],
        timestamps[order],
    )
