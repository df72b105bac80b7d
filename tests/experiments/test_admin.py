"""The experiment admin: inline variants, validation messages, actions, phases, audit log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from experiments import services
from experiments.models import AuditLogEntry, Experiment, ExperimentPhase, Holdout, Layer
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:experiments_experiment_add")


def form_data(experiment: Experiment | None = None, variants=None, **overrides) -> dict:
    variants = variants or [
        {"key": "control", "weight": "1", "is_control": "on"},
        {"key": "treatment", "weight": "1"},
    ]
    data = {
        "key": "homepage-ranker",
        "name": "Homepage ranker",
        "hypothesis": "Two-tower retrieval raises CTR",
        "surface": "home",
        "hash_seed": "",
        "hash_version": "2",
        "coverage": "1.0",
        "layer": "",
        "layer_start": "0.0",
        "layer_end": "1.0",
        "targeting": "{}",
        "qa_overrides": "{}",
        "baseline_rate": "0.05",
        "mde_relative": "0.05",
        "alpha": "0.05",
        "power": "0.8",
        "daily_traffic": "20000",
        "planned_sample_size": "",
        "min_runtime_days": "7",
        "variants-TOTAL_FORMS": str(len(variants)),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "phases-TOTAL_FORMS": "0",
        "phases-INITIAL_FORMS": "0",
        "phases-MIN_NUM_FORMS": "0",
        "phases-MAX_NUM_FORMS": "1000",
    }
    if experiment is not None:
        for name in ("key", "name", "surface", "hash_seed", "coverage", "layer_start", "layer_end"):
            data[name] = str(getattr(experiment, name))
        data["variants-INITIAL_FORMS"] = str(sum(1 for v in variants if v.get("id")))
        data["phases-TOTAL_FORMS"] = data["phases-INITIAL_FORMS"] = str(experiment.phases.count())
        for i, phase in enumerate(experiment.phases.order_by("number")):
            data[f"phases-{i}-id"] = str(phase.pk)
            data[f"phases-{i}-experiment"] = str(experiment.pk)
    for i, variant in enumerate(variants):
        for name, value in variant.items():
            data[f"variants-{i}-{name}"] = value
        if experiment is not None:
            data[f"variants-{i}-experiment"] = str(experiment.pk)
        data.setdefault(f"variants-{i}-position", str(i))
    data.update(overrides)
    return data


def errors_of(response) -> str:
    return response.content.decode()


def test_create_experiment_with_variants(staff_client, staff_user):
    response = staff_client.post(ADD_URL, form_data())
    assert response.status_code == 302, errors_of(response)[:3000]
    experiment = Experiment.objects.get(key="homepage-ranker")
    assert experiment.hash_seed.startswith("homepage-ranker-")
    assert list(experiment.variants.values_list("key", "is_control")) == [
        ("control", True),
        ("treatment", False),
    ]
    entry = AuditLogEntry.objects.get(experiment=experiment, action="create")
    assert entry.who == staff_user


@pytest.mark.parametrize(
    ("variants", "overrides", "message"),
    [
        (
            [{"key": "a", "weight": "1"}, {"key": "b", "weight": "1"}],
            {},
            "exactly one variant must be the control",
        ),
        (
            [{"key": "a", "weight": "1", "is_control": "on"}, {"key": "b", "weight": "0"}],
            {},
            "weight must be positive",
        ),
        (None, {"coverage": "1.5"}, "coverage must be between 0 and 1"),
        (None, {"targeting": '{"country": {"$bad": 1}}'}, "unknown operator"),
        (None, {"qa_overrides": '{"qa": "nope"}'}, "names unknown variant"),
    ],
)
def test_validation_messages(staff_client, variants, overrides, message):
    response = staff_client.post(ADD_URL, form_data(variants=variants, **overrides))
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not Experiment.objects.exists()


def test_overlapping_layer_range_is_refused(staff_client):
    layer = services.do_create_layer("ranking")
    running_experiment("occupant", layer=layer, layer_start=0.0, layer_end=0.5)
    response = staff_client.post(
        ADD_URL, form_data(layer=str(layer.pk), layer_start="0.25", layer_end="0.75")
    )
    assert response.status_code == 200
    assert "overlaps experiment &#x27;occupant&#x27;" in errors_of(response)


def test_actions_start_pause_stop(staff_client):
    experiment = services.do_create_experiment(
        key="act",
        name="act",
        variants=[{"key": "c", "is_control": True}, {"key": "t"}],
        min_runtime_days=0,
    )
    changelist = reverse("admin:experiments_experiment_changelist")
    for action, status in (
        ("start_selected", "running"),
        ("pause_selected", "paused"),
        ("resume_selected", "running"),
        ("stop_selected", "stopped"),
        ("conclude_selected", "concluded"),
    ):
        response = staff_client.post(
            changelist, {"action": action, "_selected_action": [experiment.pk]}, follow=True
        )
        assert response.status_code == 200
        experiment.refresh_from_db()
        assert experiment.status == status, action
    response = staff_client.post(
        changelist,
        {"action": "start_selected", "_selected_action": [experiment.pk]},
        follow=True,
    )
    assert "cannot start experiment &#x27;act&#x27;" in errors_of(response)


def test_running_allocation_change_starts_a_new_phase(staff_client):
    experiment = running_experiment("live")
    variants = [
        {
            "id": str(v.pk),
            "key": v.key,
            "weight": "3" if v.key == "treatment" else "1",
            "is_control": "on" if v.is_control else "",
        }
        for v in experiment.variants.order_by("position")
    ]
    variants = [{k: val for k, val in v.items() if val != ""} for v in variants]
    old_seed = experiment.hash_seed
    url = reverse("admin:experiments_experiment_change", args=[experiment.pk])
    response = staff_client.post(url, form_data(experiment, variants=variants))
    assert response.status_code == 302, errors_of(response)[:4000]
    experiment.refresh_from_db()
    assert experiment.current_phase == 2 and experiment.hash_seed != old_seed
    phase = ExperimentPhase.objects.get(experiment=experiment, number=2)
    assert phase.weights == {"control": 1.0, "treatment": 3.0}
    assert AuditLogEntry.objects.filter(experiment=experiment, action="new_phase").exists()
    page = staff_client.get(url).content.decode()
    assert "starting phase 2" in page and "preliminary until" in page


def test_running_experiment_cannot_gain_variants_or_change_key(staff_client):
    experiment = running_experiment("fixed")
    variants = [
        {
            "id": str(v.pk),
            "key": v.key,
            "weight": "1",
            **({"is_control": "on"} if v.is_control else {}),
        }
        for v in experiment.variants.order_by("position")
    ] + [{"key": "extra", "weight": "1"}]
    url = reverse("admin:experiments_experiment_change", args=[experiment.pk])
    response = staff_client.post(url, form_data(experiment, variants=variants))
    assert response.status_code == 200
    assert "cannot be added or removed" in errors_of(response)
    page = staff_client.get(url).content.decode()
    assert 'name="key"' not in page  # read-only once started


def test_draft_page_shows_sample_size_and_runtime(staff_client):
    experiment = services.do_create_experiment(
        key="power",
        name="power",
        daily_traffic=20_000,
        variants=[{"key": "c", "is_control": True}, {"key": "t"}],
    )
    page = staff_client.get(
        reverse("admin:experiments_experiment_change", args=[experiment.pk])
    ).content.decode()
    assert "122,124 users per variant" in page  # the pooled z-test the report runs
    assert "about 13 day(s)" in page  # ceil(244,248 / 20,000)


def test_v1_hash_warns(staff_client):
    response = staff_client.post(ADD_URL, form_data(hash_version="1"), follow=True)
    assert "Hash v1 is kept for compatibility only" in errors_of(response)


def test_holdout_admin(staff_client):
    add = reverse("admin:experiments_holdout_add")
    response = staff_client.post(add, {"name": "big", "share": "0.2", "is_active": "on"})
    assert response.status_code == 200 and "holdout share must be between 0 and 0.1" in (
        errors_of(response)
    )
    response = staff_client.post(add, {"name": "global", "share": "0.03", "is_active": "on"})
    assert response.status_code == 302
    holdout = Holdout.objects.get()
    assert holdout.seed.startswith("holdout-")
    response = staff_client.post(add, {"name": "second", "share": "0.01", "is_active": "on"})
    assert "another holdout is active" in errors_of(response)
    page = staff_client.get(reverse("admin:experiments_holdout_change", args=[holdout.pk]))
    assert 'name="share"' not in page.content.decode()  # the share never changes


def test_layer_admin_draws_a_seed(staff_client):
    response = staff_client.post(
        reverse("admin:experiments_layer_add"), {"name": "ui", "description": "UI tests"}
    )
    assert response.status_code == 302
    assert Layer.objects.get(name="ui").seed.startswith("layer-ui-")


def test_audit_log_admin_is_read_only(staff_client):
    running_experiment("audited")
    response = staff_client.get(reverse("admin:experiments_auditlogentry_changelist"))
    assert response.status_code == 200 and "audited" in response.content.decode()
    assert staff_client.get(reverse("admin:experiments_auditlogentry_add")).status_code == 403


def test_pages_render(staff_client):
    running_experiment("listed")
    for name in (
        "experiment_add",
        "experiment_changelist",
        "layer_add",
        "holdout_add",
        "metricdefinition_changelist",
        "auditlogentry_changelist",
    ):
        response = staff_client.get(reverse(f"admin:experiments_{name}"))
        assert response.status_code == 200, name
    page = staff_client.get(reverse("admin:experiments_experiment_add")).content.decode()
    assert "save the draft to see the sample size and runtime" in page


def test_layers_and_holdouts_get_a_seed_and_an_audit_entry_per_save(staff_client):
    layer_url = reverse("admin:experiments_layer_add")
    response = staff_client.post(layer_url, {"name": "ranking", "description": "rankers"})
    assert response.status_code == 302, response.content
    layer = Layer.objects.get(name="ranking")
    assert layer.seed.startswith("layer-ranking-")
    change = reverse("admin:experiments_layer_change", args=[layer.pk])
    staff_client.post(change, {"name": "ranking", "description": "all rankers"})
    layer.refresh_from_db()
    assert layer.seed.startswith("layer-ranking-") and layer.description == "all rankers"

    response = staff_client.post(
        reverse("admin:experiments_holdout_add"),
        {"name": "global", "share": "0.02", "is_active": "on"},
    )
    assert response.status_code == 302, response.content
    holdout = Holdout.objects.get(name="global")
    assert holdout.seed.startswith("holdout-")
    actions = list(AuditLogEntry.objects.order_by("pk").values_list("action", "object_repr"))
    assert actions == [
        ("create_layer", "layer ranking"),
        ("change_layer", "layer ranking"),
        ("create_holdout", "holdout global"),
    ]


def test_interleaving_kind_in_the_admin(staff_client):
    from recommenders.models import RecommenderConfig

    first = RecommenderConfig.objects.create(name="first", algorithm="popular")
    second = RecommenderConfig.objects.create(name="second", algorithm="popular")
    assert 'name="kind"' in staff_client.get(ADD_URL).content.decode()
    twice = [
        {"key": "a", "weight": "1", "is_control": "on", "recommender_config": str(first.pk)},
        {"key": "b", "weight": "1", "recommender_config": str(first.pk)},
    ]
    response = staff_client.post(ADD_URL, form_data(variants=twice, kind="interleaving"))
    assert response.status_code == 200
    assert "only an interleaving A/A" in errors_of(response)
    twice[1]["recommender_config"] = str(second.pk)
    response = staff_client.post(ADD_URL, form_data(variants=twice, kind="interleaving"))
    assert response.status_code == 302, errors_of(response)[:3000]
    assert Experiment.objects.get(key="homepage-ranker").kind == "interleaving"
