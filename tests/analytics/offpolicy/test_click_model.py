"""The reward model of DM and DR: the position-based click model with a logistic attraction
against a derivative-free optimiser on an independently written likelihood, recovery of a
planted model, the smoothed item rates by hand, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from analytics.offpolicy import fit_click_model, item_log_rates

EXAMINATION = np.array([1.0, 0.6, 0.35])
GAMMA = np.array([0.8, -0.3])


def _planted(n: int, seed: int = 0, intercept: float = -0.5):
    """Rows from the position-based model ``theta_j * sigmoid(c + z . gamma)``."""
    rng = np.random.default_rng(seed)
    features = np.column_stack([rng.normal(size=n), rng.normal(2.0, 3.0, n)])
    positions = rng.integers(0, 3, n)
    p = EXAMINATION[positions] / (1 + np.exp(-(intercept + features @ GAMMA)))
    return features, positions, (rng.random(n) < p).astype(float)


def test_maximises_the_penalised_likelihood_that_scipy_maximises_without_gradients():
    features, positions, clicks = _planted(3000)
    l2 = 3.0
    model = fit_click_model(features, positions, clicks, n_positions=3, l2=l2)
    mean, scale = features.mean(axis=0), features.std(axis=0)
    standard = (features - mean) / scale

    def objective(params):  # theta_2, theta_3, c, gamma on the standardised scale
        theta = np.concatenate([[1.0], params[:2]])
        if np.any(theta <= 0) or np.any(theta >= 1 + 1e-12):
            return np.inf
        p = theta[positions] / (1 + np.exp(-(params[2] + standard @ params[3:])))
        loglik = clicks * np.log(p) + (1 - clicks) * np.log(1 - p)
        return -loglik.sum() + l2 / 2 * params[3:] @ params[3:]

    start = np.array([0.5, 0.5, 0.0, 0.0, 0.0])
    best = optimize.minimize(
        objective, start, method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 40_000, "maxfev": 40_000},
    ).x  # fmt: skip
    gamma = best[3:] / scale
    assert model.examination == pytest.approx([1.0, *best[:2]], abs=1e-4)
    assert model.coefficients == pytest.approx(gamma, abs=1e-4)
    assert model.intercept == pytest.approx(best[2] - mean @ gamma, abs=1e-4)


def test_recovers_a_planted_model_and_predicts_its_probabilities():
    features, positions, clicks = _planted(200_000, seed=1)
    model = fit_click_model(features, positions, clicks, n_positions=3)
    assert model.examination == pytest.approx(EXAMINATION, abs=0.02)
    assert model.coefficients == pytest.approx(GAMMA, abs=0.03)
    assert model.intercept == pytest.approx(-0.5, abs=0.05)
    q = model.predict(features[:5], positions[:5])
    truth = EXAMINATION[positions[:5]] / (1 + np.exp(-(-0.5 + features[:5] @ GAMMA)))
    assert q == pytest.approx(truth, abs=0.02)


def test_a_constant_feature_does_not_make_the_fit_singular():
    features, positions, clicks = _planted(500)
    with_constant = np.column_stack([features, np.ones(500)])
    model = fit_click_model(with_constant, positions, clicks, n_positions=3)
    assert np.all(np.isfinite(model.coefficients)) and model.coefficients[2] == pytest.approx(0)


def test_item_rates_by_hand():
    # position 0 CTR 2/4, position 1 CTR 1/4: theta = (1, 0.5)
    items = np.array([0, 0, 1, 1, 1, 0, 0, 1])
    positions = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    clicks = np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    rates = item_log_rates(
        items, positions, clicks, n_positions=2, n_items=3, prior_impressions=2.0
    )
    # item 0: exposure 1 + 1 + 0.5 + 0.5 = 3, clicks 2; item 1: exposure 3, clicks 1;
    # pooled rate 3 / 6; item 2, never shown, gets it
    assert np.exp(rates) == pytest.approx([(2 + 1) / (3 + 2), (1 + 1) / (3 + 2), 0.5])


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: fit_click_model([[1.0]], [0], [2.0], n_positions=1), "clicks"),
        (lambda: fit_click_model([[1.0]], [3], [1.0], n_positions=2), "positions"),
        (lambda: fit_click_model([[np.nan]], [0], [1.0], n_positions=1), "features"),
        (lambda: fit_click_model([[1.0]], [0], [1.0], n_positions=1, l2=0), "l2"),
        (lambda: fit_click_model(np.zeros((0, 1)), np.zeros(0, int), [], n_positions=1),
         "clicks"),
        (lambda: item_log_rates([5], [0], [1.0], n_positions=1, n_items=2), "items"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}"):
        call()


def test_prediction_needs_the_fitted_features():
    features, positions, clicks = _planted(300)
    model = fit_click_model(features, positions, clicks, n_positions=3)
    with pytest.raises(ValueError, match="^features"):
        model.predict(features[:, :1], positions)
