"""Interleaving experiments: their validation at creation and start, and their assignment."""

from __future__ import annotations

import pytest

from assignment import config_cache, services
from assignment.models import Exposure
from experiments import services as experiment_services
from experiments.models import Experiment
from experiments.services import ExperimentError
from recommenders.models import ModelVersion, RecommenderConfig

pytestmark = pytest.mark.django_db


def _config(name: str, *, active: bool = True) -> RecommenderConfig:
    config = RecommenderConfig.objects.create(name=name, algorithm="popular")
    status = ModelVersion.Status.ACTIVE if active else ModelVersion.Status.READY
    ModelVersion.objects.create(config=config, algorithm="popular", status=status)
    return config


def _interleaving(key: str, configs: list[RecommenderConfig], **fields) -> Experiment:
    variants = [
        {"key": f"ranker{i}", "is_control": i == 0, "recommender_config": config}
        for i, config in enumerate(configs)
    ]
    return experiment_services.do_create_experiment(
        key=key, name=key, variants=variants, kind="interleaving", **fields
    )


def test_interleaving_needs_two_to_four_variants():
    configs = [_config(f"c{i}") for i in range(5)]
    with pytest.raises(ExperimentError) as error:
        _interleaving("five", configs)
    assert "variants" in error.value.message_dict
    assert "2 to 4" in error.value.message_dict["variants"][0]
    assert _interleaving("four", configs[:4]).kind == "interleaving"


def test_every_variant_needs_a_configuration():
    variants = [
        {"key": "a", "is_control": True, "recommender_config": _config("a")},
        {"key": "b"},
    ]
    with pytest.raises(ExperimentError) as error:
        experiment_services.do_create_experiment(
            key="noconf", name="n", variants=variants, kind="interleaving"
        )
    assert "'b'" in error.value.message_dict["recommender_config"][0]


def test_the_same_configuration_twice_only_in_an_aa():
    config = _config("same")
    with pytest.raises(ExperimentError) as error:
        _interleaving("twice", [config, config])
    assert "interleaving_aa" in error.value.message_dict["recommender_config"][0]
    aa = _interleaving("aa", [config, config], interleaving_aa=True)
    assert experiment_services.do_start_experiment(aa, None).status == "running"


def test_an_ab_experiment_cannot_be_an_interleaving_aa():
    variants = [{"key": "c", "is_control": True}, {"key": "t"}]
    with pytest.raises(ExperimentError) as error:
        experiment_services.do_create_experiment(
            key="abaa", name="x", variants=variants, interleaving_aa=True
        )
    assert "interleaving_aa" in error.value.message_dict


def test_starting_refuses_a_configuration_without_an_active_version():
    ready = _config("ready")
    idle = _config("untrained", active=False)
    experiment = _interleaving("notready", [ready, idle])
    with pytest.raises(ExperimentError) as error:
        experiment_services.do_start_experiment(experiment, None)
    message = error.value.message_dict["recommender_config"][0]
    assert "'untrained'" in message and "active version" in message
    assert Experiment.objects.get(pk=experiment.pk).status == "draft"


def test_assigned_users_are_interleaved_others_get_the_control():
    experiment_services.do_create_holdout("global", 0.10)
    control, other = _config("control-cfg"), _config("other-cfg")
    experiment = _interleaving("inter", [control, other], targeting={"country": "US"})
    experiment_services.do_start_experiment(experiment, None)
    holdout = config_cache.get_snapshot().holdout
    held = next(f"h{i}" for i in range(10_000) if holdout.contains(f"h{i}"))
    free = next(f"f{i}" for i in range(10_000) if not holdout.contains(f"f{i}"))

    (inside,) = services.assign_user(free, {"country": "US"}, ["inter"])
    assert (inside.variant, inside.in_experiment, inside.reason) == (
        "interleaved",
        True,
        "assigned",
    )
    assert inside.recommender_config_id == control.pk
    for user, attributes, reason in (
        (held, {"country": "US"}, "holdout"),
        (free, {}, "not_targeted"),
    ):
        (outside,) = services.assign_user(user, attributes, ["inter"], log_exposure=False)
        assert (outside.variant, outside.in_experiment, outside.reason) == (
            "ranker0",
            False,
            reason,
        )
        assert outside.recommender_config_id == control.pk
    services.flush_exposures()
    exposure = Exposure.objects.get(experiment=experiment, user_id=free)
    assert exposure.variant.key == "ranker0"  # the control's row holds interleaved users

    users = [free, held, "x1", "x2"]
    attributes = [{"country": "US"}] * len(users)
    batch = services.assign_users(users, attributes, ["inter"], log_exposure=False)
    one_by_one = [
        services.assign_user(u, a, ["inter"], log_exposure=False)[0]
        for u, a in zip(users, attributes, strict=True)
    ]
    assert [batch.results_for(i)[0] for i in range(len(users))] == one_by_one
    rows = batch.rows()
    assert [row["assignments"][0]["variant"] for row in rows] == [r.variant for r in one_by_one]


def test_interleaved_is_not_a_variant_key_of_an_interleaving_experiment():
    with pytest.raises(ExperimentError) as error:
        experiment_services.do_create_experiment(
            key="clash",
            name="c",
            kind="interleaving",
            variants=[
                {"key": "interleaved", "is_control": True, "recommender_config": _config("x")},
                {"key": "b", "recommender_config": _config("y")},
            ],
        )
    assert "variants" in error.value.message_dict
