"""What simulated users do with a served list: a position-based click model and its sequels.

Position-based model (Richardson et al., WWW 2007; Chuklin, Markov & de Rijke, "Click Models
for Web Search", 2015, ch. 3): the item at position ``k`` (0-based) is examined with
probability ``e_k = (k + 1) ** -examination_decay`` and, once examined, clicked with the
user's true attraction ``a(u, i)`` (``population``), independently across positions:

    P(click at k) = e_k * min(1, a(u, i_k) * (1 + effect.attraction))

After a click the user watches for a log-normal time (heavy tailed: sigma 1.3 gives a mean
2.3 times the median) scaled by the user's watch scale and by how attractive the item was,
and converts with a fixed probability per click. A session without a click is abandoned;
otherwise its time to first interaction is a Gamma(2) delay plus a few seconds per position
scrolled to the first click.

Every draw comes from a ``SessionNoise`` drawn once, so the same users can be played under
two effects with common random numbers (potential outcomes): the difference between arms is
then the planted effect alone, not noise, which is what makes "the true effect" computable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.population import Population


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Effect:
    """A variant's planted behaviour change, each a relative size (0.1 = +10%).

    ``attraction`` scales the click probability after examination (capped at 1); ``watch``
    scales watch time; ``first_interaction`` scales time to first interaction (a guardrail
    harm when positive). A size below -100% is impossible and refused.
    """

    attraction: float = 0.0
    watch: float = 0.0
    first_interaction: float = 0.0

    def __post_init__(self) -> None:
        for name in ("attraction", "watch", "first_interaction"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < -1.0:
                raise ValueError(f"{name}: a lift must be a number >= -1 (-100%), got {value}")


NO_EFFECT = Effect()


@dataclass(frozen=True)
class BehaviourModel:
    """Parameters of the click, watch, conversion and timing model (see the module)."""

    base_logit: float = -3.0
    taste_scale: float = 1.2
    examination_decay: float = 0.7
    watch_median_seconds: float = 60.0
    watch_sigma: float = 1.3
    conversion_per_click: float = 0.02
    first_interaction_seconds: float = 5.0
    seconds_per_position: float = 1.5

    def examination(self, k: int) -> np.ndarray:
        """P(examine position j) for j = 0..k-1."""
        return (np.arange(k) + 1.0) ** -self.examination_decay

    def attraction(self, pop: Population, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """True attraction a(u, i) for each user row and its items (shape of ``items``);
        item -1 (unknown to the population) is neutral: ``sigmoid(base_logit)``."""
        users = np.asarray(users)
        items = np.asarray(items)
        known = items >= 0
        rows = np.where(known, items, 0)
        scores = np.einsum("sd,skd->sk", pop.user_factors[users], pop.item_factors[rows])
        logits = self.base_logit + self.taste_scale * scores + pop.item_bias[rows]
        return _sigmoid(np.where(known, logits, self.base_logit))

    def click_probability(
        self, pop: Population, users: np.ndarray, items: np.ndarray, effect: Effect = NO_EFFECT
    ) -> np.ndarray:
        """P(click) at every position of every list (sessions x positions)."""
        attraction = np.minimum(self.attraction(pop, users, items) * (1 + effect.attraction), 1)
        return self.examination(items.shape[1]) * attraction

    def true_ctr(
        self, pop: Population, users: np.ndarray, items: np.ndarray, effect: Effect = NO_EFFECT
    ) -> float:
        """Expected clicks per impression of these served lists (exact, no sampling)."""
        return float(self.click_probability(pop, users, items, effect).mean())


@dataclass(frozen=True)
class SessionNoise:
    """The random draws of a batch of sessions, shared by every effect they are played under."""

    click: np.ndarray  # (sessions, k) uniforms
    watch: np.ndarray  # (sessions, k) standard normals
    convert: np.ndarray  # (sessions, k) uniforms
    delay: np.ndarray  # (sessions,) Gamma(2, 1/2) draws, mean 1

    @classmethod
    def draw(cls, sessions: int, k: int, rng: np.random.Generator) -> SessionNoise:
        return cls(
            click=rng.random((sessions, k)),
            watch=rng.standard_normal((sessions, k)),
            convert=rng.random((sessions, k)),
            delay=rng.gamma(2.0, 0.5, sessions),
        )


@dataclass(frozen=True)
class SessionOutcomes:
    """What each session did; arrays over sessions (and positions)."""

    clicks: np.ndarray  # (sessions, k) bool
    watch_seconds: np.ndarray  # (sessions, k), 0 where not clicked
    conversions: np.ndarray  # (sessions, k) bool
    first_interaction_seconds: np.ndarray  # (sessions,), NaN when abandoned
    abandoned: np.ndarray  # (sessions,) bool


def play_sessions(
    pop: Population,
    model: BehaviourModel,
    users: np.ndarray,
    items: np.ndarray,
    noise: SessionNoise,
    effect: Effect = NO_EFFECT,
    attraction: np.ndarray | None = None,
) -> SessionOutcomes:
    """Sessions of ``users`` shown the lists ``items`` (sessions x k), under ``effect``;
    ``attraction`` may pass ``model.attraction(pop, users, items)`` already computed."""
    users = np.asarray(users)
    items = np.asarray(items)
    if attraction is None:
        attraction = model.attraction(pop, users, items)
    attraction = np.minimum(attraction * (1 + effect.attraction), 1)
    clicks = noise.click < model.examination(items.shape[1]) * attraction
    watch = (
        model.watch_median_seconds
        * pop.watch_scale[users][:, None]
        * np.exp(model.watch_sigma * noise.watch)
        * (0.5 + attraction)
        * (1 + effect.watch)
    )
    conversions = clicks & (noise.convert < model.conversion_per_click)
    abandoned = ~clicks.any(axis=1)
    first = np.argmax(clicks, axis=1)
    delay = (model.first_interaction_seconds * noise.delay + model.seconds_per_position * first) * (
        1 + effect.first_interaction
    )
    return SessionOutcomes(
        clicks=clicks,
        watch_seconds=np.where(clicks, watch, 0.0),
        conversions=conversions,
        first_interaction_seconds=np.where(abandoned, np.nan, delay),
        abandoned=abandoned,
    )
