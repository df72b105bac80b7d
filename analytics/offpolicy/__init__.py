"""Off-policy evaluation, pure: estimate a candidate recommender's reward from lists that
another policy served, given the propensities it logged.

Estimators (``estimators``): direct method, IPS, self-normalised IPS, doubly robust, each for
single items and, with several positions, in the independent item-position form; the
pseudo-inverse estimator for slates (``pseudo_inverse``, or context by context with
``pseudo_weights_in_context`` and ``pseudo_inverse_from_weights``). The reward model of DM and
DR: a click model with position intercepts and user-item features (``click_model``). Each returns an
``OffPolicyEstimate`` with its interval (normal clustered by user, or bootstrap over users;
the result says which), effective sample size and coverage warnings. Logs without
propensities are refused with a ``ValueError`` naming the argument. The exploring samplers
whose propensities these read live with the serving code in ``recommenders.core.exploration``.
"""

from analytics.offpolicy.click_model import ClickModel, fit_click_model, item_log_rates
from analytics.offpolicy.estimators import direct_method, doubly_robust, ips, snips
from analytics.offpolicy.logs import LoggedLists
from analytics.offpolicy.pseudo_inverse import (
    pseudo_inverse,
    pseudo_inverse_from_weights,
    pseudo_weights_in_context,
    slot_gram,
    slot_indicators,
)
from analytics.offpolicy.result import INTERVALS, IntervalOptions, OffPolicyEstimate

__all__ = [
    "ClickModel",
    "INTERVALS",
    "IntervalOptions",
    "LoggedLists",
    "OffPolicyEstimate",
    "direct_method",
    "doubly_robust",
    "fit_click_model",
    "item_log_rates",
    "ips",
    "pseudo_inverse",
    "pseudo_inverse_from_weights",
    "pseudo_weights_in_context",
    "slot_gram",
    "slot_indicators",
    "snips",
]
