"""Model names on the command line and in configurations, and how to build or load them.

Public API (stable names)::

    MODEL_NAMES: tuple[str, ...]                  # every registered name
    model_class(name) -> type[Recommender]
    create_model(name, **params) -> Recommender   # ValueError listing the known names
    load_model(folder) -> Recommender             # reads model.json's "name"

Entries are "module:Class" strings imported on first use, so registering a model costs
no import (torch-based models stay lazy; see DESIGN.md on fork safety). To register a
model add one line to ``_MODELS``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from recommenders.core.base import Recommender

_MODELS: dict[str, str] = {
    "popular": "recommenders.core.models.popular:PopularRecommender",
    "trending": "recommenders.core.models.popular:TrendingRecommender",
    "user_cf": "recommenders.core.models.user_cf:UserCFRecommender",
    "item_cf": "recommenders.core.models.item_cf:ItemCFRecommender",
    "als": "recommenders.core.models.als:ALSRecommender",
    "sgd_mf": "recommenders.core.models.sgd_mf:SGDMFRecommender",
    "content": "recommenders.core.models.content:ContentRecommender",
    "ease": "recommenders.core.models.ease:EASERecommender",
    "two_tower": "recommenders.core.two_tower:TwoTowerRecommender",
    "pipeline": "recommenders.core.pipeline:PipelineRecommender",
}

MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)


def model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``; ValueError naming the known ones otherwise."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")
    module_name, class_name = _MODELS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model; unknown parameters raise ValueError listing the known ones."""
    return model_class(name)(**params)


def load_model(folder: str | Path) -> Recommender:
    """Load a model saved with ``Recommender.save``; its class comes from model.json."""
    meta_file = Path(folder) / "model.json"
    if not meta_file.is_file():
        raise ValueError(f"{folder}: not a saved model (no model.json)")
    try:
        name = json.loads(meta_file.read_text())["name"]
    except (json.JSONDecodeError, KeyError) as error:
        raise ValueError(f"{meta_file}: malformed model metadata ({error})") from error
    return model_class(name).load(folder)
