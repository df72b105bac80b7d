"""The generated demo dataset: deterministic, structured by taste, loadable and idempotent."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recommenders.core.demo import GENRES, generate_demo_dataset
from recommenders.models import Interaction, Item, UserProfile


def test_same_seed_same_data_other_seed_other_data():
    first = generate_demo_dataset(n_users=60, n_items=50, seed=3)
    again = generate_demo_dataset(n_users=60, n_items=50, seed=3)
    other = generate_demo_dataset(n_users=60, n_items=50, seed=4)

    for name in ("interaction_user_ids", "interaction_item_ids", "interaction_timestamps"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert first.items == again.items and first.users == again.users
    assert not np.array_equal(first.interaction_item_ids, other.interaction_item_ids)


def test_shape_of_the_data():
    demo = generate_demo_dataset(n_users=80, n_items=60, seed=0)
    kinds = set(demo.interaction_kinds.tolist())

    assert kinds == {"view", "click", "rating", "purchase"}
    assert np.all(np.diff(demo.interaction_timestamps) >= 0)
    assert demo.interaction_timestamps.max() <= demo.params["end_unix_seconds"]
    ratings = demo.interaction_values[demo.interaction_kinds == "rating"]
    assert set(np.unique(ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert all(1 <= len(item.categories) <= 3 for item in demo.items)
    assert all(set(item.categories) <= set(GENRES) for item in demo.items)
    assert np.allclose(demo.user_tastes.sum(axis=1), 1.0)
    assert len({item.creator for item in demo.items}) < len(demo.items)
    assert all(len(u.preferences["categories"]) == 2 for u in demo.users)


def test_users_view_items_of_their_tastes():
    demo = generate_demo_dataset(n_users=200, n_items=150, seed=1)
    data = demo.to_interaction_data(kinds=("view",))
    views = data.matrix.tocoo()
    genre_share = demo.item_genres / demo.item_genres.sum(axis=1, keepdims=True)
    affinity_of_views = (demo.user_tastes[views.row] * genre_share[views.col]).sum(axis=1)
    # the same users with items drawn uniformly at random
    rng = np.random.default_rng(0)
    random_items = rng.integers(0, len(demo.items), size=len(views.row))
    affinity_random = (demo.user_tastes[views.row] * genre_share[random_items]).sum(axis=1)
    assert affinity_of_views.mean() > 2.5 * affinity_random.mean()


def test_interaction_data_has_features_and_ids():
    demo = generate_demo_dataset(n_users=30, n_items=20, seed=2)
    data = demo.to_interaction_data()

    assert data.matrix.shape == (30, 20)
    assert data.timestamps.nnz == data.matrix.nnz == data.sequence.nnz
    assert data.item_features.category_names == list(GENRES)
    assert data.item_features.numeric_names == ["year", "price", "runtime_minutes"]
    assert list(data.user_ids[:2]) == ["u00001", "u00002"]
    assert set(data.user_features.attributes) >= {"age_band", "gender", "signup_surface"}


@pytest.mark.parametrize("kwargs", [{"n_users": 0}, {"n_items": -1}, {"window_days": 0}])
def test_bad_sizes_are_refused(kwargs):
    with pytest.raises(ValueError, match="positive"):
        generate_demo_dataset(**kwargs)


@pytest.mark.django_db
def test_load_demo_data_command_is_idempotent(capsys):
    call_command("load_demo_data", "--users", "40", "--items", "30", "--seed", "5")
    counts = (UserProfile.objects.count(), Item.objects.count(), Interaction.objects.count())
    call_command("load_demo_data", "--users", "40", "--items", "30", "--seed", "5")

    assert counts[:2] == (40, 30)
    assert counts[2] == generate_demo_dataset(40, 30, 5).n_interactions
    assert (UserProfile.objects.count(), Item.objects.count()) == counts[:2]
    assert Interaction.objects.count() == counts[2]
    assert "(0 new)" in capsys.readouterr().out
    item = Item.objects.get(external_id="i00001")
    assert item.categories and item.text and item.creator.startswith("studio-")


@pytest.mark.django_db
def test_load_demo_data_refuses_non_positive_sizes():
    with pytest.raises(CommandError, match="positive integer"):
        call_command("load_demo_data", "--users", "0")
