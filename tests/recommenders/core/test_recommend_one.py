"""One serving request on the planted dataset: every model's ``recommend_one``, the cold
start of users without a history, and a configuration's rules in item-index terms.

Planted: items 0-14 are sci-fi and liked by group A (users 0-19), items 15-29 romance and
liked by group B (users 20-39); user 40 has no history.
"""

from __future__ import annotations

import numpy as np
import pytest

from recommenders.core.cold_start import cold_start_candidates
from recommenders.core.item_catalogue import ItemCatalogue, rules_by_index
from recommenders.core.registry import create_model
from tests.recommenders.core.planted import COLD_USER, N_GROUP_ITEMS, N_ITEMS, planted_data

SCI_FI, ROMANCE = list(range(N_GROUP_ITEMS)), list(range(N_GROUP_ITEMS, N_ITEMS))


def catalogue(popularity: np.ndarray | None = None) -> ItemCatalogue:
    lists = [["sci-fi"] if i < N_GROUP_ITEMS else ["romance"] for i in range(N_ITEMS)]
    lists[3] = ["sci-fi", "classic"]
    if popularity is None:  # item i has popularity i: the most popular is the last one
        popularity = np.arange(N_ITEMS, dtype=np.float64)
    return ItemCatalogue.from_category_lists(lists, popularity)


def test_catalogue_from_category_lists():
    built = catalogue()
    assert built.category_names == ["classic", "romance", "sci-fi"]
    assert built.categories.shape == (N_ITEMS, 3)
    assert np.flatnonzero(built.in_categories(built.category_indices(["classic"]))).tolist() == [3]
    assert built.category_indices(["nope", "romance"]).tolist() == [1]
    assert built.popularity_order[:3].tolist() == [29, 28, 27]


def test_cold_start_serves_the_liked_categories_first_by_popularity():
    items, scores, sources = cold_start_candidates(catalogue(), {"categories": ["sci-fi"]}, 20)
    assert items[:15].tolist() == SCI_FI[::-1]  # every sci-fi item first, most popular first
    assert items[15:].tolist() == [29, 28, 27, 26, 25]
    assert sources == ["cold_start_preferences"] * 15 + ["popular"] * 5
    assert (np.diff(scores) < 0).all()
    # rank-based popularity 1 / (1 + rank), plus 1 in a liked category
    assert scores[0] == pytest.approx(1.0 + 1.0 / (1 + 15))
    assert scores[15] == pytest.approx(1.0)


def test_cold_start_takes_the_categories_of_liked_items_and_never_serves_them_again():
    items, _, sources = cold_start_candidates(catalogue(), {"items": [3, 20]}, N_ITEMS)
    assert 3 not in items and 20 not in items
    liked = {i for i, s in zip(items.tolist(), sources, strict=True) if s != "popular"}
    assert liked == set(range(N_ITEMS)) - {3, 20}  # sci-fi, classic and romance
    plain, _, plain_sources = cold_start_candidates(catalogue(), {}, 5)
    assert plain.tolist() == [29, 28, 27, 26, 25] and set(plain_sources) == {"popular"}


def test_every_model_answers_a_known_user_from_its_ranking_under_the_rules():
    data = planted_data()
    model = create_model("item_cf").fit(data)
    ranked = model.recommend([0], 10).item_indices[0].tolist()
    assert model.recommend_one(0, 10) == [
        (i, pytest.approx(s), "model")
        for i, s in zip(ranked, model.recommend([0], 10).scores[0].tolist(), strict=True)
    ]
    blocked = ranked[:2]
    served = model.recommend_one(0, 10, rules={"blocked_items": blocked})
    assert [i for i, _, _ in served] == [i for i in model.recommend([0], 12).item_indices[0]][2:]
    capped = model.recommend_one(0, 10, rules={"max_per_category": 1}, catalogue=catalogue())
    categories = [catalogue().categories[i].indices.tolist() for i, _, _ in capped]
    assert len(capped) <= 3 and all(len(c) == len(set(c)) for c in categories)
    assert len({c for cats in categories for c in cats}) == sum(map(len, categories))


def test_a_user_without_history_gets_cold_start_under_the_rules():
    model = create_model("item_cf").fit(planted_data())
    served = model.recommend_one(
        COLD_USER,
        6,
        preferences={"categories": ["romance"]},
        rules={"max_per_category": 4, "blocked_items": [29]},
        catalogue=catalogue(),
    )
    # four romance items (the cap), most popular first, 29 blocked; then sci-fi
    assert [i for i, _, _ in served] == [28, 27, 26, 25, 14, 13]
    assert [s for _, _, s in served] == ["cold_start_preferences"] * 4 + ["popular"] * 2
    unknown = model.recommend_one(None, 3)  # no catalogue: the model's own popularity
    order = np.argsort(-model.item_popularity, kind="stable")[:3].tolist()
    assert [i for i, _, _ in unknown] == order


def test_recommend_one_refuses_a_non_positive_k_and_unknown_rules():
    model = create_model("popular").fit(planted_data())
    with pytest.raises(ValueError, match="k must be positive"):
        model.recommend_one(0, 0)
    with pytest.raises(ValueError, match="unknown rule"):
        model.recommend_one(0, 5, rules={"typo": 1})


def test_a_configurations_rules_in_item_index_terms():
    item_ids = [f"i{i}" for i in range(N_ITEMS)]
    index = {item_id: i for i, item_id in enumerate(item_ids)}
    config = {
        "blocked_items": ["i1", "unknown"],
        "blocked_categories": ["classic", "no-such-category"],
        "max_per_category": 2,
    }
    rules = rules_by_index(
        config, index, catalogue(), ["i7"], defaults={"max_per_category": 9, "mmr_lambda": 0.5}
    )
    assert rules == {"max_per_category": 2, "mmr_lambda": 0.5, "blocked_items": [1, 3, 7]}
