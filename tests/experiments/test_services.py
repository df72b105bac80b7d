"""Lifecycle rules, validation, phases and the audit log (experiments.services)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from experiments import selectors, services
from experiments.models import (
    AuditLogEntry,
    ConfigVersion,
    Experiment,
    ExperimentPhase,
    Holdout,
    MetricDefinition,
)
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db
TWO = [{"key": "control", "is_control": True}, {"key": "treatment"}]


def create(key="e", **fields):
    return services.do_create_experiment(key=key, name=key, variants=TWO, **fields)


def messages(error) -> str:
    return " ".join(m for ms in error.value.message_dict.values() for m in ms)


def test_seeded_metric_definitions():
    metrics = {m.key: m for m in MetricDefinition.objects.all()}
    assert set(metrics) >= {
        "ctr",
        "click_through_users",
        "watch_time",
        "conversion_rate",
        "session_abandonment",
        "time_to_first_interaction",
    }
    assert metrics["ctr"].statistic == "ratio" and metrics["ctr"].higher_is_better
    assert metrics["click_through_users"].statistic == "proportion"
    assert metrics["watch_time"].statistic == "mean"
    for key in ("session_abandonment", "time_to_first_interaction"):
        assert metrics[key].is_guardrail and not metrics[key].higher_is_better
        assert metrics[key].noninferiority_margin > 0


def test_statistic_follows_kind():
    metric = MetricDefinition.objects.create(key="m", name="m", kind="watch_time")
    assert metric.statistic == "mean"


def test_create_draws_a_seed_from_the_key():
    a, b = create("exp-a"), create("exp-b")
    assert a.hash_seed.startswith("exp-a-") and len(a.hash_seed) == len("exp-a-") + 8
    assert a.hash_seed[-8:] != b.hash_seed[-8:]
    assert a.status == "draft" and a.hash_version == 2
    assert AuditLogEntry.objects.filter(experiment=a, action="create").exists()


@pytest.mark.parametrize(
    ("variants", "text"),
    [
        ([{"key": "a", "is_control": True}], "at least two"),
        ([{"key": "a", "is_control": True}, {"key": "a"}], "unique"),
        ([{"key": "a", "is_control": True}, {"key": "b", "weight": 0}], "weight must be positive"),
        ([{"key": "a", "is_control": True}, {"key": "b", "weight": -1}], "weight must be positive"),
        ([{"key": "a"}, {"key": "b"}], "exactly one variant must be the control"),
        ([{"key": "a", "is_control": True}, {"key": "b", "is_control": True}], "exactly one"),
    ],
)
def test_variant_rules(variants, text):
    with pytest.raises(services.ExperimentError) as error:
        services.do_create_experiment(key="bad", name="bad", variants=variants)
    assert text in messages(error)


def test_coverage_and_layer_range_rules():
    layer = services.do_create_layer("ranking")
    with pytest.raises(services.ExperimentError, match="coverage"):
        create("c", coverage=1.5)
    with pytest.raises(services.ExperimentError) as error:
        create("r", layer=layer, layer_start=0.6, layer_end=0.4)
    assert "0 <= start < end <= 1" in messages(error)
    create("first", layer=layer, layer_start=0.0, layer_end=0.5)
    with pytest.raises(services.ExperimentError) as error:
        create("second", layer=layer, layer_start=0.4, layer_end=0.8)
    assert "overlaps experiment 'first'" in messages(error)
    create("adjacent", layer=layer, layer_start=0.5, layer_end=1.0)
    assert layer.seed.startswith("layer-ranking-")


def test_targeting_and_overrides_are_validated():
    with pytest.raises(services.ExperimentError) as error:
        create("t", targeting={"country": {"$regex": "U"}})
    assert "unknown operator" in messages(error)
    with pytest.raises(services.ExperimentError) as error:
        create("o", qa_overrides={"qa": "nope"})
    assert "unknown variant 'nope'" in messages(error)


def test_lifecycle_transitions():
    exp = create("life")
    with pytest.raises(services.ExperimentError, match="cannot pause"):
        services.do_pause_experiment(exp, None)
    exp = services.do_start_experiment(exp, None)
    assert exp.status == "running" and exp.started_at and exp.current_phase == 1
    phase = ExperimentPhase.objects.get(experiment=exp)
    assert phase.seed == exp.hash_seed and phase.weights == {"control": 1.0, "treatment": 1.0}
    with pytest.raises(services.ExperimentError, match="cannot start"):
        services.do_start_experiment(exp, None)
    exp = services.do_pause_experiment(exp, None)
    exp = services.do_resume_experiment(exp, None)
    with pytest.raises(services.ExperimentError, match="cannot conclude"):
        services.do_conclude_experiment(exp, None)
    exp = services.do_stop_experiment(exp, None)
    assert exp.stopped_at and ExperimentPhase.objects.get(experiment=exp).ended_at
    with pytest.raises(services.ExperimentError, match="ran 0.0 of its 7 committed days"):
        services.do_conclude_experiment(exp, None)
    exp = services.do_conclude_experiment(exp, None, override_reason="broken tracking")
    assert exp.status == "concluded" and exp.concluded_at
    entries = AuditLogEntry.objects.filter(experiment=exp).order_by("id")
    actions = [e.action for e in entries]
    assert actions == ["create", "start", "pause", "resume", "stop", "conclude"]
    assert entries.last().changes["override_reason"] == "broken tracking"


def test_conclude_after_the_minimum_runtime_needs_no_override():
    exp = services.do_start_experiment(create("patient", min_runtime_days=2), None)
    later = exp.started_at + timedelta(days=2, minutes=1)
    exp = services.do_stop_experiment(exp, None, now=later)
    exp = services.do_conclude_experiment(exp, None, now=later)
    assert exp.status == "concluded"
    assert "override_reason" not in AuditLogEntry.objects.filter(action="conclude").get().changes


def test_new_phase_records_before_and_after(django_user_model):
    owner = django_user_model.objects.create_user("owner")
    exp = running_experiment("reweight")
    before = services.allocation_of(exp)
    exp.variants.filter(key="treatment").update(weight=3.0)
    exp = services.do_start_new_phase(
        exp, owner, reason="more treatment", previous_allocation=before
    )
    assert exp.current_phase == 2
    phases = list(ExperimentPhase.objects.filter(experiment=exp).order_by("number"))
    assert phases[0].ended_at is not None and phases[1].ended_at is None
    assert phases[1].weights == {"control": 1.0, "treatment": 3.0}
    assert phases[1].seed == exp.hash_seed != phases[0].seed
    entry = AuditLogEntry.objects.get(experiment=exp, action="new_phase")
    assert entry.who == owner and entry.who_name == "owner"
    assert entry.changes["before"]["weights"]["treatment"] == 1.0
    assert entry.changes["after"]["weights"]["treatment"] == 3.0


def test_hash_v1_only_inside_a_shared_layer():
    running_experiment("v2-running")
    legacy = create("legacy", hash_version=1)
    with pytest.raises(services.ExperimentError) as error:
        services.do_start_experiment(legacy, None)
    assert "hash v1" in messages(error)
    layer = services.do_create_layer("legacy-layer")
    alone = create("alone-v1", hash_version=1, layer=layer, layer_end=0.5)
    with pytest.raises(services.ExperimentError):  # v2-running is outside the layer
        services.do_start_experiment(alone, None)
    Experiment.objects.filter(key="v2-running").update(status="stopped")
    services.do_start_experiment(alone, None)
    # Now a v2 experiment outside that layer may not start beside the v1 one.
    with pytest.raises(services.ExperimentError) as error:
        services.do_start_experiment(create("newcomer"), None)
    assert "uses hash v1" in messages(error)
    services.do_start_experiment(create("neighbour", layer=layer, layer_start=0.5), None)


def test_holdout_rules():
    with pytest.raises(services.ExperimentError, match="share"):
        services.do_create_holdout("too-big", 0.2)
    holdout = services.do_create_holdout("global", 0.05)
    assert holdout.seed.startswith("holdout-")
    with pytest.raises(services.ExperimentError, match="already active"):
        services.do_create_holdout("second", 0.01)
    services.do_end_holdout(holdout, None)
    assert not Holdout.objects.get(pk=holdout.pk).is_active
    services.do_create_holdout("second", 0.01)


def test_every_change_bumps_the_config_version():
    def version() -> int:
        return ConfigVersion.objects.get(pk=1).version

    start = version()
    exp = create("bump")
    after_create = version()
    assert after_create > start
    Experiment.objects.filter(pk=exp.pk).first().save()  # any save, even outside services
    assert version() > after_create


def test_preliminary_until_min_runtime():
    exp = create("prelim", min_runtime_days=14)
    assert selectors.is_preliminary(exp)
    exp = services.do_start_experiment(exp, None)
    now = timezone.now()
    assert selectors.is_preliminary(exp, now + timedelta(days=13))
    assert not selectors.is_preliminary(exp, now + timedelta(days=14, minutes=1))
    assert selectors.preliminary_until(exp) == exp.started_at + timedelta(days=14)


def test_power_estimate_uses_the_stats_functions():
    exp = create("power", baseline_rate=0.05, mde_relative=0.05, daily_traffic=10_000, coverage=0.5)
    estimate = selectors.power_estimate(exp)
    # Reference (statsmodels' power_proportions_2indep: power 0.8): 122,124 per group for
    # p=0.05, +5% relative, alpha 0.05 two-sided, the report's pooled z-test.
    assert estimate.per_variant == 122_124
    assert estimate.total == 244_248
    assert estimate.traffic_share == pytest.approx(0.5)
    assert estimate.runtime_days == 49  # ceil(244,248 / (10,000 * 0.5))
    services.do_create_holdout("global", 0.10)
    assert selectors.power_estimate(exp).runtime_days == 55  # / (10,000 * 0.5 * 0.9)
    assert "122,124 users per variant" in estimate.describe()
    exp.sequential_testing = True  # planned for the always-valid test: about 1.9 times
    assert selectors.power_estimate(exp).per_variant > 1.8 * 122_124
