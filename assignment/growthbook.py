"""Running experiments as a GrowthBook SDK payload (pure: no Django).

GrowthBook's SDKs (JavaScript, Python, ...) evaluate experiments locally from a payload of
*features*; each Splitlab experiment becomes one feature whose value is the variant key:

* ``defaultValue``: the control's key, what every user not in the experiment is served;
* one ``force`` rule per QA-overridden variant, first (the engine applies overrides first),
  with the condition ``{"id": {"$in": [users]}}``;
* one experiment rule: ``key``, ``variations`` (variant keys), ``weights`` (normalised),
  ``coverage``, ``ranges`` (the engine's own bucket ranges, so no rounding can differ),
  ``hashAttribute: "id"``, ``hashVersion``, ``seed``, ``phase``; targeting becomes its
  ``condition`` (GrowthBook's MongoDB-style conditions are a superset of Splitlab's); the
  permanent holdout and the layer become ``filters``:

  - holdout: users with ``hash(holdout_seed, id, 2) < share`` are out, so the filter keeps
    ``[share, 1)``;
  - layer: the position is ``hash("__" + layer_seed, id, 2)`` (hash v2, unlike GrowthBook's
    v1 namespaces), kept when in ``[layer_start, layer_end)``.

GrowthBook evaluates a rule as condition, filters, then hash (``growthbook/core.py``
``_run_experiment``; ``packages/sdk-js/src/core.ts``), and the engine as holdout, targeting,
layer, hash: every step only removes users, so the order changes a non-member's reason, never
its variant. Hashes are the same FNV-1a functions (``assignment.hashing``).

What GrowthBook's evaluation cannot reproduce is refused (:class:`UnsupportedForSdk`): a
targeting condition on ``id`` (the SDK's ``id`` attribute is the hashed user id, the engine's
is a client attribute) or on an attribute name starting with ``$`` (an operator to the SDK).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assignment.engine import CompiledExperiment, CompiledHoldout

__all__ = ["HASH_ATTRIBUTE", "UnsupportedForSdk", "sdk_payload"]

HASH_ATTRIBUTE = "id"


class UnsupportedForSdk(ValueError):
    """An experiment the payload cannot express; the message names it and the reason."""


def _condition(experiment: CompiledExperiment) -> dict[str, Any] | None:
    condition: dict[str, Any] = {}
    for attribute, wanted in experiment.targeting.items():
        if attribute == HASH_ATTRIBUTE or attribute.startswith("$"):
            raise UnsupportedForSdk(
                f"experiment {experiment.key!r}: targeting on attribute {attribute!r} cannot be "
                f"delivered to SDKs (the SDK's {HASH_ATTRIBUTE!r} is the user id it hashes, and "
                "names starting with '$' are operators)"
            )
        condition[attribute] = {"$in": list(wanted)} if isinstance(wanted, list) else wanted
    return condition or None


def _filters(
    experiment: CompiledExperiment, holdout: CompiledHoldout | None
) -> list[dict[str, Any]]:
    filters = []
    if holdout is not None and holdout.share > 0:
        filters.append(
            {
                "attribute": HASH_ATTRIBUTE,
                "seed": holdout.seed,
                "hashVersion": 2,
                "ranges": [[holdout.share, 1.0]],
            }
        )
    if experiment.layer_seed is not None:
        filters.append(
            {
                "attribute": HASH_ATTRIBUTE,
                "seed": "__" + experiment.layer_seed,
                "hashVersion": 2,
                "ranges": [[experiment.layer_start, experiment.layer_end]],
            }
        )
    return filters


def _override_rules(experiment: CompiledExperiment) -> list[dict[str, Any]]:
    users_of: dict[int, list[str]] = {}
    for user_id, index in sorted(experiment.overrides.items()):
        users_of.setdefault(index, []).append(user_id)
    return [
        {
            "id": f"{experiment.key}-qa-{experiment.variant_keys[index]}",
            "condition": {HASH_ATTRIBUTE: {"$in": users}},
            "force": experiment.variant_keys[index],
        }
        for index, users in sorted(users_of.items())
    ]


def _experiment_rule(
    experiment: CompiledExperiment, holdout: CompiledHoldout | None
) -> dict[str, Any]:
    total = sum(experiment.variant_weights)
    count = len(experiment.variant_keys)
    weights = [w / total for w in experiment.variant_weights] if total > 0 else [1 / count] * count
    rule: dict[str, Any] = {
        "id": f"{experiment.key}-experiment",
        "key": experiment.key,
        "variations": list(experiment.variant_keys),
        "weights": weights,
        "coverage": experiment.coverage,
        "ranges": [list(r) for r in experiment.ranges],
        "hashAttribute": HASH_ATTRIBUTE,
        "hashVersion": experiment.hash_version,
        "seed": experiment.seed,
        "phase": str(experiment.phase),
        "meta": [{"key": key, "name": key} for key in experiment.variant_keys],
    }
    condition = _condition(experiment)
    if condition is not None:
        rule["condition"] = condition
    filters = _filters(experiment, holdout)
    if filters:
        rule["filters"] = filters
    return rule


def sdk_payload(
    experiments: Sequence[CompiledExperiment], holdout: CompiledHoldout | None
) -> dict[str, Any]:
    """The ``{"features": {...}}`` payload of the running ``experiments``.

    Raises :class:`UnsupportedForSdk` naming the first experiment it cannot express.
    """
    features = {}
    for experiment in sorted(experiments, key=lambda e: e.key):
        if not experiment.is_running:
            continue
        features[experiment.key] = {
            "defaultValue": experiment.variant_keys[experiment.control_index],
            "rules": [*_override_rules(experiment), _experiment_rule(experiment, holdout)],
        }
    return {"features": features}
