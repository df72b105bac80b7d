"""The production pipeline: candidate sources, feature store, ranking, cold start by
demographics; the business rules it serves under are :mod:`recommenders.core.rules`.

See :class:`PipelineRecommender` (registered as ``pipeline``) and its ``recommend_one``.
"""

from recommenders.core.pipeline.recommender import PipelineRecommender

__all__ = ["PipelineRecommender"]
