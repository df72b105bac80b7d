"""The training snapshot read from the database, and lookups by external id."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from recommenders.core.demo import generate_demo_dataset
from recommenders.models import Interaction, Item
from recommenders.selectors.catalog import (
    blocked_item_external_ids,
    catalog_counts,
    interaction_data_snapshot,
    items_by_external_ids,
    recent_item_external_ids,
    user_profile_by_external_id,
)
from recommenders.services.catalog import (
    InteractionColumns,
    ItemRecord,
    UserRecord,
    do_load_interactions,
    do_load_items,
    do_load_user_profiles,
)
from recommenders.services.datasets import do_load_demo_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    do_load_items(
        [
            ItemRecord("a", title="Alpha", categories=["Drama"], year=1990, price=5.5),
            ItemRecord("b", title="Beta", categories=["Drama", "War"], attributes={"runtime": 90}),
            ItemRecord("c", title="Gamma", text="new", created_at=datetime(2021, 1, 1, tzinfo=UTC)),
        ]
    )
    do_load_user_profiles(
        [
            UserRecord("u1", age_band="25-34", signup_context={"surface": "ios"}),
            UserRecord("u2", gender="F"),
        ]
    )
    do_load_interactions(
        InteractionColumns(
            user_ids=["u1", "u1", "u1", "u2", "u2"],
            item_ids=["a", "b", "a", "b", "b"],
            timestamps=[100.0, 200.0, 300.25, 150.0, 150.0],
            values=[1, 1, 1, 4, 1],
            kinds=["view", "view", "view", "rating", "click"],
        )
    )


def test_snapshot_holds_every_user_and_item_with_latest_timestamps(catalogue):
    data = interaction_data_snapshot()

    assert list(data.user_ids) == ["u1", "u2"]
    assert list(data.item_ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(data.matrix.toarray(), [[2, 1, 0], [0, 5, 0]])
    np.testing.assert_allclose(data.timestamps.toarray(), [[300.25, 200, 0], [0, 150, 0]])
    # same time for u2's rating and click: the later row (higher primary key) wins
    sequence = data.sequence.toarray()
    assert sequence[1, 1] > sequence[0, 1]


def test_snapshot_filters_by_time_window_and_kind(catalogue):
    since = datetime.fromtimestamp(150, UTC)
    until = datetime.fromtimestamp(300, UTC)
    data = interaction_data_snapshot(since=since, until=until, kinds=["view", "rating"])

    np.testing.assert_array_equal(data.matrix.toarray(), [[0, 1, 0], [0, 4, 0]])
    with pytest.raises(ValueError, match="unknown interaction kind"):
        interaction_data_snapshot(kinds=["like"])


def test_snapshot_features(catalogue):
    data = interaction_data_snapshot()
    items, users = data.item_features, data.user_features

    assert items.category_names == ["Drama", "War"]
    np.testing.assert_array_equal(items.categories.toarray(), [[1, 0], [1, 1], [0, 0]])
    assert items.numeric_names == ["year", "price", "runtime"]
    np.testing.assert_allclose(
        items.numeric, [[1990, 5.5, np.nan], [np.nan, np.nan, 90], [np.nan, np.nan, np.nan]]
    )
    assert items.texts == ["Alpha", "Beta", "Gamma. new"]
    assert items.created_at[2] == datetime(2021, 1, 1, tzinfo=UTC).timestamp()
    assert list(users.attributes["age_band"]) == ["25-34", ""]
    assert list(users.attributes["signup_surface"]) == ["ios", ""]


def test_empty_catalogue_gives_an_empty_snapshot():
    data = interaction_data_snapshot()
    assert data.matrix.shape == (0, 0)


def test_lookups(catalogue, django_assert_max_num_queries):
    Item.objects.filter(external_id="b").update(is_blocked=True)
    with django_assert_max_num_queries(1):
        found = items_by_external_ids(["a", "c", "zz"])
    assert sorted(found) == ["a", "c"]
    assert user_profile_by_external_id("u2").gender == "F"
    assert user_profile_by_external_id("nobody") is None
    assert blocked_item_external_ids() == {"b"}
    assert recent_item_external_ids("u1") == ["a", "b"]
    assert recent_item_external_ids("u1", limit=1) == ["a"]
    assert catalog_counts() == {"items": 3, "users": 2, "interactions": 5}


def test_snapshot_skips_interactions_whose_keys_do_not_resolve(catalogue):
    # no database foreign keys on interactions: a raw delete can leave orphans behind
    Interaction.objects.filter(user__external_id="u2").update(user_id=10_000)
    data = interaction_data_snapshot()
    np.testing.assert_array_equal(data.matrix.toarray(), [[2, 1, 0], [0, 0, 0]])


def test_snapshot_of_loaded_demo_data_matches_the_pure_builder():
    demo = generate_demo_dataset(n_users=50, n_items=40, seed=7)
    do_load_demo_dataset(demo)

    from_db = interaction_data_snapshot(kinds=["view", "click"])
    pure = demo.to_interaction_data(kinds=("view", "click"))

    assert list(from_db.user_ids) == list(pure.user_ids)
    assert list(from_db.item_ids) == list(pure.item_ids)
    np.testing.assert_array_equal(from_db.matrix.toarray(), pure.matrix.toarray())
    np.testing.assert_allclose(from_db.timestamps.toarray(), pure.timestamps.toarray())
    assert from_db.item_features.category_names == sorted(pure.item_features.category_names)
    assert from_db.item_features.texts == pure.item_features.texts
