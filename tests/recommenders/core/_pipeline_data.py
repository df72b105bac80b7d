"""Small generated data and fitted models shared by the two-tower and pipeline tests."""

from __future__ import annotations

from functools import cache

from recommenders.core.base import InteractionData
from recommenders.core.demo import generate_demo_dataset
from recommenders.core.evaluation import Split, leave_last_out
from recommenders.core.pipeline import PipelineRecommender
from recommenders.core.two_tower import TwoTowerRecommender

TOWER_PARAMS = {"epochs": 4, "dim": 32, "hidden": 64, "batch_size": 256, "threads": 1}


@cache
def full_demo_data() -> InteractionData:
    """300 users with latent genre tastes, 200 items with genres, texts and creators."""
    return generate_demo_dataset(n_users=300, n_items=200, seed=3).to_interaction_data()


@cache
def demo_split() -> Split:
    return leave_last_out(full_demo_data())


def demo_data() -> InteractionData:
    """The training part of the leave-last-out split (what the shared models are fitted on)."""
    return demo_split().train


@cache
def fitted_tower() -> TwoTowerRecommender:
    return TwoTowerRecommender(**TOWER_PARAMS).fit(demo_data())


@cache
def fitted_pipeline() -> PipelineRecommender:
    model = PipelineRecommender(
        two_tower=TOWER_PARAMS,
        ranker={"epochs": 15},
        quotas={"ann": 60, "item_cf": 40, "fresh": 10},
        n_candidates=100,
    )
    return model.fit(demo_data())
