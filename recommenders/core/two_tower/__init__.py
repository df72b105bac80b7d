"""Two-tower retrieval: towers (torch for training, numpy for serving), losses, training.

See :class:`TwoTowerRecommender` (registered as ``two_tower``).
"""

from recommenders.core.two_tower.recommender import TwoTowerRecommender

__all__ = ["TwoTowerRecommender"]
