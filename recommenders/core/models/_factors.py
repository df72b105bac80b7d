"""Shared pieces of the factor models: scoring by dot products and (de)serialisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class FactorState:
    """Mixin: ``user_factors`` (n_users x f) and ``item_factors`` (n_items x f), scores
    s_ui = x_u . y_i."""

    user_factors: np.ndarray
    item_factors: np.ndarray

    def _score_users(self, user_indices: np.ndarray) -> np.ndarray:
        return self.user_factors[user_indices] @ self.item_factors.T

    def _save_state(self, folder: Path) -> None:
        np.savez(folder / "factors.npz", users=self.user_factors, items=self.item_factors)

    def _load_state(self, folder: Path) -> None:
        with np.load(folder / "factors.npz") as state:
            self.user_factors, self.item_factors = state["users"], state["items"]


def thread_count(requested: int | None) -> int | None:
    """``requested`` if positive, else None (leave the library default)."""
    return requested if requested and requested > 0 else None
