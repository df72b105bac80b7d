"""Recommender models: the catalogue and interactions, configurations and model versions."""

from recommenders.models.catalog import *  # noqa: F401,F403
from recommenders.models.versions import *  # noqa: F401,F403
