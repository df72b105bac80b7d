"""What a fitted pipeline holds: one declaration, shared by the mixins that read or build it
(``PipelineRecommender.__init__`` gives each its empty value)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommenders.core.ann import AnnIndex
from recommenders.core.cold_start import DemographicPreferences
from recommenders.core.pipeline.candidates import CandidateGenerator
from recommenders.core.pipeline.ranking import MLPRanker
from recommenders.core.pipeline.sequence import EarlyCooccurrence, EarlyTrend, NextItemModel
from recommenders.core.pipeline.store import FeatureStore


class PipelineState:
    default_params: ClassVar[dict[str, Any]]
    params: dict[str, Any]
    tower: Any  # TwoTowerRecommender
    store: FeatureStore | None
    ranker: MLPRanker
    seen: sp.csr_matrix | None
    n_users: int
    n_items: int
    item_popularity: np.ndarray
    neighbours: sp.csr_matrix
    demographic: DemographicPreferences
    history_items: np.ndarray
    history_start: np.ndarray
    next_items: NextItemModel
    early_cooccurrence: EarlyCooccurrence
    early_trend: EarlyTrend
    fresh_items: np.ndarray
    fresh_index: AnnIndex | None
    generator: CandidateGenerator | None
