"""The management API: experiments through the admin's services, with its rules and messages."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_client
from experiments.models import AuditLogEntry, Experiment, ExperimentPhase
from tests.assignment.factories import running_experiment
from tests.recommenders.serving_data import make_config

pytestmark = pytest.mark.django_db
API = "/api/v1"
DRAFT = {
    "key": "api-exp",
    "name": "Made by API",
    "coverage": 0.5,
    "variants": [
        {"key": "control", "is_control": True},
        {"key": "treatment", "weight": 1.0},
    ],
}


@pytest.fixture
def manager() -> APIClient:
    key, _ = create_api_client("ops-bot", scopes=["manage"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_create_read_list_and_audit_with_the_client_name(manager):
    response = manager.post(f"{API}/experiments", DRAFT, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["coverage"] == 0.5
    assert [v["key"] for v in body["variants"]] == ["control", "treatment"]
    assert body["hash_seed"].startswith("api-exp-")
    assert manager.get(f"{API}/experiments/api-exp").json()["name"] == "Made by API"
    assert [e["key"] for e in manager.get(f"{API}/experiments").json()] == ["api-exp"]
    entry = AuditLogEntry.objects.get(experiment__key="api-exp", action="create")
    assert entry.who_name == "client:ops-bot"


def test_create_with_the_services_messages(manager):
    one_variant = {**DRAFT, "variants": [{"key": "control", "is_control": True}]}
    response = manager.post(f"{API}/experiments", one_variant, format="json")
    assert response.status_code == 400
    assert response.json() == {"variants": ["an experiment needs at least two variants"]}
    unknown = manager.post(f"{API}/experiments", {**DRAFT, "colour": "red"}, format="json")
    assert unknown.status_code == 400 and "colour" in unknown.json()
    manager.post(f"{API}/experiments", DRAFT, format="json")
    again = manager.post(f"{API}/experiments", DRAFT, format="json")
    assert again.status_code == 409 and "already exists" in again.json()["key"][0]


def test_lifecycle_actions_through_the_services(manager):
    manager.post(f"{API}/experiments", DRAFT, format="json")
    for action, expected in [
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
        ("stop", "stopped"),
        ("conclude", "concluded"),
    ]:
        body = {"override_reason": "API test"} if action == "conclude" else None
        response = manager.post(f"{API}/experiments/api-exp/{action}", body, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == expected
    refused = manager.post(f"{API}/experiments/api-exp/start")
    assert refused.status_code == 409
    assert refused.json()["status"] == [
        "cannot start experiment 'api-exp': it is concluded (allowed from: draft)"
    ]
    actions = list(
        AuditLogEntry.objects.filter(experiment__key="api-exp")
        .order_by("id")
        .values_list("action", "who_name")
    )
    assert [a for a, _ in actions] == ["create", "start", "pause", "resume", "stop", "conclude"]
    assert {who for _, who in actions} == {"client:ops-bot"}
    assert manager.post(f"{API}/experiments/nope/start").status_code == 404


def test_changing_the_allocation_while_running_starts_a_new_phase(manager):
    running_experiment("live")
    seed = Experiment.objects.get(key="live").hash_seed
    response = manager.patch(
        f"{API}/experiments/live", {"variant_weights": {"control": 1, "treatment": 3}}, "json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["current_phase"] == 2 and body["hash_seed"] != seed
    assert [v["weight"] for v in body["variants"]] == [1.0, 3.0]
    phase = ExperimentPhase.objects.get(experiment__key="live", number=2)
    assert phase.weights == {"control": 1.0, "treatment": 3.0}
    # A change that does not touch the allocation keeps the phase.
    manager.patch(f"{API}/experiments/live", {"name": "renamed"}, format="json")
    assert Experiment.objects.get(key="live").current_phase == 2
    assert AuditLogEntry.objects.filter(experiment__key="live", action="new_phase").count() == 1


def test_the_admins_rules_on_update(manager):
    running_experiment("started")
    key_change = manager.patch(f"{API}/experiments/started", {"key": "other"}, format="json")
    assert key_change.status_code == 400
    assert key_change.json() == {"key": ["the key cannot change once the experiment has started"]}
    added = manager.patch(
        f"{API}/experiments/started",
        {"variant_weights": {"control": 1, "treatment": 1, "new": 1}},
        format="json",
    )
    assert added.status_code == 400 and "cannot be added or removed" in added.json()["variants"][0]
    bad_coverage = manager.patch(f"{API}/experiments/started", {"coverage": 2}, format="json")
    assert bad_coverage.status_code == 400 and "coverage" in bad_coverage.json()


def test_layers_holdouts_metrics_and_configs(manager):
    layer = manager.post(f"{API}/layers", {"name": "home-layer"}, format="json")
    assert layer.status_code == 201 and layer.json()["seed"]
    holdout = manager.post(f"{API}/holdouts", {"name": "global", "share": 0.02}, format="json")
    assert holdout.status_code == 201
    second = manager.post(f"{API}/holdouts", {"name": "again", "share": 0.02}, format="json")
    assert second.status_code == 409 and "already active" in second.json()["is_active"][0]
    metric = manager.post(
        f"{API}/metrics", {"key": "ctr-2", "name": "CTR 2", "kind": "ctr"}, format="json"
    )
    assert metric.status_code == 201 and metric.json()["statistic"] == "ratio"
    config = manager.post(
        f"{API}/recommender-configs", {"name": "pop", "algorithm": "popular"}, format="json"
    )
    assert config.status_code == 201, config.content
    for path in ("layers", "holdouts", "metrics", "recommender-configs"):
        assert manager.get(f"{API}/{path}").status_code == 200
    who = set(AuditLogEntry.objects.values_list("who_name", flat=True))
    assert who == {"client:ops-bot"}


def test_readers_cannot_write():
    key, _ = create_api_client("analyst-bot", scopes=["analyze"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{API}/experiments").status_code == 200
    refused = client.post(f"{API}/experiments", DRAFT, format="json")
    assert refused.status_code == 403 and "'manage'" in refused.json()["detail"]
    assert client.post(f"{API}/layers", {"name": "x"}, format="json").status_code == 403


def test_concluding_early_needs_a_recorded_reason(manager):
    manager.post(f"{API}/experiments", DRAFT, format="json")
    for action in ("start", "stop"):
        manager.post(f"{API}/experiments/api-exp/{action}")
    refused = manager.post(f"{API}/experiments/api-exp/conclude")
    assert refused.status_code == 400
    assert "committed days" in refused.json()["override_reason"][0]
    bad = manager.post(f"{API}/experiments/api-exp/conclude", {"override_reason": 7}, format="json")
    assert bad.status_code == 400
    done = manager.post(
        f"{API}/experiments/api-exp/conclude", {"override_reason": "bug found"}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "concluded"
    entry = AuditLogEntry.objects.get(experiment__key="api-exp", action="conclude")
    assert entry.changes["override_reason"] == "bug found"


def _interleaving_draft(key: str = "inter-api") -> dict:
    make_config("ranker-a")
    make_config("ranker-b")
    return {
        **DRAFT,
        "key": key,
        "kind": "interleaving",
        "variants": [
            {"key": "control", "is_control": True, "recommender_config": "ranker-a"},
            {"key": "challenger", "recommender_config": "ranker-b"},
        ],
    }


def test_the_kind_is_set_at_creation(manager):
    response = manager.post(f"{API}/experiments", _interleaving_draft(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "interleaving"
    assert Experiment.objects.get(key="inter-api").kind == Experiment.Kind.INTERLEAVING
    plain = manager.post(f"{API}/experiments", DRAFT, format="json")
    assert plain.json()["kind"] == "ab"


def test_a_bad_kind_is_a_400_naming_the_field(manager):
    unknown = manager.post(f"{API}/experiments", {**DRAFT, "kind": "bandit"}, format="json")
    assert unknown.status_code == 400 and "kind" in unknown.json()
    unbound = manager.post(f"{API}/experiments", {**DRAFT, "kind": "interleaving"}, format="json")
    assert unbound.status_code == 400
    assert "needs a recommender configuration" in unbound.json()["recommender_config"][0]
    aa_on_ab = manager.post(f"{API}/experiments", {**DRAFT, "interleaving_aa": True}, format="json")
    assert aa_on_ab.status_code == 400 and "interleaving_aa" in aa_on_ab.json()


def test_the_kind_changes_on_a_draft_and_is_fixed_once_started(manager):
    manager.post(f"{API}/experiments", _interleaving_draft(), format="json")
    to_ab = manager.patch(f"{API}/experiments/inter-api", {"kind": "ab"}, format="json")
    assert to_ab.status_code == 200 and to_ab.json()["kind"] == "ab"
    running_experiment("started")
    change = manager.patch(f"{API}/experiments/started", {"kind": "interleaving"}, format="json")
    assert change.status_code == 400
    assert change.json() == {"kind": ["the experiment's kind cannot change once it has started"]}
    same = manager.patch(f"{API}/experiments/started", {"kind": "ab"}, format="json")
    assert same.status_code == 200
    assert Experiment.objects.get(key="started").kind == Experiment.Kind.AB
