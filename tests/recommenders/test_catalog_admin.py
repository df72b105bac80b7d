"""Admin pages of the catalogue: they render, search, and do not query per row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommenders.core.demo import generate_demo_dataset
from recommenders.models import Item
from recommenders.services.catalog import (
    InteractionColumns,
    ItemRecord,
    do_load_interactions,
    do_load_items,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_interactions():
    demo = generate_demo_dataset(n_users=30, n_items=40, seed=1)
    do_load_items(ItemRecord(it.external_id, title=it.title) for it in demo.items)
    do_load_interactions(
        InteractionColumns(
            demo.interaction_user_ids,
            demo.interaction_item_ids,
            demo.interaction_timestamps,
            demo.interaction_values,
            demo.interaction_kinds,
        )
    )
    return demo


@pytest.mark.parametrize("model", ["item", "userprofile", "interaction"])
def test_changelists_render_with_a_bounded_number_of_queries(
    staff_client, demo_interactions, django_assert_max_num_queries, model
):
    url = reverse(f"admin:recommenders_{model}_changelist")
    with django_assert_max_num_queries(12):
        response = staff_client.get(url)
    assert response.status_code == 200


def test_interaction_search_and_filter(staff_client, demo_interactions):
    url = reverse("admin:recommenders_interaction_changelist")
    response = staff_client.get(url, {"q": "u00001", "kind": "view"})
    assert response.status_code == 200
    assert b"u00001" in response.content


def test_block_action(staff_client, demo_interactions):
    url = reverse("admin:recommenders_item_changelist")
    ids = list(Item.objects.values_list("pk", flat=True)[:3])
    response = staff_client.post(
        url, {"action": "block_items", "_selected_action": ids}, follow=True
    )
    assert response.status_code == 200
    assert Item.objects.filter(is_blocked=True).count() == 3
