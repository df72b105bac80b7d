"""The production pipeline: candidate sources, feature store, ranking, rules, cold start.

See :class:`PipelineRecommender` (registered as ``pipeline``) and its ``recommend_one``.
"""

from recommenders.core.pipeline.recommender import PipelineRecommender
from recommenders.core.pipeline.rules import Rules, apply_rules

__all__ = ["PipelineRecommender", "Rules", "apply_rules"]
