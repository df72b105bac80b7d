"""Bulk loaders of the catalogue: upserts, idempotent interactions, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from recommenders.models import Interaction, Item, UserProfile
from recommenders.services.catalog import (
    CatalogLoadError,
    InteractionColumns,
    ItemRecord,
    UserRecord,
    do_load_interactions,
    do_load_items,
    do_load_user_profiles,
)

pytestmark = pytest.mark.django_db

JAN_1_2020 = datetime(2020, 1, 1, tzinfo=UTC)


def test_items_are_upserted_by_external_id_and_keep_their_block_flag():
    result = do_load_items(
        [
            ItemRecord("m1", title="Heat", categories=["Crime"], year=1995, price=9.99),
            ItemRecord("m2", title="Tab\there", attributes={"runtime": 170}, creator="Mann"),
        ]
    )
    assert (result.received, result.inserted) == (2, 2)
    Item.objects.filter(external_id="m1").update(is_blocked=True)

    again = do_load_items([ItemRecord("m1", title="Heat (1995)", created_at=JAN_1_2020)])

    assert (again.received, again.inserted, again.already_present) == (1, 0, 1)
    heat = Item.objects.get(external_id="m1")
    assert heat.title == "Heat (1995)"
    assert heat.is_blocked is True
    assert heat.created_at == JAN_1_2020
    other = Item.objects.get(external_id="m2")
    assert (other.title, other.attributes, other.creator) == (
        "Tab\there",
        {"runtime": 170.0},
        "Mann",
    )


def test_user_profiles_are_upserted_and_last_duplicate_wins():
    do_load_user_profiles(
        [
            UserRecord(" u1 ", gender="F", signup_context={"surface": "ios"}),
            UserRecord("u1", gender="M", preferences={"categories": ["Drama"]}),
        ]
    )
    user = UserProfile.objects.get()
    assert (user.external_id, user.gender) == ("u1", "M")
    assert user.preferences == {"categories": ["Drama"]}


def test_interactions_load_once_and_create_missing_users_and_items():
    columns = InteractionColumns(
        user_ids=["u1", "u1", "u2", "u2"],
        item_ids=["a", "b", "a", "a"],
        timestamps=[1_000.0, 2_000.5, 1_500.0, 1_500.0],  # the last row repeats the third
        values=[5, 3, 4, 4],
        kinds="rating",
    )
    first = do_load_interactions(columns)
    second = do_load_interactions(columns)

    assert (first.received, first.inserted) == (4, 3)
    assert (second.inserted, second.already_present) == (0, 4)
    assert Interaction.objects.count() == 3
    assert set(UserProfile.objects.values_list("external_id", flat=True)) == {"u1", "u2"}
    assert set(Item.objects.values_list("external_id", flat=True)) == {"a", "b"}
    row = Interaction.objects.get(user__external_id="u1", item__external_id="b")
    assert row.timestamp == datetime.fromtimestamp(2_000.5, UTC)
    assert (row.kind, row.value) == ("rating", 3.0)


def test_interactions_with_unknown_ids_can_be_refused():
    with pytest.raises(CatalogLoadError, match="unknown user profile id"):
        do_load_interactions(InteractionColumns(["ghost"], ["x"], [0.0]), create_missing=False)
    assert Interaction.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": "like"}, "unknown interaction kind"),
        ({"timestamps": [np.nan]}, "row 1: timestamps is not a finite number"),
        ({"values": [1.0, 2.0]}, "different lengths"),
    ],
)
def test_bad_interaction_columns_say_what_is_wrong(kwargs, message):
    arguments = {"user_ids": ["u"], "item_ids": ["i"], "timestamps": [0.0], **kwargs}
    with pytest.raises(CatalogLoadError, match=message):
        InteractionColumns(**arguments)


def test_an_empty_or_overlong_external_id_is_refused():
    with pytest.raises(CatalogLoadError, match="empty external id"):
        do_load_items([ItemRecord(" ")])
    with pytest.raises(CatalogLoadError, match="longer than 64"):
        do_load_user_profiles([UserRecord("x" * 65)])
