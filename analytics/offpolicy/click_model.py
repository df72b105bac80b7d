"""The reward model of the direct method and doubly robust: a click model that sees the user.

``q(x, a, j)``, the probability of a click on item ``a`` shown to user ``x`` at position
``j``, is the position-based model (Richardson et al. 2007; Chuklin, Markov and de Rijke 2015,
"Click Models for Web Search", ch. 3) with an attraction that depends on features of the pair:

    q(x, a, j) = theta_j * sigmoid(c + z(x, a) . gamma),    theta_1 = 1

``theta_j`` is how often position ``j`` is examined relative to the first (each in (0, 1),
so the first position is the most examined); ``z`` is what the caller knows of the pair: the
production ranker's score of ``a`` for ``x`` (user-specific: it is how much this ranker thinks
this user likes this item), the item's smoothed log click rate, a flag for items production
never scored. A model of item and position only is the case where ``z`` holds item features.
Under this model the attraction is on the logistic scale and examination multiplies it, as
in the simulator's behaviour model, so high click rates (0.3 and more at the top of a list)
are not distorted as they are by a logistic regression with position intercepts.

Fitted by maximum likelihood with an L2 penalty ``l2 / 2 * |gamma|^2`` on the feature weights
(so a constant or duplicated feature cannot make the problem singular), by L-BFGS-B with the
analytic gradient; ``theta_j = sigmoid(phi_j)`` keeps each examination in (0, 1). Features
are standardised inside the fit and the coefficients reported on the caller's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

MAX_ITERATIONS = 500


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic function


@dataclass(frozen=True)
class ClickModel:
    """A fitted ``q(x, a, j)`` (module docstring)."""

    examination: np.ndarray  # theta_j, theta_1 = 1
    intercept: float  # c
    coefficients: np.ndarray  # gamma, one per feature, on the caller's scale
    iterations: int

    @property
    def positions(self) -> int:
        return int(self.examination.size)

    def attraction(self, features: object) -> np.ndarray:
        """``sigmoid(c + z . gamma)`` per row of ``features`` (rows, d)."""
        z = _check_features(features)
        if z.shape[1] != self.coefficients.size:
            raise ValueError(
                f"features: the model was fitted on {self.coefficients.size} features, "
                f"got {z.shape[1]}"
            )
        return _sigmoid(self.intercept + z @ self.coefficients)

    def predict(self, features: object, positions: object) -> np.ndarray:
        """``q`` for every row: ``features`` (rows, d), ``positions`` (rows,) in [0, k)."""
        z, j = _check_rows(features, positions, self.positions)
        return self.examination[j] * self.attraction(z)


def _check_features(features: object) -> np.ndarray:
    z = np.asarray(features, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or not np.all(np.isfinite(z)):
        raise ValueError("features: must be a finite array of shape (rows, features)")
    return z


def _check_rows(features: object, positions: object, n_positions: int):
    z = _check_features(features)
    j = np.asarray(positions)
    if j.shape != (z.shape[0],) or not np.issubdtype(j.dtype, np.integer):
        raise ValueError("positions: one whole-number position per row is required")
    if np.any(j < 0) or np.any(j >= n_positions):
        raise ValueError(f"positions: must lie in [0, {n_positions})")
    return z, j


def _objective(params, z, j, y, n_positions, l2):
    """Penalised negative log-likelihood and its gradient; ``params = (phi_2..phi_k, c,
    gamma)``."""
    phi = np.concatenate([[np.inf], params[: n_positions - 1]])
    theta = _sigmoid(phi)
    c, gamma = params[n_positions - 1], params[n_positions:]
    eta = c + z @ gamma
    a = _sigmoid(eta)
    t = theta[j]
    p = np.clip(t * a, 1e-15, 1 - 1e-15)
    loglik = y * (np.log(t) - np.logaddexp(0, -eta)) + (1 - y) * np.log1p(-p)
    value = -loglik.sum() + 0.5 * l2 * gamma @ gamma
    d_eta = (y - p) * (1 - a) / (1 - p)  # d loglik / d eta
    d_phi = np.bincount(j, weights=(y - p) * (1 - t) / (1 - p), minlength=n_positions)
    gradient = np.concatenate([d_phi[1:], [d_eta.sum()], z.T @ d_eta])
    gradient[n_positions:] -= l2 * gamma
    return value, -gradient


def fit_click_model(
    features: object,
    positions: object,
    clicks: object,
    *,
    n_positions: int,
    l2: float = 1.0,
) -> ClickModel:
    """Fit ``q`` on logged rows: ``features`` (rows, d), ``positions`` (rows,), ``clicks``
    (rows,) in {0, 1}."""
    if not isinstance(n_positions, int) or n_positions < 1:
        raise ValueError(f"n_positions: must be a whole number >= 1, got {n_positions!r}")
    if not l2 > 0:
        raise ValueError(f"l2: must be greater than 0, got {l2!r}")
    z, j = _check_rows(features, positions, n_positions)
    y = np.asarray(clicks, dtype=float)
    if y.shape != j.shape or np.any((y != 0) & (y != 1)):
        raise ValueError("clicks: one 0 or 1 per row is required")
    if y.size == 0:
        raise ValueError("clicks: no logged rows to fit")
    mean, scale = z.mean(axis=0), z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    standard = (z - mean) / scale
    # Start from each position's smoothed click rate relative to the first's.
    rate = (np.bincount(j, weights=y, minlength=n_positions) + 0.5) / (
        np.bincount(j, minlength=n_positions) + 1.0
    )
    relative = np.clip(rate[1:] / rate[0], 0.02, 0.98)
    start = np.concatenate(
        [np.log(relative / (1 - relative)), [np.log(rate[0] / (1 - rate[0]))], np.zeros(z.shape[1])]
    )
    fit = optimize.minimize(
        _objective, start, args=(standard, j, y, n_positions, float(l2)), jac=True,
        method="L-BFGS-B", options={"maxiter": MAX_ITERATIONS, "gtol": 1e-8},
    )  # fmt: skip
    theta = np.concatenate([[1.0], _sigmoid(fit.x[: n_positions - 1])])
    gamma = fit.x[n_positions:] / scale
    intercept = float(fit.x[n_positions - 1] - mean @ gamma)
    return ClickModel(theta, intercept, gamma, int(fit.nit))


def item_log_rates(
    items: object,
    positions: object,
    clicks: object,
    *,
    n_positions: int,
    n_items: int,
    prior_impressions: float = 10.0,
) -> np.ndarray:
    """``log rho_a`` per item ``0..n_items-1``: the item's click rate per examined impression
    under the position-based model, shrunk towards the pooled rate.

    ``theta_j = CTR_j / CTR_1`` (relative examination of position ``j``), ``rho_a = (clicks_a +
    m rho) / (sum_{impressions of a} theta_j + m)`` with ``m = prior_impressions`` and ``rho``
    the pooled rate; an item never logged gets ``log rho``.
    """
    a = np.asarray(items)
    j = np.asarray(positions)
    y = np.asarray(clicks, dtype=float)
    if a.shape != j.shape or a.shape != y.shape or a.ndim != 1:
        raise ValueError("items, positions, clicks: one value each per logged row")
    if a.size and (np.any(a < 0) or np.any(a >= n_items)):
        raise ValueError(f"items: must lie in [0, {n_items})")
    if a.size and (np.any(j < 0) or np.any(j >= n_positions)):
        raise ValueError(f"positions: must lie in [0, {n_positions})")
    shown = np.bincount(j, minlength=n_positions)
    ctr = np.bincount(j, weights=y, minlength=n_positions) / np.maximum(shown, 1)
    theta = ctr / ctr[0] if ctr[0] > 0 else np.ones(n_positions)
    exposure = np.bincount(a, weights=theta[j], minlength=n_items)
    clicked = np.bincount(a, weights=y, minlength=n_items)
    pooled = max(float(y.sum()), 0.5) / max(float(exposure.sum()), 1e-12)
    rate = (clicked + prior_impressions * pooled) / (exposure + prior_impressions)
    return np.log(rate)
