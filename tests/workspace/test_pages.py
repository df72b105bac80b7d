"""The workspace: home page, experiment page, lifecycle actions with confirmation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.reports.experiment import build_experiment_report
from analytics.reports.listing import experiment_summaries
from analytics.services.rollups import do_run_rollups
from experiments import services
from experiments.models import AuditLogEntry, Experiment
from recommenders.models import RecommenderConfig
from tests.analytics.factories import generate
from tests.experiments.factories import running_experiment

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_get_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_home_lists_running_experiments_with_progress_and_decision(staff_client):
    data = generate(users=80, key="home-exp")
    do_run_rollups()
    services.do_create_experiment(
        key="draft-one",
        name="Draft one",
        variants=[{"key": "control", "is_control": True}, {"key": "t"}],
    )
    page = staff_client.get("/").content.decode()
    assert data.experiment.name in page
    assert reverse("experiment-workspace", args=["home-exp"]) in page
    assert "80 / 2000" in page  # exposed users against the plan (1,000 per variant)
    # the decision so far is the report's own, from the same rollup sums
    report = build_experiment_report(data.experiment)
    row = page.split("/experiments/home-exp/", 1)[1].split("</tr>", 1)[0]
    assert f">{report.decision.action}</span>" in row
    assert experiment_summaries(keys=("home-exp",))[0].verdict.text in row
    assert 'id="draft-experiments"' in page and "Draft one" in page


def test_home_shows_a_sample_ratio_mismatch(staff_client):
    data = generate(users=400, key="srm-exp")
    # the phase's configured split now says 90/10 while users came 50/50
    data.experiment.phases.update(weights={"control": 9, "treatment": 1})
    do_run_rollups()
    page = staff_client.get("/").content.decode()
    assert "sample ratio mismatch" in page


def test_home_query_count_does_not_grow_with_experiments(staff_client):
    for i in range(3):
        running_experiment(f"few-{i}")
    with CaptureQueriesContext(connection) as few:
        assert staff_client.get("/").status_code == 200
    for i in range(50):
        running_experiment(f"many-{i}")
    with CaptureQueriesContext(connection) as many:
        page = staff_client.get("/").content.decode()
    assert page.count("/experiments/many-") >= 50
    assert len(many) == len(few)


def test_experiment_page_shows_plan_split_targeting_phases_and_history(staff_client):
    experiment = running_experiment(
        "page-exp",
        targeting={"platform": ["ios", "android"], "country": {"$ne": "FR"}},
        qa_overrides={"qa-1": "treatment"},
        daily_traffic=5000,
    )
    page = staff_client.get(reverse("experiment-workspace", args=[experiment.key])).content
    page = page.decode()
    assert "is one of ios, android" in page and "is not FR" in page
    assert "always sees <strong>treatment</strong>" in page
    assert "Required:" in page and "users per variant" in page
    assert "Phase 1</strong>" in page
    assert "started the experiment, opening phase 1" in page
    assert 'data-action="pause"' in page and 'data-action="stop"' in page
    assert 'data-action="start"' not in page


def test_unknown_experiment_is_404(staff_client):
    assert staff_client.get("/experiments/nope/").status_code == 404
    assert staff_client.get("/experiments/nope/pause/").status_code == 404


def test_pause_and_resume_through_confirmation(staff_client):
    experiment = running_experiment("pr-exp")
    url = reverse("experiment-action", args=[experiment.key, "pause"])
    confirm = staff_client.get(url).content.decode()
    assert "Nobody is assigned while paused" in confirm
    response = staff_client.post(url)
    assert response.status_code == 302
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.PAUSED
    staff_client.post(reverse("experiment-action", args=[experiment.key, "resume"]))
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.RUNNING
    history = staff_client.get(reverse("experiment-workspace", args=[experiment.key]))
    assert "staff paused the experiment" in history.content.decode()


def test_refused_action_shows_the_rule(staff_client):
    experiment = running_experiment("refused-exp")
    response = staff_client.post(reverse("experiment-action", args=[experiment.key, "resume"]))
    assert response.status_code == 400
    assert "cannot resume experiment" in response.content.decode()


def test_concluding_early_needs_a_recorded_reason(staff_client):
    experiment = services.do_stop_experiment(running_experiment("early-exp"), None)
    url = reverse("experiment-action", args=[experiment.key, "conclude"])
    response = staff_client.post(url)
    assert response.status_code == 400
    assert "committed days" in response.content.decode()
    staff_client.post(url, {"override_reason": "tracking was broken"})
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.CONCLUDED
    entry = AuditLogEntry.objects.filter(experiment=experiment, action="conclude").get()
    assert entry.changes["override_reason"] == "tracking was broken"


def test_staff_without_change_permission_reads_but_cannot_act(client, django_user_model):
    reader = django_user_model.objects.create_user("reader", is_staff=True)
    experiment = running_experiment("ro-exp")
    client.force_login(reader)
    page = client.get(reverse("experiment-workspace", args=[experiment.key])).content.decode()
    assert "needs the experiment owner role" in page
    stop = reverse("experiment-action", args=[experiment.key, "stop"])
    assert client.post(stop).status_code == 403
    reader.user_permissions.add(Permission.objects.get(codename="change_experiment"))
    client.force_login(django_user_model.objects.get(pk=reader.pk))
    assert client.post(stop).status_code == 302


def test_admin_links_to_the_workspace_and_view_site_works(staff_client):
    experiment = running_experiment("admin-link")
    change = reverse("admin:experiments_experiment_change", args=[experiment.pk])
    page = staff_client.get(change).content.decode()
    assert reverse("experiment-workspace", args=["admin-link"]) in page
    assert "started the experiment, opening phase 1" in page  # audit log as sentences
    assert 'href="/planner/"' in page and 'href="/reports/"' in page
    assert staff_client.get("/").status_code == 200  # "View site"


def test_minimum_runtime_passed_concludes_without_reason(staff_client):
    experiment = running_experiment("late-exp", min_runtime_days=1)
    two_days_ago = timezone.now() - timedelta(days=2)
    Experiment.objects.filter(pk=experiment.pk).update(started_at=two_days_ago)
    services.do_stop_experiment(experiment, None)
    url = reverse("experiment-action", args=[experiment.key, "conclude"])
    assert staff_client.post(url).status_code == 302


def create_form(**overrides):
    from tests.analytics.factories import seeded_metrics

    metrics = seeded_metrics()
    data = {
        "key": "new-exp",
        "name": "New experiment",
        "hypothesis": "more clicks",
        "surface": "home",
        "coverage_percent": "50",
        "targeting": '{"platform": {"$in": ["ios", "android"]}}',
        "qa_overrides": "qa-1 = treatment",
        "primary_metric": str(metrics["ctr"].pk),
        "guardrail_metrics": [str(metrics["session_abandonment"].pk)],
        "baseline_percent": "5",
        "mde_percent": "10",
        "alpha": "0.05",
        "power": "0.8",
        "daily_traffic": "10000",
        "min_runtime_days": "14",
        "variant_0_key": "control",
        "variant_0_weight": "1",
        "variant_1_key": "treatment",
        "variant_1_weight": "3",
        "create": "1",
    }
    data.update(overrides)
    return data


def test_create_a_draft_with_the_required_plan(staff_client):
    response = staff_client.post(reverse("experiment-create"), create_form())
    assert response.status_code == 302
    experiment = Experiment.objects.get(key="new-exp")
    assert experiment.status == Experiment.Status.DRAFT
    assert experiment.coverage == 0.5
    assert experiment.targeting == {"platform": {"$in": ["ios", "android"]}}
    assert experiment.qa_overrides == {"qa-1": "treatment"}
    variants = list(experiment.variants.order_by("position").values_list("key", "weight"))
    assert variants == [("control", 1.0), ("treatment", 3.0)]
    # no planned size given: the plan is the required size, so the page never contradicts it
    from experiments.selectors import power_estimate

    assert experiment.planned_sample_size == power_estimate(experiment).per_variant
    page = staff_client.get(reverse("experiment-workspace", args=["new-exp"])).content.decode()
    assert 'id="plan-warning"' not in page


def test_check_the_plan_writes_nothing(staff_client):
    data = create_form()
    del data["create"]
    data["plan"] = "1"
    response = staff_client.post(reverse("experiment-create"), data)
    assert response.status_code == 200
    assert "users per variant" in response.content.decode()
    assert not Experiment.objects.filter(key="new-exp").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"targeting": '{"country": {"$regex": "U"}}'}, "unknown operator"),
        ({"targeting": "{not json"}, "not valid JSON"),
        ({"qa_overrides": "qa-1 = nope"}, "unknown variant"),
        ({"qa_overrides": "just a user"}, "expected &#x27;user id = variant key&#x27;"),
        ({"coverage_percent": "150"}, "less than or equal to 100"),
        ({"variant_1_key": ""}, "This field is required"),
    ],
)
def test_bad_input_is_named_beside_its_field(staff_client, overrides, message):
    response = staff_client.post(reverse("experiment-create"), create_form(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Experiment.objects.filter(key="new-exp").exists()


# --- creating an interleaving experiment -----------------------------------------------------


def _configs(*names: str) -> list[RecommenderConfig]:
    return [RecommenderConfig.objects.create(name=n, algorithm="popular") for n in names]


def interleaving_form(**overrides):
    pop, cf = _configs("pop-new", "cf-new")
    data = create_form(
        key="new-inter",
        kind="interleaving",
        variant_0_key="popular",
        variant_0_config=str(pop.pk),
        variant_1_key="itemcf",
        variant_1_config=str(cf.pk),
        qa_overrides="qa-1 = itemcf",
        alpha="0.01",
        # what the page's hidden A/B parts still post, and what the server must ignore
        variant_1_weight="3",
        baseline_percent="5",
        planned_sample_size="500",
    )
    del data["primary_metric"]  # optional: the preference decides, not a metric's lift
    data.update(overrides)
    return data


def test_the_create_page_offers_both_kinds_and_draws_the_chosen_ones_parts(staff_client):
    page = staff_client.get(reverse("experiment-create")).content.decode()
    assert 'name="kind" value="ab"' in page and 'name="kind" value="interleaving"' in page
    assert '<p id="split-live" class="muted" aria-live="polite" data-kind="ab">' in page
    assert 'id="interleaving-plan" data-kind="interleaving" hidden' in page
    prefilled = staff_client.get(reverse("experiment-create") + "?kind=interleaving")
    prefilled = prefilled.content.decode()
    assert 'id="interleaving-plan" data-kind="interleaving">' in prefilled
    assert 'data-kind="ab" hidden>Check the plan' in prefilled


def test_create_an_interleaving_draft_without_weights_or_an_ab_plan(staff_client):
    # hidden A/B fields are ignored, even where their values would be refused
    data = interleaving_form(variant_0_weight="heavy", mde_percent="-1")
    response = staff_client.post(reverse("experiment-create"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    experiment = Experiment.objects.get(key="new-inter")
    assert experiment.kind == Experiment.Kind.INTERLEAVING and not experiment.interleaving_aa
    rankers = experiment.variants.order_by("position")
    assert [(v.key, v.weight, v.recommender_config.name) for v in rankers] == [
        ("popular", 1.0, "pop-new"),
        ("itemcf", 1.0, "cf-new"),
    ]
    assert experiment.alpha == 0.01 and experiment.primary_metric is None
    defaults = Experiment()  # the A/B plan's posted values are not stored
    assert experiment.planned_sample_size is None
    assert experiment.baseline_rate == defaults.baseline_rate
    page = staff_client.get(reverse("experiment-workspace", args=["new-inter"])).content.decode()
    assert 'id="rankers"' in page and 'id="split-preview"' not in page


def _row(page: str, index: int) -> str:
    return page.split(f'id="id_variant_{index}_key"', 1)[1].split("</tr>", 1)[0]


@pytest.mark.parametrize(
    ("overrides", "row", "message"),
    [
        ({"variant_1_config": ""}, 1, "needs a recommender configuration on every variant"),
        ({"variant_0_key": "interleaved"}, 0, "names the merged list"),
    ],
)
def test_an_interleaving_ranker_is_refused_beside_its_row(staff_client, overrides, row, message):
    response = staff_client.post(reverse("experiment-create"), interleaving_form(**overrides))
    assert response.status_code == 400
    assert message in _row(response.content.decode(), row)
    assert not Experiment.objects.filter(key="new-inter").exists()


def test_two_rankers_share_a_configuration_only_in_an_interleaving_aa(staff_client):
    data = interleaving_form()
    data["variant_1_config"] = data["variant_0_config"]
    response = staff_client.post(reverse("experiment-create"), data)
    assert response.status_code == 400
    assert "use the same recommender configuration" in _row(response.content.decode(), 1)
    response = staff_client.post(reverse("experiment-create"), {**data, "interleaving_aa": "on"})
    assert response.status_code == 302
    assert Experiment.objects.get(key="new-inter").interleaving_aa


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "ab", "interleaving_aa": "on"}, "only an interleaving experiment can be"),
        ({"kind": "nope"}, "Select a valid choice"),
    ],
)
def test_a_bad_kind_is_named_beside_its_field(staff_client, overrides, message):
    response = staff_client.post(reverse("experiment-create"), create_form(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Experiment.objects.filter(key="new-exp").exists()
