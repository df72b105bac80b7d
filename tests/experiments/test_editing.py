"""services.do_save_experiment: the one write path of the admin's experiment form."""

from __future__ import annotations

import pytest

from experiments import services
from experiments.models import AuditLogEntry, Experiment, ExperimentPhase, Variant
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db


def test_a_new_experiment_gets_a_seed_and_a_create_entry():
    experiment = Experiment(key="fresh", name="fresh")

    def write(exp: Experiment) -> dict:
        exp.save()
        Variant.objects.create(experiment=exp, key="a", is_control=True)
        return {"variant a": ["(new)", {"weight": 1.0}]}

    edit = services.do_save_experiment(
        experiment, None, changes={"name": [None, "fresh"]}, write=write
    )
    assert edit.new_phase is None and edit.experiment.pk is not None
    assert experiment.hash_seed.startswith("fresh-")
    entry = AuditLogEntry.objects.get(experiment=experiment)
    assert entry.action == "create"
    assert entry.changes == {"name": [None, "fresh"], "variant a": ["(new)", {"weight": 1.0}]}


def test_a_running_experiment_whose_weights_change_opens_a_reseeded_phase():
    experiment = running_experiment("edited")
    old_seed = experiment.hash_seed

    def write(exp: Experiment) -> dict:
        exp.save()
        Variant.objects.filter(experiment=exp, key="treatment").update(weight=3.0)
        return {"variant treatment": {"weight": 3.0}}

    edit = services.do_save_experiment(experiment, None, changes={}, write=write)
    assert (edit.new_phase, edit.reseeded) == (2, True)
    experiment.refresh_from_db()
    assert experiment.current_phase == 2 and experiment.hash_seed != old_seed
    assert ExperimentPhase.objects.get(experiment=experiment, number=2).weights == {
        "control": 1.0,
        "treatment": 3.0,
    }
    actions = list(
        AuditLogEntry.objects.filter(experiment=experiment)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["change", "new_phase"]


def test_a_seed_set_by_the_edit_is_kept_in_the_new_phase():
    experiment = running_experiment("seeded")

    def write(exp: Experiment) -> dict:
        exp.hash_seed = "chosen-seed"
        exp.save()
        return {}

    edit = services.do_save_experiment(experiment, None, changes={}, write=write)
    assert (edit.new_phase, edit.reseeded) == (2, False)
    experiment.refresh_from_db()
    assert experiment.hash_seed == "chosen-seed"


def test_an_edit_that_leaves_the_allocation_alone_opens_no_phase():
    experiment = running_experiment("renamed")

    def write(exp: Experiment) -> dict:
        exp.name = "a better name"
        exp.save()
        return {}

    edit = services.do_save_experiment(experiment, None, changes={}, write=write)
    assert edit.new_phase is None
    experiment.refresh_from_db()
    assert experiment.current_phase == 1 and experiment.name == "a better name"
