"""assign_user / assign_users against the database: decisions, exposures, cache refresh."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assignment import config_cache, exposure_log, services
from assignment.models import Exposure, HoldoutExposure
from assignment.selectors import (
    exposure_counts,
    running_experiment_for_surface,
    running_experiments_for_surface,
)
from experiments import services as experiment_services
from experiments.models import Experiment
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db


def test_assign_user_is_deterministic_and_matches_hashing():
    from assignment import hashing

    exp = running_experiment("det", [("control", 0.5), ("treatment", 0.5)])
    first = services.assign_user("user-1", {}, ["det"], log_exposure=False)
    again = services.assign_user("user-1", {}, ["det"], log_exposure=False)
    assert first == again
    expected = hashing.choose_variation(
        hashing.hash(exp.hash_seed, "user-1", 2), [(0, 0.5), (0.5, 1.0)]
    )
    assert first[0].variant == ("control", "treatment")[expected]
    assert first[0].reason == "assigned" and first[0].in_experiment and first[0].phase == 1


def test_all_running_experiments_when_none_named():
    running_experiment("a")
    running_experiment("b")
    draft = experiment_services.do_create_experiment(
        key="draft", name="d", variants=[{"key": "c", "is_control": True}, {"key": "t"}]
    )
    keys = [r.experiment for r in services.assign_user("u", {}, None, log_exposure=False)]
    assert sorted(keys) == ["a", "b"]
    (result,) = services.assign_user("u", {}, [draft.key], log_exposure=False)
    assert (result.variant, result.in_experiment, result.reason) == ("c", False, "not_running")


def test_unknown_keys_are_named():
    running_experiment("known")
    with pytest.raises(services.UnknownExperimentError) as error:
        services.assign_user("u", {}, ["known", "nope", "gone"])
    assert error.value.keys == ["nope", "gone"]


def test_decision_order_override_then_holdout_then_targeting():
    experiment_services.do_create_holdout("global", 0.10)
    exp = running_experiment(
        "ordered", targeting={"country": "US"}, qa_overrides={"qa-user": "treatment"}
    )
    holdout = config_cache.get_snapshot().holdout
    held = next(f"h{i}" for i in range(10_000) if holdout.contains(f"h{i}"))
    free = next(f"f{i}" for i in range(10_000) if not holdout.contains(f"f{i}"))
    assert holdout.contains("qa-user") in (True, False)
    (r,) = services.assign_user("qa-user", {"country": "FR"}, [exp.key])
    assert (r.variant, r.reason, r.in_experiment) == ("treatment", "override", True)
    (r,) = services.assign_user(held, {"country": "US"}, [exp.key])
    assert (r.variant, r.reason, r.in_experiment) == ("control", "holdout", False)
    (r,) = services.assign_user(free, {"country": "FR"}, [exp.key])
    assert (r.variant, r.reason, r.in_experiment) == ("control", "not_targeted", False)
    (r,) = services.assign_user(free, {"country": "US"}, [exp.key])
    assert r.reason == "assigned"


def test_exposures_are_buffered_then_written_once():
    exp = running_experiment("exp-log")
    with CaptureQueriesContext(connection) as queries:
        services.assign_user("a", {}, ["exp-log"])
        services.assign_user("b", {}, ["exp-log"])
        services.assign_user("a", {}, ["exp-log"])
    writes = [q for q in queries.captured_queries if "INSERT" in q["sql"].upper()]
    assert writes == []  # nothing written on the request path
    assert len(exposure_log.buffer) == 2
    assert services.flush_exposures() == 2
    services.assign_user("a", {}, ["exp-log"])
    assert services.flush_exposures() == 0  # remembered as written
    exposure_log.buffer.forget()
    services.assign_user("a", {}, ["exp-log"])
    services.flush_exposures()  # written again: the database ignores the duplicate
    rows = Exposure.objects.filter(experiment=exp)
    assert sorted(rows.values_list("user_id", flat=True)) == ["a", "b"]
    variant_of = {r.variant: r.variant_id for r in services.assign_user("a", {}, ["exp-log"])}
    assert rows.get(user_id="a").variant_id in variant_of.values()


def test_first_exposure_time_survives_a_second_flush_from_another_process():
    exp = running_experiment("first-time")
    services.assign_user("u1", {}, ["first-time"])
    services.flush_exposures()
    first = Exposure.objects.get(experiment=exp).first_exposed_at
    exposure_log.buffer.forget()  # as if another process had never seen u1
    services.assign_user("u1", {}, ["first-time"])
    services.flush_exposures()
    assert Exposure.objects.get(experiment=exp).first_exposed_at == first


def test_overrides_and_non_assigned_users_are_not_exposures():
    running_experiment("qa", coverage=0.0, qa_overrides={"qa-1": "treatment"})
    services.assign_user("qa-1", {}, ["qa"])
    services.assign_user("someone", {}, ["qa"])
    services.flush_exposures()
    assert not Exposure.objects.exists()


def test_holdout_exposures_cover_users_in_and_out():
    holdout = experiment_services.do_create_holdout("global", 0.10)
    running_experiment("with-holdout")
    ids = [f"user-{i}" for i in range(2000)]
    for user_id in ids:
        services.assign_user(user_id, {})
    services.flush_exposures()
    rows = HoldoutExposure.objects.filter(holdout=holdout)
    assert rows.count() == 2000
    share = rows.filter(in_holdout=True).count() / 2000
    assert 0.07 < share < 0.13
    exposed = set(Exposure.objects.values_list("user_id", flat=True))
    held = set(rows.filter(in_holdout=True).values_list("user_id", flat=True))
    assert exposed.isdisjoint(held) and len(exposed) == 2000 - len(held)


def test_new_phase_starts_new_exposures():
    exp = running_experiment("phased")
    services.assign_user("u", {}, ["phased"])
    services.flush_exposures()
    old_seed = Experiment.objects.get(pk=exp.pk).hash_seed
    experiment_services.do_start_new_phase(exp, None, reason="reweight")
    (r,) = services.assign_user("u", {}, ["phased"])
    assert r.phase == 2
    services.flush_exposures()
    assert sorted(Exposure.objects.values_list("phase", flat=True)) == [1, 2]
    assert Experiment.objects.get(pk=exp.pk).hash_seed != old_seed


def test_cache_answers_without_queries_then_sees_changes(settings):
    settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = 3600
    exp = running_experiment("cached")
    services.assign_user("warm", {}, ["cached"])
    with CaptureQueriesContext(connection) as queries:
        for i in range(50):
            services.assign_user(f"u{i}", {}, ["cached"])
    assert len(queries) == 0
    # A change in another process: only the version row moves; the TTL bounds the delay.
    experiment_services.do_pause_experiment(exp, None)
    (r,) = services.assign_user("u1", {}, ["cached"])  # this process saw its own change
    assert r.reason == "not_running"


def test_cache_refreshes_after_ttl_for_changes_made_elsewhere(settings):
    settings.SPLITLAB_ASSIGNMENT_CONFIG_TTL_SECONDS = 0.0
    running_experiment("elsewhere")
    services.assign_user("u", {}, ["elsewhere"])
    # Simulate another process: update rows and the version without touching this cache.
    Experiment.objects.filter(key="elsewhere").update(status="paused")
    from experiments.models import ConfigVersion

    ConfigVersion.objects.filter(pk=1).update(version=999, token="other-process")
    config_cache._cache.dirty = False  # only the TTL may trigger the check now
    (r,) = services.assign_user("u", {}, ["elsewhere"])
    assert r.reason == "not_running"
    with CaptureQueriesContext(connection) as queries:
        services.assign_user("u", {}, ["elsewhere"])
    assert len(queries) == 1  # TTL 0: one version check, no reload


def test_batch_matches_single_assignments():
    experiment_services.do_create_holdout("global", 0.05)
    running_experiment("batch-a", [("c", 0.2), ("t1", 0.3), ("t2", 0.5)], coverage=0.7)
    running_experiment("batch-b", targeting={"platform": ["ios"]})
    ids = [f"user-{i}" for i in range(500)]
    attributes = [{"platform": "ios" if i % 2 else "web"} for i in range(500)]
    batch = services.assign_users(ids, attributes, ["batch-a", "batch-b"], log_exposure=False)
    for i in (0, 1, 17, 250, 499):
        single = services.assign_user(
            ids[i], attributes[i], ["batch-a", "batch-b"], log_exposure=False
        )
        assert batch.results_for(i) == single
    rows = batch.rows()
    assert rows[1]["assignments"][1]["experiment"] == "batch-b"


def test_batch_exposures_equal_single_exposures():
    exp = running_experiment("batch-log", coverage=0.5)
    ids = [f"user-{i}" for i in range(300)]
    services.assign_users(ids, None, ["batch-log"])
    services.flush_exposures()
    batch_rows = set(Exposure.objects.values_list("user_id", "variant_id"))
    Exposure.objects.all().delete()
    exposure_log.buffer.clear()
    for user_id in ids:
        services.assign_user(user_id, {}, ["batch-log"])
    services.flush_exposures()
    assert set(Exposure.objects.values_list("user_id", "variant_id")) == batch_rows
    assert 100 < len(batch_rows) < 200
    assert sum(exposure_counts(exp.pk).values()) == len(batch_rows)


def test_running_experiment_for_surface():
    assert running_experiment_for_surface("home") is None
    home = running_experiment("home-exp", surface="home")
    running_experiment("other", surface="search")
    found = running_experiment_for_surface("home")
    assert found.key == "home-exp" and found.id == home.pk
    assert [e.key for e in running_experiments_for_surface("search")] == ["other"]
    experiment_services.do_stop_experiment(home, None)
    assert running_experiment_for_surface("home") is None


def test_invalid_user_id_is_a_value_error():
    with pytest.raises(ValueError, match="user_id"):
        services.assign_user("", {})
    with pytest.raises(ValueError, match="user_id"):
        services.assign_user("x" * 257, {})


def test_holdout_membership_survives_experiment_changes():
    experiment_services.do_create_holdout("global", 0.04)
    ids = [f"member-{i}" for i in range(20_000)]

    def held_out() -> set[str]:
        from assignment import engine

        snapshot = config_cache.get_snapshot()
        mask = engine.holdout_many(snapshot.holdout, ids)
        batch = services.assign_users(ids, None, log_exposure=False)
        for reasons in batch.reason_code:  # every running experiment agrees with the holdout
            assert ((reasons == engine.HOLDOUT) == mask).all()
        return {user for user, held in zip(ids, mask.tolist(), strict=True) if held}

    a = running_experiment("hold-a")
    before = held_out()
    assert abs(len(before) / len(ids) - 0.04) < 0.006
    b = running_experiment("hold-b", [("c", 0.9), ("t", 0.1)])
    assert held_out() == before
    a.variants.filter(key="treatment").update(weight=3.0)
    experiment_services.do_start_new_phase(a, None, reason="re-weight")
    assert held_out() == before
    experiment_services.do_stop_experiment(b, None)
    assert held_out() == before
