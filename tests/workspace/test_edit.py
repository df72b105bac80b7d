"""Editing an experiment in the workspace: the creation form over the stored experiment, saved
through services.do_edit_experiment (do_save_experiment's audit entry and new phase)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from experiments import services
from experiments.models import AuditLogEntry, Experiment
from experiments.services import ExperimentError
from recommenders.models import ModelVersion, RecommenderConfig
from tests.analytics.factories import seeded_metrics
from tests.experiments.factories import running_experiment
from workspace.forms import experiment_initial

pytestmark = pytest.mark.django_db


def form_data(experiment: Experiment, **changes) -> dict:
    """What the edit form posts when left as it is, with ``changes`` typed in."""
    data = {}
    for name, value in experiment_initial(experiment).items():
        if value is None or value is False:
            continue
        data[name] = value
    data.update(changes)
    return data


def edit_url(key: str) -> str:
    return reverse("experiment-edit", args=[key])


def _draft(key: str = "draft-edit") -> Experiment:
    metrics = seeded_metrics()
    return services.do_create_experiment(
        key=key,
        name="Draft",
        surface="home",
        primary_metric=metrics["ctr"],
        variants=[{"key": "control", "is_control": True}, {"key": "treatment"}],
    )


def test_the_edit_page_shows_the_stored_experiment(staff_client):
    experiment = _draft()
    page = staff_client.get(edit_url(experiment.key)).content.decode()
    assert 'value="draft-edit"' in page and 'id="split-live"' in page
    assert 'name="save"' in page and "Check the plan" in page
    assert (
        reverse("experiment-edit", args=[experiment.key])
        in staff_client.get(reverse("experiment-workspace", args=[experiment.key])).content.decode()
    )


def test_a_draft_edit_changes_fields_adds_a_variant_and_records_one_entry(staff_client):
    experiment = _draft()
    data = form_data(
        experiment,
        name="Renamed",
        coverage_percent="50",
        targeting='{"country": {"$in": ["US"]}}',
        variant_2_key="third",
        variant_2_weight="2",
        save="1",
    )
    response = staff_client.post(edit_url(experiment.key), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    experiment.refresh_from_db()
    assert experiment.name == "Renamed" and experiment.coverage == 0.5
    assert experiment.targeting == {"country": {"$in": ["US"]}}
    assert list(experiment.variants.values_list("key", "weight")) == [
        ("control", 1.0),
        ("treatment", 1.0),
        ("third", 2.0),
    ]
    entry = AuditLogEntry.objects.filter(experiment=experiment, action="change").get()
    assert entry.changes["coverage"] == [1.0, 0.5]
    assert entry.changes["variant third"] == ["(new)", {"weight": 2.0}]


def test_a_running_allocation_change_is_announced_before_it_opens_a_phase(staff_client):
    experiment = running_experiment("running-edit")
    data = form_data(experiment, variant_1_weight="3", save="1")
    response = staff_client.post(edit_url(experiment.key), data)
    page = response.content.decode()
    assert response.status_code == 200 and 'id="new-phase-warning"' in page
    assert "Saving starts phase 2" in page and "treatment 1.0 to control 1.0, treatment 3.0" in page
    experiment.refresh_from_db()
    assert experiment.current_phase == 1  # nothing written yet
    assert experiment.variants.get(key="treatment").weight == 1.0

    old_seed = experiment.hash_seed
    data = form_data(experiment, variant_1_weight="3", confirm_new_phase="1")
    response = staff_client.post(edit_url(experiment.key), data)
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.current_phase == 2 and experiment.hash_seed != old_seed
    assert experiment.variants.get(key="treatment").weight == 3.0
    phase = AuditLogEntry.objects.get(experiment=experiment, action="new_phase")
    assert phase.changes["reason"] == "allocation changed in the workspace"


def test_a_running_edit_outside_the_allocation_saves_without_a_phase(staff_client):
    experiment = running_experiment("hypothesis-edit", coverage=0.07)
    data = form_data(experiment, hypothesis="item-CF lifts CTR", save="1")
    response = staff_client.post(edit_url(experiment.key), data)
    assert response.status_code == 302
    experiment.refresh_from_db()
    # 7 % went through the percent field unchanged: the stored 0.07 is kept, no new phase
    assert experiment.hypothesis == "item-CF lifts CTR" and experiment.coverage == 0.07
    assert experiment.current_phase == 1


def test_what_is_fixed_once_started_cannot_be_posted_past(staff_client):
    experiment = running_experiment("fixed-edit", min_runtime_days=14)
    data = form_data(
        experiment, key="renamed", min_runtime_days="1", variant_1_key="other", save="1"
    )
    assert staff_client.post(edit_url(experiment.key), data).status_code == 302
    experiment.refresh_from_db()
    assert experiment.key == "fixed-edit" and experiment.min_runtime_days == 14
    assert set(experiment.variants.values_list("key", flat=True)) == {"control", "treatment"}


def test_the_service_refuses_removing_a_variant_of_a_started_experiment():
    experiment = running_experiment("remove-variant")
    with pytest.raises(ExperimentError) as error:
        services.do_edit_experiment(
            experiment,
            None,
            fields={"name": "x"},
            variants=[{"key": "control", "weight": 1.0}],
        )
    assert "variants" in error.value.message_dict


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"coverage_percent": "150"}, "coverage_percent", "less than or equal to 100"),
        ({"qa_overrides": "qa-1 = nobody"}, "qa_overrides", "unknown variant 'nobody'"),
        ({"targeting": '{"country": {"$regex": "U"}}'}, "targeting", "$regex"),
        ({"variant_1_weight": "0"}, "variant_0_key", "weight must be positive"),
    ],
)
def test_bad_input_is_a_400_beside_its_field(staff_client, changes, field, message):
    experiment = _draft()
    response = staff_client.post(
        edit_url(experiment.key), form_data(experiment, save="1", **changes)
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in e for e in form.errors[field]), form.errors
    experiment.refresh_from_db()
    assert experiment.coverage == 1.0 and experiment.qa_overrides == {}


def test_editing_needs_the_owner_role(client, django_user_model):
    experiment = _draft()
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_experiment"))
    client.force_login(user)
    assert client.get(edit_url(experiment.key)).status_code == 403


def _interleaving(key: str) -> Experiment:
    configs = []
    for name in ("pop-i", "cf-i"):
        config = RecommenderConfig.objects.create(name=name, algorithm="popular")
        ModelVersion.objects.create(config=config, algorithm="popular", status="active")
        configs.append(config)
    return services.do_create_experiment(
        key=key,
        name=key,
        kind="interleaving",
        surface="home",
        variants=[
            {"key": f"ranker{i}", "is_control": i == 0, "recommender_config": c}
            for i, c in enumerate(configs)
        ],
    )


def test_an_interleaving_experiment_shows_rankers_and_its_report_not_a_split(staff_client):
    experiment = _interleaving("inter-page")
    page = staff_client.get(reverse("experiment-workspace", args=[experiment.key])).content.decode()
    assert 'id="rankers"' in page and "pop-i" in page and "cf-i" in page
    assert 'id="split-preview"' not in page and "Required:" not in page
    assert f'href="{reverse("experiment-report", args=[experiment.key])}" id="interleaving' in page

    form_page = staff_client.get(edit_url(experiment.key)).content.decode()
    assert 'id="split-live"' not in form_page and "Check the plan" not in form_page
    assert "id_baseline_percent" not in form_page and "id_variant_0_weight" not in form_page
    assert 'id="interleaving-plan"' in form_page


def test_an_interleaving_experiment_is_edited_without_a_plan(staff_client):
    experiment = _interleaving("inter-edit")
    data = form_data(experiment, name="Two rankers", save="1")
    response = staff_client.post(edit_url(experiment.key), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    experiment.refresh_from_db()
    assert experiment.name == "Two rankers" and experiment.kind == "interleaving"


def test_the_edit_page_makes_as_many_queries_whatever_the_variants(staff_client):
    two = _draft("two-variants")
    four = services.do_create_experiment(
        key="four-variants",
        name="Four",
        surface="home",
        primary_metric=seeded_metrics()["ctr"],
        variants=[{"key": f"v{i}", "is_control": i == 0} for i in range(4)],
    )
    counts = []
    for experiment in (two, four):
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(edit_url(experiment.key)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_stopped_experiment_takes_a_new_hypothesis_but_keeps_its_allocation(staff_client):
    experiment = services.do_stop_experiment(running_experiment("stopped-edit"), None)
    data = form_data(
        experiment, hypothesis="what we learnt", coverage_percent="10", variant_1_weight="5"
    )
    response = staff_client.post(edit_url(experiment.key), {**data, "save": "1"})
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.hypothesis == "what we learnt" and experiment.coverage == 1.0
    assert experiment.variants.get(key="treatment").weight == 1.0
    entry = AuditLogEntry.objects.get(experiment=experiment, action="change")
    assert entry.changes == {"hypothesis": ["", "what we learnt"]}
