"""GrowthBook's SDKs evaluate the served payload exactly as Splitlab assigns.

20,000 users across experiments with a layer, the permanent holdout, partial coverage,
targeting and QA overrides: every user's variant from GrowthBook's Python SDK
(PyPI ``growthbook``) and JavaScript SDK (npm ``@growthbook/growthbook``, run with node) must
equal the assignment API's, and the SDK counts a user in the experiment exactly when the
server's reason is ``assigned`` (``force`` for QA overrides).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from growthbook import GrowthBook
from rest_framework.test import APIClient

from accounts.services import create_api_client
from assignment import exposure_log
from assignment import services as assignment_services
from assignment.models import Exposure
from experiments import services
from experiments.models import Experiment
from experiments.services.update import do_update_experiment

pytestmark = pytest.mark.django_db
USERS = 20_000
REPO = Path(__file__).resolve().parents[2]
JS_EVALUATOR = Path(__file__).with_name("growthbook_eval.js")
BATCH = 5_000


def _start(key: str, variants: list[tuple[str, float]], **fields) -> None:
    specs = [{"key": k, "weight": w, "is_control": i == 0} for i, (k, w) in enumerate(variants)]
    experiment = services.do_create_experiment(
        key=key, name=key, variants=specs, surface="home", **fields
    )
    services.do_start_experiment(experiment, None)


@pytest.fixture
def home_surface() -> None:
    services.do_create_holdout("global", 0.05)
    layer = services.do_create_layer("home-layer")
    _start("exp-left", [("control", 1), ("b", 1), ("c", 2)], layer=layer, layer_end=0.4)
    _start("exp-right", [("control", 1), ("b", 1)], layer=layer, layer_start=0.4, coverage=0.8)
    _start(
        "exp-targeted",
        [("control", 1), ("b", 3)],
        coverage=0.6,
        targeting={"country": ["DE", "FR"], "premium": {"$ne": False}},
        qa_overrides={"qa-1": "b", "qa-2": "control"},
    )
    _start("exp-half", [("control", 1), ("b", 1)], coverage=0.5)


@pytest.fixture
def client() -> APIClient:
    key, _ = create_api_client("sdk-app", scopes=["serve"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def _users() -> list[dict]:
    countries = ["DE", "FR", "US", "BR"]
    users = [
        {"id": f"user-{i}", "country": countries[i % 4], "premium": i % 3 != 0}
        for i in range(USERS - 2)
    ]
    return [*users, {"id": "qa-1", "country": "US"}, {"id": "qa-2", "country": "DE"}]


def _server(client: APIClient, users: list[dict], keys: list[str]) -> dict[str, dict]:
    """user id -> experiment key -> (variant, reason), from the assignment API."""
    answers: dict[str, dict] = {}
    for start in range(0, len(users), BATCH):
        chunk = users[start : start + BATCH]
        body = {
            "users": [
                {"user_id": u["id"], "attributes": {k: v for k, v in u.items() if k != "id"}}
                for u in chunk
            ],
            "experiments": keys,
        }
        response = client.post("/api/v1/assignments/batch", body, format="json")
        assert response.status_code == 200, response.content
        for row in response.json()["users"]:
            answers[row["user_id"]] = {
                a["experiment"]: (a["variant"], a["reason"]) for a in row["assignments"]
            }
    return answers


def _check(keys, users, sdk_results, server) -> None:
    assert len(sdk_results) == len(users)
    hashed = 0
    for user, results in zip(users, sdk_results, strict=True):
        for key, (value, source, in_experiment) in zip(keys, results, strict=True):
            variant, reason = server[user["id"]][key]
            assert value == variant, (user, key, value, source, variant, reason)
            assert (source == "experiment" and in_experiment) == (reason == "assigned"), (
                user,
                key,
                source,
                reason,
            )
            assert (source == "force") == (reason == "override"), (user, key, source, reason)
            hashed += reason == "assigned"
    # Every kind of outcome occurred, so each rule of the payload was exercised.
    reasons = {reason for answer in server.values() for _, reason in answer.values()}
    assert reasons >= {"assigned", "holdout", "layer", "coverage", "not_targeted", "override"}
    assert hashed > USERS


def _payload(client: APIClient) -> dict:
    response = client.get("/api/features/home")
    assert response.status_code == 200, response.content
    return response.json()


def test_python_sdk_matches_the_assignment_api(home_surface, client):
    payload = _payload(client)
    keys = list(payload["features"])
    users = _users()
    gb = GrowthBook(features=payload["features"])
    sdk_results = []
    for user in users:
        gb.set_attributes(user)
        results = []
        for key in keys:
            result = gb.eval_feature(key)
            in_experiment = bool(result.experimentResult and result.experimentResult.inExperiment)
            results.append((result.value, result.source, in_experiment))
        sdk_results.append(results)
    _check(keys, users, sdk_results, _server(client, users, keys))


def _node_sdk_available() -> bool:
    if shutil.which("node") is None:
        return False
    probe = subprocess.run(
        ["node", "-e", "require.resolve('@growthbook/growthbook')"],
        cwd=REPO,
        env=_node_env(),
        capture_output=True,
    )
    return probe.returncode == 0


def _node_env() -> dict:
    extra = os.environ.get("NODE_PATH", "")
    return {
        **os.environ,
        "NODE_PATH": os.pathsep.join(p for p in (extra, str(REPO / "node_modules")) if p),
    }


@pytest.mark.skipif(not _node_sdk_available(), reason="needs node and `npm ci` (devDependencies)")
def test_javascript_sdk_matches_the_assignment_api(home_surface, client):
    payload = _payload(client)
    users = _users()
    run = subprocess.run(
        ["node", str(JS_EVALUATOR)],
        input=json.dumps({"payload": payload, "users": users}),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_node_env(),
        timeout=300,
        check=True,
    )
    out = json.loads(run.stdout)
    assert out["keys"] == list(payload["features"])
    _check(out["keys"], users, out["results"], _server(client, users, out["keys"]))


def test_etag_and_304(home_surface, client):
    first = client.get("/api/features/home")
    etag = first["ETag"]
    again = client.get("/api/features/home", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    experiment = Experiment.objects.get(key="exp-half")
    do_update_experiment(experiment, None, fields={"coverage": 0.7})
    changed = client.get("/api/features/home", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    rule = changed.json()["features"]["exp-half"]["rules"][-1]
    assert rule["coverage"] == 0.7 and rule["phase"] == "2"


def test_unknown_client_key_and_inexpressible_targeting_are_named(home_surface, client):
    missing = client.get("/api/features/nowhere")
    assert missing.status_code == 404
    assert "no surface 'nowhere'" in missing.json()["client_key"][0]
    assert "home" in missing.json()["client_key"][0]
    _start("exp-by-id", [("control", 1), ("b", 1)], targeting={"id": "u-1"})
    refused = client.get("/api/features/home")
    assert refused.status_code == 409
    assert "exp-by-id" in refused.json()["detail"] and "'id'" in refused.json()["detail"]


def test_tracked_exposures_are_deduplicated_with_server_side_ones(home_surface, client):
    payload = _payload(client)
    tracked: list[tuple[str, str]] = []
    gb = GrowthBook(
        features=payload["features"],
        on_experiment_viewed=lambda experiment, result, **_: tracked.append(
            (experiment.key, result.value)
        ),
    )
    users = _users()[:400]
    for user in users:
        gb.set_attributes(user)
        gb.eval_feature("exp-left")
    assert tracked
    server_side = client.post(
        "/api/v1/assignments",
        {"user_id": users[0]["id"], "experiments": ["exp-left"]},
        format="json",
    )
    assert server_side.status_code == 200
    sent = 0
    for user in users:
        gb.set_attributes(user)
        result = gb.eval_feature("exp-left")
        if result.source != "experiment":
            continue
        attributes = {k: v for k, v in user.items() if k != "id"}
        body = {
            "user_id": user["id"],
            "experiment": "exp-left",
            "variant": result.value,
            "attributes": attributes,
        }
        for _ in range(2):  # the SDK may call back more than once
            response = client.post("/api/v1/exposures", body, format="json")
            assert response.status_code == 200, response.content
        sent += 1
    exposure_log.flush()
    stored = Exposure.objects.filter(experiment__key="exp-left")
    assert stored.count() == sent == len(tracked)
    # A variant the server does not give this user (the seeds are drawn per run).
    (truth,) = assignment_services.assign_user("qa-1", {}, ["exp-left"], log_exposure=False)
    other = next(v for v in ("control", "b", "c") if v != truth.variant)
    wrong = client.post(
        "/api/v1/exposures",
        {"user_id": "qa-1", "experiment": "exp-left", "variant": other},
        format="json",
    )
    assert wrong.status_code == 409 and "the server assigns" in wrong.json()["variant"][0]
